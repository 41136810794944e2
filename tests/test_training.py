"""The training loop: files it writes, same seed -> same run, exact resume, DistributedDataParallel
on two CPU processes (gloo), data loading that skips corrupt images, and the CLI's errors."""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from installation.errors import InstallationError
from models import train_cli
from models.checkpoint import load_checkpoint
from models.data import DataError, load_dataset
from models.gan import GANGenerator
from models.training import STATE_FILE, TrainConfig, Trainer, set_up_process, train
from models.vae import VAE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ART = Path(__file__).resolve().parents[1].parent / "shared" / "art"
SETS = (str(ART / "openclipart_64.npz"), str(ART / "emoji_64.npz"))


@pytest.fixture(scope="module", autouse=True)
def _art_present() -> None:
    if not all(Path(s).is_file() for s in SETS):
        pytest.skip(f"art data sets not found in {ART}")


def _config(out: Path, kind: str = "vae", **changes) -> TrainConfig:
    """A tiny run on 24 real images of each set at 32 px."""
    base = TrainConfig(kind=kind, data=SETS, out=out, resolution=32, steps=6, batch=8, seed=3,
                       conditional=True, latent_dim=8, limit_per_theme=24, log_every=2,
                       sample_every=4, checkpoint_every=4, description="test subset", licence="CC0")
    return dataclasses.replace(base, **changes)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_a_vae_run_writes_checkpoint_state_samples_and_loss_curve(tmp_path: Path) -> None:
    path = train(_config(tmp_path))
    assert path == tmp_path / "vae.safetensors"
    model, meta = load_checkpoint(path)
    assert isinstance(model, VAE)
    assert (meta.kind, meta.steps, meta.themes, meta.licence) == ("vae", 6, ("emoji", "openclipart"), "CC0")
    assert (tmp_path / STATE_FILE).is_file()
    for name in ("samples_000004.png", "samples_000006.png", "samples_latest.png", "loss.png"):
        image = cv2.imread(str(tmp_path / name))
        assert image is not None and image.shape[0] > 32, name


def test_a_gan_run_ships_the_ema_generator(tmp_path: Path) -> None:
    path = train(_config(tmp_path, kind="gan", steps=4))
    model, meta = load_checkpoint(path)
    assert isinstance(model, GANGenerator) and meta.kind == "gan" and meta.steps == 4
    assert cv2.imread(str(tmp_path / "samples_latest.png")) is not None


def test_same_seed_same_run_and_resume_is_exact(tmp_path: Path) -> None:
    whole = _weights(train(_config(tmp_path / "whole", steps=8)))
    again = _weights(train(_config(tmp_path / "again", steps=8)))
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    train(_config(tmp_path / "halves", steps=4))
    resumed = _weights(train(_config(tmp_path / "halves", steps=8)))  # picks up train_state at step 4
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    other_seed = _weights(train(_config(tmp_path / "other", steps=8, seed=4)))
    assert not all(torch.equal(whole[k], other_seed[k]) for k in whole)


def test_gan_resume_is_exact(tmp_path: Path) -> None:
    whole = _weights(train(_config(tmp_path / "whole", kind="gan", steps=4, checkpoint_every=2)))
    train(_config(tmp_path / "halves", kind="gan", steps=2))
    resumed = _weights(train(_config(tmp_path / "halves", kind="gan", steps=4)))
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    """One of two gloo processes: trains a VAE and a GAN, and writes its own final weights."""
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    device = set_up_process(distributed=True)
    try:
        for kind in ("vae", "gan"):
            trainer = Trainer(_config(Path(out) / kind, kind=kind, steps=3), device, distributed=True)
            trainer.loop()
            # Parameters only: BatchNorm running statistics are each process's own (DDP
            # broadcasts rank 0's at every forward, and rank 0's are the ones saved).
            weights = {k: v.detach().contiguous() for k, v in trainer.model.named_parameters()}
            save_file(weights, str(Path(out) / f"{kind}_rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


def test_distributed_data_parallel_on_two_cpu_processes(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    for kind in ("vae", "gan"):
        rank0 = _weights(tmp_path / f"{kind}_rank0.safetensors")
        rank1 = _weights(tmp_path / f"{kind}_rank1.safetensors")
        # Each rank drew its own batches; only averaged gradients keep the weights identical.
        assert all(torch.equal(rank0[k], rank1[k]) for k in rank0), kind
        model, meta = load_checkpoint(tmp_path / kind / f"{kind}.safetensors")
        assert meta.steps == 3
    single = _weights(train(_config(tmp_path / "single", steps=3)))  # one process, same seed
    assert not all(torch.equal(single[k], _weights(tmp_path / "vae" / "vae.safetensors")[k]) for k in single)


def _write_art_folder(root: Path) -> None:
    """Two theme sub-folders of real images, plus an empty, a garbage and a non-image file."""
    for theme, source in (("clipart", SETS[0]), ("emoji", SETS[1])):
        folder = root / theme
        folder.mkdir(parents=True)
        for i, image in enumerate(np.load(source)["images"][:5]):
            cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (root / "clipart" / "empty.png").write_bytes(b"")
    (root / "emoji" / "garbage.jpg").write_bytes(os.urandom(300))
    (root / "emoji" / "notes.txt").write_text("not an image, not counted")


def test_corrupt_images_are_skipped_and_counted(tmp_path: Path) -> None:
    _write_art_folder(tmp_path / "art")
    data = load_dataset([tmp_path / "art"], resolution=32)
    assert data.themes == ("clipart", "emoji")
    assert len(data) == 10 and data.skipped == 2
    assert data.images.shape == (10, 3, 32, 32) and data.images.dtype == torch.uint8
    path = train(_config(tmp_path / "out", data=(str(tmp_path / "art"),), steps=2, limit_per_theme=None))
    assert load_checkpoint(path)[1].themes == ("clipart", "emoji")


def test_alpha_grey_and_oblong_images_become_square_rgb(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    transparent = np.zeros((40, 40, 4), np.uint8)  # BGRA, fully transparent: white on white
    cv2.imwrite(str(folder / "alpha.png"), transparent)
    cv2.imwrite(str(folder / "grey.png"), np.full((20, 20), 100, np.uint8))
    oblong = np.zeros((20, 60, 3), np.uint8)
    oblong[:, 20:40] = (0, 0, 255)  # BGR red in the middle third: all that the centre crop keeps
    cv2.imwrite(str(folder / "oblong.png"), oblong)
    data = load_dataset([folder], resolution=16)
    assert data.themes == ("mixed",) and data.skipped == 0
    alpha, grey, red = data.images.permute(0, 2, 3, 1).numpy()  # sorted by file name
    assert (alpha == 255).all() and (grey == 100).all()
    assert (red == (255, 0, 0)).all()


def test_npz_sets_are_themes_named_without_their_size(tmp_path: Path) -> None:
    data = load_dataset([str(ART / "*_64.npz")], resolution=16, limit_per_theme=3)
    assert {"openclipart", "emoji"} <= set(data.themes)
    assert data.images.shape[1:] == (3, 16, 16)


def test_missing_or_empty_data_raise_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="training data not found: .*nowhere"):
        load_dataset([tmp_path / "nowhere"], resolution=32)
    with pytest.raises(DataError, match="no files match"):
        load_dataset([str(tmp_path / "*.npz")], resolution=32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no readable images in"):
        load_dataset([tmp_path / "empty"], resolution=32)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"bad\.npz: not a readable \.npz file"):
        load_dataset([tmp_path / "bad.npz"], resolution=32)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_runs_a_short_training(tmp_path: Path) -> None:
    args = _parse(["train", "vae", "--data", *SETS, "--size", "32", "--steps", "2", "--batch", "4",
                   "--out", str(tmp_path), "--limit-per-theme", "16", "--licence", "CC0"])
    assert train_cli.run(args) == 0
    assert load_checkpoint(tmp_path / "vae.safetensors")[1].themes == ()  # not --conditional


def test_cli_errors_are_one_line_installation_errors(tmp_path: Path) -> None:
    with pytest.raises(InstallationError, match=r"^training data not found: [^\n]*$"):
        train_cli.run(_parse(["train", "gan", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)]))
    with pytest.raises(InstallationError, match="--steps must be at least 1"):
        train_cli.run(_parse(["train", "gan", "--data", *SETS, "--steps", "0"]))
    with pytest.raises(InstallationError, match=r"--hparam d_chanels: not a setting of GANConfig \(one of d_channels"):
        train_cli.run(_parse(["train", "gan", "--data", *SETS, "--hparam", "d_chanels=32", "--out", str(tmp_path)]))
    with pytest.raises(InstallationError, match=r"--hparam channels=a,b: expected tuple like \(64, 128, 192\)"):
        train_cli.run(_parse(["train", "diffusion", "--data", *SETS, "--hparam", "channels=a,b", "--out", str(tmp_path)]))
    with pytest.raises(InstallationError, match="--latent-dim does not apply to a diffusion model"):
        train_cli.run(_parse(["train", "diffusion", "--data", *SETS, "--latent-dim", "8", "--out", str(tmp_path)]))
    assert not (tmp_path / "gan.safetensors").exists()  # refused before any work


def test_cli_hparams_shape_the_model(tmp_path: Path) -> None:
    args = _parse(["train", "gan", "--data", *SETS, "--size", "32", "--steps", "1", "--batch", "4",
                   "--out", str(tmp_path), "--limit-per-theme", "8", "--hparam", "g_channels=64",
                   "--hparam", "d_channels=32"])
    assert train_cli.run(args) == 0
    model, meta = load_checkpoint(tmp_path / "gan.safetensors")
    assert meta.hparams["g_channels"] == 64 and meta.hparams["d_channels"] == 32
