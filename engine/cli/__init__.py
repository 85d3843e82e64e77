"""The ``layerscope`` command: the TUI by default, headless verbs otherwise.

Each verb lives in its own module under ``engine/cli/`` and exposes ``register(subparsers)``,
which adds its parser and sets ``func``. Verb modules import nothing heavy at module level, so
``layerscope`` with no verb reaches the TUI's first frame without loading torch.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from layerscope.engine.errors import LayerscopeError

if TYPE_CHECKING:
    import argparse

# Verb modules, in the order `layerscope --help` lists them.
VERB_MODULES = [
    "inspect",
    "demo",
    "quant_compare",
    "train",
    "runs",
    "capture",
    "diff",
]
# Their names as typed: `layerscope [PATH]` opens the app without importing the verb modules
# (quant-compare's pulls in numpy before the first frame). tests/engine/test_cli_verbs.py pins
# it to the parser's.
VERB_NAMES = ("inspect", "demo", "quant-compare", "train", "runs", "capture", "diff")


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="layerscope",
        description="See inside neural networks from the terminal. "
        "Run with no verb (or a model path) to open the app.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(f"layerscope.engine.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"layerscope.engine.cli.{name}":
                raise
            continue  # a verb whose module is not installed in this build
        module.register(sub)
    return parser


def default_folder() -> str:
    """What ``layerscope`` opens without a path: ``models/`` (where ``make run`` and the demo put
    models) when there is one here, else the current folder - not "no such folder"."""
    return "models" if Path("models").is_dir() else "."


def _tui_parser() -> argparse.ArgumentParser:
    import argparse

    from layerscope.engine.cli.arch_args import add_arch_arguments

    p = argparse.ArgumentParser(prog="layerscope", add_help=False)
    p.add_argument(
        "path", nargs="?", default=None, help="model file or folder to open (default: ./models, "
        "else the current folder)"
    )  # fmt: skip
    p.add_argument("--trust", action="store_true", help="allow loading pickles that can run code")
    p.add_argument("--device", default="cpu", help="cpu or cuda for statistics and capture")
    add_arch_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbs: set[str] = set()
    if argv and argv[0] in (*VERB_NAMES, "-h", "--help"):
        parser = build_parser()
        verbs = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()  # type: ignore[union-attr]
    if len(argv) <= 1 and not (argv and argv[0].startswith("-")) and not verbs:
        # `layerscope [PATH]`: what the app's parser would make of it, without importing argparse
        # (~3 ms of the first frame). Any option goes through the parser below.
        gc.disable()  # until the app's first frame: see run_app's gc_paused
        from layerscope.tui.app import run_app

        path = argv[0] if argv else default_folder()
        return run_app(path, trust=False, device="cpu", arch=None, arch_kwargs={}, gc_paused=True)
    if not argv or (argv[0] not in verbs and argv[0] not in ("-h", "--help")):
        from layerscope.engine.cli.arch_args import arch_options

        args = _tui_parser().parse_args(argv)
        try:
            arch, arch_kwargs = arch_options(args)
        except LayerscopeError as exc:  # before the screen takes over: one line, exit 2
            print(f"layerscope: {exc}", file=sys.stderr)
            return 2
        gc.disable()  # until the app's first frame: see run_app's gc_paused
        from layerscope.tui.app import run_app

        return run_app(
            default_folder() if args.path is None else args.path, trust=args.trust, device=args.device, arch=arch, arch_kwargs=arch_kwargs,
            gc_paused=True,
        )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LayerscopeError as exc:
        print(f"layerscope: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: reports are written whole or not at all
        print("layerscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `layerscope runs --json | head`: the reader left; that is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
