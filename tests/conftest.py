"""Settings for the whole suite."""

import gc
import os
from collections.abc import Iterator

import pytest

# Long CLI work prints a progress line every few seconds when stderr is not a terminal. Tests that
# assert a one-line error must not see one just because a busy machine took longer: progress is
# off unless a test turns it on (tests/capture/test_progress_and_width.py sets it to 0).
os.environ["LAYERSCOPE_PROGRESS_EVERY"] = "1e9"


@pytest.fixture(autouse=True)
def _unfreeze_gc() -> Iterator[None]:
    """The app freezes the objects alive when it opens a model (gc.freeze, kept out of full
    collections); one test process runs hundreds of apps, so each test's are let go after it."""
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    """Each test opens its models afresh. The engine caches open models by resolved path and
    hands back the first spelling it was given: a relative one, cached by a test that changed
    the working folder, names no file in the next test's (a report then lost its model path),
    and a trusted load must not answer another test's untrusted one."""
    from layerscope.engine.loaders import clear_cache

    clear_cache()
    yield
    clear_cache()
