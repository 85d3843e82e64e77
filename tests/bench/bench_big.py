"""Big checkpoints: open time, memory and statistics speed, as ratios to baselines from the same run.

Writes its own synthetic checkpoint (no downloads): about 4 GB of bfloat16 in 4 safetensors shards
with an index and a config.json, and the same weights as one ``.pt`` state dict. Then, each in a
fresh interpreter so that the resident set size is clean:

1. **open to layer tree**, for the shards and for the ``.pt``, against the floor: ``safe_open`` on
   every shard and list every tensor's shape. Goals: ≤ 1.3× (shards) and ≤ 1.5× (.pt) the
   floor's time, peak RSS growth ≤ 150 MB above the interpreter with torch imported.
2. **statistics of the largest tensor** (≥ 200 M elements, bf16) against one bare ``torch.aminmax``
   over the same values in float32. Goals: ≤ 3×, extra peak memory ≤ 300 MB.
3. **app**: Enter on the sharded model in the picker → layer tree shown, and the ``/`` filter's
   time per keystroke, on that model and on a 10,000-tensor one.

Run: ``.venv/bin/python tests/bench/bench_big.py [--dir /tmp/lsbig] [--small] [--keep]``
(not collected by pytest). ``--small`` writes a ~100 MB model to check the script itself.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchrows import row  # noqa: E402 - this folder's helper, importable once it is on the path

MB = 1 << 20
REPEATS = 3


# -- writing the checkpoint ------------------------------------------------------------------------
def layout(small: bool) -> dict[str, tuple[int, ...]]:
    """Llama-like tensor shapes: 30 layers of 2048 wide, a 100k×2048 embedding (204.8 M elements)."""
    hidden, inter, vocab, layers = (256, 704, 20_000, 4) if small else (2048, 5632, 100_000, 30)
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            shapes[f"{p}.self_attn.{proj}.weight"] = (hidden, hidden)
        shapes[f"{p}.mlp.gate_proj.weight"] = (inter, hidden)
        shapes[f"{p}.mlp.up_proj.weight"] = (inter, hidden)
        shapes[f"{p}.mlp.down_proj.weight"] = (hidden, inter)
        shapes[f"{p}.input_layernorm.weight"] = (hidden,)
        shapes[f"{p}.post_attention_layernorm.weight"] = (hidden,)
    shapes["model.norm.weight"] = (hidden,)
    shapes["lm_head.weight"] = (vocab - 1, hidden)  # one row short: the embedding stays the largest
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
              "intermediate_size": inter, "num_hidden_layers": layers, "vocab_size": vocab,
              "torch_dtype": "bfloat16"}  # fmt: skip
    return shapes, config  # type: ignore[return-value]


def write_checkpoint(folder: Path, small: bool, n_shards: int = 4) -> tuple[Path, Path]:
    """The sharded folder (index + config.json) and the same weights as one ``.pt``."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    shapes, config = layout(small)
    sharded = folder / "llama-bench"
    sharded.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    # Gaussian values (like trained weights) for every tensor, drawn from one pool to save time.
    pool = torch.randn(64 * MB // 2, generator=g).to(torch.bfloat16) * 0.02
    total = sum(_numel(s) for s in shapes.values()) * 2
    per_shard = total / n_shards
    names = list(shapes)
    groups: list[list[str]] = [[] for _ in range(n_shards)]
    acc = 0
    for name in names:
        groups[min(int(acc // per_shard), n_shards - 1)].append(name)
        acc += _numel(shapes[name]) * 2
    weight_map: dict[str, str] = {}
    for k, group in enumerate(groups):
        fname = f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors"
        tensors = {}
        for name in group:
            n = _numel(shapes[name])
            if name == "model.embed_tokens.weight":  # the one the statistics run on: fully random
                t = torch.randn(n, generator=g).to(torch.bfloat16) * 0.02
            else:
                t = pool.repeat(n // pool.numel() + 1)[:n].clone()
            tensors[name] = t.view(shapes[name])
        save_file(tensors, str(sharded / fname), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(group, fname))
        del tensors
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    (sharded / "config.json").write_text(json.dumps(config, indent=1))
    # The .pt: the same tensors, read back through the (memory-mapped) shards.
    state: dict[str, Any] = {}
    for shard in sorted(sharded.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as fh:
            for name in fh.keys():  # noqa: SIM118 - safe_open has no __iter__
                state[name] = fh.get_tensor(name)
    pt = folder / "llama-bench.pt"
    torch.save({n: state[n] for n in names}, pt)
    return sharded, pt


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def write_many(folder: Path, n: int = 10_000) -> Path:
    """A sharded folder with ``n`` tiny tensors in ``n / 4`` layers: a tree that must stay fluid."""
    import torch
    from safetensors.torch import save_file

    many = folder / "many-tensors"
    many.mkdir(parents=True, exist_ok=True)
    names = [f"model.layers.{i // 4}.block.{'abcd'[i % 4]}.weight" for i in range(n)]
    for k in range(2):
        part = names[k::2]
        save_file({m: torch.zeros(4) + i for i, m in enumerate(part)},
                  str(many / f"model-{k + 1:05d}-of-00002.safetensors"))  # fmt: skip
    return many


# -- children (each runs in a fresh interpreter) ----------------------------------------------------
def _mem() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0), so the next peak is this step's."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def child_open(path: str, how: str) -> dict[str, Any]:
    import torch  # noqa: F401 - the baseline is an interpreter with torch imported
    from safetensors import safe_open

    # Module imports are a once-per-process cost, not part of opening a model.
    from layerscope.engine.loaders import load_model, onnx_loader, safetensors_loader, torch_loader  # noqa: F401

    # So is the garbage collection the imports leave pending: the next few hundred allocations
    # trigger a collection over the objects they made (1-2 ms here), charged to whichever side
    # allocates first (the engine, or the floor when its own allocations tip it over).
    gc.collect()
    base = _mem()
    reset = _reset_peak()
    start = time.perf_counter()
    if how == "floor":
        shapes = {}
        for shard in sorted(Path(path).glob("*.safetensors")):
            with safe_open(str(shard), framework="pt") as fh:
                for name in fh.keys():  # noqa: SIM118
                    shapes[name] = fh.get_slice(name).get_shape()
        tensors, layers = len(shapes), None
    else:
        model = load_model(path)
        tensors, layers = sum(1 for _ in model.tensors()), len(model.layers)
    seconds = time.perf_counter() - start
    after = _mem()
    peak = after["VmHWM"] if reset else max(after["VmHWM"], after["VmRSS"])
    return {"seconds": seconds, "rss_growth": peak - base["VmRSS"], "tensors": tensors,
            "layers": layers, "peak_reset": reset}  # fmt: skip


def child_stats(path: str) -> dict[str, Any]:
    import torch

    from layerscope.engine import stats
    from layerscope.engine.inspect import tensor_stats
    from layerscope.engine.loaders import load_model

    model = load_model(path)
    ref = max(model.tensors(), key=lambda r: r.numel)
    values = ref.load()  # memory-mapped bf16
    f32 = values.float()  # the baseline's input; this also pages the bf16 values in
    baseline = min(_timed(torch.aminmax, f32) for _ in range(REPEATS))
    cpu = time.process_time()
    torch.aminmax(f32)
    baseline_cpu = time.process_time() - cpu
    del f32
    runs, extra = [], []
    for _ in range(REPEATS):
        rss = _mem()["VmRSS"]
        _reset_peak()
        runs.append(_timed(stats.compute, values))
        extra.append(_mem()["VmHWM"] - rss)
    cpu = time.process_time()
    s = stats.compute(values)
    stats_cpu = time.process_time() - cpu
    del values
    rss = _mem()["VmRSS"]
    _reset_peak()
    through_app_path = _timed(tensor_stats, ref)  # safe_open + read + statistics
    return {"tensor": ref.name, "numel": ref.numel, "dtype": ref.dtype, "aminmax_f32": baseline,
            "stats": min(runs), "extra_peak": max(extra), "tensor_stats": through_app_path,
            "tensor_stats_peak": _mem()["VmHWM"] - rss, "threads": torch.get_num_threads(),
            "min": s.min, "max": s.max, "nan": s.nan, "aminmax_cpu": baseline_cpu,
            "stats_cpu": stats_cpu}  # fmt: skip


def _timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def child_app(folder: str, target: str, needle: str, preimport: bool) -> dict[str, Any]:
    import asyncio

    if preimport:
        import torch  # noqa: F401 - measures the tree, not torch's first import
        from safetensors import safe_open  # noqa: F401

    from textual import events

    from layerscope.tui.app import LayerscopeApp
    from layerscope.tui.widgets.layer_tree import LayerTree
    from layerscope.tui.widgets.model_picker import ModelPicker

    async def painted_now(pilot: Any) -> None:
        """Every message already queued handled, then the screen painted - no idle wait."""
        await pilot._wait_for_screen()
        pilot.app.screen._on_timer_update()

    async def run() -> dict[str, Any]:
        app = LayerscopeApp(Path(folder), show_timings=False)
        async with app.run_test(size=(120, 40)) as pilot:
            picker = app.screen.query_one(ModelPicker)
            while not any(o.id == target for o in picker.options if o.id):
                await pilot.pause(0.01)
            picker.highlighted = next(i for i, o in enumerate(picker.options) if o.id == target)
            picker.focus()
            await pilot.pause()
            tree = app.screen.query_one(LayerTree)
            # Enter's action, without pilot.press: that waits for the app to go idle, which
            # includes the first tensor's statistics, started as soon as the tree is shown.
            start = time.perf_counter()
            picker.action_select()
            while not (app.screen.model is not None and tree.root.children and not tree.loading):
                await asyncio.sleep(0.002)
            opened = time.perf_counter() - start
            await painted_now(pilot)
            painted = time.perf_counter() - start
            # pilot.pause() waits until the process idles: its 20 ms naps, and the first
            # tensor's statistics (a worker thread's CPU counts too) - kept as a second figure.
            await pilot.pause()
            idle = time.perf_counter() - start
            await app.workers.wait_for_complete()  # the first tensor's statistics
            await pilot.pause()
            await pilot.press("slash")
            keys = []  # pilot.press + pause per key: includes Textual's idle detection
            for i, ch in enumerate(needle):
                start = time.perf_counter()
                await pilot.press(ch)
                while tree.filter_text != needle[: i + 1]:
                    await pilot.pause(0.001)
                await pilot.pause()
                keys.append(time.perf_counter() - start)
            floor = []  # the same, for a key that changes no filter (cursor left): the harness
            for _ in needle:
                start = time.perf_counter()
                await pilot.press("left")
                await pilot.pause()
                floor.append(time.perf_counter() - start)
            await pilot.press("end")
            work = []  # key event → handled → painted, no idle naps: erase, then retype
            for text in [needle[:i] for i in range(len(needle) - 1, -1, -1)] + [
                needle[: i + 1] for i in range(len(needle))
            ]:
                start = time.perf_counter()
                key = "backspace" if len(text) < len(tree.filter_text) else text[-1]
                app._driver.send_message(events.Key(key, None if len(key) > 1 else key))
                while tree.filter_text != text:
                    await asyncio.sleep(0)
                await painted_now(pilot)
                work.append(time.perf_counter() - start)
            matches = sum(1 for n in app.screen.model.layers if n and needle in n.lower())
            layers = len(app.screen.model.layers) - 1
        return {"open_to_tree": opened, "painted": painted, "idle": idle, "filter_keys": keys,
                "key_floor": floor, "key_work": work, "matches": matches,
                "layers": layers}  # fmt: skip

    return asyncio.run(run())


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the run ----------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/layerscope-bench-big"))
    ap.add_argument("--small", action="store_true", help="a ~100 MB model, to test the script")
    ap.add_argument("--keep", action="store_true", default=bool(os.environ.get("LAYERSCOPE_BENCH_KEEP")),
                    help="keep the written files for another run (or LAYERSCOPE_BENCH_KEEP=1)")  # fmt: skip
    ap.add_argument("--skip-app", action="store_true")
    ap.add_argument(
        "--app-only",
        action="store_true",
        help="only section 3's 10,000-tensor row (writes no big checkpoint)",
    )
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"open": child_open, "stats": child_stats, "app": child_app}[kind]
        if kind == "app":
            rest = [*rest[:3], rest[3] == "1"]
        print(json.dumps(fn(*rest)))
        return 0

    folder: Path = args.dir
    if args.app_only:
        return app_rows(folder, [("10,000 tensors", write_many(folder), "block.c", "1")], {})
    sharded, pt = folder / "llama-bench", folder / "llama-bench.pt"
    if not (pt.exists() and (sharded / "model.safetensors.index.json").exists()):
        start = time.perf_counter()
        sharded, pt = write_checkpoint(folder, args.small)
        print(f"wrote {folder} in {time.perf_counter() - start:.0f} s")
    shard_bytes = sum(p.stat().st_size for p in sharded.glob("*.safetensors"))
    print(f"checkpoint: 4 shards, {shard_bytes / 1e9:.2f} GB; .pt {pt.stat().st_size / 1e9:.2f} GB;"
          f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip

    print("\n1. open to layer tree (median of 3 fresh interpreters; RSS above torch imported)")
    floor = _median_runs("open", str(sharded), "floor")
    print(f"   floor (safe_open every shard, list shapes): {floor['seconds'] * 1e3:8.1f} ms, "
          f"RSS +{floor['rss_growth'] / MB:.0f} MB")  # fmt: skip
    rss = []
    for label, path, key, goal in (("sharded safetensors", sharded, "big_open_sharded", 1.3),
                                   (".pt state dict", pt, "big_open_pt", 1.5)):  # fmt: skip
        r = _median_runs("open", str(path), "engine")
        ratio = r["seconds"] / floor["seconds"]
        rss.append(r["rss_growth"] / MB)
        print(f"   {label:<20} {r['seconds'] * 1e3:8.1f} ms = {ratio:4.2f}× floor (goal ≤ {goal}), "
              f"RSS +{r['rss_growth'] / MB:.0f} MB (goal ≤ 150), {r['tensors']} tensors, "
              f"{r['layers']} layers")  # fmt: skip
        row(key, f"{ratio:.2f}x floor ({r['seconds'] * 1e3:.0f} ms, median of {REPEATS})",
            f"safe_open every shard {floor['seconds'] * 1e3:.0f} ms", ratio <= goal)  # fmt: skip
    row("big_open_rss", f"+{max(rss):.0f} MB (sharded +{rss[0]:.0f}, .pt +{rss[1]:.0f})",
        f"safe_open floor +{floor['rss_growth'] / MB:.0f} MB", max(rss) <= 150)  # fmt: skip

    print("\n2. statistics of the largest tensor (best of 3; peak RSS above the tensor's pages)")
    s = _child("stats", str(sharded))
    ratio = s["stats"] / s["aminmax_f32"]
    print(f"   {s['tensor']} ({s['numel'] / 1e6:.1f} M {s['dtype']}), torch threads {s['threads']}")
    print(f"   bare torch.aminmax, float32: {s['aminmax_f32'] * 1e3:8.1f} ms")
    print(f"   layerscope.engine.stats.compute:        {s['stats'] * 1e3:8.1f} ms = {ratio:.2f}× (goal ≤ 3), "
          f"extra peak {s['extra_peak'] / MB:.0f} MB (goal ≤ 300)")  # fmt: skip
    print(f"   CPU time (all threads): aminmax {s['aminmax_cpu'] * 1e3:.0f} ms, stats "
          f"{s['stats_cpu'] * 1e3:.0f} ms = {s['stats_cpu'] / s['aminmax_cpu']:.2f}×")  # fmt: skip
    print(f"   tensor_stats (read + stats): {s['tensor_stats'] * 1e3:8.1f} ms, "
          f"peak +{s['tensor_stats_peak'] / MB:.0f} MB")  # fmt: skip
    row("big_stats", f"{ratio:.2f}x ({s['stats'] * 1e3:.0f} ms; CPU "
        f"{s['stats_cpu'] / s['aminmax_cpu']:.2f}x)", f"f32 aminmax {s['aminmax_f32'] * 1e3:.0f} ms "
        f"({s['threads']} threads)", ratio <= 3)  # fmt: skip
    peak = s["tensor_stats_peak"] / MB
    row("big_stats_mem", f"+{peak:.0f} MB read + statistics (statistics alone "
        f"+{s['extra_peak'] / MB:.0f} MB)", f"bf16 values {s['numel'] * 2 / MB:.0f} MB",
        peak <= 300)  # fmt: skip

    if args.skip_app:
        print("\n3. app: skipped (--skip-app)")
    else:
        many = write_many(folder)
        app_rows(folder, [("sharded, cold", sharded, "mlp", "0"), ("sharded", sharded, "mlp", "1"),
                          ("10,000 tensors", many, "block.c", "1")], floor)  # fmt: skip
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def app_rows(folder: Path, cases: list[tuple[str, Path, str, str]], floor: dict[str, Any]) -> int:
    """Section 3: each case (label, model, filter needle, preimport torch) in a fresh app."""
    print("\n3. app (Textual pilot, headless 120×40; torch imported beforehand unless 'cold')")
    for label, target, needle, pre in cases:
        a = _child("app", str(folder), str(target), needle, pre)
        keys = ", ".join(f"{k * 1e3:.0f}" for k in a["filter_keys"])
        ratio = a["open_to_tree"] / floor["seconds"] if "sharded" in label else None
        vs = f" = {ratio:.1f}× floor" if ratio else ""
        print(f"   {label:<15} Enter → tree {a['open_to_tree'] * 1e3:7.0f} ms{vs} "
              f"(painted {a['painted'] * 1e3:.0f} ms); "
              f"filter {needle!r} per key: {keys} ms ({a['matches']:,} of "
              f"{a['layers']:,} layers match)")  # fmt: skip
        work = ", ".join(f"{k * 1e3:.0f}" for k in a["key_work"])
        floor_ms = statistics.median(a["key_floor"]) * 1e3
        print(f"   {'':<15} idle after Enter {a['idle'] * 1e3:.0f} ms (with the first "
              f"statistics); pilot floor per key (cursor left) {floor_ms:.0f} ms")  # fmt: skip
        print(f"   {'':<15} per key, event → painted (erase, then retype): {work} ms")
        if label == "10,000 tensors":
            worst = max(a["key_work"])
            row("app_enter_tree", f"{a['painted'] * 1e3:.0f} ms painted (tree "
                f"{a['open_to_tree'] * 1e3:.0f} ms)", "-", a["painted"] <= 0.5)  # fmt: skip
            row("app_filter", f"{statistics.median(a['key_work']) * 1e3:.0f} ms median, "
                f"{worst * 1e3:.0f} ms worst per key at {a['layers']:,} layers (pilot.press "
                f"{statistics.median(a['filter_keys']) * 1e3:.0f} ms, floor {floor_ms:.0f})",
                "-", worst <= 0.05)  # fmt: skip
    return 0


def _median_runs(*args: str) -> dict[str, Any]:
    runs = [_child(*args) for _ in range(REPEATS)]
    out = dict(runs[0])
    for key in ("seconds", "rss_growth"):
        out[key] = statistics.median(r[key] for r in runs)
    return out


if __name__ == "__main__":
    sys.exit(main())
