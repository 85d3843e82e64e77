"""``LayerHealthCallback``: per-layer activations, gradients and update ratios, sampled live.

Every ``every`` optimizer steps (and at step 0; by default ``auto``: an interval that keeps the
measured cost of sampling within ``budget``, 2%, of the training time) the callback hooks the
chosen modules for that one step: forward hooks take each output's statistics with the capture engine's
``fast_stats.stats`` (exact min/max/zeros/NaN/Inf, mean/std, a fixed-size histogram) on the
tensor's own device, and put a tensor hook on the output for its gradient's statistics
(``fast_stats.moments``); before the optimizer step it reads each parameter's gradient and
keeps a copy of the weights, and after it the update ratio ‖Δw‖/‖w‖. The forward hooks are
removed before backward, the tensor hooks go with the step's graph and the weight copy is
dropped: nothing stays on between samples. One record per sample goes to the run folder
(``layerscope.engine.training.health``), and :class:`~layerscope.engine.training.health.AlertRules` turns it into
``alert`` events.

DDP: only global rank zero samples, writes and raises alerts. Its activations and output
gradients are those of its own shard of the batch; parameter gradients are after DDP's
all-reduce (every rank's data) and so are the update ratios, so a NaN born on another rank shows
up as non-finite parameter gradients on rank zero. A ``stop_on`` rule stops every rank: through
the trainer's :class:`GracefulStopCallback` when there is one (checkpoint, ``stopped`` event),
otherwise by a decision reduced over the ranks.

Long because the hooks of one sampled step (forward, output gradients, parameter gradients,
update ratios), the adaptive interval and rank-0 writing must agree on one record layout.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.capture import fast_stats as fs
from layerscope.engine.capture.torch_capture import flatten_output
from layerscope.engine.training.callbacks.graceful_stop import GracefulStopCallback
from layerscope.engine.training.events import EventWriter
from layerscope.engine.training.health import (
    AUTO,
    AUTO_DDP,
    AUTO_MAX,
    AUTO_MIN,
    AUTO_START,
    FIELDS,
    PARAM_FIELDS,
    AlertRules,
    HealthAlertsConfig,
    HealthConfig,
    HealthWriter,
    record_dtype,
)

_F = {n: i for i, n in enumerate(FIELDS)}
_PF = {n: i for i, n in enumerate(PARAM_FIELDS)}


def _skipped(module: torch.nn.Module) -> bool:
    """Modules that are not layers: losses and metrics (called in training_step, not forward)."""
    if isinstance(module, torch.nn.modules.loss._Loss):
        return True
    try:
        from torchmetrics import Metric, MetricCollection

        return isinstance(module, Metric | MetricCollection)
    except ImportError:  # pragma: no cover - torchmetrics is a dependency
        return False


class LayerHealthCallback(Callback):
    """Samples every layer's health every ``every`` optimizer steps; writes on rank zero.

    Args:
        run_dir: the run folder (``layer_health.json``/``.bin`` and ``events.jsonl`` go there);
            default: the trainer's ``default_root_dir``.
        config: sampling and alert rules (a recipe's ``health`` section); keyword arguments
            override its fields (``every=10``).
        writer: the run's event writer (the run process passes its own).
    """

    def __init__(
        self,
        run_dir: str | Path | None = None,
        config: HealthConfig | None = None,
        *,
        writer: EventWriter | None = None,
        **overrides: Any,
    ) -> None:
        cfg = config or HealthConfig()
        if overrides:
            alerts = overrides.pop("alerts", cfg.alerts)
            if isinstance(alerts, dict):
                alerts = HealthAlertsConfig(**alerts)
            cfg = HealthConfig(
                **{**{k: getattr(cfg, k) for k in ("enabled", "every", "budget", "layers",
                                                     "bins", "max_records")}, **overrides},
                alerts=alerts,
            )  # fmt: skip
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.writer = writer
        self.store: HealthWriter | None = None
        self.rules: AlertRules | None = None
        self._auto = cfg.every == AUTO
        self._base = AUTO_START if self._auto else int(cfg.every)  # auto adjusts it
        self._stretch = 1  # doubles each time the session's samples pass another budget
        self._samples = 0  # this session's samples (counted on every rank alike)
        self._budget = cfg.max_records
        self._step_time: float | None = None  # auto: moving average of an unsampled step
        self._t0 = 0.0
        self.alerts: list[dict[str, Any]] = []  # raised in this session (tests, the run process)
        self.stop_reason: str | None = None
        self.errors: dict[str, str] = {}  # where -> the first failure there (left NaN)
        self._broken = False  # the file cannot be written: rank zero samples no more
        self._next = 0  # the next step to sample
        self._order: list[str] | None = None  # layer names in forward order, fixed at sample 1
        self._modules: dict[str, torch.nn.Module] = {}
        self._params: list[tuple[str, str, torch.nn.Parameter]] = []  # (name, layer, param)
        self._prefix = ""
        self._ws = fs.Workspace()
        self._gws = fs.Workspace()
        self._warm: threading.Thread | None = None  # loads the kernels before the first sample
        self._reset_sample()

    # -- sampling state ----------------------------------------------------------------------
    def _reset_sample(self) -> None:
        self._handles: list[Any] = []
        self._sampling: int | None = None  # the step being sampled
        self._act: dict[str, tuple[np.ndarray, list[int]]] = {}
        self._grad: dict[str, np.ndarray] = {}
        self._seen: list[str] = []
        self._param_stats: np.ndarray | None = None
        self._before: list[torch.Tensor] | None = None

    def _remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.run_dir is None:
            self.run_dir = Path(trainer.default_root_dir)
        if trainer.is_global_zero and self.writer is None:
            self.writer = EventWriter(self.run_dir)
        if trainer.is_global_zero and self.cfg.enabled and self._warm is None:
            # The first statistics load numba and its cached kernels (~0.6 s CPU): do it while
            # Lightning starts up rather than inside the first sampled step of epoch 1.
            self._warm = threading.Thread(
                target=_warm_kernels, args=(self.cfg.bins,), name="layerscope-health-warm",
                daemon=True,
            )  # fmt: skip
            self._warm.start()

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        chosen = self._choose(pl_module)
        self._modules = dict(chosen)
        self._prefix = _common_prefix([n for n, _ in chosen])
        self._next = trainer.global_step  # a resumed run samples where it starts
        if self._auto and trainer.world_size > 1:
            # Ranks measure their own times; a stop decision needs one schedule on every rank.
            self._auto, self._base = False, AUTO_DDP
        self._order = None
        self.rules = None

    def _choose(self, pl_module: pl.LightningModule) -> list[tuple[str, torch.nn.Module]]:
        patterns = self.cfg.patterns()
        out = []
        for name, mod in pl_module.named_modules():
            if not name or _skipped(mod) or isinstance(mod, torch.jit.ScriptModule):
                continue
            if patterns:
                if any(fnmatch.fnmatchcase(name, p) for p in patterns):
                    out.append((name, mod))
            elif not any(True for _ in mod.children()):
                out.append((name, mod))
        return out

    def _due(self, trainer: pl.Trainer) -> bool:
        return (
            self.cfg.enabled
            and self._sampling is None
            and trainer.global_step >= self._next
            and bool(self._modules)
        )

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._t0 = time.perf_counter()
        if not self._due(trainer):
            return
        self._sampling = trainer.global_step
        if not trainer.is_global_zero or self._broken:
            return  # rank zero samples; the others only keep the same schedule
        if self._warm is not None:
            self._warm.join()  # not racing the warm-up for the kernels' first load
        for name, mod in self._modules.items():
            self._handles.append(mod.register_forward_hook(self._forward_hook(name)))

    def _forward_hook(self, name: str) -> Any:
        def hook(mod: torch.nn.Module, _args: Any, out: Any) -> None:
            if name in self._act:  # a module called twice: its first call counts
                return
            try:
                self._on_output(name, out)
            except Exception as exc:  # noqa: BLE001 - observing must never break training
                self._failed(f"layer {name}", exc)

        return hook

    def _on_output(self, name: str, out: Any) -> None:
        t = next(
            (t for _, t in flatten_output("", out) if t.is_floating_point() and t.numel()),
            None,
        )
        if t is None:
            return
        with torch.no_grad(), torch.autocast(t.device.type, enabled=False):
            st = fs.stats(t.detach(), self.cfg.bins, self._ws)
        row = np.full(len(FIELDS), np.nan, dtype=np.float32)
        for key, value in (
            ("act_mean", st.mean), ("act_std", st.std), ("act_min", st.min),
            ("act_max", st.max), ("act_zero_fraction", st.zero_fraction),
            ("act_nan", st.nan), ("act_inf", st.posinf + st.neginf),
            ("hist_lo", st.edges[0] if st.edges else None),
            ("hist_hi", st.edges[-1] if st.edges else None),
        ):  # fmt: skip
            if value is not None:
                row[_F[key]] = value
        self._act[name] = (row, list(st.counts))
        self._seen.append(name)
        if t.requires_grad:
            t.register_hook(self._grad_hook(name))

    def _grad_hook(self, name: str) -> Any:
        def on_grad(g: torch.Tensor) -> None:
            if name in self._grad:
                return
            try:
                self._on_grad(name, g)
            except Exception as exc:  # noqa: BLE001 - observing must never break training
                self._failed(f"gradient of {name}", exc)

        return on_grad

    def _on_grad(self, name: str, g: torch.Tensor) -> None:
        with torch.no_grad(), torch.autocast(g.device.type, enabled=False):
            m = fs.moments(g.detach(), self._gws)
        nonfinite = m.nan + m.posinf + m.neginf
        sq = m.m2 + m.count * m.mean * m.mean
        self._grad[name] = np.array(
            [
                math.sqrt(max(sq, 0.0)) if not nonfinite else math.nan,
                math.sqrt(max(m.m2, 0.0) / m.count) if m.count else math.nan,
                nonfinite,
            ],
            dtype=np.float32,
        )

    def _failed(self, where: str, exc: BaseException) -> None:
        """One warning per place: a statistic that cannot be taken is left NaN, training goes on."""
        if where not in self.errors:
            self.errors[where] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            logger.warning("layer health: {} not recorded: {}", where, self.errors[where])

    @override
    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        self._remove_hooks()  # forward hooks are done once the loss exists

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        self._remove_hooks()
        if self._sampling is None or not trainer.is_global_zero or self._broken:
            return
        try:
            self._read_params()
        except Exception as exc:  # noqa: BLE001 - observing must never break training
            self._failed("parameters", exc)
            self._param_stats = self._before = None

    def _read_params(self) -> None:
        if not self._params:
            owner = {name: mod for name, mod in self._modules.items()}
            self._params = [
                (f"{layer}.{pname}", layer, p)
                for layer, mod in owner.items()
                for pname, p in mod.named_parameters(recurse=False)
            ]
        params = [p for _, _, p in self._params]
        with torch.no_grad():
            rows = []
            for p in params:
                g = p.grad
                if g is None:
                    rows.append(torch.full((5,), math.nan, device=p.device, dtype=torch.float64))
                    continue
                g = g.detach().to(torch.float64)
                rows.append(
                    torch.stack(
                        [
                            g.square().sum(),
                            g.sum(),
                            (~torch.isfinite(g)).sum().to(torch.float64),
                            torch.tensor(float(g.numel()), device=g.device, dtype=torch.float64),
                            p.detach().to(torch.float64).square().sum(),
                        ]
                    ).to(params[0].device)
                )
            self._param_stats = (
                torch.stack(rows).cpu().numpy() if rows else np.zeros((0, 5))
            )  # one device sync
            self._before = [p.detach().clone() for p in params]

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._sampling is None:
            if self._auto:
                dt = time.perf_counter() - self._t0
                avg = self._step_time
                self._step_time = dt if avg is None else 0.9 * avg + 0.1 * dt
            return
        if trainer.global_step == self._sampling:
            return  # gradient accumulation: the optimizer has not stepped yet
        step = self._sampling
        self._samples += 1
        if self._samples >= self._budget:  # bounded growth on long runs (docs/run-format.md)
            self._budget += self.cfg.max_records // 2
            self._stretch *= 2
        stop = False
        if trainer.is_global_zero:
            try:
                if not self._broken:
                    stop = self._finish(trainer, pl_module, step)
            except Exception as exc:  # noqa: BLE001 - e.g. a full disk: training goes on
                self._broken = True
                self._failed("the health file", exc)
            finally:
                self._remove_hooks()
                self._reset_sample()
        self._reset_sample()
        if self._auto and self._step_time:
            # The sampled step's extra time over an ordinary one, spread over `every` steps,
            # stays within the budget.
            extra = max(time.perf_counter() - self._t0 - self._step_time, 0.0)
            want = math.ceil(extra / (self.cfg.budget * self._step_time))
            self._base = min(max(want, AUTO_MIN), AUTO_MAX)
        self._next = step + self.every
        self._maybe_stop(trainer, stop)

    @property
    def every(self) -> int:
        """Optimizer steps from one sample to the next, as things stand."""
        return self._base * self._stretch

    def _finish(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> bool:
        """Write the sample's record and raise its alerts; returns whether a rule asks to stop."""
        if self._order is None:
            self._open(trainer)
        assert self._order is not None and self.store is not None and self.rules is not None
        dtype = record_dtype(len(self._order), len(self._params), self.cfg.bins)
        rec = np.zeros((), dtype=dtype)
        rec["step"], rec["epoch"], rec["every"] = step, trainer.current_epoch, self.every
        rec["time"] = time.time()
        layer = rec["layer"]
        layer[...] = np.nan
        for i, name in enumerate(self._order):
            if name in self._act:
                row, counts = self._act[name]
                layer[i] = row
                rec["hist"][i] = np.minimum(np.asarray(counts, dtype=np.int64), 2**32 - 1)
            if name in self._grad:
                layer[i, [_F["out_grad_norm"], _F["out_grad_std"], _F["out_grad_nonfinite"]]] = (
                    self._grad[name]
                )
        self._fill_params(rec, pl_module)
        self.store.append(rec)
        alerts = self.rules.check(step, layer)
        stop = False
        for a in alerts:
            a.pop("_index", None)
            a["epoch"] = trainer.current_epoch
            self.alerts.append(a)
            if self.writer is not None:
                self.writer.emit("alert", **a)
            logger.warning("layer health: {}", a["message"])
            if a["stop"] and self.stop_reason is None:
                self.stop_reason = f"{a['rule']}: {a['message']}"
                stop = True
        return stop

    def _fill_params(self, rec: np.ndarray, pl_module: pl.LightningModule) -> None:
        stats = self._param_stats
        if stats is None or self._before is None:
            return
        with torch.no_grad():
            deltas = [
                (p.detach() - b).to(torch.float64).square().sum()
                for (_, _, p), b in zip(self._params, self._before, strict=True)
            ]
            d2 = torch.stack(deltas).cpu().numpy() if deltas else np.zeros(0)
        sq, s1, bad, n, w2 = (stats[:, i] for i in range(5))
        with np.errstate(all="ignore"):
            mean = s1 / n
            prow = rec["param"]
            prow[:, _PF["grad_norm"]] = np.where(bad > 0, np.nan, np.sqrt(sq))
            prow[:, _PF["grad_std"]] = np.sqrt(np.maximum(sq / n - mean * mean, 0))
            prow[:, _PF["grad_nonfinite"]] = bad
            prow[:, _PF["weight_norm"]] = np.sqrt(w2)
            prow[:, _PF["update_ratio"]] = np.where(w2 > 0, np.sqrt(d2 / w2), np.nan)
            index = {name: i for i, name in enumerate(self._order or [])}
            by_layer: dict[int, list[int]] = {}
            for j, (_, layer, _) in enumerate(self._params):
                by_layer.setdefault(index.get(layer, -1), []).append(j)
            lrow = rec["layer"]
            for i, js in by_layer.items():
                if i < 0:
                    continue
                tot_n, tot_sq, tot_s1 = n[js].sum(), sq[js].sum(), s1[js].sum()
                tot_bad, tot_w2, tot_d2 = bad[js].sum(), w2[js].sum(), d2[js].sum()
                m = tot_s1 / tot_n
                lrow[i, _F["grad_norm"]] = np.nan if tot_bad else math.sqrt(tot_sq)
                lrow[i, _F["grad_std"]] = math.sqrt(max(tot_sq / tot_n - m * m, 0.0))
                lrow[i, _F["grad_nonfinite"]] = tot_bad
                lrow[i, _F["weight_norm"]] = math.sqrt(tot_w2)
                lrow[i, _F["update_ratio"]] = math.sqrt(tot_d2 / tot_w2) if tot_w2 > 0 else np.nan

    def _open(self, trainer: pl.Trainer) -> None:
        """Fix the layer order (forward order of this first sample) and open the file."""
        assert self.run_dir is not None
        cut = len(self._prefix)
        self._order = list(self._seen)
        layers = [
            {
                "name": n[cut:],
                "module": n,
                "kind": type(self._modules[n]).__name__,
                "params": [p for p, layer, _ in self._params if layer == n],
            }
            for n in self._order
        ]
        keep = set(self._order)
        if any(layer not in keep for _, layer, _ in self._params):  # never called: no row
            self._param_keep = [j for j, (_, layer, _) in enumerate(self._params) if layer in keep]
            self._params = [self._params[j] for j in self._param_keep]
            if self._param_stats is not None:
                self._param_stats = self._param_stats[self._param_keep]
            if self._before is not None:
                self._before = [self._before[j] for j in self._param_keep]
        params = [
            {"name": n[cut:] if n.startswith(self._prefix) else n, "layer": layer[cut:],
             "shape": list(p.shape)}
            for n, layer, p in self._params
        ]  # fmt: skip
        self.store = HealthWriter(self.run_dir)
        self.store.open(layers, params, self.cfg.bins, self.every, self._prefix, trainer.world_size)
        self.rules = AlertRules(self.cfg.alerts, [d["name"] for d in layers],
                                [d["kind"] for d in layers])  # fmt: skip

    def _maybe_stop(self, trainer: pl.Trainer, stop: bool) -> None:
        if not self.cfg.alerts.stop_rules():
            return
        stopper = next((c for c in trainer.callbacks if isinstance(c, GracefulStopCallback)), None)
        if stopper is not None:
            if stop:  # its own check (reduced over ranks) ends the run with a checkpoint
                logger.warning("layer health: stopping the run ({})", self.stop_reason)
                stopper.request()
            return
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            trainer.should_stop = True

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._remove_hooks()
        self._reset_sample()

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._remove_hooks()
        self._reset_sample()


def _warm_kernels(bins: int) -> None:
    """Load the statistics kernels (numba, its on-disk cache) with a tiny tensor's statistics."""
    try:
        x = torch.linspace(-1.0, 1.0, 64)
        fs.stats(x, bins, fs.Workspace())
        fs.moments(x, fs.Workspace())
    except Exception:  # noqa: BLE001 - the first real sample reports any failure itself
        pass


def _common_prefix(names: list[str]) -> str:
    """The dotted prefix every name shares (``model.``), which checkpoints lose on loading."""
    if not names:
        return ""
    parts = [n.split(".") for n in names]
    common: list[str] = []
    for group in zip(*parts, strict=False):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    if len(common) >= min(len(p) for p in parts):  # a name would be left empty
        common = common[:-1]
    return ".".join(common) + "." if common else ""
