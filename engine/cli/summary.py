"""``layerscope inspect MODEL --summary``: totals, largest tensors and a NaN/Inf scan for big models.

The scan's progress bar goes to stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

TOP = 10


def run_summary(model: Any, args: argparse.Namespace) -> int:
    """Print the summary of ``model``; scan for NaN/Inf unless ``--no-stats`` was given."""
    from layerscope.engine.summary import scan, summarize

    summary = summarize(model, top=getattr(args, "top", None) or TOP)
    if not getattr(args, "no_stats", False):
        device = getattr(args, "device", "cpu") or "cpu"
        steps = scan(model, summary, device=device)
        _drive_with_progress(steps, f"scanning {model.path.name} for NaN/Inf")
    if getattr(args, "json", False):
        from layerscope.engine.io import dumps

        sys.stdout.write(dumps(summary.to_dict(), indent=2, default=str))
        sys.stdout.write("\n")
    else:
        _print(summary)
    return 0


def _drive_with_progress(steps: Any, label: str) -> None:
    """Run the scan generator to its end under a rich progress bar (bytes read) on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TimeRemainingColumn(), TextColumn("[dim]{task.fields[current]}"))  # fmt: skip
    # transient: the bar vanishes when done; on a non-terminal stderr rich draws nothing at all.
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=None, current="")
        for p in steps:
            progress.update(task, total=p.bytes_total, completed=p.bytes_done, current=p.current)


def _print(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from layerscope.engine.formatting import fmt_bytes, fmt_count

    console = Console() if sys.stdout.isatty() else Console(width=160)
    shards = summary.metadata.get("shards")
    where = f" · {shards} shards" if shards else ""
    console.print(
        f"[bold]{summary.path.name}[/] · {summary.format}{where} · "
        f"[bold]{summary.params:,}[/] parameters ({fmt_count(summary.params)}) · "
        f"{fmt_bytes(summary.size_bytes)} · {summary.tensors:,} tensors · {summary.layers:,} layers"
    )
    config = summary.metadata.get("config")
    if config:
        console.print(
            "config.json: " + ", ".join(f"{k}={_short(v)}" for k, v in config.items()),
            highlight=False,
        )

    dtypes = Table(title="by dtype", header_style="bold", title_justify="left")
    for col in ("dtype", "tensors", "elements", "bytes"):
        dtypes.add_column(col, justify="left" if col == "dtype" else "right")
    for d in summary.dtypes:
        dtypes.add_row(d.dtype, f"{d.tensors:,}", f"{d.elements:,}", fmt_bytes(d.bytes))
    console.print(dtypes)

    largest = Table(title=f"largest {len(summary.largest)} tensors", header_style="bold",
                    title_justify="left")  # fmt: skip
    for col in ("tensor", "shape", "dtype", "elements", "bytes"):
        justify = "right" if col in ("elements", "bytes") else "left"
        largest.add_column(col, justify=justify, overflow="fold")  # full names, wrapped
    for t in summary.largest:
        largest.add_row(t.name, "×".join(map(str, t.shape)) or "scalar", t.dtype,
                        f"{t.elements:,}", fmt_bytes(t.bytes))  # fmt: skip
    console.print(largest)

    if not summary.scan_started:
        console.print("NaN/Inf: not scanned (--no-stats)")
    elif not summary.nonfinite:
        console.print(f"NaN/Inf: none in {summary.scanned:,} floating-point tensors", style="green")
    else:
        bad = Table(title=f"tensors with NaN/Inf ({len(summary.nonfinite)} of {summary.scanned:,})",
                    header_style="bold", title_justify="left", title_style="red")  # fmt: skip
        for col in ("tensor", "dtype", "nan", "+inf", "-inf"):
            justify = "left" if col in ("tensor", "dtype") else "right"
            bad.add_column(col, justify=justify, overflow="fold")
        for t in summary.nonfinite:
            bad.add_row(t.name, t.dtype, f"{t.nan:,}", f"{t.posinf:,}", f"{t.neginf:,}")
        console.print(bad)
    if summary.scan_started and not summary.scan_complete:
        console.print(f"scan stopped after {summary.scanned:,} of {summary.to_scan:,} tensors")


def _short(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, list | dict) else str(v)
    return text if len(text) <= 60 else text[:57] + "..."
