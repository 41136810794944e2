"""The import graph's rules, read from the source (no imports run): models/ stands alone (never
imports the runtime), scenes/ never reach for capture, OSC or the display, and calibration/
never imports scenes/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RULES = {  # package folder -> module prefixes its files must not import
    "models": ("installation",),
    "scenes": ("installation.sources", "installation.osc", "installation.display", "pygame"),
    "calibration": ("scenes",),
}


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, absolute names (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("folder", sorted(RULES))
def test_import_rules(folder: str) -> None:
    forbidden = RULES[folder]
    broken = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        bad = sorted(name for name in imported_modules(path)
                     if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden))
        if bad:
            broken[str(path.relative_to(ROOT))] = bad
    assert not broken, f"{folder}/ must not import {forbidden}: {broken}"


def test_the_rule_reader_sees_plain_from_relative_and_nested_imports(tmp_path: Path) -> None:
    (tmp_path / "models" / "sub").mkdir(parents=True)
    source = tmp_path / "models" / "sub" / "x.py"
    source.write_text("import installation.errors\nfrom .. import cppn\nfrom ..data import load\n"
                      "def f():\n    from installation.config import GeneratorConfig\n")
    found = imported_modules(source, tmp_path)
    assert {"installation.errors", "models.cppn", "models.data.load", "installation.config.GeneratorConfig"} <= found
    assert imported_modules(ROOT / "models" / "errors.py") == set()


def test_the_frame_loop_reads_on_one_page() -> None:
    """``Runtime.step`` is the frame's path in at most 45 lines, and no module of the runtime
    grows past 400 lines (split it by responsibility)."""
    source = (ROOT / "installation" / "runtime.py").read_text(encoding="utf-8")
    step = next(node for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.FunctionDef) and node.name == "step")
    assert step.end_lineno - step.lineno + 1 <= 45
    long = {str(path.relative_to(ROOT)): count for path in sorted((ROOT / "installation").rglob("*.py"))
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"
