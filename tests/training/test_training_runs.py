"""Runs as detached processes: tail, stop, resume, crash, status and compare."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from training_helpers import read_json, tiny_config

from layerscope.engine.errors import InputError
from layerscope.engine.training.events import EventWriter, read_events, tail_events
from layerscope.engine.training.runs import (
    compare_runs,
    launch_run,
    resolve_run,
    resume_run,
    run_status,
    stop_run,
)
from layerscope.engine.usecases.runs import list_runs


def _quiet(**sections):  # noqa: ANN003, ANN202
    """A tiny run without the per-epoch PNGs and ONNX export, so process tests stay quick."""
    base = {"logging": {"progress_every": 1, "artifacts": False}, "export": {"onnx": False}}
    for key, value in sections.items():
        base.setdefault(key, {}).update(value)
    return tiny_config(**base)


@pytest.mark.slow
def test_run_is_tailed_stopped_and_resumed(tmp_path: Path) -> None:
    cfg = _quiet(trainer={"max_epochs": 30}, data={"max_samples": 256})  # 8 steps per epoch
    handle = launch_run(cfg, tmp_path, name="stopme")
    run_dir = handle.run_dir
    assert run_dir.parent == tmp_path.resolve() and run_dir.name.endswith("-stopme")
    assert (run_dir / "config.yaml").is_file()
    # Its own session: Ctrl-C in the terminal, or the terminal closing, does not reach it.
    assert os.getsid(handle.pid) == handle.pid != os.getsid(0)

    seen, asked = [], False
    for event in tail_events(run_dir, threading.Event(), poll_interval=0.05):
        seen.append(event)
        if event["event"] == "progress" and event["step"] >= 3 and not asked:
            assert stop_run(run_dir)
            asked = True
    assert handle.process.wait(timeout=120) == 0
    kinds = [e["event"] for e in seen]
    assert kinds[0] == "started" and kinds[-1] == "stopped"  # the tail ends at the terminal event
    stopped = seen[-1]
    assert stopped["epochs_done"] < 29, "the run should stop long before max_epochs"
    # The stop saved last.ckpt and reported it before the terminal event.
    assert (run_dir / "last.ckpt").is_file()
    assert any(e["event"] == "checkpoint" and e["path"].endswith("last.ckpt") for e in seen)
    assert run_status(run_dir)[0] == "stopped"
    assert not stop_run(run_dir)  # nothing left to stop

    target = stopped["epochs_done"] + 1
    handle2 = resume_run(run_dir, [f"trainer.max_epochs={target}"])
    resumed = list(tail_events(run_dir, poll_interval=0.05))
    assert handle2.process.wait(timeout=120) == 0
    kinds = [e["event"] for e in resumed]
    # Tailing a resumed run replays the first session and ends at the new terminal event.
    assert kinds.count("stopped") == 1 and kinds[-1] == "finished"
    after = resumed[kinds.index("resumed") :]
    assert after[0]["step"] == stopped["step"] > 0  # continued, not restarted
    assert after[1]["event"] == "progress"  # old checkpoints are not re-announced
    assert run_status(run_dir)[0] == "finished"
    history = read_json(run_dir / "history.json")
    assert [h["epoch"] for h in history] == list(range(target))
    assert read_json(run_dir / "metrics.json")["epochs"] == target
    assert (run_dir / "train.log").read_text().count("pid") >= 2


def test_crash_mid_training_leaves_failed_event_and_earlier_work(tmp_path: Path) -> None:
    # In-process through the run process's entry point (the child only adds the spawn, which
    # the stop/resume test covers) to spare a torch import; crashy_arch is on sys.path here.
    from layerscope.engine.training.config import save_config
    from layerscope.engine.training.process import run

    # 128 samples / 32 = 4 steps per epoch; the 9th training forward (epoch 2) raises.
    cfg = _quiet(
        model={"arch": "crashy_arch:CrashAfter"},
        trainer={"max_epochs": 5},
        data={"max_samples": 128},
    )
    run_dir = tmp_path / "run"
    save_config(cfg, run_dir / "config.yaml")
    assert run(run_dir) == 1
    events = read_events(run_dir)
    assert events[-1]["event"] == "failed"
    assert events[-1]["error"] == "RuntimeError: boom: simulated crash in forward"
    assert "crashy_arch.py" in events[-1]["traceback"]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [0, 1]
    assert (run_dir / "last.ckpt").is_file()
    assert [h["epoch"] for h in read_json(run_dir / "history.json")] == [0, 1]
    assert "boom" in (run_dir / "train.log").read_text()
    assert run_status(run_dir) == ("failed", "RuntimeError: boom: simulated crash in forward")


def test_bad_data_fails_before_training_with_one_line_error(tmp_path: Path) -> None:
    # In-process (the same entry point the child runs) to spare a second torch import.
    from layerscope.engine.training.config import save_config
    from layerscope.engine.training.process import run

    cfg = _quiet(data={"kind": "folder", "path": str(tmp_path / "missing")})
    run_dir = tmp_path / "run"
    save_config(cfg, run_dir / "config.yaml")
    assert run(run_dir) == 1
    events = read_events(run_dir)
    assert [e["event"] for e in events] == ["failed"]
    assert events[0]["error"].startswith("InputError: image folder not found")
    assert "image folder not found" in (run_dir / "train.log").read_text()


def _fake_run(
    root: Path, name: str, *, events: list[dict], pid: int | None = None, lr: float = 0.1
) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"name: {name}\noptimizer:\n  name: sgd\n  lr: {lr}\n")
    w = EventWriter(d)
    for e in events:
        w.emit(**e)
    if pid is not None:
        (d / "run.pid").write_text(str(pid))
    return d


def test_killed_run_without_final_event_is_failed(tmp_path: Path) -> None:
    d = _fake_run(
        tmp_path,
        "20260101-000000-killed",
        events=[{"event": "started", "max_epochs": 3}],
        pid=2**22 + 7,
    )
    status, error = run_status(d)
    assert status == "failed" and "without a final event" in error


def test_run_that_finished_after_its_events_were_read_is_not_failed(tmp_path: Path) -> None:
    """A follower read 'started', then the process wrote 'finished' and exited before the
    liveness check: the status is the final event on disk, not 'failed' (a race seen under load)."""
    d = _fake_run(
        tmp_path,
        "20260101-000000-raced",
        events=[{"event": "started", "max_epochs": 1}, {"event": "finished", "epochs_done": 1}],
        pid=2**22 + 7,
    )
    stale = [{"event": "started", "max_epochs": 1}]  # what the follower had read
    assert run_status(d, stale) == ("finished", None)


def test_list_resolve_and_compare(tmp_path: Path) -> None:
    a = _fake_run(
        tmp_path,
        "20260101-000000-adam",
        events=[
            {"event": "started", "max_epochs": 2},
            {"event": "epoch", "epoch": 0, "metrics": {"val_acc": 0.5}},
            {"event": "epoch", "epoch": 1, "metrics": {"val_acc": 0.7}},
            {"event": "finished"},
        ],
        lr=0.001,
    )
    (a / "metrics.json").write_text(
        json.dumps(
            {"final": {"val_acc": 0.7}, "best": {"metric": "val_acc", "value": 0.7, "epoch": 1}}
        )
    )
    b = _fake_run(
        tmp_path, "20260101-000001-sgd", events=[{"event": "started"}, {"event": "stopped"}], lr=0.1
    )
    runs = list_runs(tmp_path)
    assert [(r.name, r.status) for r in runs] == [(a.name, "finished"), (b.name, "stopped")]
    assert runs[0].epoch == 1 and runs[0].best_value == 0.7 and runs[0].max_epochs == 2
    assert resolve_run("sgd", tmp_path) == b.resolve()
    assert resolve_run(str(a), tmp_path) == a.resolve()
    with pytest.raises(InputError, match="ambiguous"):
        resolve_run("20260101", tmp_path)
    with pytest.raises(InputError, match="no run 'lion'"):
        resolve_run("lion", tmp_path)
    table = compare_runs([a, b])
    rows = {r[0]: r[1:] for r in table["rows"]}
    assert table["runs"] == [a.name, b.name]
    assert rows["optimizer.lr"] == [0.001, 0.1]
    assert "optimizer.name" not in rows  # same in both: left out
    assert rows["final.val_acc"] == [0.7, None] and rows["status"] == ["finished", "stopped"]


def test_resume_errors(tmp_path: Path) -> None:
    d = _fake_run(tmp_path, "20260101-000000-x", events=[{"event": "stopped"}])
    with pytest.raises(InputError, match="has no last.ckpt"):
        resume_run(d)


def test_tail_events_follows_until_stop_event(tmp_path: Path) -> None:
    d = _fake_run(tmp_path, "r", events=[{"event": "started"}])
    (d / "run.pid").write_text("1")  # pid 1 is not a run process: the tail must not hang on it
    got = list(tail_events(d, threading.Event(), poll_interval=0.01))
    assert [e["event"] for e in got] == ["started"]
    stop = threading.Event()
    stop.set()
    assert list(tail_events(d, stop)) == []
