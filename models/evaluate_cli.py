"""``python -m models.evaluate``: the command-line front end of ``models.evaluate`` (it prints the
figures as Markdown tables for models/README.md)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

import torch

from models.checkpoint import load_checkpoint
from models.data import load_dataset
from models.evaluate import DEFAULT_SETS, DEFAULTS, __doc__ as EVALUATE_DOC, gan_diversity, save_grids, vae_psnr_by_set


def main(argv: list[str] | None = None) -> int:
    """The ``python -m models.evaluate`` front end; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=EVALUATE_DOC.split("\n\n")[0])
    parser.add_argument("--vae", type=Path, default=DEFAULTS / "vae_art64.safetensors")
    parser.add_argument("--gan", type=Path, default=DEFAULTS / "gan_art64.safetensors")
    parser.add_argument("--data", nargs="+", default=[str(s) for s in DEFAULT_SETS])
    parser.add_argument("--samples", type=int, default=256, help="GAN samples and real images for diversity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grids", type=Path, default=None, help="also write README sample grids here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(args.seed)
    vae, vae_meta = load_checkpoint(args.vae)
    gan = load_checkpoint(args.gan)[0] if args.gan.is_file() else None
    data = load_dataset(args.data, vae_meta.resolution)
    figures: dict[str, object] = {"vae_psnr": vae_psnr_by_set(vae, data)}
    if gan is not None:
        figures["gan_diversity"] = gan_diversity(gan, vae, data, args.samples, args.seed)
    written = save_grids(vae, gan, data, args.grids, args.seed) if args.grids is not None else []
    sys.stdout.write(report(figures, args.vae.name, args.gan.name, args.samples, written))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(math.isfinite(r["gain"]) for r in figures["vae_psnr"].values()) else 1


def report(figures: dict, vae_name: str, gan_name: str, samples: int, written: list[Path]) -> str:
    """The figures as the Markdown tables of models/README.md, then the files written; returns the text."""
    lines = [f"VAE {vae_name}: held-out PSNR per set (dB)", "| set | held out | VAE | mean image | gain |",
             "|---|---|---|---|---|"]
    lines += [f"| {theme} | {row['held_out']} | {row['vae_psnr']:.2f} | {row['mean_image_psnr']:.2f} | +{row['gain']:.2f} |"
              for theme, row in figures["vae_psnr"].items()]
    diversity = figures.get("gan_diversity")
    if diversity is not None:
        lines += ["", f"GAN {gan_name}: mean pairwise distance in the VAE's latent space, {samples} each",
                  "| images | samples | real | ratio |", "|---|---|---|---|",
                  f"| all | {diversity['samples']:.2f} | {diversity['real']:.2f} | {diversity['ratio']:.2f} |"]
        lines += [f"| {theme} only | {row['samples']:.2f} | {row['real']:.2f} | {row['ratio']:.2f} |"
                  for theme, row in diversity.get("by_theme", {}).items()]
    lines += [f"wrote {path}" for path in written]
    return "\n".join(lines) + "\n"
