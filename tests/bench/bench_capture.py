"""Capture benchmark: layerscope's hook capture against a bare forward pass and other methods.

Run:  .venv/bin/python tests/bench/bench_capture.py [--repeat 15]

A ResNet-style CNN (33 leaf modules), batch 8 × 3×64×64, CPU, 1 thread (issue 14's setting;
``--threads``). Reported as ratios to a bare forward pass measured in the same run (median and best
of interleaved repeats):

* the one-read floor: a hook on every module that reads its output once (``o.sum()``), the memory
  cost of looking at every activation at all;
* layerscope ``capture`` in stats mode: every module (leaves and containers) hooked, exact
  statistics and a 50-bin histogram per tensor (goal: ≤ 1.3×, ``[summary] capture``);
* naive torch statistics per hook: aminmax, std_mean, zeros, isfinite and histc, one pass each;
* the naive method: one forward pass per module, hooking only that module (same statistics code,
  so the difference is the re-running);
* TorchLens ``trace`` (all layers saved) when ``torchlens`` is installed: measured in a child process
  with its own bare baseline, because TorchLens wraps torch functions for the rest of the process.

Peak memory: each method runs once in a fresh child process; we report the rise of the process's
peak resident set (``VmHWM`` from /proc, reset through /proc/self/clear_refs just before the run)
above its resident set at that moment. tracemalloc cannot see torch's allocations; RSS sees all of
them (torch CPU tensors, oneDNN scratch, our workspace, Python objects).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

THREADS = 1  # issue 14's setting; --threads overrides
BATCH = (8, 3, 64, 64)


def _set_threads(n: int) -> None:
    global THREADS
    THREADS = n


def build_model() -> Any:
    import torch
    from torch import nn

    from layerscope.engine.zoo import BasicBlock

    class BenchNet(nn.Module):
        """Stem + four stages of one residual block each (32→256 channels) + head: 33 leaves."""

        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()
            )
            self.stage1 = nn.Sequential(BasicBlock(32, 32, 1))
            self.stage2 = nn.Sequential(BasicBlock(32, 64, 2))
            self.stage3 = nn.Sequential(BasicBlock(64, 128, 2))
            self.stage4 = nn.Sequential(BasicBlock(128, 256, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(256, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stage4(self.stage3(self.stage2(self.stage1(self.stem(x)))))
            return self.fc(self.flatten(self.pool(x)))

    torch.manual_seed(0)
    return BenchNet().eval()


def _setup() -> tuple[Any, Any]:
    import torch

    torch.set_num_threads(THREADS)
    model = build_model()
    x = torch.randn(*BATCH, generator=torch.Generator().manual_seed(0))
    return model, x


def bare(model: Any, x: Any) -> None:
    import torch

    with torch.no_grad():
        model(x)


def layerscope_capture(model: Any, x: Any) -> int:
    from layerscope.engine.capture import capture

    return len(capture(model, x).activations)


def _hooked(model: Any, x: Any, fn: Any) -> None:
    import torch

    def hook(_m: Any, _a: Any, o: Any) -> None:  # returns None: the output stays as it was
        fn(o)

    hs = [m.register_forward_hook(hook) for _, m in model.named_modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hs:
            h.remove()


def one_read(model: Any, x: Any) -> None:
    """The floor: every module's output read once."""
    _hooked(model, x, lambda o: o.sum())


def torch_stats(model: Any, x: Any) -> None:
    """Statistics the obvious way: one torch kernel (one read) per statistic."""
    import torch

    def each(o: Any) -> None:
        torch.aminmax(o)
        torch.std_mean(o)
        (o == 0).sum()
        torch.isfinite(o).all()
        torch.histc(o, 50)

    _hooked(model, x, each)


def naive(model: Any, x: Any) -> int:
    """One forward pass per module, hooking that module alone."""
    import torch

    from layerscope.engine.capture import fast_stats as fs

    done = 0
    for _, mod in model.named_modules():
        out: list[Any] = []
        h = mod.register_forward_hook(lambda _m, _a, o, out=out: out.append(fs.stats(o)))
        try:
            with torch.no_grad():
                model(x)
        finally:
            h.remove()
        done += len(out)
    return done


def torchlens_trace(model: Any, x: Any) -> int:
    import torchlens as tl

    trace = tl.trace(model, x)
    return len(trace.layer_labels) if hasattr(trace, "layer_labels") else 0


def _times(fn: Any, model: Any, x: Any, repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock seconds per call; CPU seconds of this process appended to ``cpu`` when given."""
    out = []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn(model, x)
        out.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return out


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0


def child(method: str, what: str, repeat: int) -> None:
    """Run in a fresh process: peak memory of one call, or bare vs TorchLens timings."""
    model, x = _setup()
    fn = {"bare": bare, "capture": layerscope_capture, "naive": naive}.get(method)
    if what == "memory":
        if method == "torchlens":
            import torchlens  # noqa: F401 - import cost is not the measured run's

            fn = torchlens_trace
        if method == "capture":  # numba's runtime and the cached kernels: once per process
            rss0 = _status("VmRSS:")
            fn(model, x[:1])
            print(f"kernels loaded: +{(_status('VmRSS:') - rss0) / 2**20:.0f} MiB", file=sys.stderr)
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        rss = _status("VmRSS:")
        fn(model, x)
        print(json.dumps({"peak_rise": _status("VmHWM:") - rss}))
        return
    # timing in a child: bare first, then TorchLens (which wraps torch functions from then on)
    bare(model, x)
    cb: list[float] = []
    ct: list[float] = []
    base = _times(bare, model, x, repeat, cb)
    torchlens_trace(model, x)  # first call wraps torch: warm-up
    tl = _times(torchlens_trace, model, x, max(3, repeat // 3), ct)
    print(json.dumps({"bare": base, "torchlens": tl, "cpu_bare": cb, "cpu_torchlens": ct}))


def _run_child(method: str, what: str, repeat: int) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--child", method, "--what", what, "--repeat", str(repeat),
           "--threads", str(THREADS)]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        print(
            f"  ({method} {what} failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode})"
        )
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--child")
    ap.add_argument("--what", default="memory")
    ap.add_argument("--threads", type=int, default=THREADS)
    args = ap.parse_args()
    _set_threads(args.threads)
    if args.child:
        child(args.child, args.what, args.repeat)
        return
    import torch

    model, x = _setup()
    leaves = sum(1 for m in model.modules() if not list(m.children()))
    import os

    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes share them)"
    )
    print(f"model: {leaves} leaf modules, {sum(1 for _ in model.modules())} modules; input {BATCH}; "
          f"CPU, {THREADS} threads; torch {torch.__version__}")  # fmt: skip
    n_tensors = layerscope_capture(model, x)  # first call: loads the compiled kernels
    n_naive = naive(model, x)
    bare(model, x)
    one_read(model, x)
    torch_stats(model, x)
    keys = ("bare", "one_read", "capture", "torch_stats", "naive")
    times: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(args.repeat):  # interleaved, so load from other processes hits all alike
        times["bare"] += _times(bare, model, x, 1, cpu["bare"])
        times["one_read"] += _times(one_read, model, x, 1, cpu["one_read"])
        times["capture"] += _times(layerscope_capture, model, x, 1, cpu["capture"])
        times["torch_stats"] += _times(torch_stats, model, x, 1, cpu["torch_stats"])
        if i % 5 == 0:
            times["naive"] += _times(naive, model, x, 1, cpu["naive"])
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"\n{'method':34s} {'median ms':>10s} {'ratio':>7s} {'best ms':>9s} {'ratio':>7s} {'CPU ms':>8s} {'ratio':>7s}"
    )
    rows = [("bare", "bare forward"), ("one_read", "floor: hooks read each output once"),
            ("capture", f"layerscope capture ({n_tensors} tensors)"),
            ("torch_stats", "torch statistics, 1 pass each"),
            ("naive", f"naive, 1 forward per module ({n_naive})")]  # fmt: skip
    for k, label in rows:
        print(f"{label:34s} {med[k] * 1e3:10.1f} {med[k] / med['bare']:6.2f}× {best[k] * 1e3:9.1f} "
              f"{best[k] / best['bare']:6.2f}× {cmed[k] * 1e3:8.1f} {cmed[k] / cmed['bare']:6.2f}×")  # fmt: skip
    # Each round's capture over that same round's bare: load from other processes that comes and
    # goes between rounds cancels out, where the ratio of the two medians keeps it.
    paired = [c / b for c, b in zip(times["capture"], times["bare"], strict=True)]
    cpaired = [c / b for c, b in zip(cpu["capture"], cpu["bare"], strict=True)]
    print(f"{'capture / bare, paired by round':34s} {statistics.median(paired):17.2f}× "
          f"(median of rounds; CPU {statistics.median(cpaired):.2f}×)")  # fmt: skip
    _summary_rows(med, cmed, args.repeat)
    try:
        import torchlens  # noqa: F401

        tl = _run_child("torchlens", "time", args.repeat)
        if tl:
            m_b, m_t = statistics.median(tl["bare"]), statistics.median(tl["torchlens"])
            b_b, b_t = min(tl["bare"]), min(tl["torchlens"])
            c_b, c_t = statistics.median(tl["cpu_bare"]), statistics.median(tl["cpu_torchlens"])
            print(f"{'TorchLens trace (child process)':34s} {m_t * 1e3:10.1f} {m_t / m_b:6.2f}× {b_t * 1e3:9.1f} "
                  f"{b_t / b_b:6.2f}× {c_t * 1e3:8.1f} {c_t / c_b:6.2f}×   (its bare: {m_b * 1e3:.1f} ms median)")  # fmt: skip
    except ImportError:
        print("TorchLens: not installed (pip install torchlens to compare)")
    print("CPU ms: median CPU time of this process per call; unlike wall-clock it leaves out time spent"
          " waiting for a CPU held by other processes (it includes OpenMP threads spinning at barriers)")  # fmt: skip
    print("\npeak memory rise during one call (fresh process each, VmHWM − RSS before):")
    methods = ["bare", "capture", "naive"]
    try:
        import torchlens  # noqa: F401, F811

        methods.append("torchlens")
    except ImportError:
        pass
    base = None
    for m in methods:
        r = _run_child(m, "memory", 1)
        if r is None:
            continue
        base = base or r["peak_rise"]
        print(f"  {m:10s} {r['peak_rise'] / 2**20:8.1f} MiB   {r['peak_rise'] / base:5.2f}× bare")


def _summary_rows(med: dict[str, float], cmed: dict[str, float], repeat: int) -> None:
    from benchrows import row

    ratio, floor = med["capture"] / med["bare"], med["one_read"] / med["bare"]
    cpu = cmed["capture"] / cmed["bare"]
    row("capture", f"{ratio:.2f}x bare (median of {repeat}; CPU {cpu:.2f}x)",
        f"one read {floor:.2f}x; torch stats {med['torch_stats'] / med['bare']:.2f}x",
        ratio <= 1.3)  # fmt: skip
    _gpu_row(repeat)


def _gpu_row(repeat: int) -> None:
    """Section 5: the same comparison on CUDA when there is a GPU; says so when there is none."""
    import torch
    from benchrows import row

    if not torch.cuda.is_available():
        row("gpu", "not run: torch sees no CUDA device here", "-", None)
        return
    model, x = build_model().cuda(), torch.randn(*BATCH, device="cuda")
    sync = torch.cuda.synchronize
    t: dict[str, list[float]] = {"bare": [], "capture": [], "one_read": []}
    fns = {"bare": bare, "capture": layerscope_capture, "one_read": one_read}
    for fn in fns.values():
        fn(model, x)
    for _ in range(repeat):
        for k, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn(model, x)
            sync()
            t[k].append(time.perf_counter() - start)
    b = statistics.median(t["bare"])
    print(f"CUDA ({torch.cuda.get_device_name()}): bare {b * 1e3:.1f} ms, capture "
          f"{statistics.median(t['capture']) / b:.2f}x, one read {statistics.median(t['one_read']) / b:.2f}x")  # fmt: skip
    row("gpu", f"capture {statistics.median(t['capture']) / b:.2f}x bare on "
        f"{torch.cuda.get_device_name()}", f"one read {statistics.median(t['one_read']) / b:.2f}x",
        None)  # fmt: skip


if __name__ == "__main__":
    main()
