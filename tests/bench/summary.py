"""The issue-14 summary table: one row per target, from the rows the benchmarks appended.

Run by ``make bench`` after every ``bench_*.py``:
``summary.py ROWS [PREVIOUS_ROWS]``. A target is "met" when this run met it, "met twice" when
the previous ``make bench`` (its rows kept as PREVIOUS_ROWS) met it too; a row no benchmark
reported says so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# (key, section, target) in the order.
TARGETS = [
    ("capture", "1", "capture (stats + histograms) <= 1.3x bare forward"),
    ("quant_compare", "1", "quant-compare ResNet-8 f32 vs int8, 100 digits <= 1.5x import floor"),
    ("app_first_frame", "2", "app first frame <= 1.2x hello-world Textual app"),
    ("app_reselect", "2", "re-select a seen 10M-element tensor <= 100 ms"),
    ("app_first_view", "2", "first view of a 10M-element tensor <= 300 ms"),
    ("app_filter", "2", "layer filter <= 50 ms per keystroke at 15,000 layers"),
    ("app_enter_tree", "2", "Enter on a 10,000-tensor model -> painted tree <= 500 ms"),
    ("training", "3", "training observability overhead <= 1.05x bare Trainer.fit"),
    ("big_open_sharded", "4", "open sharded safetensors <= 1.3x safe_open floor"),
    ("big_open_pt", "4", "open .pt state dict <= 1.5x safe_open floor"),
    ("big_open_rss", "4", "open: RSS growth <= 150 MB"),
    ("big_stats", "4", "bf16 204.8M-element statistics <= 3x one f32 aminmax"),
    ("big_stats_mem", "4", "bf16 statistics: extra memory <= 300 MB incl. the read"),
    ("gpu", "5", "CUDA path: capture benchmark and statistics tests on a GPU"),
]


def _read(path: str | None) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    if path and Path(path).is_file():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows[rec["key"]] = rec  # the last report of a key wins
    return rows


def table(rows: dict[str, dict], prev: dict[str, dict]) -> str:
    head = ("§", "target", "figure", "floor", "result")
    out = []
    for key, sec, target in TARGETS:
        r = rows.get(key)
        if r is None:
            out.append((sec, target, "no figure", "-", "not measured"))
            continue
        met = r.get("met")
        if met is None:
            state = "n/a"
        elif not met:
            state = "NOT met"
        else:
            state = "met twice" if prev.get(key, {}).get("met") else "met (once)"
        figure = r["figure"] + (f"; {r['note']}" if r.get("note") else "")
        out.append((sec, target, figure, r["floor"], state))
    widths = [min(max(len(str(c[i])) for c in [head, *out]), 72) for i in range(5)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for c in out:
        lines.append(" | ".join(str(v).ljust(w) for v, w in zip(c, widths, strict=True)))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    rows = _read(argv[0] if argv else None)
    prev = _read(argv[1] if len(argv) > 1 else None)
    loads = sorted({r["load"] for r in rows.values() if "load" in r})
    print("\n== summary (issue 14): target, figure, floor, met/not met")
    if loads:
        print(f"load average during the rows: {loads[0]}-{loads[-1]} on this machine")
    print(table(rows, prev))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
