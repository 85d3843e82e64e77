"""TUI speed a user feels, printed as figures next to baselines measured in the same run.

1. Start-up: process start → first frame (the picker is on screen), in a real pseudo-terminal,
   against ``python -c pass`` and ``python -c "import torch"``. Goal: ≤ 0.5 s.
2. Re-selecting a layer already viewed, in a model whose tensors have 10 million elements:
   key press → histogram and panel redrawn from cached statistics. Goal: ≤ 100 ms.

Run: ``.venv/bin/python tests/bench/bench_tui.py`` (not part of the test suite);
``--start-only`` runs the start-up part alone.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5


def time_process(args: list[str]) -> float:
    """Seconds from spawn to exit."""
    return run_process(args)[0]


def run_process(args: list[str]) -> tuple[float, float]:
    """Wall seconds from spawn to exit, and the CPU seconds the process used."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"{args} failed")
    return wall, usage.ru_utime + usage.ru_stime


HELLO = """from textual.app import App
from textual.widgets import Footer, Header, Static


class Hello(App):
    def compose(self):
        yield Header()
        yield Static("Hello, world")
        yield Footer()


Hello().run()
"""


def time_first_frame(
    folder: Path, marker: bytes = b"Models", args: list[str] | None = None
) -> tuple[float, float]:
    """Seconds from spawn until the app has painted ``marker`` on its pseudo-terminal, and the
    CPU seconds the app used by then (wall time suffers when other work shares the cores)."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    env = dict(os.environ, COLUMNS="120", LINES="40", TERM="xterm-256color")
    start = time.perf_counter()
    proc = subprocess.Popen(
        args or [sys.executable, "-m", "layerscope", str(folder)],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True,
    )  # fmt: skip
    seen = b""
    try:
        while time.perf_counter() - start < 20:
            ready, _, _ = select.select([master], [], [], 0.01)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
                if marker in seen:
                    wall = time.perf_counter() - start
                    proc.kill()
                    _, _, usage = os.wait4(proc.pid, 0)
                    return wall, usage.ru_utime + usage.ru_stime
        raise RuntimeError("no first frame within 20 s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)


def bench_start() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "empty.onnx").write_bytes(b"")  # an entry for the picker to list
        py_pass = [time_process([sys.executable, "-c", "pass"]) for _ in range(RUNS)]
        torch = [time_process([sys.executable, "-c", "import torch"]) for _ in range(2)]
        textual = [run_process([sys.executable, "-c", "import textual.app"]) for _ in range(RUNS)]
        hello_py = folder / "hello_textual.py"
        hello_py.write_text(HELLO)
        runs, hello = [], []
        for _ in range(RUNS):  # interleaved with the floor: a Textual hello-world, started alike
            runs.append(time_first_frame(folder))
            hello.append(time_first_frame(folder, b"Hello", [sys.executable, str(hello_py)])[0])
    frame, cpu = [w for w, _ in runs], [c for _, c in runs]
    base, first = statistics.median(py_pass), statistics.median(frame)
    print(f"load average            {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"python -c pass          {base:.3f} s (median of {RUNS})")
    print(f"python -c 'import torch' {statistics.median(torch):.3f} s")
    print(
        f"python -c 'import textual.app' {statistics.median(w for w, _ in textual):.3f} s wall, "
        f"{statistics.median(c for _, c in textual):.3f} s CPU (the floor for any Textual app)"
    )
    print(f"first frame             {first:.3f} s wall (median of {RUNS}; min {min(frame):.3f} s)")
    print(f"                        {statistics.median(cpu):.3f} s CPU used by the app by then")
    print(f"  = {first / base:.1f}× interpreter start; {first - base:.3f} s over it; goal ≤ 0.5 s")
    floor = statistics.median(hello)
    print(f"hello-world Textual app {floor:.3f} s to its first frame (Header, Static, Footer)")
    print(f"  = first frame {first / floor:.2f}× the hello-world app; goal ≤ 1.2×")
    from benchrows import row

    row("app_first_frame", f"{first / floor:.2f}x ({first:.2f} s, median of {RUNS})",
        f"hello-world Textual app {floor:.2f} s", first / floor <= 1.2)  # fmt: skip


async def bench_reselect(folder: Path) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "tui")]  # this checkout's tui, not another
    from textual import events
    from tui_models import make_big_safetensors

    from layerscope.tui.app import LayerscopeApp
    from layerscope.tui.widgets.layer_tree import LayerTree

    path = make_big_safetensors(folder)
    app = LayerscopeApp(path, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        while not screen.query(LayerTree):  # may be mounted after the first frame
            await pilot.pause(0.01)
        tree = screen.query_one(LayerTree)

        async def shown(layer: str, timeout: float = 120) -> None:
            end = time.perf_counter() + timeout
            while not (
                screen.stats is not None and screen.ref is not None and screen.ref.layer == layer
            ):
                if time.perf_counter() > end:
                    raise RuntimeError(f"{layer} not shown")
                await asyncio.sleep(0.001)
            await pilot.pause()  # the refresh that paints it

        first, second = "fc0", "fc1"
        await shown(first)
        start = time.perf_counter()
        await pilot.press("down")
        await shown(second)
        first_view = time.perf_counter() - start
        times, cpu = [], []
        for _ in range(RUNS):  # one key press between two layers already viewed
            await pilot.press("up")
            await shown(first)
            start, cpu_start = time.perf_counter(), time.thread_time()
            await pilot.press("down")
            await shown(second)
            times.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - cpu_start)  # the UI thread's own work
        work = []  # key event → shown and painted, without the pilot's 20 ms idle naps
        for _ in range(RUNS):
            for key, layer in (("up", first), ("down", second)):
                start = time.perf_counter()
                app._driver.send_message(events.Key(key, None))
                while screen.ref is None or screen.ref.layer != layer or screen.stats is None:
                    if time.perf_counter() - start > 60:
                        raise RuntimeError(f"{layer} not shown")
                    await asyncio.sleep(0)
                await pilot._wait_for_screen()
                screen._on_timer_update()  # the paint
                work.append(time.perf_counter() - start)
        numel = screen.ref.numel
        assert tree.current_layer == second
    print(f"tensor size             {numel:,} float32 elements")
    print(f"first view of a layer   {first_view * 1000:.0f} ms (statistics computed)")
    print(
        f"re-select a seen layer  {statistics.median(times) * 1000:.0f} ms wall "
        f"(median of {RUNS}; max {max(times) * 1000:.0f} ms); goal ≤ 100 ms"
    )
    print(f"                        {statistics.median(cpu) * 1000:.0f} ms CPU on the UI thread")
    print(
        f"                        {statistics.median(work) * 1000:.0f} ms key event → painted "
        f"(median of {len(work)}; max {max(work) * 1000:.0f} ms), no pilot idle waits"
    )
    print(f"load average            {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    from benchrows import row

    # Judged on key event → painted, the worst of the lot: what a user waits for. pilot.press
    # adds the harness's own idle naps (~90 ms for a key that changes nothing, bench_big's
    # "pilot floor per key"), so its figure is printed beside, not judged.
    row("app_reselect", f"{max(work) * 1e3:.0f} ms worst, {statistics.median(work) * 1e3:.0f} ms "
        f"median, event → painted ({statistics.median(cpu) * 1e3:.0f} ms UI-thread CPU; "
        f"pilot.press {statistics.median(times) * 1e3:.0f} ms)", "-", max(work) <= 0.1)  # fmt: skip
    row("app_first_view", f"{first_view * 1e3:.0f} ms ({numel / 1e6:.0f}M elements)",
        "-", first_view <= 0.3)  # fmt: skip


def main() -> None:
    if "--reselect-only" not in sys.argv[1:]:  # --reselect-only: skip start-up, time re-select
        print("== start-up")
        bench_start()
    if "--start-only" in sys.argv[1:]:  # --start-only: time start-up alone
        return
    print("== re-select")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(bench_reselect(Path(tmp)))


if __name__ == "__main__":
    main()
