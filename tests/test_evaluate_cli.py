"""``python -m models.evaluate`` on the shipped models and the real art sets: the figures of
models/README.md, printed as Markdown and written as JSON."""

from __future__ import annotations

import json

import pytest

from models.evaluate_cli import main
from tests.conftest import ART


def test_the_shipped_vae_beats_the_mean_image_and_the_report_matches_the_json(tmp_path, capsys, one_torch_thread):
    if not (ART / "openclipart_64.npz").is_file():
        pytest.skip(f"art data sets not found in {ART}")
    out = tmp_path / "figures.json"
    assert main(["--samples", "32", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    for theme, row in figures["vae_psnr"].items():
        assert row["gain"] > 3.0, f"{theme}: the VAE is only {row['gain']:.2f} dB better than the mean image"
        assert f"| {theme} | {row['held_out']} | {row['vae_psnr']:.2f} |" in printed
    diversity = figures["gan_diversity"]
    assert f"| all | {diversity['samples']:.2f} | {diversity['real']:.2f} | {diversity['ratio']:.2f} |" in printed
