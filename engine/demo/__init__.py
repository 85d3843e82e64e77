"""Demo models: train ResNet-8 on the embedded digits data and write it in every format we read.

``build_demo_models(out_dir)`` trains the MLPerf Tiny ResNet-8 (``layerscope.engine.zoo``) with Lightning on
scikit-learn's digits (upscaled to 32×32×3, so it works offline), then writes the float model as a
whole-module pickle, a state dict, a Lightning checkpoint, safetensors and ONNX, plus three int8
variants (ONNX Runtime QDQ int8, ONNX Runtime QOperator uint8, torch.ao FX int8 as TorchScript).
Each written file is loaded back *from disk* in its own framework and scored on the digits test
split, so a user can see that quantization kept the model working.

Heavy libraries (torch, Lightning, ONNX Runtime) are imported inside the functions, so importing
this package is cheap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from layerscope.engine.demo.common import (
    CALIBRATION_IMAGES,
    FILES,
    INPUT_NAME,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    SPLIT_SEED,
    TEST_FRACTION,
    DemoError,
    DemoResult,
    Progress,
    accuracy,
    load_digits,
    write_text_atomic,
)
from layerscope.engine.demo.evaluate import evaluate_file
from layerscope.engine.demo.export import (
    save_onnx,
    save_onnx_quantized,
    save_torch,
    save_torch_int8,
)
from layerscope.engine.demo.train import train_resnet8
from layerscope.engine.errors import ConfigError

__all__ = [
    "FILES",
    "MANIFEST_NAME",
    "DemoError",
    "DemoResult",
    "build_demo_models",
    "read_manifest",
]


def _prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise DemoError(f"{out} exists and is not a folder; pass --out with a folder path")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise DemoError(f"output folder {out} is not writable; pass --out with a folder you own")
    return out


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence library chatter meant for developers (Lightning banners, exporter warnings)."""
    import pytorch_lightning  # noqa: F401 - it sets its loggers' levels on import; import first

    names = ["pytorch_lightning", "lightning_fabric", "torch.onnx", "onnxruntime"]
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run torch single-threaded for the build, then restore the previous setting.

    ResNet-8 on 32×32 images is too small to gain much from intra-op threads, and on a busy
    machine the threads spin-wait on each other: on a shared 2-core box one epoch took 14–17 s
    wall (6 s CPU) with 1 thread against 65 s wall (25 s CPU) with 2. One thread also leaves the
    other cores to the app's UI when it builds the models in a worker.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# Public entry point


def build_demo_models(
    out_dir: str | os.PathLike[str],
    *,
    epochs: int = 3,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[DemoResult]:
    """Train ResNet-8 on digits and write every demo file into ``out_dir`` (created if needed).

    Also writes ``demo_manifest.json`` (files, formats, sizes, accuracies, training time).
    Returns one ``DemoResult`` per file, in ``FILES`` order.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a whole number ≥ 1 (got {epochs!r})")
    say = progress or (lambda _msg: None)
    out = _prepare_out_dir(out_dir)
    # The manifest marks a complete build (`make run` checks for it): drop the old one first,
    # so a build that fails half-way is not mistaken for a finished one.
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    try:
        return _build(out, epochs, seed, say)
    except OSError as exc:  # disk full, permissions changed mid-way, ...
        where = exc.filename or out
        raise DemoError(f"cannot write demo models to {where}: {exc.strerror or exc}") from None


def _build(out: Path, epochs: int, seed: int, say: Progress) -> list[DemoResult]:
    import torch

    from layerscope.engine.datasets import DIGITS_MEAN, DIGITS_STD

    data = load_digits()
    with (
        _quiet(),
        _one_torch_thread(),
        tempfile.TemporaryDirectory(prefix="layerscope-demo-") as work,
    ):
        workdir = Path(work)
        plural = "epoch" if epochs == 1 else "epochs"
        say(f"training ResNet-8 on digits ({len(data.x_train)} images, {epochs} {plural}, CPU)")
        t0 = time.perf_counter()
        model, trainer = train_resnet8(data, epochs, seed, workdir, say)
        train_seconds = time.perf_counter() - t0
        say(f"trained in {train_seconds:.1f} s")

        t1 = time.perf_counter()
        save_torch(model, trainer, out)
        say("wrote torch pickle, state dict, Lightning checkpoint, safetensors")
        save_onnx(model, torch.from_numpy(data.x_test[:1]), out / "resnet8.onnx")
        say("wrote float ONNX")
        save_onnx_quantized(out / "resnet8.onnx", data, out, workdir)
        say(
            "wrote ONNX int8 (QDQ) and uint8 (QOperator), "
            f"calibrated on {CALIBRATION_IMAGES} images"
        )
        save_torch_int8(model, data, out / "resnet8_int8.pt")
        say("wrote torch.ao int8 TorchScript")
        export_seconds = time.perf_counter() - t1

        results = []
        for name, fmt, desc in FILES:
            path = out / name
            logits, framework = evaluate_file(path, fmt, data.x_test)
            results.append(
                DemoResult(
                    file=name,
                    path=str(path),
                    format=fmt,
                    description=desc,
                    size_bytes=path.stat().st_size,
                    accuracy=accuracy(logits, data.y_test),
                    framework=framework,
                )
            )
    manifest = {
        "version": MANIFEST_VERSION,
        "arch": "resnet8",
        "dataset": "digits",
        "epochs": epochs,
        "seed": seed,
        "split": {"dataset": "digits", "test_fraction": TEST_FRACTION, "seed": SPLIT_SEED},
        "train_images": len(data.x_train),
        "test_images": len(data.x_test),
        "train_seconds": round(train_seconds, 3),
        "export_seconds": round(export_seconds, 3),
        "input": {
            "name": INPUT_NAME,
            "shape": [1, 3, 32, 32],
            "layout": "NCHW",
            "mean": list(DIGITS_MEAN),
            "std": list(DIGITS_STD),
        },
        # Paths relative to the manifest, so the folder can be moved or copied.
        "files": [{k: v for k, v in asdict(r).items() if k != "path"} for r in results],
    }
    write_text_atomic(out / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return results


def read_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest that ``build_demo_models`` wrote into ``out_dir``."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoError(f"no {MANIFEST_NAME} in {out_dir}; run `layerscope demo` first") from None
    except (OSError, ValueError) as exc:
        raise DemoError(f"cannot read {path}: {exc}") from None
