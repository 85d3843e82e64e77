"""Layer health over training: the recipe section, the file format, the alert rules and the reader.

Nothing here imports torch or Lightning (the app and the CLI read health files with NumPy only);
the callback that samples a run is ``layerscope.engine.training.callbacks.layer_health``.

Storage (documented in docs/run-format.md): ``layer_health.json`` (the header: layers in forward
order, parameters, field names, histogram bins, record layout) and ``layer_health.bin``, an
append-only sequence of fixed-size NumPy records, one per sampled optimizer step. A record is
written with one ``write()`` on a file opened for appending, so a reader that takes
``size // record_bytes`` records never sees a torn one. Resuming truncates a torn tail and any
records at or after the step the run resumes from.

Long because the file format, its writer, its live reader and the alert rules are one contract
(docs/run-format.md); splitting them would spread the record layout over several modules.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from layerscope.engine.errors import ConfigError, InputError

HEADER_FILE = "layer_health.json"
DATA_FILE = "layer_health.bin"
SCHEMA = "layerscope.layer-health"
SCHEMA_VERSION = 1

# Per layer and record (float32). NaN means "does not apply" (no parameters, not called, no
# gradient reached it); the NaN/Inf *counts* are the fields act_nan, act_inf and *_nonfinite.
FIELDS = (
    "act_mean", "act_std", "act_min", "act_max", "act_zero_fraction", "act_nan", "act_inf",
    "out_grad_norm", "out_grad_std", "out_grad_nonfinite",
    "grad_norm", "grad_std", "grad_nonfinite", "weight_norm", "update_ratio",
    "hist_lo", "hist_hi",
)  # fmt: skip
# Per parameter and record (float32).
PARAM_FIELDS = ("grad_norm", "grad_std", "grad_nonfinite", "weight_norm", "update_ratio")
F = {name: i for i, name in enumerate(FIELDS)}
PF = {name: i for i, name in enumerate(PARAM_FIELDS)}
# What the heatmap offers, and how display columns are reduced: the extreme that matters.
QUANTITIES = {
    "act_std": "min",
    "act_zero_fraction": "max",
    "grad_norm": "max",
    "out_grad_norm": "max",
    "update_ratio": "max",
    "act_mean": "mean",
    "act_max": "max",
    "act_min": "min",
    "act_nan": "max",
    "grad_std": "max",
    "weight_norm": "mean",
}
AUTO = "auto"
AUTO_START, AUTO_MIN, AUTO_MAX, AUTO_DDP = 10, 10, 500, 50
RULES = ("collapse", "dead", "nan", "exploding", "vanishing", "update_ratio")
# Module classes whose outputs are ReLU-like (exact zeros are dead units).
RELU_KINDS = frozenset({"ReLU", "ReLU6", "Threshold", "Hardtanh", "RReLU"})


@dataclass
class HealthAlertsConfig:
    """Alert rules; a rule is off when its threshold is 0."""

    # activation std below collapse_ratio × the layer's own early value (median of the first
    # baseline_samples samples)
    collapse_ratio: float = 0.05
    baseline_samples: int = 3
    dead_fraction: float = 0.97  # zeros above this fraction of a ReLU-like layer's output
    grad_explode: float = 100.0  # parameter gradient norm above this × its early value
    grad_vanish: float = 1e-4  # ... below this × its early value
    update_ratio_low: float = 1e-6  # ‖Δw‖/‖w‖ of a layer's parameters outside [low, high]
    update_ratio_high: float = 0.3
    stop_on: str = "nan"  # comma-separated rules that stop the run (graceful stop), or "none"

    def __post_init__(self) -> None:
        for key in ("collapse_ratio", "dead_fraction", "grad_explode", "grad_vanish"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v >= 0):
                raise ConfigError(f"health.alerts.{key} must be a number of at least 0, got {v}")
        if self.dead_fraction > 1:
            raise ConfigError(
                f"health.alerts.dead_fraction must be in [0, 1], got {self.dead_fraction}"
            )
        if self.baseline_samples < 1:
            raise ConfigError(
                f"health.alerts.baseline_samples must be at least 1, got {self.baseline_samples}"
            )
        lo, hi = self.update_ratio_low, self.update_ratio_high
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo and (hi == 0 or lo < hi)):
            raise ConfigError(
                "health.alerts.update_ratio_low/high must be numbers with 0 <= low < high "
                f"(0 turns one off), got {lo} and {hi}"
            )
        unknown = [r for r in self.stop_rules() if r not in RULES]
        if unknown:
            raise ConfigError(
                f"health.alerts.stop_on: unknown rule {unknown[0]!r}; allowed: "
                f"{', '.join(RULES)} or none"
            )

    def stop_rules(self) -> list[str]:
        text = self.stop_on.strip().lower()
        if text in ("", "none", "null", "false", "off"):
            return []
        return [r.strip() for r in text.split(",") if r.strip()]


@dataclass
class HealthConfig:
    """The layer-health callback (recipes: the ``health`` section)."""

    enabled: bool = True
    # Optimizer steps between samples (step 0 is always sampled), or "auto": the interval that
    # keeps sampling within `budget` of the training time, measured as the run goes (at least
    # AUTO_MIN, at most AUTO_MAX; a fixed AUTO_DDP steps under DDP, where ranks keep one schedule).
    every: int | str = "auto"
    budget: float = 0.02  # auto: the share of training time sampling may add
    layers: str = ""  # comma-separated fnmatch patterns of module names; "" = every leaf module
    bins: int = 32  # activation histogram bins per layer and sample
    # After this many samples in a session the interval doubles, and again after each further
    # half of it: the file's bound on long runs (docs/run-format.md).
    max_records: int = 4_000
    alerts: HealthAlertsConfig = field(default_factory=HealthAlertsConfig)

    def __post_init__(self) -> None:
        if isinstance(self.every, str):
            if self.every.strip().lower() != AUTO:
                raise ConfigError(f"health.every must be a step count or auto, got {self.every!r}")
            self.every = AUTO
        elif self.every < 1:
            raise ConfigError(f"health.every must be at least 1, got {self.every}")
        if not (math.isfinite(self.budget) and 0 < self.budget <= 1):
            raise ConfigError(f"health.budget must be in (0, 1], got {self.budget}")
        if not 1 <= self.bins <= 1024:
            raise ConfigError(f"health.bins must be in [1, 1024], got {self.bins}")
        if self.max_records < 10:
            raise ConfigError(f"health.max_records must be at least 10, got {self.max_records}")
        if isinstance(self.alerts, dict):  # built by hand from a mapping
            self.alerts = HealthAlertsConfig(**self.alerts)

    def patterns(self) -> list[str]:
        return [p.strip() for p in self.layers.split(",") if p.strip()]


def record_dtype(layers: int, params: int, bins: int) -> np.dtype:
    """The fixed layout of one record (little-endian, no padding surprises across machines)."""
    return np.dtype(
        [
            ("step", "<i8"),
            ("epoch", "<i4"),
            ("every", "<i4"),
            ("time", "<f8"),
            ("layer", "<f4", (layers, len(FIELDS))),
            ("hist", "<u4", (layers, bins)),
            ("param", "<f4", (params, len(PARAM_FIELDS))),
        ]
    )


def record_bytes(layers: int, params: int, bins: int) -> int:
    return record_dtype(layers, params, bins).itemsize


class HealthWriter:
    """Appends records to a run folder's health file (rank zero only)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.header: dict[str, Any] | None = None
        self.dtype: np.dtype | None = None
        self.records = 0
        self._resume_steps: np.ndarray | None = None

    @property
    def path(self) -> Path:
        return self.dir / DATA_FILE

    def open(
        self,
        layers: list[dict[str, Any]],
        params: list[dict[str, Any]],
        bins: int,
        every: int | str,
        prefix: str = "",
        world_size: int = 1,
    ) -> None:
        """Start the file, or continue an existing one with the same layout (a resumed run)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dtype = record_dtype(len(layers), len(params), bins)
        header = {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "data": DATA_FILE,
            "fields": list(FIELDS),
            "param_fields": list(PARAM_FIELDS),
            "bins": bins,
            "every": every,
            "prefix": prefix,
            "world_size": world_size,
            "layers": layers,
            "params": params,
            "record_bytes": self.dtype.itemsize,
        }
        old = _read_header(self.dir)
        same = old is not None and all(
            old.get(k) == header[k] for k in ("fields", "param_fields", "bins", "layers", "params")
        )
        if same and self.path.exists():
            size = self.path.stat().st_size
            whole = size // self.dtype.itemsize
            if whole * self.dtype.itemsize != size:  # a killed writer's torn tail
                os.truncate(self.path, whole * self.dtype.itemsize)
            steps = np.fromfile(self.path, dtype=self.dtype, count=whole)["step"]
            self._resume_steps = steps
            self.records = whole
            header["every"] = old.get("every", every) if old else every
        else:
            if self.path.exists():  # another layout (another model): start over
                self.path.unlink()
            from layerscope.engine.io import atomic_write_text

            atomic_write_text(self.dir / HEADER_FILE, json.dumps(header, indent=1) + "\n")
            self.path.touch()
            self.records = 0
        self.header = header

    def append(self, record: np.ndarray) -> None:
        """Write one record (a 0-d array of :func:`record_dtype`) with one ``write()``."""
        assert self.dtype is not None and record.dtype == self.dtype
        if self._resume_steps is not None:
            # Records at or after the step a resumed run restarts from belong to a future
            # that did not happen: drop them before the first new record.
            keep = int(np.searchsorted(self._resume_steps, int(record["step"]), side="left"))
            if keep < self.records:
                os.truncate(self.path, keep * self.dtype.itemsize)
                self.records = keep
            self._resume_steps = None
        data = record.tobytes()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.records += 1


def _read_header(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / HEADER_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise InputError(f"{path} is not a layer-health header (bad JSON)") from None
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        raise InputError(f'{path} is not a layer-health header (no "schema": "{SCHEMA}")')
    if not isinstance(d.get("schema_version"), int) or d["schema_version"] > SCHEMA_VERSION:
        raise InputError(
            f"{path} uses layer-health schema v{d.get('schema_version')}, newer than this "
            f"layerscope reads (v{SCHEMA_VERSION}); upgrade layerscope"
        )
    return d


class HealthLog:
    """A run's layer health, read while it is written: ``refresh()`` picks up new records.

    The app's Layer health view reads everything through this class:

    - ``layers`` (forward order), ``kinds``, ``steps``, ``epochs``;
    - ``values(q)``: a ``layers × records`` float32 array of one quantity (``FIELDS``);
    - ``matrix(q, max_columns)``: the same, downsampled for display (stored data never is);
    - ``histogram(layer, step)``: counts and edges of one layer at the record nearest a step;
    - ``alerts()``: the run's alert events, ``alert_marks(max_columns)``: where they sit in
      the matrix; ``nearest_checkpoint(step)``: a checkpoint to open.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.header: dict[str, Any] | None = None
        self._dtype: np.dtype | None = None
        self._records = np.zeros(0)
        self._bytes_read = 0

    @property
    def available(self) -> bool:
        """Whether the run has written its header yet (a run samples at its first step)."""
        return self.header is not None

    def refresh(self) -> int:
        """Read records written since the last call; returns how many were new."""
        if self.header is None:
            self.header = _read_header(self.dir)
            if self.header is None:
                return 0
            try:
                self._dtype = record_dtype(
                    len(self.header["layers"]), len(self.header["params"]), self.header["bins"]
                )
            except (KeyError, TypeError, ValueError):
                raise InputError(
                    f"{self.dir / HEADER_FILE} is a damaged layer-health header"
                ) from None
            self._records = np.zeros(0, dtype=self._dtype)
        assert self._dtype is not None
        path = self.dir / DATA_FILE
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return 0
        if size < self._bytes_read:  # a resumed run truncated the file: read it again
            self._records = np.zeros(0, dtype=self._dtype)
            self._bytes_read = 0
        whole = size // self._dtype.itemsize * self._dtype.itemsize
        if whole <= self._bytes_read:
            return 0
        with path.open("rb") as fh:
            fh.seek(self._bytes_read)
            raw = fh.read(whole - self._bytes_read)
        new = np.frombuffer(raw, dtype=self._dtype)
        self._records = np.concatenate([self._records, new]) if len(self._records) else new.copy()
        self._bytes_read += len(raw)
        return len(new)

    # -- what the view shows -------------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        return [str(d["name"]) for d in (self.header or {}).get("layers", [])]

    @property
    def kinds(self) -> list[str]:
        return [str(d["kind"]) for d in (self.header or {}).get("layers", [])]

    @property
    def params(self) -> list[str]:
        return [str(d["name"]) for d in (self.header or {}).get("params", [])]

    @property
    def bins(self) -> int:
        return int((self.header or {}).get("bins", 0))

    @property
    def steps(self) -> np.ndarray:
        return self._records["step"] if len(self._records) else np.zeros(0, dtype=np.int64)

    @property
    def epochs(self) -> np.ndarray:
        return self._records["epoch"] if len(self._records) else np.zeros(0, dtype=np.int32)

    def __len__(self) -> int:
        return len(self._records)

    def values(self, quantity: str) -> np.ndarray:
        """``layers × records`` of one field, exactly as stored."""
        if quantity not in F:
            raise InputError(
                f"unknown layer-health quantity {quantity!r}; one of {', '.join(FIELDS)}"
            )
        if not len(self._records):
            return np.zeros((len(self.layers), 0), dtype=np.float32)
        return self._records["layer"][:, :, F[quantity]].T

    def param_values(self, quantity: str) -> np.ndarray:
        """``params × records`` of one per-parameter field."""
        if quantity not in PF:
            raise InputError(
                f"unknown parameter quantity {quantity!r}; one of {', '.join(PARAM_FIELDS)}"
            )
        if not len(self._records):
            return np.zeros((len(self.params), 0), dtype=np.float32)
        return self._records["param"][:, :, PF[quantity]].T

    def matrix(
        self, quantity: str, max_columns: int | None = None, reduce: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, layers × columns)`` for display: at most ``max_columns`` columns.

        Neighbouring records are merged into one column by ``reduce`` (``min``, ``max`` or
        ``mean``, NaN ignored; default: the quantity's extreme that matters, ``QUANTITIES``); each
        column is labelled with its first record's step.
        """
        full = self.values(quantity)
        steps = self.steps
        n = full.shape[1]
        if max_columns is None or n <= max_columns or n == 0:
            return steps, full
        if max_columns < 1:
            raise InputError(f"max_columns must be at least 1, got {max_columns}")
        how = reduce or QUANTITIES.get(quantity, "mean")
        starts = (np.arange(max_columns) * n) // max_columns
        filled = np.where(np.isnan(full), _neutral(how), full)
        if how == "min":
            out = np.minimum.reduceat(filled, starts, axis=1)
        elif how == "max":
            out = np.maximum.reduceat(filled, starts, axis=1)
        elif how == "mean":
            ok = ~np.isnan(full)
            sums = np.add.reduceat(filled, starts, axis=1)
            counts = np.add.reduceat(ok.astype(np.float32), starts, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out = sums / counts
        else:
            raise InputError(f"reduce must be min, max or mean, got {reduce!r}")
        out = out.astype(np.float32)
        out[np.isinf(out) & np.isinf(_neutral(how))] = np.nan  # a column of NaN stays NaN
        return steps[starts], out

    def record_index(self, step: int) -> int | None:
        """Index of the record nearest ``step`` (ties: the earlier one), or None when empty."""
        steps = self.steps
        if not len(steps):
            return None
        i = int(np.searchsorted(steps, step))
        if i >= len(steps):
            return len(steps) - 1
        if i > 0 and step - steps[i - 1] <= steps[i] - step:
            return i - 1
        return i

    def histogram(self, layer: str | int, step: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(counts, edges, step)`` of a layer's activation histogram at the nearest record.

        Edges are ``numpy.linspace(hist_lo, hist_hi, bins + 1)``: within a few float32 ulps of
        the exact thresholds the counts were binned with (see engine/capture/fast_stats.py).
        """
        li = self._layer_index(layer)
        ri = self.record_index(step)
        if ri is None:
            raise InputError("the run has no layer-health records yet")
        rec = self._records[ri]
        lo, hi = float(rec["layer"][li, F["hist_lo"]]), float(rec["layer"][li, F["hist_hi"]])
        counts = rec["hist"][li].astype(np.int64)
        edges = (
            np.linspace(lo, hi, self.bins + 1)
            if math.isfinite(lo) and math.isfinite(hi)
            else np.full(self.bins + 1, np.nan)
        )
        return counts, edges, int(rec["step"])

    def cell(self, layer: str | int, step: int) -> dict[str, float]:
        """Every field of a layer at the record nearest ``step`` (plus ``step``, ``epoch``)."""
        li = self._layer_index(layer)
        ri = self.record_index(step)
        if ri is None:
            raise InputError("the run has no layer-health records yet")
        rec = self._records[ri]
        out: dict[str, float] = {n: float(rec["layer"][li, i]) for n, i in F.items()}
        out.update(step=int(rec["step"]), epoch=int(rec["epoch"]))
        return out

    def _layer_index(self, layer: str | int) -> int:
        names = self.layers
        if isinstance(layer, int):
            if not 0 <= layer < len(names):
                raise InputError(f"layer index {layer} is out of range (0..{len(names) - 1})")
            return layer
        try:
            return names.index(layer)
        except ValueError:
            raise InputError(f"no layer {layer!r} in this run's layer health") from None

    def alerts(self) -> list[dict[str, Any]]:
        """The run's ``alert`` events, in the order written (``step``, ``layer``, ``rule``...)."""
        from layerscope.engine.training.events import read_events

        return [e for e in read_events(self.dir) if e.get("event") == "alert"]

    def alert_marks(self, max_columns: int | None = None) -> list[tuple[int, int, dict[str, Any]]]:
        """``(row, column, alert)`` for each alert on a layer of the heatmap, with columns as
        ``matrix(q, max_columns)`` lays them out (an alert between samples: the nearest)."""
        n = len(self)
        if not n:
            return []
        rows = {name: i for i, name in enumerate(self.layers)}
        starts = None
        if max_columns is not None and n > max_columns:
            starts = (np.arange(max_columns) * n) // max_columns
        out = []
        for a in self.alerts():
            row = rows.get(str(a.get("layer")))
            step = a.get("step")
            if row is None or not isinstance(step, int):
                continue
            ri = self.record_index(step)
            assert ri is not None
            col = ri if starts is None else int(np.searchsorted(starts, ri, side="right") - 1)
            out.append((row, col, a))
        return out

    def nearest_checkpoint(self, step: int) -> tuple[Path, int] | None:
        return nearest_checkpoint(self.dir, step)


def _neutral(how: str) -> float:
    return {"min": np.inf, "max": -np.inf}.get(how, 0.0)


def nearest_checkpoint(run_dir: str | Path, step: int) -> tuple[Path, int] | None:
    """``(path, step)`` of the existing checkpoint whose step is nearest ``step``, or None.

    Steps come from the run's ``checkpoint`` events; a file written several times (``last.ckpt``)
    holds the state of its latest event.
    """
    from layerscope.engine.training.events import read_events

    latest: dict[str, int] = {}
    for e in read_events(run_dir):
        if e.get("event") == "checkpoint" and isinstance(e.get("step"), int) and e.get("path"):
            latest[str(e["path"])] = int(e["step"])
    found = [(abs(s - step), s, Path(p)) for p, s in latest.items() if Path(p).is_file()]
    if not found:
        return None
    _, s, p = min(found, key=lambda t: (t[0], t[1]))
    return p, s


# -- alert rules ---------------------------------------------------------------------------------
class AlertRules:
    """Evaluates each new record against the rules; one alert per (rule, layer) until it clears.

    ``check(record)`` returns alerts in forward order of the layers: dicts with ``rule``,
    ``layer``, ``step``, ``value``, ``threshold``, ``message`` and ``stop`` (the rule is in
    ``stop_on``).
    """

    def __init__(self, cfg: HealthAlertsConfig, layers: list[str], kinds: list[str]) -> None:
        self.cfg = cfg
        self.layers = layers
        self.relu = np.array([k in RELU_KINDS for k in kinds], dtype=bool)
        self.stop = set(cfg.stop_rules())
        self._early_std: list[np.ndarray] = []
        self._early_grad: list[np.ndarray] = []
        self._active: set[tuple[str, int]] = set()
        self._nan_reported = False

    def _baseline(self, early: list[np.ndarray]) -> np.ndarray:
        """Each layer's early value: the median of its first samples (NaN where it had none)."""
        stack = np.stack(early)
        out = np.full(stack.shape[1], np.nan, dtype=np.float64)
        seen = ~np.all(np.isnan(stack), axis=0)  # nanmedian warns on all-NaN columns
        out[seen] = np.nanmedian(stack[:, seen], axis=0)
        return out

    def check(self, step: int, layer: np.ndarray) -> list[dict[str, Any]]:
        """Alerts raised by one record's ``layers × FIELDS`` block."""
        c = self.cfg
        std = layer[:, F["act_std"]]
        gnorm = layer[:, F["grad_norm"]]
        firing: dict[tuple[str, int], dict[str, Any]] = {}
        baseline_ready = len(self._early_std) >= c.baseline_samples
        if not baseline_ready:
            self._early_std.append(std.copy())
            self._early_grad.append(gnorm.copy())
        nonfinite = (
            np.nan_to_num(layer[:, F["act_nan"]])
            + np.nan_to_num(layer[:, F["act_inf"]])
            + np.nan_to_num(layer[:, F["out_grad_nonfinite"]])
            + np.nan_to_num(layer[:, F["grad_nonfinite"]])
        )
        bad = np.flatnonzero(nonfinite > 0)
        if len(bad):
            act_bad = np.flatnonzero(
                np.nan_to_num(layer[:, F["act_nan"]]) + np.nan_to_num(layer[:, F["act_inf"]]) > 0
            )
            first = int(act_bad[0]) if len(act_bad) else int(bad[0])
            where = "activations" if len(act_bad) else "gradients"
            firing[("nan", -1)] = self._alert(
                "nan", first, step, float(nonfinite[first]), 0.0,
                f"NaN/Inf first in layer {self.layers[first]} ({where}, forward order) "
                f"at step {step}; {len(bad)} layer(s) affected",
            )  # fmt: skip
        if baseline_ready:
            early = self._baseline(self._early_std)
            if c.collapse_ratio > 0:
                with np.errstate(invalid="ignore"):
                    hit = np.flatnonzero((early > 0) & (std < c.collapse_ratio * early))
                for i in hit:
                    firing[("collapse", int(i))] = self._alert(
                        "collapse", int(i), step, float(std[i]), float(c.collapse_ratio * early[i]),
                        f"layer {self.layers[i]} collapsed at step {step}: activation std "
                        f"{std[i]:.3g} < {c.collapse_ratio:g} × its early {early[i]:.3g}",
                    )  # fmt: skip
            g0 = self._baseline(self._early_grad)
            with np.errstate(invalid="ignore"):
                if c.grad_explode > 0:
                    for i in np.flatnonzero((g0 > 0) & (gnorm > c.grad_explode * g0)):
                        firing[("exploding", int(i))] = self._alert(
                            "exploding", int(i), step, float(gnorm[i]), float(c.grad_explode * g0[i]),
                            f"layer {self.layers[i]} gradients exploding at step {step}: norm "
                            f"{gnorm[i]:.3g} > {c.grad_explode:g} × its early {g0[i]:.3g}",
                        )  # fmt: skip
                if c.grad_vanish > 0:
                    for i in np.flatnonzero((g0 > 0) & (gnorm < c.grad_vanish * g0)):
                        firing[("vanishing", int(i))] = self._alert(
                            "vanishing", int(i), step, float(gnorm[i]), float(c.grad_vanish * g0[i]),
                            f"layer {self.layers[i]} gradients vanishing at step {step}: norm "
                            f"{gnorm[i]:.3g} < {c.grad_vanish:g} × its early {g0[i]:.3g}",
                        )  # fmt: skip
                ratio = layer[:, F["update_ratio"]]
                lo, hi = c.update_ratio_low, c.update_ratio_high
                out = np.zeros(len(ratio), dtype=bool)
                if lo > 0:
                    out |= ratio < lo
                if hi > 0:
                    out |= ratio > hi
                for i in np.flatnonzero(out & np.isfinite(ratio)):
                    firing[("update_ratio", int(i))] = self._alert(
                        "update_ratio", int(i), step, float(ratio[i]),
                        lo if ratio[i] < lo else hi,
                        f"layer {self.layers[i]} update ratio {ratio[i]:.3g} at step {step} is "
                        f"outside [{lo:g}, {hi:g}] (healthy is ~1e-3)",
                    )  # fmt: skip
        if c.dead_fraction > 0:
            zf = layer[:, F["act_zero_fraction"]]
            with np.errstate(invalid="ignore"):
                for i in np.flatnonzero(self.relu & (zf > c.dead_fraction)):
                    firing[("dead", int(i))] = self._alert(
                        "dead", int(i), step, float(zf[i]), c.dead_fraction,
                        f"layer {self.layers[i]} is dead at step {step}: {100 * zf[i]:.1f}% "
                        f"zeros > {100 * c.dead_fraction:g}%",
                    )  # fmt: skip
        # One alert per (rule, layer) while it holds; it re-arms once the condition clears.
        new = [a for key, a in firing.items() if key not in self._active]
        self._active = set(firing)
        return sorted(new, key=lambda a: (a["_index"], RULES.index(a["rule"])))

    def _alert(
        self, rule: str, index: int, step: int, value: float, threshold: float, message: str
    ) -> dict[str, Any]:
        return {
            "rule": rule,
            "layer": self.layers[index],
            "step": step,
            "value": value if math.isfinite(value) else str(value),
            "threshold": threshold,
            "message": message,
            "stop": rule in self.stop,
            "_index": index,
        }


def first_in_forward_order(alerts: Iterable[dict[str, Any]], rule: str) -> dict[str, Any] | None:
    """The first alert of ``rule`` (the callback writes them in forward order)."""
    return next((a for a in alerts if a.get("rule") == rule), None)
