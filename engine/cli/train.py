"""``layerscope train``: start (or resume) a training run as a detached process and follow it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from layerscope.engine.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="start a training run from a config (it keeps running after you leave)",
        description="Start a Lightning training run from a YAML recipe in its own process, "
        "writing runs/<time>-<name>/ (config, events.jsonl, log, checkpoints, artifacts, "
        "model.onnx), and follow its progress. Ctrl-C detaches; the run goes on.",
    )
    p.add_argument("config", nargs="?", help="YAML recipe, e.g. configs/resnet8_digits.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optimizer.name=sgd (repeatable)",
    )
    p.add_argument("--name", help="run name (default: the config's name)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last.ckpt instead")
    p.add_argument("--runs-dir", type=Path, default=None, help="where runs live (default: ./runs)")
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    p.set_defaults(func=run)


def follow(run_dir: Path) -> int:
    """Print the run's events until it ends; Ctrl-C detaches. Exit 1 if the run failed."""
    from layerscope.engine.training.events import format_event, tail_events
    from layerscope.engine.training.runs import run_status

    try:
        for event in tail_events(run_dir):
            print(format_event(event), flush=True)
    except KeyboardInterrupt:
        print(
            f"\ndetached; {run_dir.name} keeps running. Follow it with: layerscope runs tail "
            f"{run_dir.name}   stop it with: layerscope runs stop {run_dir.name}",
            file=sys.stderr,
        )
        return 0
    status, error = run_status(run_dir)
    print(f"run {run_dir.name} {status}: {run_dir}", file=sys.stderr)
    if status == "failed":
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    from layerscope.engine.training.runs import (
        default_runs_dir,
        launch_run,
        resolve_run,
        resume_run,
    )

    runs_dir = args.runs_dir or default_runs_dir()
    if args.resume:
        if args.config:
            raise ConfigError(
                "give either CONFIG or --resume RUN, not both (a resumed run keeps its config)"
            )
        handle = resume_run(resolve_run(args.resume, runs_dir), args.overrides)
        verb = "resumed"
    else:
        if not args.config:
            raise ConfigError(
                "layerscope train needs a CONFIG file (e.g. configs/resnet8_digits.yaml) or --resume RUN"
            )
        from layerscope.engine.training.config import load_config

        cfg = load_config(args.config, args.overrides)
        handle = launch_run(cfg, runs_dir, name=args.name)
        verb = "started"
    print(
        f"{verb} {handle.run_dir.name} (pid {handle.pid}) in {handle.run_dir}",
        file=sys.stderr,
        flush=True,
    )
    if args.detach:
        return 0
    return follow(handle.run_dir)
