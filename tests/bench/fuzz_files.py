"""Fuzz figure: many damaged model files through every verb, each file in its own subprocess.

    .venv/bin/python tests/bench/fuzz_files.py --cases 1000 [--jobs 2] [--timeout 60]

The same seeded generator as ``tests/hardening/test_fuzz_files.py`` (``hostile_fuzz``), over more
cases. Each damaged file gets one fresh interpreter that runs ``inspect``, ``inspect --summary``,
``inspect --layer`` and (runnable formats) ``capture`` through ``layerscope.engine.cli.main`` in turn, so a
crash or a hang is caught and pinned on the verb that was running, and one torch import serves
several runs. Prints files, runs, tracebacks, hangs, crashes, peak RSS of the workers and each
distinct failure. Not a test (pytest ignores tests/bench); exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "hardening")]

from hostile_fuzz import (  # noqa: E402
    SEED,
    Mutation,
    Seed,
    argv_for,
    build_seeds,
    materialize,
    plan,
    verbs_for,
)


def worker(spec: str) -> int:
    """Run every verb on one damaged file; one JSON line per event on stdout."""
    from layerscope.engine.cli import main
    from layerscope.engine.loaders import clear_cache

    job = json.loads(spec)
    seed = Seed(job["fmt"], Path(job["seed_path"]), job["layer"])
    for verb in verbs_for(seed.fmt):
        print(json.dumps({"start": verb}), flush=True)
        clear_cache()
        err = io.StringIO()
        rec: dict = {"verb": verb}
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rec["rc"] = main(argv_for(verb, seed, Path(job["path"]), Path(job["out"])))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - counting what escapes is the point
            frames = traceback.extract_tb(exc.__traceback__)
            ours = [f for f in frames if "/engine/" in f.filename] or frames
            rec.update(
                rc=None,
                exc=type(exc).__name__,
                msg=(str(exc).splitlines() or [""])[0][:200],
                where=f"{Path(ours[-1].filename).name}:{ours[-1].lineno}",
            )
        text = err.getvalue().strip()
        rec["stderr_lines"] = len(text.splitlines())
        rec["traceback_text"] = "Traceback (most recent call last)" in text
        if rec["stderr_lines"] > 1 and "exc" not in rec:
            rec["msg"] = text.splitlines()[0][:200]
        print(json.dumps(rec), flush=True)
    return 0


def run_one(m: Mutation, seeds: dict[str, Seed], work: Path, timeout: float) -> list[dict]:
    path = materialize(m, seeds, work / "files")
    seed = seeds[m.fmt]
    job = {"fmt": m.fmt, "seed_path": str(seed.path), "layer": seed.layer, "path": str(path),
           "out": str(work / "out" / m.id)}  # fmt: skip
    verbs = verbs_for(m.fmt)
    cmd = [sys.executable, __file__, "--worker", json.dumps(job)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              timeout=timeout * len(verbs))  # fmt: skip
        out, rc, hung = proc.stdout, proc.returncode, False
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rc, hung = None, True
    records, running = [], None
    for line in out.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue  # a verb's own stdout that escaped the redirect (C code)
        if "start" in ev:
            running = ev["start"]
        elif isinstance(ev, dict) and "verb" in ev:
            records.append(ev)
            running = None
    if running is None and (hung or rc != 0):  # died outside any verb (e.g. at import)
        running = "worker"
    if running is not None:  # the worker died or hung inside this verb
        records.append({"verb": running, "rc": None, "hang": hung, "crash": None if hung else rc})
    for r in records:
        r["id"], r["fmt"], r["kind"] = m.id, m.fmt, m.kind
    return records


def failure(r: dict) -> str | None:
    if r.get("hang"):
        return "hang"
    if r.get("crash") is not None:
        return f"crash (exit {r['crash']})"
    if "exc" in r:
        return f"{r['exc']}: {r['msg']} (at {r['where']})"
    if r.get("traceback_text"):
        return "traceback on stderr"
    if r["rc"] not in (0, 2):
        return f"exit {r['rc']}"
    if r["stderr_lines"] > 1:
        return f"{r['stderr_lines']} stderr lines: {r.get('msg', '')}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000, help="damaged files (default 1000)")
    ap.add_argument("--seed", type=int, default=SEED, help=f"plan seed (default {SEED})")
    ap.add_argument("--timeout", type=float, default=60, help="seconds per run (default 60)")
    ap.add_argument("--jobs", type=int, default=1, help="workers at once (default 1)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    # Progress lines are not errors: keep stderr to the one line a refusal prints (workers inherit).
    os.environ["LAYERSCOPE_PROGRESS_EVERY"] = "1e9"
    if args.worker:
        return worker(args.worker)

    mutations = plan(args.cases, args.seed)
    with tempfile.TemporaryDirectory(prefix="layerscope-fuzz-") as tmp:
        work = Path(tmp)
        seeds = build_seeds(work / "seeds")
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(lambda m: run_one(m, seeds, work, args.timeout), mutations))
    records = [r for rs in results for r in rs]
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB, largest child
    failures = Counter()
    examples: dict[str, dict] = {}
    for r in records:
        f = failure(r)
        if f is not None:
            key = f"{r['fmt']} · {r['verb']} · {f}"
            failures[key] += 1
            examples.setdefault(key, r)
    rcs = Counter(str(r["rc"]) for r in records)
    tracebacks = sum(1 for r in records if "exc" in r or r.get("traceback_text"))
    print(f"files: {len(mutations)} (seed {args.seed})")
    print(f"runs: {len(records)} · exit codes {dict(sorted(rcs.items()))}")
    print(f"tracebacks: {tracebacks}")
    print(f"hangs: {sum(1 for r in records if r.get('hang'))} (over {args.timeout:g} s per run)")
    print(f"crashes: {sum(1 for r in records if r.get('crash') is not None)}")
    print(f"multi-line stderr: {sum(1 for r in records if r.get('stderr_lines', 0) > 1)}")
    print(f"peak RSS of a worker: {peak_kb / 1024:.0f} MB")
    if failures:
        print(f"\n{len(failures)} distinct failures (count, format · verb · what; first file):")
        for key, n in failures.most_common():
            print(f"  {n:4d}  {key}  [{examples[key]['id']}]")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
