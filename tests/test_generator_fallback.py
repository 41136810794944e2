"""GeneratorHost with loaded models: a bad model file falls back to the CPPN with one log line,
themes steer conditional models, and imported TorchScript and ONNX generators run the live loop
headless on a real clip."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from installation.app import RunOptions, run
from installation.config import DEFAULT_CONFIG_PATH, GeneratorConfig
from installation.contracts import LatentState
from installation.errors import ModelError
from installation.generator import GeneratorHost
from models.checkpoint import METADATA_KEY, meta_for, save_checkpoint
from models.gan import GANConfig, GANGenerator

CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "video" / "intel_asl" / "yes.mkv"
CONFIG = GeneratorConfig(model="cppn", resolution=32, latent_dim=8, seed=7, device="cpu", torch_threads=0)
FALLBACK_LINE = "running on the CPPN instead"

# torch's own exporters warn about their internals; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")


def small_gan(themes: tuple[str, ...] = ()) -> GANGenerator:
    torch.manual_seed(0)
    config = GANConfig(resolution=16, latent_dim=8, themes=themes, g_channels=32, g_min_channels=8, theme_dim=8)
    return GANGenerator(config).eval()


def save_gan(path: Path, model: GANGenerator) -> Path:
    save_checkpoint(path, model, meta_for(model, "gan", steps=1, description="a test", licence="CC0-1.0"))
    return path


def rewrite_metadata(path: Path, **changes: object) -> None:
    """Change fields of a checkpoint's metadata (and its hparams), leaving the weights as they are."""
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    meta = json.loads(header["__metadata__"][METADATA_KEY])
    for key, value in changes.items():
        meta[key] = value
        if key in meta["hparams"]:
            meta["hparams"][key] = value
    header["__metadata__"][METADATA_KEY] = json.dumps(meta)
    encoded = json.dumps(header).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # safetensors pads its header to 8 bytes
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + raw[8 + length:])


def corrupt(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).bytes(2048))
    return path


def truncate(path: Path) -> Path:
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


class TinyGenerator(nn.Module):
    """Latents (B, 8) -> images (B, 3, 16, 16) in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.project = nn.Linear(8, 3 * 16 * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.project(z)).view(-1, 3, 16, 16)


def export_torchscript(path: Path) -> Path:
    with torch.no_grad():
        traced = torch.jit.trace(TinyGenerator().eval(), torch.zeros(1, 8))
    torch.jit.save(traced, str(path), _extra_files={"generator.json": json.dumps({"latent_dim": 8})})
    return path


def export_onnx(path: Path) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript", reason="exporting ONNX needs onnx and onnxscript (requirements-dev.txt)")
    torch.onnx.export(TinyGenerator().eval(), (torch.zeros(1, 8),), str(path), input_names=["z"],
                      output_names=["image"], dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True,
                      verbose=False, external_data=False)
    return path


def _state(seed: int = 0, theme: float | None = None) -> LatentState:
    z = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    return LatentState(z=z, params={} if theme is None else {"theme": theme})


def _bad_checkpoint(kind: str, folder: Path) -> Path:
    path = save_gan(folder / f"{kind}.safetensors", small_gan())
    if kind == "corrupt":
        return corrupt(path)
    if kind == "truncated":
        return truncate(path)
    rewrite_metadata(path, latent_dim=12)  # says D = 12, holds weights for D = 8
    return path


@pytest.mark.parametrize("kind, error", [
    ("corrupt", r"not a safetensors file"),
    ("truncated", r"truncated"),
    ("mismatched", r"weights do not match its metadata"),
])
def test_a_bad_checkpoint_falls_back_to_the_cppn_with_one_log_line(
    kind: str, error: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _bad_checkpoint(kind, tmp_path)
    with pytest.raises(ModelError, match=error):
        GeneratorHost(dataclasses.replace(CONFIG, model=str(path)), fallback=False)
    with caplog.at_level(logging.WARNING):
        host = GeneratorHost(dataclasses.replace(CONFIG, model=str(path)))
    assert host.fallback_reason is not None and re.search(error, host.fallback_reason)
    assert str(path) in host.fallback_reason
    lines = [r.getMessage() for r in caplog.records if FALLBACK_LINE in r.getMessage()]
    assert len(lines) == 1 and str(path) in lines[0]
    assert (host.latent_dim, host.resolution) == (CONFIG.latent_dim, CONFIG.resolution), "the configured CPPN"
    assert host.render(_state()).tobytes() == GeneratorHost(CONFIG).render(_state()).tobytes()


@pytest.mark.parametrize("name, damage", [("gen.pt", corrupt), ("gen.pt", truncate),
                                          ("gen.onnx", corrupt), ("gen.onnx", truncate)])
def test_a_bad_imported_file_falls_back_to_the_cppn(
    name: str, damage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / name
    (export_onnx if path.suffix == ".onnx" else export_torchscript)(path)
    damage(path)
    with caplog.at_level(logging.WARNING):
        host = GeneratorHost(dataclasses.replace(CONFIG, model=str(path)))
    assert host.fallback_reason is not None and name in host.fallback_reason
    assert sum(FALLBACK_LINE in r.getMessage() for r in caplog.records) == 1


def test_a_model_that_renders_nan_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = small_gan()
    with torch.no_grad():
        model.from_latent.bias.fill_(float("nan"))
    path = save_gan(tmp_path / "nan.safetensors", model)
    with caplog.at_level(logging.WARNING):
        host = GeneratorHost(dataclasses.replace(CONFIG, model=str(path)))
    assert host.fallback_reason is not None and "NaN" in host.fallback_reason
    assert sum(FALLBACK_LINE in r.getMessage() for r in caplog.records) == 1


def test_a_missing_shipped_name_lists_the_known_models(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        host = GeneratorHost(dataclasses.replace(CONFIG, model="gan_nowhere"))
    assert host.fallback_reason is not None and re.search(r"unknown model 'gan_nowhere' \(known: cppn", host.fallback_reason)


def test_a_good_checkpoint_is_used_as_it_is(tmp_path: Path) -> None:
    model = small_gan()
    host = GeneratorHost(dataclasses.replace(CONFIG, model=str(save_gan(tmp_path / "good.safetensors", model))))
    assert host.fallback_reason is None
    assert (host.latent_dim, host.resolution) == (8, 16), "the checkpoint's sizes, not the config's"
    with torch.inference_mode():
        expected = model(torch.from_numpy(_state().z[None]))[0]
    expected_bytes = ((expected.permute(1, 2, 0) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    assert np.abs(host.render(_state()).astype(int) - expected_bytes.astype(int)).max() <= 1


def test_the_theme_parameter_selects_a_conditional_models_theme(tmp_path: Path) -> None:
    path = save_gan(tmp_path / "themed.safetensors", small_gan(themes=("sea", "city")))
    host = GeneratorHost(dataclasses.replace(CONFIG, model=str(path)))
    assert host.themes == ("sea", "city")
    sea, city = host.render(_state(theme=0)), host.render(_state(theme=1))
    assert np.abs(sea.astype(int) - city.astype(int)).mean() > 0.5, "themes draw different pictures"
    assert host.render(_state(theme=2)).tobytes() == sea.tobytes(), "the index wraps around the themes"
    assert host.render(_state(theme=1)).tobytes() == city.tobytes()
    assert host.render(_state()).shape == sea.shape, "no theme: the model's own default"


def test_an_unconditional_model_ignores_the_theme() -> None:
    host = GeneratorHost(CONFIG)
    assert host.render(_state(theme=3)).tobytes() == host.render(_state()).tobytes()


def _config_file(tmp_path: Path, model: Path) -> Path:
    text = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    text, count = re.subn(r'(?m)^model = "cppn"', f"model = {json.dumps(str(model))}", text)
    assert count == 1, "config.toml has one generator model line"
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_an_imported_generator_runs_the_live_loop_headless_on_a_real_clip(
    fmt: str, tmp_path: Path, media: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert CLIP.is_file(), f"real clip missing: {CLIP}"
    model = export_torchscript(tmp_path / "gen.pt") if fmt == "torchscript" else export_onnx(tmp_path / "gen.onnx")
    out = tmp_path / "frames"
    with caplog.at_level(logging.INFO):
        stats = run(RunOptions(config_path=_config_file(tmp_path, model), source=str(CLIP), headless=True,
                               frames=10, size=(64, 36), out=str(out)))
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"imported {fmt} generator {model}" in m for m in messages)
    assert not any(FALLBACK_LINE in m for m in messages)
    assert stats.rendered_frames == 10 and stats.errors["generator_nan_frames"] == 0
    assert stats.config.generator.model == str(model)
    assert len(list(out.glob("*.png"))) == 10


def test_a_shipped_name_loads_models_defaults_and_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models

    monkeypatch.setattr(models, "DEFAULTS_DIR", tmp_path)
    save_gan(tmp_path / "gan_tiny.safetensors", small_gan())
    assert models.known_models() == ["cppn", "gan_tiny"]
    host = GeneratorHost(dataclasses.replace(CONFIG, model="gan_tiny"))
    assert host.fallback_reason is None and host.resolution == 16
    with pytest.raises(ModelError, match=r"unknown model 'gan_tin' \(known: cppn, gan_tiny;"):
        models.build_generator(dataclasses.replace(CONFIG, model="gan_tin"))


class WideGenerator(nn.Module):
    """Latents (B, 8) -> images (B, 3, 8, 32): a non-square output."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z.sum(dim=1)).view(-1, 1, 1, 1).expand(-1, 3, 8, 32)


def test_a_non_square_imported_generator_renders_its_own_shape(tmp_path: Path) -> None:
    path = tmp_path / "wide.pt"
    torch.jit.save(torch.jit.script(WideGenerator()), str(path), _extra_files={"generator.json": '{"latent_dim": 8}'})
    host = GeneratorHost(dataclasses.replace(CONFIG, model=str(path)))
    assert host.fallback_reason is None
    assert host.render(_state()).shape == (8, 32, 3)
