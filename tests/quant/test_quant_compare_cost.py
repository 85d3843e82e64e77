"""What keeps ``layerscope quant-compare`` near the cost of importing torch and ONNX Runtime
(issue 14, section 1), pinned by structure and by counting, never by the clock."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import numpy as np
import pytest

import layerscope.engine.loaders as loaders
from layerscope.engine.cli import main
from layerscope.engine.quant_compare import activations as acts

_SUMS = ("signal", "noise", "max_abs", "cos_sum", "cos_n", "samples", "nonfinite", "shape")


def _reference(x: np.ndarray, y: np.ndarray) -> acts._Acc:
    ref = acts._Acc()
    ref.shape = tuple(x.shape[1:])
    ref._add_masked(x, y)
    return ref


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(40):
        shape = (int(rng.integers(1, 9)), *rng.integers(1, 12, size=int(rng.integers(0, 4))))
        x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-20, 20)).astype(np.float32)
        y = (x + rng.standard_normal(shape) * 10.0 ** rng.integers(-20, 20)).astype(np.float32)
        if i % 4 == 0:
            x[0], y[0] = 0.0, 0.0  # a silent sample on both sides
        if i % 5 == 0:
            y[-1] = 0.0  # silent on one side only
        out.append((x, y))
    return out


def test_fast_sums_are_the_reference_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    masked = 0
    real = acts._Acc._add_masked

    def counted(self: acts._Acc, x: np.ndarray, y: np.ndarray) -> None:
        nonlocal masked
        masked += 1
        real(self, x, y)

    scratch, allocations, biggest = acts._Scratch(), 0, 0
    for x, y in _cases():  # one scratch, dirty from the last case, as in a comparison
        ref = _reference(x, y)
        monkeypatch.setattr(acts._Acc, "_add_masked", counted)
        before = scratch._flat
        fast = acts._Acc()
        fast.add(x, y, scratch)
        monkeypatch.undo()
        assert [getattr(fast, k) for k in _SUMS] == [getattr(ref, k) for k in _SUMS]
        allocations += scratch._flat is not before
        biggest = max(biggest, x.size)
        assert scratch._flat[0].size == biggest  # grown only for a bigger activation
    assert masked == 0  # finite, C-ordered values never take the masked path
    assert allocations < len(_cases()) // 2


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_take_the_masked_path(bad: float) -> None:
    for x, y in _cases()[:10]:
        for side in (0, 1):
            a, b = x.copy(), y.copy()
            (a, b)[side].flat[-1] = bad
            acc = acts._Acc()
            acc.add(a, b)
            assert acc.nonfinite >= 1
            ref = _reference(a, b)
            assert [getattr(acc, k) for k in _SUMS] == [getattr(ref, k) for k in _SUMS]


def test_non_contiguous_values_match_the_reference() -> None:
    x, y = _cases()[3]
    xf = np.asfortranarray(x.reshape(x.shape[0], -1))
    acc = acts._Acc()
    acc.add(xf, y.reshape(y.shape[0], -1))
    ref = _reference(xf, y.reshape(y.shape[0], -1))
    assert [getattr(acc, k) for k in _SUMS] == [getattr(ref, k) for k in _SUMS]


def test_verb_loads_with_the_collector_off_then_freezes(
    models, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loads make torch's and the models' long-lived objects: no collection walks them
    while they load, and they are frozen before the comparison runs."""
    events: list[tuple[str, bool]] = []
    real_load, real_freeze = loaders.load_model, gc.freeze

    def load(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a pass-through spy
        events.append(("load", gc.isenabled()))
        return real_load(*args, **kwargs)

    def collected(phase: str, info: dict) -> None:
        if phase == "start":
            events.append(("collect", gc.isenabled()))

    monkeypatch.setattr(loaders, "load_model", load)
    monkeypatch.setattr(gc, "freeze", lambda: (events.append(("freeze", gc.isenabled())), real_freeze()))  # fmt: skip
    assert gc.isenabled()
    gc.callbacks.append(collected)
    try:
        code = main(["quant-compare", str(models.float_onnx), str(models.qdq_channel), "--json"])
    finally:
        gc.callbacks.remove(collected)
    assert code == 0, capsys.readouterr().err
    first = next(i for i, e in enumerate(events) if e[0] == "load")
    frozen = events.index(("freeze", False))
    assert events[first:frozen] == [("load", False), ("load", False)]
    assert gc.isenabled()  # the collector runs again for the comparison and after the verb


def test_verb_imports_nothing_it_does_not_use(models) -> None:
    """A fresh interpreter running the verb loads no training, plotting or app library."""
    code = (
        "import sys, io, contextlib\n"
        "from layerscope.engine.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['quant-compare', {str(models.float_onnx)!r}, "
        f"{str(models.qdq_channel)!r}, '--json']) == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1].replace("'", '"')))
    assert {"torch", "onnxruntime", "numpy"} <= loaded  # the check sees real imports
    unused = {"sklearn", "scipy", "matplotlib", "lightning", "pytorch_lightning", "textual",
              "yaml", "plotext", "pandas", "safetensors"}  # fmt: skip
    assert not (loaded & unused)


def test_one_session_per_model_without_spinning(
    models, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each model gets one ONNX Runtime session (reused across batches), whose idle threads
    sleep rather than spin."""
    import onnxruntime as ort

    sessions = []

    class Counted(ort.InferenceSession):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            sessions.append(self)

    loaders.clear_cache()
    gc.collect()  # sessions live as long as their model
    monkeypatch.setattr(ort, "InferenceSession", Counted)
    argv = [str(models.float_onnx), str(models.qdq_channel), "--max-samples", "130", "--json"]
    assert main(["quant-compare", *argv]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["output"]["samples"] == 130  # three batches
    assert len(sessions) == 2
    for s in sessions:
        opts = s.get_session_options()
        assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
