"""CUDA only: channels-last memory, half precision where it draws the same picture, and captured graphs."""

from __future__ import annotations

import copy
import logging
import time

import torch

logger = logging.getLogger("installation.generator")

_HALF_MAX_ERROR = 2.0 / 127.5  # fp16 is kept only if no probe pixel moves by more than 2 grey levels
_GRAPH_MIN_SPEED_UP = 1.1  # a CUDA graph is kept only if replays are at least this much faster
_GRAPH_TIMING_RUNS = 10


def prepare_for_cuda(model: torch.nn.Module, device: torch.device) -> torch.dtype:
    """Channels-last for convolutional models, and fp16 where it draws the same picture.

    Changes ``model`` in place; returns the dtype its latents must have.
    """
    if any(parameter.dim() == 4 for parameter in model.parameters()):
        model.to(memory_format=torch.channels_last)  # convolutions run faster in NHWC on tensor cores
    if not getattr(model, "supports_half", True):
        return torch.float32
    probe = torch.randn(4, int(model.latent_dim), generator=torch.Generator().manual_seed(0)).to(device)
    try:
        with torch.inference_mode():
            reference = model(probe).float()
            half = copy.deepcopy(model).half()
            error = float((half(probe.half()).float() - reference).abs().max())  # a sync, once, at set-up
    except (RuntimeError, ValueError) as failure:
        logger.info("generator keeps float32 on CUDA: fp16 failed (%s)", str(failure).splitlines()[0])
        return torch.float32
    if not error <= _HALF_MAX_ERROR:  # also true for NaN
        logger.info("generator keeps float32 on CUDA: fp16 differs by up to %.4f", error)
        return torch.float32
    model.half()
    logger.info("generator runs in fp16 on CUDA (differs from float32 by up to %.4f)", error)
    return torch.float16


class CudaGraph:
    """One forward pass captured at fixed input buffers; ``replay`` re-runs it on their current values."""

    def __init__(self, model: torch.nn.Module, z: torch.Tensor, condition: torch.Tensor | None) -> None:
        args = (z,) if condition is None else (z, condition)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up runs on a side stream, as graph capture requires
            for _ in range(3):
                model(*args)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = model(*args)  # (1, 3, H, W), overwritten by every replay

    def replay(self) -> torch.Tensor:
        """Returns the static output buffer, refilled from the input buffers' current values."""
        self.graph.replay()
        return self.output


def capture_if_faster(model: torch.nn.Module, z: torch.Tensor, condition: torch.Tensor | None) -> CudaGraph | None:
    """Capture a graph and time it against eager launches; returns it only where it helps."""
    if not getattr(model, "supports_cuda_graph", True):
        return None
    args = (z,) if condition is None else (z, condition)
    try:
        graph = CudaGraph(model, z, condition)
    except RuntimeError as error:  # e.g. a model that syncs with the CPU inside forward
        torch.cuda.synchronize()
        logger.info("generator runs without a CUDA graph: capture failed (%s)", str(error).splitlines()[0])
        return None
    eager_s = _time_cuda(lambda: model(*args))
    graph_s = _time_cuda(graph.replay)
    helps = eager_s >= graph_s * _GRAPH_MIN_SPEED_UP
    logger.info("CUDA graph %s: %.3f ms per frame, eager %.3f ms", "used" if helps else "not used",
                graph_s * 1000.0, eager_s * 1000.0)
    return graph if helps else None


def _time_cuda(step: object) -> float:
    """Seconds per call of ``step`` over a few calls; synchronises the device (set-up only)."""
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(_GRAPH_TIMING_RUNS):
        step()  # type: ignore[operator]
    torch.cuda.synchronize()
    return (time.perf_counter() - started) / _GRAPH_TIMING_RUNS
