"""Whether a run's training process is alive (pid file plus /proc), for the listing and tails.

Below both ``runs`` and ``events``: tailing a run's files needs to know when its writer is gone.
"""

from __future__ import annotations

import os
from pathlib import Path

from layerscope.engine.training.paths import PID_FILE


def _pid_record(run_dir: Path) -> tuple[int, int | None] | None:
    """(pid, start time) from the pid file: ``PID`` for a run process, ``PID START`` for a
    user's own script (its start time in clock ticks, from ``/proc/PID/stat``)."""
    try:
        parts = (Path(run_dir) / PID_FILE).read_text().split()
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else None
    except (OSError, ValueError, IndexError):
        return None


def run_pid(run_dir: Path) -> int | None:
    """The pid of the run's (latest) process, if recorded."""
    record = _pid_record(run_dir)
    return record[0] if record else None


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc``), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: int, start: int | None = None) -> bool:
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        if start is not None:
            # A user's own script: the start time (not the command line) tells a recycled pid.
            if process_start_time(pid) != start:
                return False
            try:
                return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
            except OSError:
                return False
        try:
            # The cmdline check guards against a recycled pid (it is briefly empty while the
            # child execs, so only a non-empty foreign one counts); a zombie has exited.
            cmdline = (proc / "cmdline").read_bytes()
            if cmdline and b"layerscope.engine.training.process" not in cmdline:
                return False
            stat = (proc / "stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_process_alive(run_dir: str | Path) -> bool:
    """Whether the run's training process is still running."""
    record = _pid_record(Path(run_dir))
    return record is not None and _pid_alive(*record)
