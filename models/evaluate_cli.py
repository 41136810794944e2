"""``python -m models.evaluate``: the command-line front end of ``models.evaluate`` (it prints the
figures as Markdown tables for models/README.md)."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import math
import sys
from pathlib import Path

import torch
from torch import nn

from models.checkpoint import load_checkpoint
from models.data import load_dataset
from models.diffusion import DiffusionModel
from models.evaluate import (
    DEFAULT_SETS,
    DEFAULTS,
    QualityReference,
    QualityRow,
    closest_pairs_grid,
    draw_samples,
    gan_diversity,
    save_grids,
    vae_psnr_by_set,
)
from models.evaluate import __doc__ as EVALUATE_DOC
from models.quality import ImageFeatures


def main(argv: list[str] | None = None) -> int:
    """The ``python -m models.evaluate`` front end; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=EVALUATE_DOC.split("\n\n")[0])
    parser.add_argument("--vae", type=Path, default=DEFAULTS / "vae_art64.safetensors")
    parser.add_argument("--gan", type=Path, nargs="*", default=[DEFAULTS / "gan_art64.safetensors"],
                        help="GAN checkpoints (the first is also scored for diversity)")
    parser.add_argument("--diffusion", type=Path, nargs="*", default=[DEFAULTS / "diffusion_art64.safetensors"],
                        help="diffusion checkpoints, each scored at every --steps")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 6, 8], help="diffusion sampling steps to score")
    parser.add_argument("--guidance", type=float, nargs="+", default=[None],
                        help="classifier-free guidance scales to score (default: each checkpoint's own)")
    parser.add_argument("--sampler", nargs="+", default=[None], choices=[None, "ddim", "dpm2m"],
                        help="diffusion samplers to score (default: each checkpoint's own)")
    parser.add_argument("--data", nargs="+", default=[str(s) for s in DEFAULT_SETS])
    parser.add_argument("--limit-per-theme", type=int, default=None, metavar="N",
                        help="only the first N images of each theme (quick runs and tests; the held-out split "
                             "then differs from the one the models were trained with)")
    parser.add_argument("--samples", type=int, default=256, help="GAN samples and real images for diversity")
    parser.add_argument("--quality-samples", type=int, default=1000, help="samples per quality row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grids", type=Path, default=None,
                        help="also write README sample grids and each model's closest-pairs grid here")
    parser.add_argument("--closest-grids", type=Path, default=None, metavar="DIR",
                        help="write only each model's closest-pairs grid here (the memorisation check, without "
                             "re-rendering the README's sample grids); --grids writes them too")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    vae, vae_meta = load_checkpoint(args.vae)
    gans = [load_checkpoint(path)[0] for path in args.gan if path.is_file()]
    data = load_dataset(args.data, vae_meta.resolution, args.limit_per_theme)
    figures: dict[str, object] = {"vae_psnr": vae_psnr_by_set(vae, data)}
    if gans:
        figures["gan_diversity"] = gan_diversity(gans[0], vae, data, args.samples, args.seed)
    first_diffusion = next((load_checkpoint(p)[0] for p in args.diffusion if p.is_file()), None)
    written = (save_grids(vae, gans[0] if gans else None, data, args.grids, args.seed, first_diffusion)
               if args.grids else [])
    candidates = [(f"VAE {args.vae.name}", vae)] + [(f"GAN {p.name}", g) for p, g in zip(args.gan, gans)]
    candidates += diffusion_candidates(args.diffusion, args.steps, args.guidance, args.sampler)
    rows = quality_rows(candidates, data, args.quality_samples, args.seed, args.closest_grids or args.grids, written)
    figures["quality"] = [dataclasses.asdict(row) for row in rows]
    sys.stdout.write(report(figures, args.vae.name, args.gan[0].name if gans else "-", args.samples, written))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(math.isfinite(r["gain"]) for r in figures["vae_psnr"].values()) else 1


def diffusion_candidates(paths: list[Path], steps: list[int], guidance: list[float | None],
                         samplers: list[str | None]) -> list[tuple[str, nn.Module]]:
    """One (name, model) per diffusion checkpoint, sampler, guidance and step count; missing files
    are skipped. None keeps the checkpoint's own setting (and its name out of the row's)."""
    candidates = []
    for path in paths:
        if not path.is_file():
            continue
        for method, scale, count in itertools.product(samplers, guidance, steps):
            model = load_checkpoint(path)[0]
            name = f"diffusion {path.name}, {count} steps"
            if method is not None:  # the same weights under another sampler
                weights = model.state_dict()
                model = DiffusionModel(dataclasses.replace(model.config, sampler=method))
                model.load_state_dict(weights)
                model.eval()
                name += f", {method}"
            model.sample_steps = count
            if scale is not None:
                model.guidance = scale
                name += f", guidance {scale:g}"
            candidates.append((name, model))
    return candidates


def quality_rows(candidates: list[tuple[str, nn.Module]], data, count: int, seed: int,
                 grids: Path | None, written: list[Path]) -> list[QualityRow]:
    """The floor, then each candidate's row; closest-pairs grids go to ``grids`` when given."""
    reference = QualityReference(data, ImageFeatures(), count, seed)
    rows = [reference.floor()]
    for name, model in candidates:
        samples = draw_samples(model, reference.labels, seed)
        row, distances, train_index = reference.score(name, samples)
        rows.append(row)
        logging.getLogger(__name__).warning("%s: Fréchet %.2f", name, row.frechet)
        if grids is not None:
            path = grids / f"closest_{_slug(name)}.png"
            closest_pairs_grid(samples, distances, train_index, data, path)
            written.append(path)
    return rows


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.replace(".safetensors", "")).strip("_").lower()


def report(figures: dict, vae_name: str, gan_name: str, samples: int, written: list[Path]) -> str:
    """The figures as the Markdown tables of models/README.md, then the files written; returns the text."""
    lines = []
    quality = figures.get("quality")
    if quality:
        lines += ["Quality: Fréchet distance to the held-out images (MobileNetV2 pool features), precision and",
                  "recall (k = 3), and memorisation (share of samples nearer a training image than 95 % of",
                  "held-out images are; a new real picture: 0.05)",
                  "| model | Fréchet | precision | recall | nearer than held-out | median distance ratio |",
                  "|---|---|---|---|---|---|"]
        for row in quality:
            memo = row["memorisation"]
            tail = (f"{memo['share_closer']:.3f} | {memo['median_ratio']:.2f}" if memo else "- | -")
            lines.append(f"| {row['name']} | {row['frechet']:.2f} | {row['precision']:.3f} | {row['recall']:.3f} | {tail} |")
        lines.append("")
    lines += [f"VAE {vae_name}: held-out PSNR per set (dB)", "| set | held out | VAE | PCA (same size) | mean image | gain |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {theme} | {row['held_out']} | {row['vae_psnr']:.2f} | {row['pca_psnr']:.2f} | "
              f"{row['mean_image_psnr']:.2f} | +{row['gain']:.2f} |" for theme, row in figures["vae_psnr"].items()]
    diversity = figures.get("gan_diversity")
    if diversity is not None:
        lines += ["", f"GAN {gan_name}: mean pairwise distance in the VAE's latent space, {samples} each",
                  "| images | samples | real | ratio |", "|---|---|---|---|",
                  f"| all | {diversity['samples']:.2f} | {diversity['real']:.2f} | {diversity['ratio']:.2f} |"]
        lines += [f"| {theme} only | {row['samples']:.2f} | {row['real']:.2f} | {row['ratio']:.2f} |"
                  for theme, row in diversity.get("by_theme", {}).items()]
    lines += [f"wrote {path}" for path in written]
    return "\n".join(lines) + "\n"
