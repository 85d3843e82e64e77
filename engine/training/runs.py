"""Runs on disk: launch, resume, list, stop and compare.

A run is a folder ``runs/<YYYYmmdd-HHMMSS>-<name>/`` written by its own detached process. Its
status comes from its events (the last of started/resumed/finished/stopped/failed) and whether
its process is still alive, so any later process (a new TUI, ``layerscope runs``) can tell.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from layerscope.engine.errors import InputError
from layerscope.engine.training.config import RunConfig, check_launch, load_config, save_config
from layerscope.engine.training.events import TERMINAL, read_events
from layerscope.engine.training.liveness import run_pid, run_process_alive
from layerscope.engine.training.paths import (
    CONFIG_FILE,
    HPARAMS_FILE,
    LAST_CKPT,
    LAUNCH_FILE,
    PID_FILE,
    RUN_FILE,
    STDOUT_FILE,
    STOP_FILE,
)

STATUSES = ("running", "finished", "failed", "stopped")


def default_runs_dir() -> Path:
    """``$LAYERSCOPE_RUNS`` or ``./runs``."""
    return Path(os.environ.get("LAYERSCOPE_RUNS", "runs"))


@dataclass
class RunHandle:
    """A launched run: its folder and the process training it."""

    run_dir: Path
    pid: int
    process: subprocess.Popen | None = None


@dataclass
class RunInfo:
    """One row of ``layerscope runs``."""

    name: str
    path: str
    status: str
    epoch: int | None
    max_epochs: int | None
    best_metric: str | None
    best_value: float | None
    started: float | None
    pid: int | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_status(run_dir: Path, events: list[dict[str, Any]] | None = None) -> tuple[str, str | None]:
    """(status, error): the latest lifecycle event, corrected by process liveness."""
    status, error = _lifecycle(read_events(run_dir) if events is None else events)
    alive = run_process_alive(run_dir)
    if not alive and status in (None, "running"):
        # The process writes its final event before it exits: one that exited after the events
        # above were read has its final word on disk now (reading first, then checking, races).
        status, error = _lifecycle(read_events(run_dir))
    if (Path(run_dir) / LAUNCH_FILE).exists():
        # The latest launch has not reached the point where it reports by events: it is starting
        # (loading torch), or it died before it could say why, whatever earlier sessions said.
        if alive:
            return "running", None
        return "failed", "the run's process exited before it started: " + (
            last_output_line(run_dir) or f"no output (see {STDOUT_FILE})"
        )
    if alive and status in (None, "running"):
        return "running", None
    if status in (None, "running"):
        # Gone without a final event: killed (SIGKILL, OOM, power) before it could write one.
        return "failed", "the run's process exited without a final event (killed?)"
    return status, error


def _lifecycle(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """The status and error the latest lifecycle event states (``None``: nothing yet)."""
    status, error = None, None
    for e in events:
        kind = e.get("event")
        if kind in ("started", "resumed"):
            status, error = "running", None
        elif kind in TERMINAL:
            status, error = kind, e.get("error")
    return status, error


def last_output_line(run_dir: Path, limit: int = 300) -> str | None:
    """The last non-empty line the run's process printed (``stdout.log``): the reason it died."""
    try:
        with (Path(run_dir) / STDOUT_FILE).open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else None


def run_info(run_dir: Path) -> RunInfo:
    """Status, progress and best metric of one run."""
    events = read_events(run_dir)
    status, error = run_status(run_dir, events)
    epoch = max_epochs = started = None
    best_metric, best_value = "val_acc", None
    for e in events:
        if e.get("event") in ("started", "resumed"):
            max_epochs = e.get("max_epochs", max_epochs)
            started = started or e.get("time")
        if e.get("event") == "epoch":
            epoch = e.get("epoch")
        if status == "running" and e.get("event") in ("started", "resumed", "progress"):
            # A running run is in this epoch now (the list would show an em dash until the
            # first epoch ends); a finished, stopped or failed one shows its last whole epoch.
            current = e.get("epoch")
            if isinstance(current, int) and (epoch is None or current > epoch):
                epoch = current
            value = e.get("metrics", {}).get(best_metric)
            if value is not None and (best_value is None or value > best_value):
                best_value = value
    best_metric, best_value = best_of(events)
    return RunInfo(
        name=run_dir.name,
        path=str(run_dir),
        status=status,
        epoch=epoch,
        max_epochs=max_epochs,
        best_metric=best_metric if best_value is not None else None,
        best_value=best_value,
        started=started,
        pid=run_pid(run_dir),
        error=error,
    )


def best_of(events: list[dict[str, Any]]) -> tuple[str | None, float | None]:
    """(metric, best value) over the epoch events, in the metric's direction: the run's
    ``started`` event names ``monitor`` and ``mode``; older runs ranked by ``val_acc``, highest."""
    from layerscope.engine.training.config import metric_mode

    monitor, mode = "val_acc", "max"
    for e in events:
        if e.get("event") in ("started", "resumed") and isinstance(e.get("monitor"), str):
            monitor = e["monitor"]
            mode = e.get("mode") if e.get("mode") in ("min", "max") else metric_mode(monitor)
    best: float | None = None
    for e in events:
        if e.get("event") != "epoch":
            continue
        value = (e.get("metrics") or {}).get(monitor)
        if not isinstance(value, int | float) or value != value:  # NaN ranks nowhere
            continue
        if best is None or (value < best if mode == "min" else value > best):
            best = float(value)
    return (monitor if best is not None else None), best


def is_run_dir(path: Path) -> bool:
    """A run folder holds its effective config, or ``run.json`` when a user's own Lightning
    script wrote it (``layerscope.engine.training.hook``; listing: ``layerscope.engine.usecases.runs``)."""
    return (path / CONFIG_FILE).is_file() or (path / RUN_FILE).is_file()


def resolve_run(spec: str, runs_dir: Path | None = None, notes: list[str] | None = None) -> Path:
    """A run folder from a path, a folder name, or a unique part of a name under ``runs_dir``.

    A run name used by several runs (``<time>-NAME`` folders) means the newest of them; a note
    saying so, with the others, is appended to ``notes``. A part that matches different names
    is an error that lists them.
    """
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    for candidate in (Path(spec), root / spec):
        if candidate.is_dir() and is_run_dir(candidate):
            return candidate.resolve()
    names = (
        sorted(p.name for p in root.iterdir() if p.is_dir() and is_run_dir(p))
        if root.is_dir()
        else []
    )
    same_name = [n for n in names if n.endswith(f"-{spec}")]
    if len(same_name) > 1:
        newest = same_name[-1]  # folder names start with the time: the last sorts newest
        if notes is not None:
            notes.append(
                f"{len(same_name)} runs are named {spec!r}; using the newest, {newest} "
                f"(others: {', '.join(same_name[:-1])})"
            )
        return (root / newest).resolve()
    matches = same_name or [n for n in names if spec in n]
    if len(matches) == 1:
        return (root / matches[0]).resolve()
    if matches:
        raise InputError(f"run {spec!r} is ambiguous in {root}: {', '.join(matches)}")
    hint = f"; runs there: {', '.join(names[-5:])}" if names else ""
    raise InputError(f"no run {spec!r} in {root}{hint}")


def new_run_dir(runs_dir: Path, name: str) -> Path:
    """A fresh ``<time>-<name>`` folder (a suffix keeps two runs started in the same second apart)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for i in range(1000):
        path = runs_dir / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir()
            return path.resolve()
        except FileExistsError:
            continue
    raise InputError(f"cannot create a run folder for {name!r} in {runs_dir}")


def process_command(run_dir: Path, resume: bool) -> list[str]:
    """The command line of a run's process (its working folder is ``run_dir``)."""
    cmd = [sys.executable, "-m", "layerscope.engine.training.process", str(run_dir)]
    return [*cmd, "--resume"] if resume else cmd


def _spawn(run_dir: Path, resume: bool) -> RunHandle:
    # Absolute: the process starts in the run folder, where a relative path would point at
    # <run>/runs/<run> (a resume from ``runs/x`` found no config and left a stray folder).
    run_dir = Path(run_dir).resolve()
    cmd = process_command(run_dir, resume)
    env = dict(os.environ)
    # The child must import this same engine even when it is not installed.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    (run_dir / LAUNCH_FILE).touch()  # removed by the process once its events tell its fate
    with (run_dir / STDOUT_FILE).open("ab") as out:
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the terminal, the TUI and the SSH session
                env=env,
                cwd=run_dir,
            )
        except OSError:
            (run_dir / LAUNCH_FILE).unlink(missing_ok=True)
            raise
    (run_dir / PID_FILE).write_text(f"{proc.pid}\n")
    return RunHandle(run_dir, proc.pid, proc)


def launch_run(cfg: RunConfig, runs_dir: Path | None = None, name: str | None = None) -> RunHandle:
    """Create the run folder, save the effective config and start the detached run process."""
    check_launch(cfg)  # before a run folder or a process exists
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    run_dir = new_run_dir(root, name or cfg.name)
    if name:
        cfg = dataclasses.replace(cfg, name=name)
    save_config(cfg, run_dir / CONFIG_FILE)
    return _spawn(run_dir, resume=False)


def resume_run(run_dir: Path, overrides: list[str] | None = None) -> RunHandle:
    """Continue a stopped, failed or finished run from its ``last.ckpt`` (``--set`` may raise max_epochs)."""
    if run_process_alive(run_dir):
        raise InputError(
            f"run {run_dir.name} is still running; stop it first: layerscope runs stop {run_dir.name}"
        )
    if not (run_dir / CONFIG_FILE).is_file() and (run_dir / RUN_FILE).is_file():
        raise InputError(
            f"{run_dir.name} was trained by a script, not a recipe: resume it from that script "
            f"with trainer.fit(..., ckpt_path='{run_dir / LAST_CKPT}')"
        )
    if not (run_dir / LAST_CKPT).is_file():
        raise InputError(
            f"cannot resume {run_dir.name}: it has no {LAST_CKPT} (it stopped before the first epoch)"
        )
    cfg = load_config(run_dir / CONFIG_FILE, overrides)
    check_launch(cfg)  # its data or code may have moved since it last ran
    if overrides:
        save_config(cfg, run_dir / CONFIG_FILE)
    (run_dir / STOP_FILE).unlink(missing_ok=True)  # or the resumed run would stop at once
    return _spawn(run_dir, resume=True)


def stop_run(run_dir: Path) -> bool:
    """Ask a run to stop gracefully (stop file + SIGTERM); False if it was not running."""
    if not run_process_alive(run_dir):
        return False
    (run_dir / STOP_FILE).touch()
    pid = run_pid(run_dir)
    if pid is not None:
        try:
            # The run leads its own session: signal the group so DDP workers stop with it.
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
    return True


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def compare_runs(run_dirs: list[Path], all_params: bool = False) -> dict[str, Any]:
    """Hyperparameters and final metrics side by side: ``{"runs": [...], "rows": [[key, v1, v2, ...]]}``.

    Hyperparameters that are the same in every run are left out unless there is only one run;
    ``all_params`` adds ``"params"``: every hyperparameter row, the same ones included.
    """
    import yaml

    params: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    for d in run_dirs:
        # A recipe run's config; a script run's hyperparameters (hparams.yaml), if it saved any.
        source = d / CONFIG_FILE if (d / CONFIG_FILE).is_file() else d / HPARAMS_FILE
        try:
            loaded = yaml.safe_load(source.read_text()) if source.is_file() else {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read {source}: {type(exc).__name__}") from None
        params.append(_flatten(loaded if isinstance(loaded, dict) else {}))
        try:
            m = json.loads((d / "metrics.json").read_text())
            final = {f"final.{k}": v for k, v in m.get("final", {}).items()}
            if m.get("best"):
                final[f"best.{m['best']['metric']}"] = m["best"]["value"]
        except (OSError, json.JSONDecodeError):
            final = {}
        final["status"] = run_status(d)[0]
        metrics.append(final)
    rows: list[list[Any]] = []
    keys = [k for k in dict.fromkeys(k for p in params for k in p) if k != "name"]
    for key in keys:
        values = [p.get(key) for p in params]
        if len(run_dirs) == 1 or len({json.dumps(v) for v in values}) > 1:
            rows.append([key, *values])
    for key in dict.fromkeys(k for m in metrics for k in m):
        rows.append([key, *(m.get(key) for m in metrics)])
    out: dict[str, Any] = {"runs": [d.name for d in run_dirs], "rows": rows}
    if all_params:
        out["params"] = [[key, *(p.get(key) for p in params)] for key in keys]
    return out
