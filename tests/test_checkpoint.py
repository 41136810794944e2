"""Checkpoint files: round trips, and each way a file can be wrong gets its own CheckpointError."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from installation.errors import ModelError
from models.checkpoint import (
    METADATA_KEY,
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    meta_for,
    read_checkpoint_meta,
    save_checkpoint,
)
from models.gan import GAN, GANConfig, GANGenerator
from models.vae import VAE, VAEConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL_VAE = VAEConfig(resolution=32, latent_dim=8, themes=("emoji", "openclipart"), base_channels=8, max_channels=16)
SMALL_GAN = GANConfig(resolution=32, latent_dim=8, themes=("a", "b", "c"), g_channels=16, g_min_channels=8,
                      d_channels=8, d_max_channels=16)


def _save_vae(path: Path, config: VAEConfig = SMALL_VAE) -> tuple[VAE, CheckpointMeta]:
    torch.manual_seed(0)
    model = VAE(config)
    meta = meta_for(model, "vae", steps=12, description="test images", licence="CC0")
    save_checkpoint(path, model, meta)
    return model, meta


def _rewrite_metadata(source: Path, target: Path, change) -> None:
    """Copy a checkpoint's tensors to ``target`` with its metadata dict passed through ``change``."""
    from safetensors import safe_open
    with safe_open(str(source), framework="pt") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
        fields = json.loads(f.metadata()[METADATA_KEY])
    save_file(tensors, str(target), metadata={METADATA_KEY: json.dumps(change(fields))})


def test_vae_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model, meta = _save_vae(tmp_path / "vae.safetensors")
    loaded, loaded_meta = load_checkpoint(tmp_path / "vae.safetensors")
    assert loaded_meta == meta
    assert not loaded.training
    assert (loaded.latent_dim, loaded.resolution, loaded.themes) == (8, 32, ("emoji", "openclipart"))
    z = torch.randn(3, 8)
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    condition = torch.tensor([0, 1, 0])
    model.eval()
    with torch.inference_mode():
        assert torch.equal(loaded(z, condition), model(z, condition))
        assert torch.equal(loaded.encode(images, condition), model.encode(images, condition))


def test_gan_round_trip_saves_the_ema_generator(tmp_path: Path) -> None:
    torch.manual_seed(0)
    gan = GAN(SMALL_GAN)
    meta = meta_for(gan.generator_ema, "gan", steps=3, description="d", licence="l")
    save_checkpoint(tmp_path / "gan.safetensors", gan.generator_ema, meta)
    loaded, loaded_meta = load_checkpoint(tmp_path / "gan.safetensors")
    assert isinstance(loaded, GANGenerator) and loaded_meta == meta
    z = torch.randn(2, 8)
    with torch.inference_mode():
        assert torch.equal(loaded(z, torch.tensor([2, 0])), gan.generator_ema(z, torch.tensor([2, 0])))
    counters = [k for k, v in loaded.state_dict().items() if k.endswith("num_batches_tracked")]
    assert counters and all(loaded.state_dict()[k].dtype == torch.int64 for k in counters)


def test_metadata_is_readable_without_the_weights(tmp_path: Path) -> None:
    _, meta = _save_vae(tmp_path / "vae.safetensors")
    assert read_checkpoint_meta(tmp_path / "vae.safetensors") == meta
    assert meta.kind == "vae" and meta.licence == "CC0" and meta.steps == 12


def test_checkpoint_error_is_a_model_error() -> None:
    assert issubclass(CheckpointError, ModelError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors: file not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("content", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + bytes(200), b"PK\x03\x04" + bytes(100)])
def test_a_file_that_is_not_safetensors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a safetensors file"):
        load_checkpoint(path)


def test_a_pickled_torch_file_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    torch.save(VAE(SMALL_VAE).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(path)


def test_corrupt_header(tmp_path: Path) -> None:
    _save_vae(tmp_path / "vae.safetensors")
    data = bytearray((tmp_path / "vae.safetensors").read_bytes())
    data[20:24] = b"\xff\xfe{]"  # garble the JSON header
    (tmp_path / "bad.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"bad\.safetensors: not a safetensors file \(header is not JSON"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_truncated_file(tmp_path: Path) -> None:
    _save_vae(tmp_path / "vae.safetensors")
    data = (tmp_path / "vae.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-1000])
    with pytest.raises(CheckpointError, match=rf"cut\.safetensors: truncated: the header describes {len(data)} "
                                              rf"bytes, the file has {len(data) - 1000}"):
        load_checkpoint(tmp_path / "cut.safetensors")
    (tmp_path / "cut_header.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match=r"cut_header\.safetensors: truncated: the header needs"):
        load_checkpoint(tmp_path / "cut_header.safetensors")


def test_plain_safetensors_without_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file(VAE(SMALL_VAE).state_dict(), str(path))
    with pytest.raises(CheckpointError, match=r"plain\.safetensors: no 'installation\.checkpoint' metadata"):
        load_checkpoint(path)


@pytest.mark.parametrize("change, message", [
    (lambda m: {k: v for k, v in m.items() if k != "licence"}, "metadata lacks licence"),
    (lambda m: {**m, "kind": "flow"}, r"metadata kind = 'flow': expected one of"),
    (lambda m: {**m, "latent_dim": "eight"}, r"metadata latent_dim = 'eight': expected int"),
    (lambda m: {**m, "hparams": {**m["hparams"], "depth": 3}}, r"hparams has unknown field\(s\) \['depth'\]"),
    (lambda m: {**m, "hparams": {**m["hparams"], "resolution": 48}}, "hparams do not make a valid VAEConfig"),
])
def test_invalid_metadata(tmp_path: Path, change, message: str) -> None:
    _save_vae(tmp_path / "vae.safetensors")
    _rewrite_metadata(tmp_path / "vae.safetensors", tmp_path / "bad.safetensors", change)
    with pytest.raises(CheckpointError, match=rf"bad\.safetensors: {message}"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_metadata_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    save_file(VAE(SMALL_VAE).state_dict(), str(path), metadata={METADATA_KEY: "{kind: vae"})
    with pytest.raises(CheckpointError, match=r"bad\.safetensors: metadata is not valid JSON"):
        load_checkpoint(path)


def test_metadata_disagreeing_with_its_hparams(tmp_path: Path) -> None:
    _save_vae(tmp_path / "vae.safetensors")
    _rewrite_metadata(tmp_path / "vae.safetensors", tmp_path / "bad.safetensors", lambda m: {**m, "latent_dim": 16})
    with pytest.raises(CheckpointError,
                       match=r"bad\.safetensors: metadata says latent_dim 16 but hparams\.latent_dim = 8"):
        load_checkpoint(tmp_path / "bad.safetensors")
    _rewrite_metadata(tmp_path / "vae.safetensors", tmp_path / "bad2.safetensors", lambda m: {**m, "themes": ["x"]})
    with pytest.raises(CheckpointError, match=r"bad2\.safetensors: metadata says themes \('x',\)"):
        load_checkpoint(tmp_path / "bad2.safetensors")


def test_metadata_disagreeing_with_the_weights(tmp_path: Path) -> None:
    _save_vae(tmp_path / "vae.safetensors")
    wider = dataclasses.asdict(dataclasses.replace(SMALL_VAE, latent_dim=12))
    wider["themes"] = list(wider["themes"])
    _rewrite_metadata(tmp_path / "vae.safetensors", tmp_path / "bad.safetensors",
                      lambda m: {**m, "latent_dim": 12, "hparams": wider})
    with pytest.raises(CheckpointError, match=r"bad\.safetensors: weights do not match its metadata: "
                                              r"'decoder\.from_latent\.weight' has shape \(256, 24\)"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_kind_disagreeing_with_the_weights(tmp_path: Path) -> None:
    _save_vae(tmp_path / "vae.safetensors")
    gan_hparams = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(
        SMALL_GAN, themes=SMALL_VAE.themes))))
    _rewrite_metadata(tmp_path / "vae.safetensors", tmp_path / "bad.safetensors",
                      lambda m: {**m, "kind": "gan", "hparams": gan_hparams})
    with pytest.raises(CheckpointError, match=r"bad\.safetensors: weights do not match its metadata: "
                                              r"missing keys from_latent\..*unexpected keys decoder\."):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_saving_refuses_metadata_that_does_not_describe_the_model(tmp_path: Path) -> None:
    model = VAE(SMALL_VAE)
    meta = dataclasses.replace(meta_for(model, "vae", 0, "d", "l"), latent_dim=99)
    with pytest.raises(CheckpointError, match="not saved: metadata latent_dim 99 but the model has 8"):
        save_checkpoint(tmp_path / "vae.safetensors", model, meta)
    with pytest.raises(CheckpointError, match="kind 'gan' needs a GANGenerator, got VAE"):
        save_checkpoint(tmp_path / "vae.safetensors", model, dataclasses.replace(meta, latent_dim=8, kind="gan"))
    assert not (tmp_path / "vae.safetensors").exists()
