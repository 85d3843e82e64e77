"""Fixtures for the TUI tests: seeded model files, an app factory, and a wait-until-idle helper."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tui_models import (
    make_corrupt,
    make_int8_onnx,
    make_onnx,
    make_pickled_module,
    make_state_dict,
)

from layerscope.tui.app import LayerscopeApp


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder named ``models`` with float/int8 ONNX, a state dict and a broken file (seeded)."""
    folder = tmp_path_factory.mktemp("models", numbered=False)
    make_state_dict(folder)
    make_int8_onnx(make_onnx(folder))
    make_corrupt(folder)
    return folder


@pytest.fixture
def work_dir(model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the models (for tests that add, change or export files)."""
    folder = tmp_path / "models"
    shutil.copytree(model_dir, folder)
    make_pickled_module(folder)
    return folder


@pytest.fixture
def make_app() -> Callable[..., LayerscopeApp]:
    """``make_app(path)``: an app with timings off, so logs and snapshots are stable."""

    def factory(path: Path | str, **kwargs: object) -> LayerscopeApp:
        return LayerscopeApp(path, show_timings=False, **kwargs)  # type: ignore[arg-type]

    return factory
