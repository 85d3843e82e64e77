"""The events stream of a run (``events.jsonl``): one JSON object per line, appended and flushed.

Kinds, in the order a run emits them: ``started`` (or ``resumed``), ``progress`` every N steps,
``epoch`` with the epoch's metrics, ``checkpoint`` when a checkpoint file is written, and one
terminal event: ``finished``, ``stopped`` or ``failed`` (with the error). The TUI and
``layerscope runs tail`` read it with :func:`tail_events`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from layerscope.engine.training.liveness import run_process_alive
from layerscope.engine.training.paths import EVENTS_FILE, LOG_FILE

TERMINAL = ("finished", "stopped", "failed")


class EventWriter:
    """Appends events to ``events.jsonl``; each line is written whole and flushed at once."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.terminal: str | None = None  # the terminal event written by this writer, if any

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event (``time`` is added) and return it."""
        record = {"event": event, "time": round(time.time(), 3), **fields}
        line = json.dumps(record, default=_plain) + "\n"
        # One write() per line with O_APPEND, so a concurrent reader sees whole lines only.
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
        if event in TERMINAL:
            self.terminal = event
        return record


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def read_events(run_dir: str | Path) -> list[dict[str, Any]]:
    """All complete events of a run so far (a torn last line is skipped)."""
    path = Path(run_dir) / EVENTS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def follow_lines(
    path: Path,
    stop_event: threading.Event | None = None,
    *,
    follow: bool = True,
    poll_interval: float = 0.2,
    is_alive: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """Yield complete lines of a growing file, waiting for it to appear.

    Ends when ``stop_event`` is set, when ``follow`` is false and the end is reached, or when
    ``is_alive`` says the writer is gone and nothing more is left to read.
    """
    stop = stop_event or threading.Event()
    fh = None
    buf = ""
    try:
        while not stop.is_set():
            if fh is None:
                try:
                    fh = path.open("r", encoding="utf-8")
                except FileNotFoundError:
                    if not follow or (is_alive is not None and not is_alive()):
                        return
                    stop.wait(poll_interval)
                    continue
            chunk = fh.read()
            if chunk:
                buf += chunk
                *lines, buf = buf.split("\n")
                for line in lines:
                    if line:
                        yield line
                continue
            if not follow:
                return
            # Check liveness before the final read so lines written just before exit are not lost.
            alive = is_alive() if is_alive is not None else True
            if not alive:
                rest = fh.read()
                for line in (buf + rest).split("\n"):
                    if line:
                        yield line
                return
            stop.wait(poll_interval)
    finally:
        if fh is not None:
            fh.close()


def tail_events(
    run_dir: str | Path,
    stop_event: threading.Event | None = None,
    *,
    follow: bool = True,
    until_terminal: bool = True,
    poll_interval: float = 0.2,
) -> Iterator[dict[str, Any]]:
    """Yield a run's events from the start, then follow new ones as they are written.

    Ends when ``stop_event`` is set; after a terminal event (``finished``/``stopped``/``failed``)
    when ``until_terminal``; or when the run's process is gone and the file is fully read.
    Plain and synchronous, so a TUI worker thread, the CLI and tests share it.
    """
    run_dir = Path(run_dir)
    # A resumed run's file holds earlier sessions' terminal events; only the latest session's
    # counts. If the process is alive, that is any terminal event not yet written.
    existing = read_events(run_dir)
    if run_process_alive(run_dir):
        armed_from = len(existing)
    else:
        starts = [i for i, e in enumerate(existing) if e.get("event") in ("started", "resumed")]
        armed_from = starts[-1] if starts else 0
    index = 0
    for line in follow_lines(
        run_dir / EVENTS_FILE,
        stop_event,
        follow=follow,
        poll_interval=poll_interval,
        is_alive=lambda: run_process_alive(run_dir),
    ):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        yield record
        if until_terminal and follow and index >= armed_from and record.get("event") in TERMINAL:
            return
        index += 1


def tail_log(
    run_dir: str | Path, stop_event: threading.Event | None = None, *, follow: bool = True
) -> Iterator[str]:
    """Yield the run's log lines (``train.log``) and follow new ones while its process lives."""
    run_dir = Path(run_dir)
    yield from follow_lines(
        run_dir / LOG_FILE, stop_event, follow=follow, is_alive=lambda: run_process_alive(run_dir)
    )


def _duration(seconds: float) -> str:
    s = int(seconds)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _epoch(e: dict[str, Any]) -> str:
    """Events count epochs from 0; people (and `layerscope runs`) count from 1."""
    epoch = e.get("epoch")
    return str(epoch + 1) if isinstance(epoch, int) else "?"


def format_event(e: dict[str, Any]) -> str:
    """One human line for an event (CLI and log panes); epochs count from 1."""
    kind = e.get("event", "?")
    stamp = time.strftime("%H:%M:%S", time.localtime(e.get("time", 0)))
    if kind == "progress":
        total = e.get("total_steps")
        of = f"/{total}" if total else ""
        return (
            f"{stamp} epoch {_epoch(e)} step {e.get('step')}{of} "
            f"loss {e.get('loss', float('nan')):.4f} lr {e.get('lr', 0):.3g} "
            f"{e.get('samples_per_sec', 0):.0f} img/s"
            + (f" eta {_duration(e['eta_s'])}" if e.get("eta_s") is not None else "")
        )
    if kind == "epoch":
        metrics = " ".join(f"{k} {v:.4f}" for k, v in sorted(e.get("metrics", {}).items()))
        return f"{stamp} epoch {_epoch(e)} done: {metrics}"
    if kind == "checkpoint":
        return f"{stamp} checkpoint saved: {e.get('path')}"
    if kind == "alert":  # layer health (engine/training/health.py)
        stop = " (stopping the run)" if e.get("stop") else ""
        return f"{stamp} alert {e.get('rule')}: {e.get('message')}{stop}"
    if kind in ("started", "resumed"):
        return f"{stamp} run {kind} (pid {e.get('pid')}, {e.get('max_epochs')} epochs)"
    if kind == "failed":
        return f"{stamp} run failed: {e.get('error')}"
    if kind in ("finished", "stopped"):
        metrics = " ".join(f"{k} {v:.4f}" for k, v in sorted(e.get("metrics", {}).items()))
        # A graceful stop says where (a resume continues from there); counted from 1.
        where = (
            f" at epoch {_epoch(e)} step {e.get('step')}"
            if kind == "stopped" and "epoch" in e
            else ""
        )
        warned = "".join(f"; warning: {w}" for w in e.get("warnings") or [])
        return f"{stamp} run {kind}{where} {metrics}".rstrip() + warned
    return f"{stamp} {kind}"
