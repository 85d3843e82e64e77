"""Summary rows: each benchmark reports its issue-14 targets here; ``summary.py`` prints the table.

``row(key, figure, floor, met)`` prints the row and, when ``$LAYERSCOPE_BENCH_ROWS`` names a file
(``make bench`` sets it), appends it there as one JSON line. Keys are those of ``summary.TARGETS``.
"""

from __future__ import annotations

import json
import os
import time


def row(key: str, figure: str, floor: str, met: bool | None, note: str = "") -> None:
    """One target's result: ``figure`` as measured, ``floor`` what bounds it, ``met`` (None: n/a)."""
    rec = {"key": key, "figure": figure, "floor": floor, "met": met, "note": note,
           "load": round(os.getloadavg()[0], 1), "time": time.time()}  # fmt: skip
    state = {True: "met", False: "NOT met", None: "n/a"}[met]
    print(f"  [summary] {key}: {figure} (floor: {floor}) {state}{' - ' + note if note else ''}")
    path = os.environ.get("LAYERSCOPE_BENCH_ROWS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
