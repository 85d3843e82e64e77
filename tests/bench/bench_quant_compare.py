"""quant-compare's wall time against the import floor (issue 14, section 1).

ResNet-8 float vs int8 (the demo's ONNX pair in ``models/``, made by ``make models``) over the
first 100 digits images, as ``layerscope quant-compare`` in a fresh interpreter, against a fresh
interpreter that only imports torch and onnxruntime: what any run of it must pay. The two
alternate, so that load from other processes hits both alike. Goal: ≤ 1.5× the floor.

    .venv/bin/python tests/bench/bench_quant_compare.py [--repeat 3] [--models models]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchrows import row  # noqa: E402 - this folder's helper


def _wall(args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{' '.join(args[1:4])} failed: {proc.stderr.read().decode()[-300:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    args = ap.parse_args()
    f32, int8 = args.models / "resnet8.onnx", args.models / "resnet8_int8.onnx"
    if not (f32.is_file() and int8.is_file()):
        print(f"no {f32} / {int8}: run `make models` first")
        row("quant_compare", "not measured: no demo models (make models)", "-", None)
        return 0
    floor_cmd = [sys.executable, "-c", "import torch, onnxruntime"]
    cmd = [sys.executable, "-m", "layerscope", "quant-compare", str(f32), str(int8),
           "--input", "digits:0-99"]  # fmt: skip
    _wall(cmd)  # warm the page cache and the compiled kernels' disk cache
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    floor, runs = [], []
    for _ in range(args.repeat):
        floor.append(_wall(floor_cmd))
        runs.append(_wall(cmd))
    fw, rw = statistics.median(w for w, _ in floor), statistics.median(w for w, _ in runs)
    fc, rc = statistics.median(c for _, c in floor), statistics.median(c for _, c in runs)
    print(f"import torch + onnxruntime: {fw:.2f} s wall, {fc:.2f} s CPU (median of {args.repeat})")
    print(f"quant-compare, 100 digits:  {rw:.2f} s wall, {rc:.2f} s CPU")
    print(f"ratio: {rw / fw:.2f}x wall, {rc / fc:.2f}x CPU (goal ≤ 1.5x)")
    row("quant_compare", f"{rw / fw:.2f}x ({rw:.1f} s; CPU {rc / fc:.2f}x)",
        f"import torch+onnxruntime {fw:.1f} s", rw / fw <= 1.5)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
