"""Training runs as the ``runs`` verb and the Runs screen list them: status rows and files.

:class:`RunLister` reads each run's ``events.jsonl`` once and again only when it changed or the
run is live, so the app can refresh every few seconds; the CLI lists once with
:func:`list_runs`. :func:`run_files` finds a run's checkpoint and artefacts (stat calls only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerscope.engine.training.paths import (
    BEST_CKPT_GLOB,
    CONFUSION_GLOB,
    CONFUSION_JSON_GLOB,
    CURVES,
    EVENTS_FILE,
    LAST_CKPT,
    METRICS_PNG,
    MODEL_ONNX,
    PID_FILE,
    SAMPLES_GLOB,
)
from layerscope.engine.training.runs import RunInfo, default_runs_dir, is_run_dir, run_info


@dataclass
class RunFiles:
    """What a run folder holds for a person to open; ``None``/empty where not written yet."""

    run_dir: Path
    checkpoint: Path | None  # last.ckpt, else the newest best-*.ckpt
    model_onnx: Path | None
    confusion_matrix: Path | None  # the last epoch's
    curves: list[Path] = field(default_factory=list)  # loss.png, accuracy.png or metrics.png
    samples: Path | None = None  # the last epoch's samples.png (any task)

    @property
    def all_curves(self) -> bool:
        return len(self.curves) >= len(CURVES)  # loss.png and accuracy.png (or metrics.png)

    @property
    def task_metrics(self) -> bool:
        """The run plots a regression's (or a script's) metrics, not accuracy."""
        return any(p.name == METRICS_PNG for p in self.curves)

    def to_dict(self) -> dict[str, Any]:
        def s(p: Path | None) -> str | None:
            return None if p is None else str(p)

        return {
            "checkpoint": s(self.checkpoint),
            "model_onnx": s(self.model_onnx),
            "confusion_matrix": s(self.confusion_matrix),
            "curves": [str(p) for p in self.curves],
            "samples": s(self.samples),
        }


def checkpoint_of(run_dir: Path) -> Path | None:
    """``last.ckpt``, else the newest ``best-*.ckpt`` (``None``: no checkpoint yet)."""
    last = run_dir / LAST_CKPT
    if last.is_file():
        return last
    best = sorted(run_dir.glob(BEST_CKPT_GLOB))
    return best[-1] if best else None


def latest_confusion_matrix(run_dir: Path) -> Path | None:
    """The last epoch's ``confusion_matrix.png`` (epoch folders sort by number)."""
    found = sorted(run_dir.glob(CONFUSION_GLOB))
    return found[-1] if found else None


def run_files(run_dir: str | Path) -> RunFiles:
    """The run's checkpoint and artefacts that exist now."""
    run_dir = Path(run_dir)
    onnx = run_dir / MODEL_ONNX
    return RunFiles(
        run_dir=run_dir,
        checkpoint=checkpoint_of(run_dir),
        model_onnx=onnx if onnx.is_file() else None,
        confusion_matrix=latest_confusion_matrix(run_dir),
        curves=[run_dir / n for n in (*CURVES, METRICS_PNG) if (run_dir / n).is_file()],
        samples=_latest(run_dir, SAMPLES_GLOB),
    )


def _latest(run_dir: Path, pattern: str) -> Path | None:
    found = sorted(run_dir.glob(pattern))  # epoch folders sort by number
    return found[-1] if found else None


@dataclass(frozen=True)
class ConfusionCounts:
    """A validation epoch's confusion matrix: rows are true classes, columns predictions."""

    epoch: int  # 0-based, as the run wrote it
    classes: list[str]  # may be empty: then the classes are their indices
    matrix: list[list[int]]


def read_confusion(run_dir: str | Path) -> ConfusionCounts | None:
    """The last validation epoch's counts (``None``: none written, or the file is not a square
    matrix of counts) - for drawing it without an image viewer. Read from the newest
    ``confusion_matrix.json``, which every epoch writes: its PNG may not be drawn yet, or ever
    (a starved figure worker draws only the newest epoch's)."""
    found = _latest(Path(run_dir), CONFUSION_JSON_GLOB)
    if found is None:
        return None
    try:
        doc = json.loads(found.read_text(encoding="utf-8"))
        matrix = [[int(v) for v in row] for row in doc["matrix"]]
        classes = [str(c) for c in doc.get("classes") or []]
        epoch = int(doc.get("epoch", 0))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if any(len(row) != len(matrix) for row in matrix) or classes and len(classes) != len(matrix):
        return None
    return ConfusionCounts(epoch, classes, matrix)


def epoch_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """One entry per finished epoch, ``{"epoch": n, metric: value, ...}`` (what the curves plot);
    an epoch repeated after a resume keeps its latest values."""
    from layerscope.engine.training.events import read_events

    by_epoch: dict[int, dict[str, Any]] = {}
    for event in read_events(run_dir):
        if event.get("event") == "epoch" and isinstance(event.get("epoch"), int):
            by_epoch[event["epoch"]] = {"epoch": event["epoch"], **event.get("metrics", {})}
    return [by_epoch[e] for e in sorted(by_epoch)]


class RunLister:
    """Lists the runs under one folder, oldest first, reading again only what may have changed:
    a run whose events file kept its size and time, and that was not running, keeps its row."""

    def __init__(self, runs_dir: Path | None = None) -> None:
        self.runs_dir = runs_dir
        self._infos: dict[Path, tuple[tuple, RunInfo]] = {}

    @property
    def root(self) -> Path:
        return Path(self.runs_dir) if self.runs_dir is not None else default_runs_dir()

    def list(self) -> list[RunInfo]:
        root = self.root
        folders = (
            sorted(p for p in root.iterdir() if p.is_dir() and is_run_dir(p))
            if root.is_dir()
            else []
        )
        runs, cache = [], {}
        for folder in folders:
            stamp = tuple(_stamp(folder / name) for name in (EVENTS_FILE, PID_FILE))
            cached = self._infos.get(folder)
            if cached is not None and cached[0] == stamp and cached[1].status != "running":
                info = cached[1]
            else:
                info = run_info(folder)
            cache[folder] = (stamp, info)
            runs.append(info)
        self._infos = cache
        return runs


def _stamp(path: Path) -> tuple[int, int] | None:
    """A file's time and size: the events say how a run went; the pid file changes on a resume
    (whose process may die before it writes an event)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """Every run under ``runs_dir`` (default ``$LAYERSCOPE_RUNS`` or ``./runs``), oldest first."""
    return RunLister(runs_dir).list()
