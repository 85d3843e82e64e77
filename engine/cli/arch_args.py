"""``--arch`` and ``--arch-kwargs``: one argparse helper for every verb (and the app) that binds
weights to code. Light on purpose: verb modules import it at parse time, before torch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from layerscope.engine.errors import InputError

MAX_KWARGS_BYTES = 1 << 20  # constructor arguments, not a data set


def add_arch_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--arch`` and ``--arch-kwargs`` to ``p``."""
    p.add_argument(
        "--arch",
        default=None,
        help="architecture for state dicts and checkpoints: a zoo name (resnet8, smallcnn), "
        "module:Class or module:factory (the working folder is importable)",
    )
    p.add_argument(
        "--arch-kwargs",
        default=None,
        metavar="JSON|@FILE",
        help="constructor arguments for --arch: '{\"width\": 12}' or @args.json / @args.yaml "
        "(a Lightning checkpoint's hyper_parameters fill the rest)",
    )


def arch_options(args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """``(arch, arch_kwargs)`` from parsed arguments; bad ``--arch-kwargs`` is an ``InputError``."""
    arch = getattr(args, "arch", None)
    text = getattr(args, "arch_kwargs", None)
    if text is not None and arch is None:
        raise InputError("--arch-kwargs needs --arch (the class or factory they are for)")
    return arch, parse_arch_kwargs(text)


def parse_arch_kwargs(text: str | None) -> dict[str, Any]:
    """Inline JSON, or ``@file`` (``.yaml``/``.yml`` as YAML, else JSON) → a dict of arguments."""
    if text is None or not text.strip():
        return {}
    text = text.strip()
    where = "--arch-kwargs"
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        where = f"--arch-kwargs file {path}"
        if not path.is_file():
            raise InputError(f"{where} not found")
        if path.stat().st_size > MAX_KWARGS_BYTES:
            raise InputError(
                f"{where} is over {MAX_KWARGS_BYTES // 1024} KiB; is it the right file?"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"{where} cannot be read as UTF-8 text ({type(exc).__name__})"
            ) from None
        if path.suffix.lower() in (".yaml", ".yml"):
            return _checked(_yaml(text, where), where)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:  # its message quotes no bytes of the input
        raise InputError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "e.g. '{\"width\": 12}' or @args.yaml"
        ) from None
    except RecursionError:
        raise InputError(f"{where} is nested too deeply") from None
    return _checked(value, where)


def _yaml(text: str, where: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:  # position only: the message would quote the file
        mark = exc.problem_mark
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise InputError(f"{where} is not valid YAML{at}") from None
    except (yaml.YAMLError, RecursionError):
        raise InputError(f"{where} is not valid YAML") from None


def _checked(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(
            f"{where} must be an object of argument names, like '{{\"width\": 12}}', "
            f"not a {type(value).__name__}"
        )
    bad = [k for k in value if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise InputError(f"{where}: {len(bad)} key(s) are not Python argument names")
    return value
