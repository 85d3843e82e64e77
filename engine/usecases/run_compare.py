"""Several runs side by side: per-epoch curves to overlay and hyperparameters with differences.

What the app's compare view draws (an optimizer sweep: SGD vs Adam vs AdamW on one recipe) and
what ``layerscope runs compare`` prints, from the files each run folder already holds:
``history.json`` for the curves, ``config.yaml`` (or a script's ``hparams.yaml``) for the
hyperparameters, the ``started`` event for the metric that ranks the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerscope.engine.training.events import read_events
from layerscope.engine.training.paths import HISTORY_FILE
from layerscope.engine.training.runs import best_of, compare_runs

NOT_CURVES = ("epoch", "step", "lr")


@dataclass
class RunCurves:
    """One run's per-epoch values: ``series[metric] = [(epoch, value), ...]`` (epochs from 0)."""

    name: str
    path: str
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    best_metric: str | None = None
    best_value: float | None = None


@dataclass
class ParamRow:
    """One hyperparameter (dotted key) across the runs; ``differs`` when not all equal."""

    key: str
    values: list[Any]
    differs: bool


@dataclass
class RunComparison:
    """Curves and hyperparameters of several runs, in the order asked for."""

    runs: list[RunCurves]
    params: list[ParamRow]
    metrics: list[str]  # metrics present in at least one run, losses first

    @property
    def differing(self) -> list[ParamRow]:
        return [p for p in self.params if p.differs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [
                {
                    "name": r.name,
                    "path": r.path,
                    "best": {"metric": r.best_metric, "value": r.best_value},
                    "series": {k: [list(p) for p in v] for k, v in r.series.items()},
                }
                for r in self.runs
            ],
            "metrics": self.metrics,
            "params": [
                {"key": p.key, "values": p.values, "differs": p.differs} for p in self.params
            ],
        }


def read_curves(run_dir: Path) -> RunCurves:
    """A run's ``history.json`` as series per metric (missing or damaged: no series)."""
    try:
        history = json.loads((run_dir / HISTORY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        history = []
    series: dict[str, list[tuple[int, float]]] = {}
    for record in history if isinstance(history, list) else []:
        if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
            continue
        for key, value in record.items():
            if key in NOT_CURVES or key.startswith("grad") or key.endswith("_step"):
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                series.setdefault(key, []).append((record["epoch"], float(value)))
    metric, value = best_of(read_events(run_dir))
    return RunCurves(run_dir.name, str(run_dir), series, metric, value)


def compare_run_dirs(run_dirs: list[Path]) -> RunComparison:
    """Curves of every run and every hyperparameter, each flagged when the runs differ on it."""
    runs = [read_curves(Path(d)) for d in run_dirs]
    table = compare_runs([Path(d) for d in run_dirs], all_params=True)
    params = [
        ParamRow(key, values, len({json.dumps(v, default=str) for v in values}) > 1)
        for key, *values in table["params"]
    ]
    keys = list(dict.fromkeys(k for r in runs for k in r.series))
    metrics = [k for k in keys if "loss" in k] + [k for k in keys if "loss" not in k]
    return RunComparison(runs, params, metrics)
