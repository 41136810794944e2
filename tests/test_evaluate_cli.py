"""``python -m models.evaluate`` on the shipped models and the real art sets: the figures of
models/README.md, printed as Markdown and written as JSON."""

from __future__ import annotations

import json

import pytest

from models.evaluate_cli import main
from tests.conftest import ART


def test_the_report_scores_every_shipped_model_against_the_real_floor(tmp_path, capsys, one_torch_thread):
    if not (ART / "openclipart_64.npz").is_file():
        pytest.skip(f"art data sets not found in {ART}")
    out = tmp_path / "figures.json"
    # a quick run: 500 images of each set, 200 samples a row, two diffusion steps, and only the
    # closest-pairs grids (the README's sample grids are the ship procedure's, models/README.md)
    assert main(["--limit-per-theme", "500", "--samples", "32", "--quality-samples", "200", "--steps", "2",
                 "--json", str(out), "--closest-grids", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    for theme, row in figures["vae_psnr"].items():
        assert row["gain"] > 3.0, f"{theme}: the VAE is only {row['gain']:.2f} dB better than the mean image"
        assert row["vae_psnr"] > row["pca_psnr"], f"{theme}: PCA of the same size reconstructs better"
        assert f"| {theme} | {row['held_out']} | {row['vae_psnr']:.2f} | {row['pca_psnr']:.2f} |" in printed
    diversity = figures["gan_diversity"]
    assert f"| all | {diversity['samples']:.2f} | {diversity['real']:.2f} | {diversity['ratio']:.2f} |" in printed
    rows = {row["name"]: row for row in figures["quality"]}
    floor = rows.pop("real (training images)")
    assert set(rows) == {"VAE vae_art64.safetensors", "GAN gan_art64.safetensors",
                         "diffusion diffusion_art64.safetensors, 2 steps"}
    for name, row in rows.items():
        assert row["frechet"] > 2 * floor["frechet"], f"{name} is scored as close to the art as real images"
        assert not (row["memorisation"]["share_closer"] > 0.1), f"{name} copies training images"
        assert f"| {name} | {row['frechet']:.2f} |" in printed
    assert len(list(tmp_path.glob("closest_*.png"))) == 3
