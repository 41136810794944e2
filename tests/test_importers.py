"""Imported generators: TorchScript and ONNX files load, match their PyTorch module, and every
way a file can be wrong gets an error naming the file and what was found."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from installation.config import GeneratorConfig
from models import build_generator, resolve_model_file
from models.importers import ImportedModelError, OnnxGenerator, TorchScriptGenerator, load_imported

DOC = Path(__file__).resolve().parents[1] / "docs" / "importing-generators.md"
LATENT = 8

# torch's own exporters warn about their internals; nothing to act on here.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")


class SmallGenerator(nn.Module):
    """Latents (B, 8) -> images (B, 3, 16, 16) in [-1, 1]; ``scale`` and ``shape`` break the contract."""

    def __init__(self, scale: float = 1.0, shape: tuple[int, ...] = (3, 16, 16)) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.scale, self.shape = scale, shape
        self.project = nn.Linear(LATENT, 32 * 4 * 4)
        self.up = nn.Sequential(nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),
                                nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        image = self.up(self.project(z).view(-1, 32, 4, 4)) * self.scale  # (B, 3, 16, 16)
        return image.reshape((z.shape[0],) + self.shape)


def export_torchscript(module: nn.Module, path: Path, about: dict | None = None) -> Path:
    """Trace ``module`` and save it, with a generator.json extra file when ``about`` is given."""
    with torch.no_grad():
        traced = torch.jit.trace(module.eval(), torch.zeros(1, LATENT))
    extra = {"generator.json": json.dumps(about)} if about is not None else {}
    torch.jit.save(traced, str(path), _extra_files=extra)
    return path


def export_onnx(module: nn.Module, path: Path, dynamic_batch: bool = True) -> Path:
    """Export ``module`` with the torch.export-based ONNX exporter; returns the path."""
    pytest.importorskip("onnxscript", reason="exporting ONNX needs onnx and onnxscript (requirements-dev.txt)")
    shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    torch.onnx.export(module.eval(), (torch.zeros(1, LATENT),), str(path), input_names=["z"],
                      output_names=["image"], dynamic_shapes=shapes, dynamo=True, verbose=False,
                      external_data=False)  # one file, so truncating it truncates the weights
    return path


@pytest.fixture(scope="module")
def module() -> SmallGenerator:
    return SmallGenerator().eval()


@pytest.fixture(scope="module")
def files(module: SmallGenerator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("imported")
    return {
        "torchscript": export_torchscript(module, folder / "small.pt", {"latent_dim": LATENT, "description": "small"}),
        "bare_torchscript": export_torchscript(module, folder / "bare.ts"),
        "onnx": export_onnx(module, folder / "small.onnx"),
    }


def _latents(count: int = 3) -> torch.Tensor:
    return torch.randn(count, LATENT, generator=torch.Generator().manual_seed(5))


def _outputs_match(imported: nn.Module, module: nn.Module) -> None:
    with torch.inference_mode():
        np.testing.assert_allclose(imported(_latents()).numpy(), module(_latents()).numpy(), atol=1e-4)


def test_torchscript_matches_the_module(files: dict[str, Path], module: SmallGenerator) -> None:
    imported = load_imported(files["torchscript"])
    assert isinstance(imported, TorchScriptGenerator)
    assert (imported.latent_dim, imported.resolution, imported.image_size) == (LATENT, 16, (16, 16))
    assert imported.meta.description == "small" and imported.meta.max_batch is None
    _outputs_match(imported, module)


def test_onnx_matches_the_module(files: dict[str, Path], module: SmallGenerator) -> None:
    pytest.importorskip("onnxruntime")
    imported = load_imported(files["onnx"])
    assert isinstance(imported, OnnxGenerator)
    assert (imported.latent_dim, imported.image_size, imported.meta.format) == (LATENT, (16, 16), "onnx")
    _outputs_match(imported, module)


def test_the_documented_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4, "the doc's example code is what this test runs"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert (tmp_path / "my_generator.pt").is_file() and (tmp_path / "my_generator.onnx").is_file()


def test_a_bare_torchscript_file_takes_the_latent_size_from_the_config(files: dict[str, Path],
                                                                       module: SmallGenerator) -> None:
    _outputs_match(load_imported(files["bare_torchscript"], latent_dim=LATENT), module)
    with pytest.raises(ImportedModelError, match=r"bare\.ts: rejected a latent of shape \(1, 5\).*generator\.latent_dim"):
        load_imported(files["bare_torchscript"], latent_dim=5)
    with pytest.raises(ImportedModelError, match=r"latent size is not in the file"):
        load_imported(files["bare_torchscript"])


def test_the_registry_loads_files_by_path(files: dict[str, Path]) -> None:
    pytest.importorskip("onnxruntime")
    config = GeneratorConfig(model=str(files["torchscript"]), latent_dim=3, device="cpu")
    assert isinstance(build_generator(config), TorchScriptGenerator), "the file's own latent size wins"
    onnx = build_generator(GeneratorConfig(model=str(files["onnx"]), device="cpu"))
    assert isinstance(onnx, OnnxGenerator) and onnx.latent_dim == LATENT


def test_a_relative_path_is_found_from_the_project_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_model_file("docs/nothing.pt") == Path("docs/nothing.pt"), "missing: left to the loader"
    assert resolve_model_file("README.md") is None, "not a model suffix"
    assert resolve_model_file("cppn_but_not_a_file") is None


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_a_wrong_output_shape_is_named(fmt: str, tmp_path: Path) -> None:
    bad = SmallGenerator(shape=(16, 16, 3))  # channels last: a common mistake
    path = _export(fmt, bad, tmp_path)
    with pytest.raises(ImportedModelError, match=rf"{path.name}: output shape \(1, 16, 16, 3\).*expected \(1, 3, H, W\)"):
        load_imported(path)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_out_of_range_output_is_named(fmt: str, tmp_path: Path) -> None:
    path = _export(fmt, SmallGenerator(scale=127.5), tmp_path)  # a [-127.5, 127.5] "image"
    with pytest.raises(ImportedModelError, match=rf"{path.name}: output values span \[-\d.*\]; .*\[-1, 1\]"):
        load_imported(path)


def test_a_non_square_output_is_accepted(tmp_path: Path) -> None:
    path = export_torchscript(SmallGenerator(shape=(3, 8, 32)), tmp_path / "wide.pt", {"latent_dim": LATENT})
    imported = load_imported(path)
    assert imported.image_size == (8, 32) and imported.resolution == 8


def test_nan_output_is_named(tmp_path: Path) -> None:
    path = export_torchscript(SmallGenerator(scale=float("nan")), tmp_path / "nan.pt", {"latent_dim": LATENT})
    with pytest.raises(ImportedModelError, match=r"nan\.pt: output holds NaN"):
        load_imported(path)


def test_an_onnx_file_with_a_fixed_batch_of_one_is_used_one_latent_at_a_time(
    module: SmallGenerator, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    imported = load_imported(export_onnx(module, tmp_path / "fixed.onnx", dynamic_batch=False))
    assert imported.max_batch == 1
    with torch.inference_mode():
        np.testing.assert_allclose(imported(_latents(1)).numpy(), module(_latents(1)).numpy(), atol=1e-4)


@pytest.mark.parametrize("name", ["small.pt", "small.onnx"])
def test_a_corrupt_file_is_named(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ImportedModelError, match=rf"{re.escape(str(path))}: not a (readable TorchScript archive|loadable ONNX model)"):
        load_imported(path)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_a_truncated_file_is_named(fmt: str, files: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    whole = files[fmt].read_bytes()
    path = tmp_path / f"truncated{files[fmt].suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImportedModelError, match=rf"truncated{files[fmt].suffix}: not a .*corrupt or truncated"):
        load_imported(path)


def test_a_torch_save_file_is_refused_with_how_to_export(module: SmallGenerator, tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(module.state_dict(), path)
    with pytest.raises(ImportedModelError, match=r"weights\.pt: a torch\.save file, not TorchScript.*torch\.jit\.save"):
        load_imported(path)


def test_missing_empty_and_unknown_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ImportedModelError, match=r"gone\.onnx: file not found"):
        load_imported(tmp_path / "gone.onnx")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ImportedModelError, match=r"empty\.pt: the file is empty"):
        load_imported(tmp_path / "empty.pt")
    with pytest.raises(ImportedModelError, match=r"unknown suffix '\.pth'"):
        load_imported(tmp_path / "model.pth")


def test_without_onnxruntime_the_error_says_how_to_install_it(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ImportedModelError, match=r"small\.onnx: ONNX generators need onnxruntime.*pip install onnxruntime=="):
        load_imported(files["onnx"])


def _export(fmt: str, module: nn.Module, folder: Path) -> Path:
    if fmt == "torchscript":
        return export_torchscript(module, folder / "bad.pt", {"latent_dim": LATENT})
    pytest.importorskip("onnxruntime")
    return export_onnx(module, folder / "bad.onnx")
