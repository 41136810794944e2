"""The diffusion model: it learns real art (loss falls, exact resume), samples deterministically from
its starting noise, refines pictures (image to image) keeping their layout at low strength, plugs
into the generator host, and its corrupt checkpoints get the same clear errors as the others."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from installation.config import GeneratorConfig
from installation.contracts import LatentState
from installation.generator import GeneratorHost
from models.checkpoint import CheckpointError, load_checkpoint, meta_for, save_checkpoint
from models.data import load_dataset, split_holdout, to_model_range
from models.diffusion import DiffusionConfig, DiffusionModel, alpha_sigma
from models.latent_tools import slerp
from models.training import TrainConfig, Trainer, train
from tests.conftest import ART, PROJECT_ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHIPPED = PROJECT_ROOT / "models" / "defaults" / "diffusion_art64.safetensors"
SETS = (str(ART / "openclipart_64.npz"), str(ART / "emoji_64.npz"))


@pytest.fixture(scope="module")
def shipped() -> DiffusionModel:
    if not SHIPPED.is_file():
        pytest.fail(f"the shipped diffusion model is missing: {SHIPPED}")
    model, meta = load_checkpoint(SHIPPED)
    assert meta.kind == "diffusion" and isinstance(model, DiffusionModel)
    model.sample_steps = 4  # the fewest the installation uses: keeps the tests quick
    return model


@pytest.fixture(scope="module")
def held_out() -> torch.Tensor:
    """Eight held-out real pictures (never trained on), emoji and clip-art, in [-1, 1]."""
    if not all(Path(s).is_file() for s in SETS):
        pytest.skip(f"art data sets not found in {ART}")
    data = load_dataset(SETS, 64)
    _, held = split_holdout(data)
    pick = torch.cat([held[data.labels[held] == t][:4] for t in range(2)])
    return to_model_range(data.images[pick])


def _tiny(out: Path, **changes) -> TrainConfig:
    base = TrainConfig(kind="diffusion", data=SETS, out=out, resolution=16, steps=60, batch=8, seed=5,
                       conditional=True, limit_per_theme=24, log_every=5, sample_every=1000,
                       checkpoint_every=1000, description="test subset", licence="CC0")
    return dataclasses.replace(base, **changes)


def test_a_tiny_model_learns_real_art_and_its_loss_falls(tmp_path: Path) -> None:
    path = train(_tiny(tmp_path))
    model, meta = load_checkpoint(path)
    assert isinstance(model, DiffusionModel) and meta.kind == "diffusion" and meta.steps == 60
    assert meta.themes == ("emoji", "openclipart") and model.latent_dim == 3 * 16 * 16
    state = Trainer(_tiny(tmp_path), torch.device("cpu"), False)  # resumes: reads the loss history
    losses = [entry["loss"] for entry in state.history]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < 0.88 * np.mean(losses[:2]), f"loss did not fall: {losses}"
    grid = cv2.imread(str(tmp_path / "samples_latest.png"))
    assert grid is not None and grid.std() > 5.0  # the sample grid shows pictures, not a flat field


def test_resume_is_exact(tmp_path: Path) -> None:
    straight = train(_tiny(tmp_path / "straight", steps=6, checkpoint_every=3))
    train(_tiny(tmp_path / "resumed", steps=3, checkpoint_every=3))
    resumed = train(_tiny(tmp_path / "resumed", steps=6, checkpoint_every=3))
    a, b = load_checkpoint(straight)[0].state_dict(), load_checkpoint(resumed)[0].state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_sampling_is_a_deterministic_function_of_the_starting_noise(shipped: DiffusionModel) -> None:
    z = torch.randn(3, shipped.latent_dim, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 0])
    with torch.inference_mode():
        first, again = shipped(z, labels), shipped(z, labels)
        scaled = shipped(0.5 * z, labels)  # the latent's direction picks the picture
        other = shipped(torch.roll(z, 1, dims=0), labels)
    assert first.shape == (3, 3, 64, 64) and float(first.abs().max()) <= 1.0
    assert torch.equal(first, again)
    assert float((first - scaled).abs().max()) < 1e-4
    assert float((first - other).abs().mean()) > 0.1  # other noise, other pictures


def test_nearby_latents_draw_nearby_pictures_so_latent_walks_are_smooth(shipped: DiffusionModel) -> None:
    generator = torch.Generator().manual_seed(2)
    a, b = (torch.randn(shipped.latent_dim, generator=generator).numpy() for _ in range(2))
    steps = [torch.from_numpy(np.asarray(slerp(a, b, t), np.float32))[None] for t in (0.0, 0.02, 1.0)]
    with torch.inference_mode():
        start, near, far = (shipped(z, None) for z in steps)
    small, large = float((near - start).abs().mean()), float((far - start).abs().mean())
    assert small < 0.25 * large, (small, large)


def test_the_theme_changes_the_picture(shipped: DiffusionModel) -> None:
    z = torch.randn(1, shipped.latent_dim, generator=torch.Generator().manual_seed(3)).expand(2, -1)
    with torch.inference_mode():
        emoji, clipart = shipped(z, torch.tensor([0, 1]))
    assert float((emoji - clipart).abs().mean()) > 0.05


def _layout_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Correlation of the 8 x 8 grey thumbnails of two batches of pictures: 1 = same layout."""
    def thumb(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x.mean(dim=1, keepdim=True), 8).flatten(1)
    ta, tb = thumb(a), thumb(b)
    ta, tb = ta - ta.mean(1, keepdim=True), tb - tb.mean(1, keepdim=True)
    return float(((ta * tb).sum(1) / (ta.norm(dim=1) * tb.norm(dim=1) + 1e-8)).mean())


def test_image_to_image_keeps_the_layout_at_low_strength_and_departs_at_high(
        shipped: DiffusionModel, held_out: torch.Tensor) -> None:
    noise = torch.randn(held_out.shape, generator=torch.Generator().manual_seed(4))
    labels = torch.tensor([0] * 4 + [1] * 4)
    with torch.inference_mode():
        gentle = shipped.refine(held_out, 0.3, noise, labels, steps=8)
        strong = shipped.refine(held_out, 1.0, noise, labels, steps=8)
    keeps, departs = _layout_correlation(gentle, held_out), _layout_correlation(strong, held_out)
    assert keeps > 0.9, f"strength 0.3 lost the layout (correlation {keeps:.2f})"
    assert departs < 0.5, f"strength 1.0 still follows the input (correlation {departs:.2f})"
    assert float((gentle - held_out).abs().mean()) > 0.01  # it did repaint, not copy
    with pytest.raises(ValueError, match="strength must be in"):
        shipped.refine(held_out, 0.0, noise)


def test_noising_follows_the_schedule() -> None:
    config = DiffusionConfig.for_resolution(64)
    alpha, sigma = alpha_sigma(torch.linspace(0, 1, 11), config)
    assert torch.allclose(alpha ** 2 + sigma ** 2, torch.ones(11), atol=1e-5)
    assert alpha[0] > 0.999 and alpha[-1] < 0.001 and bool((alpha[1:] < alpha[:-1]).all())


def test_the_generator_host_draws_reuses_and_refines(tmp_path: Path) -> None:
    host = GeneratorHost(GeneratorConfig(model=str(SHIPPED), device="cpu", reuse_below=0.01), fallback=False)
    assert host.refines and host.resolution == 64 and host.themes == ("emoji", "openclipart")
    z = np.random.default_rng(0).standard_normal(host.latent_dim).astype(np.float32)
    frame = host.render(LatentState(z, {"theme": 0}))
    assert frame.shape == (64, 64, 3) and frame.std() > 10
    assert host.render(LatentState(z + 0.001, {"theme": 0})) is frame and host.reused_frames == 1
    sheet = np.full((256, 256, 3), 250, np.uint8)
    cv2.circle(sheet, (128, 128), 80, (20, 20, 20), 12)
    refined = host.render(LatentState(z, {"theme": 1, "refine": 0.4}, source=sheet))
    assert refined is not frame and refined.shape == (64, 64, 3)
    ring = cv2.resize(sheet, (64, 64), interpolation=cv2.INTER_AREA).mean(axis=2) < 128  # where the ink is
    assert refined[ring].mean() < refined[~ring].mean() - 30, "the refined picture lost the drawn ring"
    assert host.render(LatentState(z, {"theme": 1, "refine": 0.4}, source=sheet)) is refined  # same source: reused


def test_a_corrupt_diffusion_checkpoint_gets_a_clear_error(tmp_path: Path) -> None:
    model = DiffusionModel(DiffusionConfig.for_resolution(16, ("a", "b")))
    path = tmp_path / "diffusion.safetensors"
    save_checkpoint(path, model, meta_for(model, "diffusion", 1, "test", "CC0"))
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:-5000])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: truncated"):
        load_checkpoint(tmp_path / "cut.safetensors")
    wider = DiffusionModel(dataclasses.replace(model.config, channels=(64, 144)))
    save_checkpoint(tmp_path / "other.safetensors", wider, meta_for(wider, "diffusion", 1, "test", "CC0"))
    other = (tmp_path / "other.safetensors").read_bytes()
    header_length = int.from_bytes(data[:8], "little")
    # this file's metadata over the other file's weights: shapes disagree
    (tmp_path / "mixed.safetensors").write_bytes(data[:8 + header_length] + other[8 + header_length:])
    with pytest.raises(CheckpointError, match=r"mixed\.safetensors"):
        load_checkpoint(tmp_path / "mixed.safetensors")


def test_a_half_precision_copy_draws_the_same_pictures_at_half_the_size(tmp_path: Path) -> None:
    from models.checkpoint import save_half_copy
    model = DiffusionModel(DiffusionConfig.for_resolution(16, ("a", "b")))
    for parameter in model.parameters():  # a model whose every layer does something
        torch.nn.init.normal_(parameter, std=0.05)
    full = tmp_path / "full.safetensors"
    save_checkpoint(full, model, meta_for(model, "diffusion", 3, "test", "CC0"))
    save_half_copy(full, tmp_path / "half.safetensors")
    assert (tmp_path / "half.safetensors").stat().st_size < 0.55 * full.stat().st_size
    a, meta_a = load_checkpoint(full)
    b, meta_b = load_checkpoint(tmp_path / "half.safetensors")
    assert meta_a == meta_b and next(b.parameters()).dtype == torch.float32
    z = torch.randn(2, a.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert float((a(z) - b(z)).abs().max()) < 2.0 / 255
