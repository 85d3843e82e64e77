"""``OnnxExportCallback``: ``model.onnx`` at the end of fit, checked in ONNX Runtime."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.training.io import atomic_write_json
from layerscope.engine.training.paths import MODEL_ONNX


def _input_shape(trainer: pl.Trainer, net: torch.nn.Module) -> tuple[int, ...]:
    shape = getattr(net, "input_shape", None)
    if shape:
        return tuple(shape)
    dm = getattr(trainer, "datamodule", None)
    val_set = getattr(dm, "val_set", None)
    if val_set is not None and len(val_set):
        return tuple(val_set[0][0].shape)
    raise ValueError(
        "cannot tell the model's input shape: give OnnxExportCallback(input_shape=...)"
    )


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def one_line(exc: BaseException, limit: int = 240) -> str:
    """An exporter's error as one plain line: no ANSI colour codes, no traceback, no graph dump."""
    text = ANSI.sub("", str(exc)).strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' progress lines and logged tracebacks stay out of the run's output: a
    failure is reported once, as one line, by the caller."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


def add_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Write ``metadata`` into the ONNX file's ``metadata_props`` (values as JSON), atomically."""
    import onnx

    from layerscope.engine.training.io import atomic_write_bytes

    proto = onnx.load(str(path))
    keep = [p for p in proto.metadata_props if p.key not in metadata]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)
    atomic_write_bytes(path, proto.SerializeToString())


def export_onnx(
    net: torch.nn.Module, example: torch.Tensor, path: Path, output_name: str = "logits"
) -> None:
    """Export with a dynamic batch axis, written atomically.

    The TorchScript exporter (``dynamo=False``) takes about 0.3 s for ResNet-8 where the dynamo
    exporter takes about 7 s, so it is tried first; dynamo is the fallback for when it is gone.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp, _quiet():
        out = Path(tmp) / path.name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    net,
                    (example,),
                    str(out),
                    dynamo=False,
                    input_names=["input"],
                    output_names=[output_name],
                    dynamic_axes={"input": {0: "batch"}, output_name: {0: "batch"}},
                )
        except (TypeError, RuntimeError) as exc:
            logger.info(
                "TorchScript ONNX export unavailable ({}); using the dynamo exporter", one_line(exc)
            )
            batch = torch.export.Dim("batch", min=1)
            torch.onnx.export(
                net, (example,), str(out), dynamo=True, input_names=["input"],
                output_names=[output_name], dynamic_shapes=({0: batch},),
            )  # fmt: skip
        out.replace(path)


def verify_onnx(net: torch.nn.Module, path: Path, inputs: torch.Tensor) -> float:
    """Largest absolute difference between ONNX Runtime's and PyTorch's outputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = session.run(None, {name: inputs.numpy()})[0]
    with torch.no_grad():
        want = net(inputs).numpy()
    return float(abs(got - want).max())


class OnnxExportCallback(Callback):
    """At the end of fit (rank zero): exports the module's network to ``model.onnx``, runs
    ``num_checks`` random inputs through ONNX Runtime and PyTorch, and writes the comparison to
    ``onnx_export.json``. A mismatch above ``atol`` is logged as an error and recorded, not raised,
    so a finished run is never turned into a failed one by its export check. An export that
    fails (an operator the exporter cannot handle, such as an FFT) is a warning too: one plain
    line in ``run_warnings`` (the ``finished`` event carries it) and in ``onnx_export.json``;
    the checkpoint is then the run's artefact.

    The datamodule's ``preprocessing()`` (normalisation, image size, channel order, class
    names) goes into the ONNX file's ``metadata_props``, so the file says what input it expects.
    """

    def __init__(
        self,
        out_dir: str | Path,
        input_shape: tuple[int, ...] | None = None,
        num_checks: int = 4,
        atol: float = 1e-4,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.input_shape = input_shape
        self.num_checks = num_checks
        self.atol = atol
        self.run_warnings: list[str] = []

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        # A CPU copy in eval mode: leaves the trained module (device, train/eval state) untouched.
        net = copy.deepcopy(getattr(pl_module, "model", pl_module)).cpu().eval()
        shape = self.input_shape or _input_shape(trainer, net)
        gen = torch.Generator().manual_seed(0)
        inputs = torch.randn((self.num_checks, *shape), generator=gen)
        path = self.out_dir / MODEL_ONNX
        output = "logits" if getattr(pl_module, "task", None) == "classification" else "output"
        try:
            export_onnx(net, inputs[:1], path, output_name=output)
            meta = preprocessing_of(trainer, pl_module)
            if meta:
                add_metadata(path, {"layerscope.preprocessing": meta})
            diff = verify_onnx(net, path, inputs)
        except Exception as exc:  # noqa: BLE001 - the training is done; the export is extra
            warning = f"ONNX export failed ({one_line(exc)}); the checkpoint is the artefact"
            self.run_warnings.append(warning)
            path.unlink(missing_ok=True)
            logger.warning(warning)
            atomic_write_json(
                self.out_dir / "onnx_export.json",
                {"path": None, "input_shape": [None, *shape], "error": one_line(exc)},
            )
            return
        ok = diff <= self.atol
        record: dict[str, Any] = {
            "path": str(path),
            "input_shape": [None, *shape],
            "checked_inputs": self.num_checks,
            "max_abs_diff": diff,
            "atol": self.atol,
            "verified": ok,
        }
        atomic_write_json(self.out_dir / "onnx_export.json", record)
        if ok:
            logger.info("exported {} (ONNX Runtime matches PyTorch, max diff {:.2e})", path, diff)
        else:
            logger.error("exported {} but ONNX Runtime differs from PyTorch by {:.2e}", path, diff)


def preprocessing_of(trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
    """The datamodule's ``preprocessing()`` record plus the task, or ``{}`` when it has none."""
    dm = getattr(trainer, "datamodule", None)
    describe = getattr(dm, "preprocessing", None)
    meta: dict[str, Any] = dict(describe()) if callable(describe) else {}
    task = getattr(pl_module, "task", None)
    if meta and task:
        meta.setdefault("task", task)
    return meta
