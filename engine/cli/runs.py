"""``layerscope runs``: list runs, follow one, stop one, compare several."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from layerscope.engine.training.paths import LAST_CKPT  # file names only: no heavy imports


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="list training runs; tail, stop or compare them",
        description="Training runs under ./runs (or --runs-dir): status, epoch and best metric. "
        "RUN is a run folder, its name, or a unique part of it (e.g. the config name).",
    )
    p.add_argument("--runs-dir", type=Path, default=None, help="where runs live (default: ./runs)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=list_cmd)
    verbs = p.add_subparsers(dest="runs_verb", metavar="ACTION")

    t = verbs.add_parser("tail", help="follow a run's events until it ends (Ctrl-C to leave)")
    t.add_argument("run", metavar="RUN")
    t.add_argument("--no-follow", action="store_true", help="print the events so far and exit")
    t.set_defaults(func=tail_cmd)

    s = verbs.add_parser("stop", help=f"stop a run gracefully (it saves {LAST_CKPT} first)")
    s.add_argument("run", metavar="RUN")
    s.set_defaults(func=stop_cmd)

    c = verbs.add_parser("compare", help="hyperparameters and final metrics side by side")
    c.add_argument("runs", metavar="RUN", nargs="+")
    # SUPPRESS: `runs --json compare A B` keeps the --json given before the verb
    c.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print JSON instead of a table",
    )
    c.set_defaults(func=compare_cmd)
    for sp in (t, s, c):
        # SUPPRESS: an absent sub-option must not overwrite `runs --runs-dir DIR tail RUN`
        sp.add_argument("--runs-dir", type=Path, default=argparse.SUPPRESS, help="where runs live")


def _runs_dir(args: argparse.Namespace) -> Path:
    from layerscope.engine.training.runs import default_runs_dir

    return args.runs_dir or default_runs_dir()


def list_cmd(args: argparse.Namespace) -> int:
    from layerscope.engine.usecases.runs import list_runs, run_files

    runs = list_runs(_runs_dir(args))
    if args.json:  # each row with the files it has to open: checkpoint, model.onnx, PNGs
        rows = [r.to_dict() | {"files": run_files(r.path).to_dict()} for r in runs]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not runs:
        print(
            f"no runs in {_runs_dir(args)}; start one with: layerscope train configs/resnet8_digits.yaml"
        )
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"runs in {_runs_dir(args)}")
    table.add_column("run", overflow="fold")  # the name is what `runs tail RUN` takes: never cut it
    table.add_column("status")
    table.add_column("epoch", justify="right")
    table.add_column("best", justify="right")
    table.add_column("started", no_wrap=True)
    for r in runs:
        epoch = "-" if r.epoch is None else f"{r.epoch + 1}/{r.max_epochs or '?'}"
        best = "-" if r.best_value is None else f"{r.best_metric} {r.best_value:.4f}"
        started = time.strftime("%m-%d %H:%M", time.localtime(r.started)) if r.started else "-"
        table.add_row(r.name, r.status, epoch, best, started)
    Console().print(table)
    return 0


def tail_cmd(args: argparse.Namespace) -> int:
    from layerscope.engine.training.events import format_event, tail_events

    run_dir = _resolve(args.run, _runs_dir(args))
    try:
        for event in tail_events(run_dir, follow=not args.no_follow):
            print(format_event(event), flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


def stop_cmd(args: argparse.Namespace) -> int:
    from layerscope.engine.errors import InputError
    from layerscope.engine.training.runs import stop_run

    run_dir = _resolve(args.run, _runs_dir(args))
    if not stop_run(run_dir):
        raise InputError(f"run {run_dir.name} is not running")
    print(f"asked {run_dir.name} to stop; it saves {LAST_CKPT}, then exits (resume with: "
          f"layerscope train --resume {run_dir.name})")  # fmt: skip
    return 0


def _resolve(spec: str, runs_dir: Path) -> Path:
    """The run folder for RUN; a name several runs share means the newest (a note on stderr)."""
    from layerscope.engine.training.runs import resolve_run

    notes: list[str] = []
    run_dir = resolve_run(spec, runs_dir, notes)
    for note in notes:
        print(f"layerscope: note: {note}", file=sys.stderr)
    return run_dir


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def compare_cmd(args: argparse.Namespace) -> int:
    from layerscope.engine.training.runs import compare_runs

    runs_dir = _runs_dir(args)
    table_data = compare_runs([_resolve(r, runs_dir) for r in args.runs])
    if args.json:
        json.dump(table_data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="runs compared")
    table.add_column("")
    for name in table_data["runs"]:
        table.add_column(name, justify="right")
    for key, *values in table_data["rows"]:
        table.add_row(key, *(_cell(v) for v in values))
    Console().print(table)
    return 0
