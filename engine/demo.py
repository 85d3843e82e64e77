"""Demo models: train ResNet-8 on the embedded digits data and write it in every format we read.

``build_demo_models(out_dir)`` trains the MLPerf Tiny ResNet-8 (``engine.zoo``) with Lightning on
scikit-learn's digits (upscaled to 32×32×3, so it works offline), then writes the float model as a
whole-module pickle, a state dict, a Lightning checkpoint, safetensors and ONNX, plus three int8
variants (ONNX Runtime QDQ int8, ONNX Runtime QOperator uint8, torch.ao FX int8 as TorchScript).
Each written file is loaded back *from disk* in its own framework and scored on the digits test
split, so a user can see that quantization kept the model working.

Heavy libraries (torch, Lightning, ONNX Runtime) are imported inside the functions, so importing
this module is cheap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError, LayerscopeError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

MANIFEST_NAME = "demo_manifest.json"
MANIFEST_VERSION = 1
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
ONNX_OPSET = 17
CALIBRATION_IMAGES = 256  # real training images used to calibrate every int8 variant
BATCH_SIZE = 64
LEARNING_RATE = 3e-3  # a little above Adam's default: converges in 2–3 epochs on digits

Progress = Callable[[str], None]


class DemoError(LayerscopeError):
    """The demo models could not be written (bad output folder, disk full, ...)."""

    title = "Demo models"


@dataclass(frozen=True)
class DemoResult:
    """One written file: what it is, how big, and its accuracy on the digits test split."""

    file: str  # file name inside the output folder
    path: str  # absolute path
    format: str  # e.g. "onnx-qdq-int8"; see FILES for the full list
    description: str
    size_bytes: int
    accuracy: float  # top-1 on the digits test split, measured from the file itself
    framework: str  # what evaluated the file: "torch", "torchscript" or "onnxruntime"


# (file name, format, description) in the order the files are written and listed.
FILES: list[tuple[str, str, str]] = [
    ("resnet8.pt", "torch-pickle", "whole nn.Module (torch.save(model); needs --trust to load)"),
    ("resnet8_state.pt", "torch-state-dict", "state dict (loads with weights_only=True)"),
    ("resnet8.ckpt", "lightning-ckpt", "Lightning checkpoint (weights under state_dict, 'model.')"),
    ("resnet8.safetensors", "safetensors", "safetensors weights"),
    ("resnet8.onnx", "onnx", "float ONNX (BatchNorm kept as its own node)"),
    ("resnet8_int8.onnx", "onnx-qdq-int8", "ONNX Runtime static QDQ, int8, per-channel weights"),
    ("resnet8_uint8.onnx", "onnx-qoperator-uint8", "ONNX Runtime static QOperator, uint8"),
    ("resnet8_int8.pt", "torchscript-int8", "torch.ao FX int8 (x86), TorchScript"),
]


# ---------------------------------------------------------------------------------------------
# Small helpers


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it over ``path`` only if the block succeeds.

    The temp name is hidden and keeps the real suffix, so folder scans skip it and tools that
    look at the extension still work.
    """
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text_atomic(path: Path, text: str) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


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
    """Silence the libraries' chatter (Lightning banners, exporter and ORT warnings) meant for devs."""
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


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class _Data:
    x_train: np.ndarray  # float32 N×3×32×32, normalised
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _load_digits(seed: int) -> _Data:
    """Digits as normalised NCHW float32 (the layout and scaling every demo model expects)."""
    import numpy as np

    from engine.datasets import DIGITS_MEAN, DIGITS_STD, digits_images, digits_split

    images, labels = digits_images()
    x = images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    mean = np.asarray(DIGITS_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(DIGITS_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    x = np.ascontiguousarray((x - mean) / std, dtype=np.float32)
    train_idx, test_idx = digits_split(0.2, seed)
    return _Data(x[train_idx], labels[train_idx], x[test_idx], labels[test_idx])


def _calibration_batches(data: _Data, batch: int = 32) -> list[np.ndarray]:
    x = data.x_train[:CALIBRATION_IMAGES]
    return [x[i : i + batch] for i in range(0, len(x), batch)]


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


# ---------------------------------------------------------------------------------------------
# Training


def _train(data: _Data, epochs: int, seed: int, workdir: Path) -> tuple[nn.Module, Any]:
    """Train ResNet-8 with Lightning on CPU; return the eval-mode model and the trainer."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from engine.training.module import ClassifierModule
    from engine.zoo import ResNet8

    pl.seed_everything(seed, workers=True, verbose=False)
    model = ResNet8(num_classes=10)
    module = ClassifierModule(model, num_classes=10, lr=LEARNING_RATE)
    ds = TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    loader = DataLoader(
        ds, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    # deterministic=True flips torch's process-wide deterministic mode (and CUBLAS config);
    # restore both afterwards: quantized kernels refuse to run with it, and callers share the process.
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        default_root_dir=str(workdir),  # keep Lightning's scratch files out of the user's cwd
    )
    try:
        trainer.fit(module, train_dataloaders=loader)
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas
    _recalibrate_batchnorm(model, data.x_train)
    return model.eval(), trainer


def _recalibrate_batchnorm(model: nn.Module, x: np.ndarray, batch: int = 256) -> None:
    """Set BatchNorm running statistics to the exact averages over the training images.

    After only a few dozen steps, the momentum-averaged running statistics still lag the
    weights, and eval-mode accuracy trails train-mode accuracy by several points. One
    no-grad pass with a cumulative average (momentum=None) fixes that; weights are unchanged.
    """
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(torch.from_numpy(x[i : i + batch]))
    for bn, momentum in zip(bns, saved, strict=True):
        bn.momentum = momentum
    model.eval()


# ---------------------------------------------------------------------------------------------
# Writers (each writes one file atomically)


def _save_torch(model: nn.Module, trainer: Any, out: Path) -> None:
    import torch
    from safetensors.torch import save_file

    with _atomic(out / "resnet8.pt") as tmp:
        torch.save(model, tmp)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with _atomic(out / "resnet8_state.pt") as tmp:
        torch.save(state, tmp)
    with _atomic(out / "resnet8.ckpt") as tmp:
        trainer.save_checkpoint(str(tmp), weights_only=True)
    with _atomic(out / "resnet8.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"arch": "resnet8", "source": "layerscope demo"})


def _save_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Float ONNX via the TorchScript exporter with constant folding off.

    In torch 2.13 this exporter gives hierarchical node names (``/layer1/conv1/Conv``) and
    initializer names equal to the state-dict keys (``layer1.conv1.weight``), and keeps
    BatchNormalization as its own node. The dynamo exporter keeps the initializer names but
    calls nodes ``node_Conv_110`` and, when optimising, folds BN into the conv weights while
    keeping the conv's name — those weights would then differ from the state dict's.
    """
    import onnx
    import torch

    from engine.datasets import DIGITS_MEAN, DIGITS_STD

    with _atomic(path) as tmp:
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            do_constant_folding=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
        proto = onnx.load(str(tmp))
        # Tell readers what the input must look like; the app uses this to feed digits samples.
        meta = {
            "layerscope.arch": "resnet8",
            "layerscope.dataset": "digits",
            "layerscope.input_layout": "NCHW",
            "layerscope.input_mean": json.dumps(list(DIGITS_MEAN)),
            "layerscope.input_std": json.dumps(list(DIGITS_STD)),
        }
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "layerscope demo"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))


class _Reader:
    """ONNX Runtime calibration reader over real digits training images."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._it = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {INPUT_NAME: batch}


def _save_onnx_quantized(float_path: Path, data: _Data, out: Path, workdir: Path) -> None:
    """QDQ int8 (per-channel weights) and QOperator uint8 (per-tensor weights) via ORT static."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    # ORT's recommended pre-pass: shape inference plus graph optimisation (folds BN into Conv).
    pre = workdir / "resnet8_pre.onnx"
    quant_pre_process(str(float_path), str(pre))
    batches = _calibration_batches(data)
    variants = [
        ("resnet8_int8.onnx", QuantFormat.QDQ, QuantType.QInt8, QuantType.QInt8, True),
        # uint8 weights per tensor: QLinearConv's uint8 path, and a contrast to the int8 file.
        ("resnet8_uint8.onnx", QuantFormat.QOperator, QuantType.QUInt8, QuantType.QUInt8, False),
    ]
    for name, fmt, act, weight, per_channel in variants:
        with _atomic(out / name) as tmp:
            quantize_static(
                str(pre),
                str(tmp),
                _Reader(batches),
                quant_format=fmt,
                activation_type=act,
                weight_type=weight,
                per_channel=per_channel,
                calibrate_method=CalibrationMethod.MinMax,
            )


def _save_torch_int8(model: nn.Module, data: _Data, path: Path) -> None:
    """torch.ao FX graph-mode int8 (x86 qconfig), calibrated on digits, saved as TorchScript."""
    import copy

    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    float_model = copy.deepcopy(model).eval()
    example = torch.from_numpy(data.x_train[:1])
    prepared = prepare_fx(
        float_model, get_default_qconfig_mapping("x86"), example_inputs=(example,)
    )
    with torch.no_grad():
        for batch in _calibration_batches(data):
            prepared(torch.from_numpy(batch))
    quantized = convert_fx(prepared)
    with torch.no_grad():
        scripted = torch.jit.trace(quantized, example)
    with _atomic(path) as tmp:
        torch.jit.save(scripted, str(tmp))


# ---------------------------------------------------------------------------------------------
# Evaluation, from the files themselves


def _torch_logits(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _fresh_resnet8(state: dict[str, torch.Tensor]) -> nn.Module:
    from engine.zoo import ResNet8

    model = ResNet8(num_classes=10)
    model.load_state_dict(state)
    return model.eval()


def evaluate_file(path: str | os.PathLike[str], fmt: str, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Run one demo file on ``x`` (normalised NCHW float32) in its own framework.

    Returns the logits and the framework's name. Only meant for files this module wrote: the
    whole-module pickle is unpickled, which runs code.
    """
    path = str(path)
    if fmt.startswith("onnx"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        return sess.run(None, {INPUT_NAME: x})[0], "onnxruntime"

    import torch

    if fmt == "torch-pickle":
        model = torch.load(path, weights_only=False, map_location="cpu")  # our own file
        return _torch_logits(model.eval(), x), "torch"
    if fmt == "torch-state-dict":
        state = torch.load(path, weights_only=True, map_location="cpu")
        return _torch_logits(_fresh_resnet8(state), x), "torch"
    if fmt == "lightning-ckpt":
        ckpt = torch.load(path, weights_only=True, map_location="cpu")
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
        return _torch_logits(_fresh_resnet8(state), x), "torch"
    if fmt == "safetensors":
        from safetensors.torch import load_file

        return _torch_logits(_fresh_resnet8(load_file(path)), x), "torch"
    if fmt == "torchscript-int8":
        torch.backends.quantized.engine = "x86"
        return _torch_logits(torch.jit.load(path, map_location="cpu").eval(), x), "torchscript"
    raise ValueError(f"unknown demo format {fmt!r}")


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
    try:
        return _build(out, epochs, seed, say)
    except OSError as exc:  # disk full, permissions changed mid-way, ...
        where = exc.filename or out
        raise DemoError(f"cannot write demo models to {where}: {exc.strerror or exc}") from None


def _build(out: Path, epochs: int, seed: int, say: Progress) -> list[DemoResult]:
    import torch

    from engine.datasets import DIGITS_MEAN, DIGITS_STD

    data = _load_digits(seed)
    with _quiet(), tempfile.TemporaryDirectory(prefix="layerscope-demo-") as work:
        workdir = Path(work)
        say(f"training ResNet-8 on digits ({len(data.x_train)} images, {epochs} epochs, CPU)")
        t0 = time.perf_counter()
        model, trainer = _train(data, epochs, seed, workdir)
        train_seconds = time.perf_counter() - t0
        say(f"trained in {train_seconds:.1f} s")

        t1 = time.perf_counter()
        _save_torch(model, trainer, out)
        say("wrote torch pickle, state dict, Lightning checkpoint, safetensors")
        _save_onnx(model, torch.from_numpy(data.x_test[:1]), out / "resnet8.onnx")
        say("wrote float ONNX")
        _save_onnx_quantized(out / "resnet8.onnx", data, out, workdir)
        say(
            f"wrote ONNX int8 (QDQ) and uint8 (QOperator), calibrated on {CALIBRATION_IMAGES} images"
        )
        _save_torch_int8(model, data, out / "resnet8_int8.pt")
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
                    accuracy=_accuracy(logits, data.y_test),
                    framework=framework,
                )
            )
    manifest = {
        "version": MANIFEST_VERSION,
        "arch": "resnet8",
        "dataset": "digits",
        "epochs": epochs,
        "seed": seed,
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
    _write_text_atomic(out / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
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
