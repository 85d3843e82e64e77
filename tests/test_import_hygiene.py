"""The app's first frame must not wait for torch: importing the UI loads no heavy library, and the
headless engine loads no UI library. Each import runs in a fresh interpreter."""

from __future__ import annotations

import pytest

from tests.fresh_interpreter import modules_after

HEAVY = ("torch", "onnx", "onnxruntime", "pytorch_lightning", "lightning")
UI = ("textual", "textual_plotext", "layerscope.tui")


def loaded_after(statement: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``statement`` in a new interpreter."""
    return {m.split(".")[0] for m in modules_after(statement)}


@pytest.mark.parametrize(
    "statement",
    [
        "import layerscope.tui.app",
        "from layerscope.tui.app import LayerscopeApp; LayerscopeApp('models')",
        "import layerscope.engine.cli",  # `layerscope` with no verb goes through here to the app
    ],
)
def test_ui_start_loads_no_heavy_library(statement: str) -> None:
    loaded = loaded_after(statement)
    assert not loaded & set(HEAVY), f"{statement!r} imported {sorted(loaded & set(HEAVY))}"


@pytest.mark.parametrize(
    "statement",
    [
        "import engine",
        "import layerscope.engine.discover, layerscope.engine.model, layerscope.engine.errors",
    ],
)
def test_engine_loads_no_ui_library(statement: str) -> None:
    loaded = loaded_after(statement)
    assert not loaded & set(UI), f"{statement!r} imported {sorted(loaded & set(UI))}"
    assert not loaded & set(HEAVY), f"{statement!r} imported {sorted(loaded & set(HEAVY))}"
