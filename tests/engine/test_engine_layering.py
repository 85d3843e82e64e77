"""The engine's import graph: no cycles (function-level imports count too) and the layers of
pyproject.toml's import-linter contract, so a shortcut shows up in ``make test`` as well."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # grimp reads every import statement, including those inside functions and under
    # TYPE_CHECKING: a cycle hidden in a function body is still a cycle of the design.
    return grimp.build_graph("layerscope", include_external_packages=False, cache_dir=None)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    found, seen = [], set()
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None and frozenset(back) not in seen:
                seen.add(frozenset(back))
                found.append([importer, *back])
    return found


def test_engine_has_no_import_cycle(graph: grimp.ImportGraph) -> None:
    cycles = _cycles(graph)
    assert not cycles, "import cycles in engine/:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_engine_follows_its_layers(graph: grimp.ImportGraph) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (contract,) = [
        c for c in contracts if c["type"] == "layers" and c["containers"] == ["layerscope.engine"]
    ]
    layers = [
        grimp.Layer(*(m.strip() for m in layer.split("|")), independent=True)
        for layer in contract["layers"]
    ]
    illegal = graph.find_illegal_dependencies_for_layers(
        layers=layers, containers={"layerscope.engine"}
    )
    lines = [f"{d.importer} -> {d.imported}" for d in sorted(illegal, key=str)]
    assert not illegal, "imports against the engine's layers:\n" + "\n".join(lines)


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module cycle is reported."""
    g = grimp.ImportGraph()
    g.add_import(importer="layerscope.engine.a", imported="layerscope.engine.b")
    g.add_import(importer="layerscope.engine.b", imported="layerscope.engine.a")
    assert _cycles(g)
