"""quant-compare's own costs: digits without importing scikit-learn, values-only captures."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from layerscope.engine.datasets import digits_images


def test_digits_are_read_without_importing_scikit_learn() -> None:
    # Importing sklearn (and scipy with it) took seconds of quant-compare's wall time.
    code = (
        "import sys\nfrom layerscope.engine.datasets import digits_images\nimg, y = digits_images()\n"
        "print(img.shape, int(y.sum()), 'sklearn.base' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["(1797,", "32,", "32,", "3)", "8070", "False"]


def test_digits_images_are_scikit_learns() -> None:
    from sklearn.datasets import load_digits

    img, y = digits_images()
    d = load_digits()
    assert np.array_equal(y, d.target)
    want = np.round(np.repeat(np.repeat(d.images / 16.0, 4, 1), 4, 2).astype(np.float32) * 255.0)
    assert np.array_equal(img[..., 0], want.astype(np.uint8))
    assert img.dtype == np.uint8 and np.array_equal(img[..., 0], img[..., 2])


def test_a_values_only_capture_keeps_the_kept_values_and_computes_no_statistics(
    monkeypatch,
) -> None:
    from layerscope.engine.capture import capture
    from layerscope.engine.capture import fast_stats as fs
    from layerscope.engine.capture.sink import values_only

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x = torch.randn(4, 6)
    ref = capture(model, x, mode="tensors", keep={"1", "(output)"})

    def no_stats(*_a: object, **_k: object) -> None:
        raise AssertionError("statistics computed")

    monkeypatch.setattr(fs, "stats", no_stats)
    with values_only():
        got = capture(model, x, mode="tensors", keep={"1", "(output)"})
    assert set(got.activations) == {"1", "(output)"} and not got.errors
    for name in ("1", "(output)"):
        assert torch.equal(got.activations[name].values, ref.activations[name].values)
        assert got.activations[name].shape == ref.activations[name].shape
        assert got.activations[name].stats.min is None
