"""GeneratorHost: device choice, latent checks, uint8 frames, and surviving a bad model."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch

from installation.config import GeneratorConfig
from installation.contracts import LatentState
from installation.errors import ModelError
from installation.generator import GeneratorHost, select_device

CONFIG = GeneratorConfig(model="cppn", resolution=48, latent_dim=8, seed=7, device="cpu", torch_threads=0)


def _state(seed: int = 0, dim: int = 8) -> LatentState:
    return LatentState(z=np.random.default_rng(seed).standard_normal(dim).astype(np.float32))


@pytest.fixture
def host() -> GeneratorHost:
    return GeneratorHost(CONFIG)


def test_render_returns_contiguous_rgb_uint8(host: GeneratorHost) -> None:
    frame = host.render(_state())
    assert frame.shape == (48, 48, 3)
    assert frame.dtype == np.uint8
    assert frame.flags["C_CONTIGUOUS"]
    assert frame.std() > 10


def test_properties(host: GeneratorHost) -> None:
    assert host.latent_dim == 8
    assert host.resolution == 48
    assert host.device == torch.device("cpu")


def test_same_state_same_bytes_and_frames_are_not_shared(host: GeneratorHost) -> None:
    first = host.render(_state(1))
    other = host.render(_state(2))
    again = host.render(_state(1))
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()
    assert not np.shares_memory(first, again)


def test_two_hosts_with_one_config_agree() -> None:
    first, second = GeneratorHost(CONFIG), GeneratorHost(CONFIG)
    assert first.render(_state()).tobytes() == second.render(_state()).tobytes()


def test_float64_and_list_latents_are_accepted(host: GeneratorHost) -> None:
    z = np.random.default_rng(0).standard_normal(8)
    expected = host.render(LatentState(z=z.astype(np.float32)))
    assert host.render(LatentState(z=z)).tobytes() == expected.tobytes()


def test_warm_up_renders_once(host: GeneratorHost) -> None:
    host.warm_up()
    assert host.nan_frames == 0


@pytest.mark.parametrize("z", [np.zeros(5, np.float32), np.zeros((1, 8), np.float32)])
def test_wrong_latent_shape_is_a_model_error(host: GeneratorHost, z: np.ndarray) -> None:
    with pytest.raises(ModelError, match=r"expects length 8") as caught:
        host.render(LatentState(z=z))
    assert ("length 5" in str(caught.value)) or ("shape (1, 8)" in str(caught.value))


def test_unknown_model_is_a_model_error_without_fallback() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'nope' \(known: cppn[,;]"):
        GeneratorHost(GeneratorConfig(model="nope", device="cpu"), fallback=False)


def test_unknown_model_falls_back_to_the_cppn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="installation.generator"):
        host = GeneratorHost(dataclasses.replace(CONFIG, model="nope"))
    assert host.fallback_reason is not None and "unknown model 'nope'" in host.fallback_reason
    assert host.render(_state()).tobytes() == GeneratorHost(CONFIG).render(_state()).tobytes()
    assert [r.getMessage() for r in caplog.records if "running on the CPPN" in r.getMessage()]


def test_a_working_model_has_no_fallback_reason(host: GeneratorHost) -> None:
    assert host.fallback_reason is None
    assert host.themes == ()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_model_error() -> None:
    with pytest.raises(ModelError, match=r"CUDA is not available.*'auto' or 'cpu'"):
        GeneratorHost(GeneratorConfig(device="cuda"))


def test_auto_picks_a_usable_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected


def test_non_finite_output_is_drawn_grey_and_counted(
    host: GeneratorHost, caplog: pytest.LogCaptureFixture
) -> None:
    def bad_forward(z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        image = torch.zeros(1, 3, 48, 48)
        image[:, :, :24] = float("nan")
        image[:, 0, 24:] = float("inf")
        image[:, 1, 24:] = 1.0
        image[:, 2, 24:] = -1.0
        return image

    host.model.forward = bad_forward  # a broken model stands in for the CPPN
    with caplog.at_level(logging.WARNING, logger="installation.generator"):
        first = host.render(_state())
        host.render(_state())
    assert host.nan_frames == 2
    assert np.all(first[:24] == 128), "NaN drawn as mid grey"
    assert np.all(first[24:, :, 0] == 128), "inf drawn as mid grey"
    assert np.all(first[24:, :, 1] == 255) and np.all(first[24:, :, 2] == 0)
    assert sum("NaN" in record.getMessage() for record in caplog.records) == 1, "logged once"


def test_a_model_with_the_wrong_output_shape_is_a_model_error(host: GeneratorHost) -> None:
    host.model.forward = lambda z, condition=None: torch.zeros(1, 48, 48, 3)
    with pytest.raises(ModelError, match=r"\(1, 3, H, W\)"):
        host.render(_state())


def test_resolution_change_in_the_model_is_followed(host: GeneratorHost) -> None:
    host.render(_state())
    host.model.set_resolution(24)
    assert host.resolution == 24
    assert host.render(_state()).shape == (24, 24, 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_host_matches_cpu_host() -> None:
    cpu = GeneratorHost(CONFIG).render(_state())
    gpu_host = GeneratorHost(dataclasses.replace(CONFIG, device="cuda"))
    gpu = gpu_host.render(_state())
    assert gpu_host.device.type == "cuda"
    assert np.abs(gpu.astype(int) - cpu.astype(int)).max() <= 2
