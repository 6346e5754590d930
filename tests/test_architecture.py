"""The package layering (pyproject.toml [tool.importlinter]) holds: no module imports a higher layer,
siblings separated by "|" never import each other, and every hgrec package has a layer."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import pytest

import hgrec

ROOT = Path(__file__).resolve().parents[1]
importlinter = pytest.importorskip("importlinter.cli")


def _layers() -> list[list[str]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = cfg["contracts"]
    return [[m.strip() for m in layer.split("|")] for layer in contract["layers"]]


def test_the_layer_contract_is_kept(tmp_path):
    code = importlinter.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert code == 0, "an import climbs a layer: run `lint-imports` for the offending chain"


def test_every_package_and_module_has_a_layer():
    named = {m for layer in _layers() for m in layer}
    top = {f"hgrec.{m.name}" for m in pkgutil.iter_modules(hgrec.__path__)}
    assert top - named == set(), f"give these a layer in pyproject.toml: {sorted(top - named)}"
    assert named - top == set(), f"layers name modules that do not exist: {sorted(named - top)}"


def test_the_contract_catches_a_climb(tmp_path):
    """The same linter on a copy of the contract with two layers swapped must fail (the test can fail)."""
    layers = _layers()
    i = next(i for i, layer in enumerate(layers) if layer == ["hgrec.pipelines"])
    swapped = layers[:i] + [layers[i + 1], layers[i]] + layers[i + 2:]
    body = ",\n".join('    "' + " | ".join(layer) + '"' for layer in swapped)
    cfg = tmp_path / "contract.toml"
    cfg.write_text(f'[tool.importlinter]\nroot_package = "hgrec"\n\n[[tool.importlinter.contracts]]\n'
                   f'name = "swapped"\ntype = "layers"\nlayers = [\n{body}\n]\n')
    assert importlinter.lint_imports(config_filename=str(cfg), no_cache=True, no_logo=True) == 1
