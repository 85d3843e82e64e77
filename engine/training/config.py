"""Run configs: typed dataclasses loaded from YAML, validated on load, overridable with ``--set``.

Every error names the offending key (``optimizer.name``) and what is allowed, so a typo in a
recipe is a one-line :class:`~layerscope.engine.errors.ConfigError`, never a traceback from deep inside
Lightning.

Long because every recipe section is a dataclass validated here with a key-naming error, and one
place for all of them keeps `--set` overrides and the error wording consistent.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerscope.engine.errors import ConfigError
from layerscope.engine.training.health import HealthConfig

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("none", "warmup_cosine")
DATA_KINDS = ("digits", "cifar10", "folder", "arrays", "module")
TASKS = ("classification", "regression")
# Built-in losses; a recipe may also name any ``package.module:function`` (pred, target) -> loss.
LOSSES = ("cross_entropy", "mse", "l1", "huber")
METRICS = {
    "classification": ("accuracy", "top5", "f1"),
    "regression": ("mse", "mae", "psnr", "ssim"),
}
DEFAULT_METRICS = {"classification": ["accuracy", "top5"], "regression": ["mse", "mae"]}
MODES = ("min", "max")
CLIP_ALGORITHMS = ("norm", "value")
# What Lightning 2.x's Trainer(precision=...) accepts (YAML's `16` arrives as "16").
PRECISIONS = (
    "64-true", "64", "32-true", "32", "16-true", "bf16-true", "16-mixed", "bf16-mixed", "16",
    "bf16", "transformer-engine", "transformer-engine-float16",
)  # fmt: skip
MAX_LR = 1e3  # no optimizer trains at lr >= 1000: a typo (1e3 for 1e-3) or an overflow


class ConfigValueError(ConfigError, ValueError):
    """A bad choice: a ``ValueError`` for Python callers, a ``ConfigError`` for the CLI."""


def _choice(*allowed: str, default: str) -> Any:
    return field(default=default, metadata={"choices": allowed})


@dataclass
class ModelConfig:
    """Which network to train."""

    arch: str = "resnet8"
    num_classes: int | None = None  # None: taken from the data's classes
    # Constructor arguments; a classification run adds num_classes only when the
    # architecture takes it and it is not given here.
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskConfig:
    """What the run learns: the loss, the metrics and which of them picks the best checkpoint.

    A recipe may write ``task: regression`` for ``task: {kind: regression}``.
    """

    kind: str = _choice(*TASKS, default="classification")
    loss: str | None = None  # None: cross_entropy (classification), mse (regression)
    metrics: list[str] | None = None  # None: DEFAULT_METRICS[kind]
    monitor: str | None = None  # None: val_acc (classification), val_loss (regression)
    mode: str | None = None  # min or max; None: max for accuracy-like names, else min

    def resolved_loss(self) -> str:
        return self.loss or ("cross_entropy" if self.kind == "classification" else "mse")

    def resolved_metrics(self) -> list[str]:
        return list(self.metrics if self.metrics is not None else DEFAULT_METRICS[self.kind])

    def resolved_monitor(self) -> str:
        return self.monitor or ("val_acc" if self.kind == "classification" else "val_loss")

    def resolved_mode(self) -> str:
        return self.mode or metric_mode(self.resolved_monitor())


def metric_mode(name: str) -> str:
    """Whether a bigger value of the metric ``name`` is better (``max``) or worse (``min``)."""
    bigger = ("acc", "f1", "psnr", "ssim", "r2", "auroc", "precision", "recall", "iou", "dice")
    low = name.lower()
    if "loss" in low or "err" in low:
        return "min"
    return "max" if any(k in low for k in bigger) else "min"


@dataclass
class DataConfig:
    """Where the data comes from and how it is batched."""

    kind: str = _choice(*DATA_KINDS, default="digits")
    # cifar10: python folder; folder: root with one sub-folder per class; arrays: an .npz file
    # or a folder of .npy files
    path: str | None = None
    inputs: str | None = None  # arrays: the inputs' name in the .npz (or NAME.npy)
    targets: str | None = None  # arrays: the targets' name
    val_inputs: str | None = None  # arrays: a given validation split (else val_split)
    val_targets: str | None = None
    source: str | None = None  # module: 'package.module:function' -> datamodule or datasets
    kwargs: dict[str, Any] = field(default_factory=dict)  # module: the function's arguments
    batch_size: int = 64
    val_split: float = 0.2  # digits and folder; cifar10 validates on its test batch
    weighted_sampler: bool = False
    num_workers: int = 0
    max_samples: int | None = None  # cap the training set (quick experiments, tests)
    image_size: int = 32  # folder images are resized to this square


@dataclass
class OptimizerConfig:
    """The optimizer and its hyperparameters (unused ones are ignored by that optimizer)."""

    name: str = _choice(*OPTIMIZERS, default="adam")
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd
    nesterov: bool = False  # sgd
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw


@dataclass
class SchedulerConfig:
    """Learning-rate schedule, stepped every optimizer step."""

    name: str = _choice(*SCHEDULERS, default="none")
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01


@dataclass
class TrainerConfig:
    """Passed straight to ``Trainer``: scaling out is Lightning's job."""

    max_epochs: int = 10
    accelerator: str = "auto"
    devices: int | str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str = _choice(*CLIP_ALGORITHMS, default="norm")
    seed: int = 0
    deterministic: bool = False
    limit_train_batches: float | None = None
    limit_val_batches: float | None = None


@dataclass
class LoggingConfig:
    """How often the run reports and which artifacts it draws."""

    grad_norm_every: int = 50  # steps; 0 turns grad-norm logging off
    progress_every: int = 10  # steps between progress events
    artifacts: bool = True  # confusion matrix, curves, sample grids, sampler tables
    num_samples: int = 16  # images in the per-epoch sample grid
    # Keep every epoch's confusion-matrix and sample PNGs. Off: when drawing falls behind the
    # epochs, a queued older epoch's figure is replaced by the newer one (the JSON stays).
    every_epoch_figures: bool = False


@dataclass
class ExportConfig:
    """What to export when fit ends."""

    onnx: bool = True


@dataclass
class RunConfig:
    """A whole training recipe."""

    name: str = "run"
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    health: HealthConfig = field(default_factory=HealthConfig)  # engine/training/health.py

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists) for YAML/JSON."""
        return _plain(dataclasses.asdict(self))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if typing.get_origin(tp) is tuple:
        return f"a list of {len(args)} {_type_name(args[0])}s"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML (or ``--set``) value to the field's type, or raise naming the key."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none")):
            if type(None) in args:
                return None
        # Try the non-str members first so "2" becomes 2 for `int | str`.
        for arg in sorted((a for a in args if a is not type(None)), key=lambda a: a is str):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{key} must be a mapping of names to values, got {value!r}")
        return dict(value)
    if origin is list:
        if isinstance(value, str):  # --set task.metrics=mse,psnr
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
        return tuple(
            _coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.lower() in ("true", "yes", "on")
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads `1e-3` as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key} must be a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - programming error


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "the config"
        raise ConfigError(f"{where} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"unknown key {dotted!r}; allowed here: {', '.join(fields)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if isinstance(value, str) and "kind" in {f.name for f in dataclasses.fields(tp)}:
                value = {"kind": value}  # `task: regression`
            kwargs[key] = _build(tp, value if value is not None else {}, f"{dotted}.")
            continue
        value = _coerce(value, tp, dotted)
        choices = fields[key].metadata.get("choices")
        if choices and value not in choices:
            raise ConfigValueError(f"{dotted} is {value!r}; allowed: {', '.join(choices)}")
        kwargs[key] = value
    return cls(**kwargs)


def _check_training_values(cfg: RunConfig) -> None:
    """Values that type-check but cannot train (NaN, inf, negative, out of range), key named."""
    opt = cfg.optimizer
    if not math.isfinite(opt.lr) or not 0.0 < opt.lr < MAX_LR:
        raise ConfigError(f"optimizer.lr must be a number in (0, {MAX_LR:g}), got {opt.lr}")
    non_negative = {
        "optimizer.weight_decay": opt.weight_decay,
        "optimizer.momentum": opt.momentum,
        "scheduler.warmup_epochs": cfg.scheduler.warmup_epochs,
        "trainer.gradient_clip_val": cfg.trainer.gradient_clip_val,
        "data.max_samples": cfg.data.max_samples,
    }
    for key, value in non_negative.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{key} must be a number of at least 0, got {value}")
    if not all(math.isfinite(b) and 0.0 <= b < 1.0 for b in opt.betas):
        raise ConfigError(f"optimizer.betas must be two numbers in [0, 1), got {list(opt.betas)}")
    if cfg.trainer.precision not in PRECISIONS:
        raise ConfigError(
            f"trainer.precision is {cfg.trainer.precision!r}; allowed: {', '.join(PRECISIONS)}"
        )


def _check(cfg: RunConfig) -> None:
    """Range checks that types alone cannot express."""
    _check_training_values(cfg)
    positive = {
        "data.batch_size": cfg.data.batch_size,
        "data.image_size": cfg.data.image_size,
        "trainer.max_epochs": cfg.trainer.max_epochs,
        "trainer.num_nodes": cfg.trainer.num_nodes,
        "logging.progress_every": cfg.logging.progress_every,
        "optimizer.lr": cfg.optimizer.lr,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be greater than 0, got {value}")
    if not 0.0 < cfg.data.val_split < 1.0:
        raise ConfigError(f"data.val_split must be between 0 and 1, got {cfg.data.val_split}")
    if cfg.model.num_classes is not None and cfg.model.num_classes < 2:
        raise ConfigError(f"model.num_classes must be at least 2, got {cfg.model.num_classes}")
    if cfg.data.kind == "folder" and not cfg.data.path:
        raise ConfigError("data.path is required when data.kind is 'folder'")
    _check_task(cfg)
    if not 0.0 <= cfg.scheduler.min_lr_ratio <= 1.0:
        raise ConfigError(
            f"scheduler.min_lr_ratio must be in [0, 1], got {cfg.scheduler.min_lr_ratio}"
        )
    devices = cfg.trainer.devices
    if isinstance(devices, int) and not isinstance(devices, bool):
        if devices < 1 and devices != -1:
            raise ConfigError(
                f"trainer.devices must be a positive count, -1 or 'auto', got {devices}"
            )
        # One process per device: a typo like 301 on CPU would fork hundreds of trainers.
        cores = max(os.cpu_count() or 1, 2)
        if cfg.trainer.accelerator == "cpu" and devices > cores:
            raise ConfigError(
                f"trainer.devices is {devices} but this machine has {os.cpu_count()} CPU cores; "
                f"use at most {cores} CPU processes"
            )
    if cfg.data.num_workers < 0 or cfg.logging.grad_norm_every < 0:
        raise ConfigError("data.num_workers and logging.grad_norm_every must not be negative")


def _check_task(cfg: RunConfig) -> None:
    """The task's loss, metrics and monitor, and the data kinds that can feed it."""
    task, data = cfg.task, cfg.data
    loss = task.resolved_loss()
    if loss not in LOSSES and ":" not in loss:
        raise ConfigError(
            f"task.loss is {loss!r}; allowed: {', '.join(LOSSES)} or 'package.module:function'"
        )
    if task.kind == "regression" and loss == "cross_entropy":
        raise ConfigError("task.loss cross_entropy is for classification; use mse, l1 or huber")
    if task.kind == "classification" and loss in ("mse", "l1", "huber"):
        raise ConfigError(f"task.loss {loss} is for regression; set task.kind: regression")
    allowed = METRICS[task.kind]
    for name in task.resolved_metrics():
        if name not in allowed:
            raise ConfigError(
                f"task.metrics: {name!r} is not a {task.kind} metric; allowed: {', '.join(allowed)}"
            )
    if task.mode is not None and task.mode not in MODES:
        raise ConfigError(f"task.mode is {task.mode!r}; allowed: min, max")
    if task.kind == "regression" and data.kind in ("digits", "cifar10", "folder"):
        raise ConfigError(
            f"data.kind {data.kind} holds class labels; a regression task needs data.kind "
            "arrays or module"
        )
    if data.kind == "arrays":
        missing = [k for k in ("path", "inputs", "targets") if not getattr(data, k)]
        if missing:
            raise ConfigError(
                "data.kind arrays needs "
                + ", ".join(f"data.{k}" for k in missing)
                + " (an .npz file or folder of .npy files, and the arrays' names)"
            )
        if bool(data.val_inputs) != bool(data.val_targets):
            raise ConfigError("data.val_inputs and data.val_targets go together")
    if data.kind == "module" and (not data.source or ":" not in data.source):
        raise ConfigError(
            "data.kind module needs data.source: 'package.module:function' returning a "
            "LightningDataModule or (train, val) datasets"
        )


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Validate a plain mapping into a :class:`RunConfig`."""
    cfg = _build(RunConfig, data, "")
    _check(cfg)
    return cfg


def check_launch(cfg: RunConfig) -> None:
    """What a run needs from this machine, checked before a run folder or process exists: the
    data is there and the architecture imports. (Not on load: a recipe may name data that will
    only exist on the machine that trains.)"""
    from layerscope.engine.errors import LayerscopeError

    if cfg.data.kind == "folder" and not Path(cfg.data.path or "").expanduser().is_dir():
        raise ConfigError(f"data.path {cfg.data.path} is not a folder (one sub-folder per class)")
    if cfg.data.kind == "arrays" and not Path(cfg.data.path or "").expanduser().exists():
        raise ConfigError(f"data.path {cfg.data.path} does not exist (an .npz or a .npy folder)")
    if cfg.data.kind == "module":
        from layerscope.engine import zoo

        try:  # the same import rules as model.arch: the working folder is importable
            zoo.resolve_arch(cfg.data.source or "")
        except LayerscopeError as exc:
            raise ConfigError(
                f"data.source {cfg.data.source!r} cannot be used: {exc.message}"
            ) from None
    if cfg.data.kind == "cifar10":
        from layerscope.engine import datasets

        try:
            datasets.cifar10_folder(cfg.data.path)
        except LayerscopeError as exc:
            raise ConfigError(f"data.path {cfg.data.path or '(default)'}: {exc.message}") from None
    from layerscope.engine import zoo  # imports torch: only at launch

    try:
        zoo.resolve_arch(cfg.model.arch)
    except LayerscopeError as exc:
        raise ConfigError(f"model.arch {cfg.model.arch!r} cannot be used: {exc.message}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=c`` → (["a", "b"], parsed c); the value is read as YAML so lists and numbers work."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"--set {text!r} must look like section.key=value (e.g. optimizer.lr=0.01)"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b=c`` applied (types are coerced on validation)."""
    import copy

    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return out


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML recipe, apply ``--set`` overrides and validate."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{p} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a mapping of sections (model, data, optimizer, ...)")
    data.setdefault("name", p.stem)
    try:
        return from_dict(apply_overrides(data, overrides or []))
    except ConfigError as exc:
        raise type(exc)(f"{p}: {exc.message}") from None


def save_config(cfg: RunConfig, path: str | Path) -> None:
    """Write the effective config as YAML, atomically."""
    import yaml

    from layerscope.engine.training.io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(cfg.to_dict(), sort_keys=False))
