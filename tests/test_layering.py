"""Layers import downward only, and every module of the package imports."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import lprnn

PACKAGE = Path(lprnn.__file__).parent
# What each layer may import from the package (besides itself). Top-level modules (config,
# results, stats, atomic, readme_table, reproduce, __main__) are listed by name.
ALLOWED = {
    "core": set(),
    "datasets": {"config", "atomic"},
    "ann": {"core", "datasets", "config", "atomic"},
    "snn": {"core", "ann", "datasets", "config", "atomic"},
    "baselines": {"core", "ann", "datasets", "config"},
    "experiments": {"core", "ann", "snn", "baselines", "datasets", "config", "results", "stats"},
}
# Modules Lava-free code must never import at module level (Lava lives in lprnn.snn.lava only).
LAVA_ROOTS = {"lava"}


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE)], prefix="lprnn."))


def _imports(path: Path) -> set[str]:
    """Every absolute lprnn module an import statement in ``path`` names (functions included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n == "lprnn" or n.startswith("lprnn.")}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def _target_layer(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) < 2:
        return None
    candidate = parts[1]
    if (PACKAGE / candidate).is_dir() or (PACKAGE / f"{candidate}.py").is_file():
        return candidate
    return None   # "from lprnn import x" where x is a name, handled by its module path


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_downward_only(layer):
    violations = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in _imports(path):
            target = _target_layer(name)
            if target is not None and target != layer and target not in ALLOWED[layer]:
                violations.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not violations, "\n".join(violations)


def test_mapper_does_not_import_the_simulator():
    imported = _imports(PACKAGE / "snn" / "mapper.py")
    assert not {n for n in imported if n.startswith("lprnn.snn.simulator") or n == "lprnn.snn.simulate"}
    assert "lprnn.snn" not in {n.rsplit(".", 1)[0] for n in imported if n.count(".") == 2
                               and n.split(".")[2] in ("simulate", "map_network")}


def test_the_layering_check_catches_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from lprnn.snn import simulate\nimport lprnn.experiments\n")
    targets = {_target_layer(n) for n in _imports(bad)}
    assert targets == {"snn", "experiments"} and not targets <= ALLOWED["core"]


@pytest.mark.parametrize("module", _modules())
def test_every_module_imports(module):
    if module.startswith("lprnn.snn.lava"):
        pytest.importorskip("lava.magma", reason="Lava is an optional extra")
    importlib.import_module(module)
