"""Figures for models/README.md: sample quality (Fréchet distance, precision/recall, memorisation)
of every generator, VAE reconstruction PSNR per set against PCA, and GAN sample diversity.

    python -m models.evaluate                     # the shipped defaults on ../shared/art
    python -m models.evaluate --vae V.safetensors --gan G.safetensors --data A.npz B.npz --grids DIR

Quality (``QualityReference``, features and distances in ``models.quality``): 1,000 samples,
themes in the data's proportions, against the held-out images. The floor is 1,000 training images
scored the same way: what a generator that drew new real pictures would get.

PSNR: each held-out image (``models.data.split_holdout``: never trained on) is encoded to its
posterior mean and decoded; PSNR in dB over 8-bit pixels, averaged over images, is compared with
the PSNR of the same images against their set's mean training image (the best constant guess)
and against their reconstruction by PCA with as many components as the VAE's latent (the linear
auto-encoder of the same size: the baseline a VAE has to beat).

Diversity: 256 GAN samples (z ~ N(0, I), themes taken in turn) and 256 real images are mapped
to latents by the VAE's encoder; the mean pairwise Euclidean distance of each set is reported,
and their ratio (1.0 = samples as spread out as the data; near 0 = mode collapse).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.data import ArtDataset, save_image_grid, split_holdout, to_model_range
from models.quality import ImageFeatures, Memorisation, frechet_distance, memorisation_figures, nearest, precision_recall

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = PROJECT_ROOT / "models" / "defaults"
ART = PROJECT_ROOT / ".." / "shared" / "art"
DEFAULT_SETS = (ART / "openclipart_64.npz", ART / "emoji_64.npz")


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [-1, 1] as 8-bit pixels; returns (B,) one value per image pair."""
    mse = ((a - b) * 127.5).round().pow(2).mean(dim=(1, 2, 3))  # (B,), in 8-bit units
    return 10.0 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))


def _condition(model: nn.Module, data: ArtDataset, labels: torch.Tensor) -> torch.Tensor | None:
    """Theme indices for ``model`` if it was trained on the same themes, else None (all themes)."""
    return labels if tuple(model.themes) == data.themes else None


@dataclass(frozen=True)
class QualityRow:
    """One line of the quality table."""

    name: str
    frechet: float  # Fréchet distance to the held-out images' features (0 = same distribution)
    precision: float  # share of samples that look like some real image
    recall: float  # share of real images that some sample looks like
    memorisation: Memorisation | None  # None for the floor (training images are their own neighbours)


class QualityReference:
    """The real side of the quality figures, computed once: features of the held-out images, of
    every training image (for nearest neighbours), and the 1,000 training images of the floor."""

    def __init__(self, data: ArtDataset, features: ImageFeatures, count: int = 1000, seed: int = 0) -> None:
        self.data, self.features = data, features
        train_idx, held_idx = split_holdout(data)
        self.train_idx = train_idx
        self.held = features(to_model_range(data.images[held_idx]))  # (H, F)
        self.train = features(to_model_range(data.images[train_idx]))  # (N, F)
        self.held_to_train = nearest(self.held, self.train)[0]  # (H,)
        pick = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))[:count]
        self.floor_features = self.train[pick.numpy()]
        # Samples take the themes of the floor's images, so both have the data's proportions.
        self.labels = data.labels[train_idx[pick]]  # (count,)

    def floor(self) -> QualityRow:
        """Training images scored as samples: the best a generator of new real pictures could do."""
        precision, recall = precision_recall(self.held, self.floor_features)
        return QualityRow("real (training images)", frechet_distance(self.floor_features, self.held),
                          precision, recall, None)

    def score(self, name: str, samples: torch.Tensor) -> tuple[QualityRow, np.ndarray, np.ndarray]:
        """Score (count, 3, R, R) samples; returns (row, each sample's nearest-training distance,
        and that training image's index into the dataset)."""
        sample_features = self.features(samples)
        precision, recall = precision_recall(self.held, sample_features)
        distances, index = nearest(sample_features, self.train)
        row = QualityRow(name, frechet_distance(sample_features, self.held), precision, recall,
                         memorisation_figures(distances, self.held_to_train))
        return row, distances, self.train_idx[torch.from_numpy(index)].numpy()


@torch.inference_mode()
def draw_samples(model: nn.Module, labels: torch.Tensor, seed: int = 0, batch: int = 50) -> torch.Tensor:
    """One sample per label (z ~ N(0, I); no condition for a model without themes); returns
    (N, 3, R, R) in [-1, 1] on the CPU."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(len(labels), int(model.latent_dim), generator=generator)
    themed = len(getattr(model, "themes", ())) > 0
    out = [model(z[i:i + batch], labels[i:i + batch] if themed else None).float().cpu()
           for i in range(0, len(labels), batch)]
    return torch.cat(out)


def closest_pairs_grid(samples: torch.Tensor, distances: np.ndarray, train_index: np.ndarray,
                       data: ArtDataset, path: Path, count: int = 8) -> None:
    """The ``count`` samples nearest to a training image, each above that image; written to ``path``."""
    order = np.argsort(distances)[:count]
    nearest_images = to_model_range(data.images[torch.from_numpy(train_index[order])])
    save_image_grid(torch.cat([samples[torch.from_numpy(order)], nearest_images]), path, columns=count)


def pca_psnr(train: torch.Tensor, held: torch.Tensor, components: int) -> float:
    """Mean PSNR of ``held`` (B, 3, R, R) reconstructed by PCA with ``components`` components fitted
    to ``train`` (N, 3, R, R); returns dB."""
    flat_train, flat_held = train.reshape(len(train), -1).double(), held.reshape(len(held), -1).double()
    mean = flat_train.mean(dim=0)
    _, _, basis = torch.linalg.svd(flat_train - mean, full_matrices=False)
    top = basis[:components]  # (k, P)
    recon = (flat_held - mean) @ top.T @ top + mean
    return float(psnr(recon.float().reshape(held.shape).clamp(-1, 1), held).mean())


@torch.inference_mode()
def vae_psnr_by_set(vae: nn.Module, data: ArtDataset, batch: int = 128) -> dict[str, dict[str, float]]:
    """For each theme: {"held_out", "vae_psnr", "mean_image_psnr", "pca_psnr", "gain"}; returns them
    by theme name. PCA has as many components as the VAE has latent dimensions."""
    train_idx, held_idx = split_holdout(data)
    results = {}
    for theme_index, theme in enumerate(data.themes):
        held = held_idx[data.labels[held_idx] == theme_index]
        train = train_idx[data.labels[train_idx] == theme_index]
        mean_image = to_model_range(data.images[train]).mean(dim=0, keepdim=True)  # (1, 3, R, R)
        vae_scores, mean_scores = [], []
        for start in range(0, len(held), batch):
            index = held[start:start + batch]
            images = to_model_range(data.images[index])  # (b, 3, R, R)
            condition = _condition(vae, data, data.labels[index])
            recon = vae(vae.encode(images, condition), condition)
            vae_scores.append(psnr(recon, images))
            mean_scores.append(psnr(mean_image.expand_as(images), images))
        vae_db, mean_db = float(torch.cat(vae_scores).mean()), float(torch.cat(mean_scores).mean())
        pca_db = pca_psnr(to_model_range(data.images[train]), to_model_range(data.images[held]), int(vae.latent_dim))
        results[theme] = {"held_out": len(held), "vae_psnr": vae_db, "mean_image_psnr": mean_db,
                          "pca_psnr": pca_db, "gain": vae_db - mean_db}
    return results


def mean_pairwise_distance(latents: torch.Tensor) -> float:
    """Mean Euclidean distance over all distinct pairs of rows of (N, D); returns a float."""
    distances = torch.cdist(latents, latents)  # (N, N)
    n = latents.shape[0]
    return float(distances.sum() / (n * (n - 1)))


@torch.inference_mode()
def gan_diversity(gan: nn.Module, vae: nn.Module, data: ArtDataset, count: int = 256,
                  seed: int = 0) -> dict[str, float]:
    """Mean pairwise distance in the VAE's latent space of ``count`` GAN samples and of ``count``
    real images; returns {"samples", "real", "ratio"}, and the same per theme under "by_theme" when
    the GAN, the VAE and the data share their themes."""
    generator = torch.Generator().manual_seed(seed)
    themes = len(gan.themes)
    sample_labels = torch.arange(count) % themes if themes else torch.zeros(count, dtype=torch.int64)
    z = torch.randn(count, gan.latent_dim, generator=generator)  # (N, D_gan)
    samples = gan(z, sample_labels if themes else None)  # (N, 3, R, R)
    real_index = torch.randperm(len(data), generator=generator)[:count]
    real = to_model_range(data.images[real_index])  # (N, 3, R, R)
    same_themes = themes > 0 and tuple(vae.themes) == tuple(gan.themes)
    sample_latents = vae.encode(samples, sample_labels if same_themes else None)  # (N, D_vae)
    real_latents = vae.encode(real, _condition(vae, data, data.labels[real_index]))  # (N, D_vae)
    spread_samples = mean_pairwise_distance(sample_latents)
    spread_real = mean_pairwise_distance(real_latents)
    figures: dict[str, Any] = {"samples": spread_samples, "real": spread_real, "ratio": spread_samples / spread_real}
    if same_themes and data.themes == tuple(gan.themes):
        # Within each theme too: a generator that draws one picture per theme would still look
        # spread out overall, because the themes differ from each other.
        figures["by_theme"] = {}
        for theme_index, theme in enumerate(data.themes):
            members = torch.nonzero(data.labels == theme_index).squeeze(1)
            members = members[torch.randperm(len(members), generator=generator)[:count // themes]]
            real_theme = vae.encode(to_model_range(data.images[members]), data.labels[members])
            fake_theme = sample_latents[sample_labels == theme_index]
            within = (mean_pairwise_distance(fake_theme), mean_pairwise_distance(real_theme))
            figures["by_theme"][theme] = {"samples": within[0], "real": within[1], "ratio": within[0] / within[1]}
    return figures


@torch.inference_mode()
def save_grids(vae: nn.Module | None, gan: nn.Module | None, data: ArtDataset, folder: Path,
               seed: int = 0, diffusion: nn.Module | None = None) -> list[Path]:
    """Write README grids: VAE held-out originals over reconstructions, VAE, GAN and diffusion
    samples by theme, and the diffusion model's image to image at three strengths; returns the
    paths written."""
    written = []
    generator = torch.Generator().manual_seed(seed)
    _, held_idx = split_holdout(data)
    if vae is not None:
        rows = []
        for theme_index in range(len(data.themes)):
            index = held_idx[data.labels[held_idx] == theme_index][:8]
            images = to_model_range(data.images[index])
            condition = _condition(vae, data, data.labels[index])
            rows += [images, vae(vae.encode(images, condition), condition)]
        written.append(folder / "vae_art64_reconstructions.png")
        save_image_grid(torch.cat(rows), written[-1], columns=8)
        written.append(folder / "vae_art64_samples.png")
        save_image_grid(_samples_by_theme(vae, generator), written[-1], columns=8)
    if gan is not None:
        written.append(folder / "gan_art64_samples.png")
        save_image_grid(_samples_by_theme(gan, generator), written[-1], columns=8)
    if diffusion is not None:
        written.append(folder / "diffusion_art64_samples.png")
        save_image_grid(_samples_by_theme(diffusion, generator), written[-1], columns=8)
        written.append(folder / "diffusion_art64_img2img.png")
        save_image_grid(_img2img_rows(diffusion, data, held_idx, generator), written[-1], columns=8)
    return written


def _img2img_rows(model: nn.Module, data: ArtDataset, held_idx: torch.Tensor, generator: torch.Generator,
                  strengths: tuple[float, ...] = (0.3, 0.6, 1.0)) -> torch.Tensor:
    """Eight held-out pictures (four of each theme), then each refined at every strength, a row each."""
    index = torch.cat([held_idx[data.labels[held_idx] == t][:8 // len(data.themes)] for t in range(len(data.themes))])
    images, labels = to_model_range(data.images[index]), data.labels[index]
    noise = torch.randn(images.shape, generator=generator)
    condition = labels if tuple(model.themes) == data.themes else None
    return torch.cat([images] + [model.refine(images, s, noise, condition) for s in strengths])


def _samples_by_theme(model: nn.Module, generator: torch.Generator, per_theme: int = 32) -> torch.Tensor:
    """(T * per_theme, 3, R, R) samples: ``per_theme`` for each theme in turn (or 64 unconditional)."""
    themes = len(model.themes)
    if not themes:
        return model(torch.randn(64, model.latent_dim, generator=generator))
    labels = torch.arange(themes).repeat_interleave(per_theme)  # (T * per_theme,)
    return model(torch.randn(len(labels), model.latent_dim, generator=generator), labels)


if __name__ == "__main__":
    from models.evaluate_cli import main  # the printing front end lives beside it

    sys.exit(main())
