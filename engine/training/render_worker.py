"""The figure worker process: ``python -m layerscope.engine.training.render_worker`` (private).

Reads jobs from stdin, each an 8-byte big-endian length and a pickle of ``(path, build)`` where
``build`` is a ``functools.partial`` of a module-level function (``layerscope.engine.training.figures``);
renders ``build()`` to ``path`` (atomically) and answers one line per job on the original stdout:
``ok`` or ``err <one line>``. Anything the libraries print goes to stderr, never into the
answers. Ends when stdin closes (its parent exited). The pipe comes from the training process
that started it, so the pickles are its own.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from pathlib import Path

# Figures may wait; the training steps may not: on a machine whose cores torch keeps busy, the
# worker takes what they leave (its figures still arrive: the run flushes them at the end).
NICENESS = 10


def main() -> int:
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice (Windows)
        os.nice(NICENESS)
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # stray prints go to stderr
    jobs = sys.stdin.buffer
    from layerscope.engine.training.io import save_figure

    while True:
        header = jobs.read(8)
        if len(header) < 8:
            return 0
        payload = jobs.read(int.from_bytes(header, "big"))
        try:
            path, build = pickle.loads(payload)
            save_figure(build(), Path(path))
            answers.write(b"ok\n")
        except Exception as exc:  # noqa: BLE001 - a broken figure is the parent's to log
            text = str(exc).splitlines()[0][:300] if str(exc).strip() else ""
            answers.write(f"err {type(exc).__name__}: {text}\n".encode("utf-8", "replace"))


if __name__ == "__main__":
    sys.exit(main())
