"""The app's first frame must not wait for torch: importing the UI loads no heavy library, and the
headless engine loads no UI library. Each import runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # run in this checkout, whatever the venv points at

HEAVY = ("torch", "onnx", "onnxruntime", "pytorch_lightning", "lightning")
UI = ("textual", "textual_plotext", "layerscope.tui")


def loaded_after(statement: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after running ``statement`` in a new interpreter."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


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
