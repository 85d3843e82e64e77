"""Whether a run's training process is alive (pid file plus /proc), for the listing and tails.

Below both ``runs`` and ``events``: tailing a run's files needs to know when its writer is gone.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.training.paths import PID_FILE


def run_pid(run_dir: Path) -> int | None:
    """The pid of the run's (latest) process, if recorded."""
    try:
        return int((Path(run_dir) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            # The cmdline check guards against a recycled pid (it is briefly empty while the
            # child execs, so only a non-empty foreign one counts); a zombie has exited.
            cmdline = (proc / "cmdline").read_bytes()
            if cmdline and b"engine.training.process" not in cmdline:
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
    pid = run_pid(Path(run_dir))
    return pid is not None and _pid_alive(pid)
