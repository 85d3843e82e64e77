"""``layerscope train`` and ``layerscope runs``: exit codes, output and the DDP recipe end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from training_helpers import read_json

from layerscope.engine.cli import main
from layerscope.engine.training.events import EventWriter, read_events

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.slow
def test_train_ddp_config_on_cpu_with_two_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The shipped DDP recipe (gloo, 2 CPU processes), followed by the CLI until it finishes."""
    rc = main(
        [
            "train",
            str(CONFIGS / "resnet8_digits_ddp.yaml"),
            "--runs-dir", str(tmp_path),
            "--name", "ddp",
            "--set", "model.arch=smallcnn",
            "--set", "trainer.max_epochs=2",
            "--set", "data.max_samples=256",
            "--set", "trainer.limit_val_batches=3",
            "--set", "logging.progress_every=2",
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    (run_dir,) = tmp_path.iterdir()
    assert "run started" in out and "epoch 1 done" in out and "run finished" in out
    assert f"run {run_dir.name} finished" in err
    events = read_events(run_dir)
    kinds = [e["event"] for e in events]
    # Only rank 0 writes: one start, one end, one epoch event per epoch.
    assert (
        kinds.count("started") == 1 and kinds.count("finished") == 1 and kinds.count("epoch") == 2
    )
    assert events[0]["world_size"] == 2
    # 256 samples / (32 per process x 2 processes) = 4 optimizer steps per epoch.
    assert events[0]["total_steps"] == 8
    assert [h["epoch"] for h in read_json(run_dir / "history.json")] == [0, 1]
    # Lightning wraps the weighted sampler for DDP; every rank draws the same seeded sequence and
    # takes its share, so rank 0's sampler holds the whole epoch's draw.
    draws = read_json(run_dir / "sampler_distribution.json")
    assert [sum(c["drawn"] for c in e["classes"]) for e in draws] == [256, 256]
    assert read_json(run_dir / "onnx_export.json")["verified"] is True
    assert (run_dir / "epoch_001" / "confusion_matrix.png").is_file()
    assert (run_dir / "last.ckpt").is_file()


def test_train_bad_config_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(
        [
            "train",
            str(CONFIGS / "resnet8_digits.yaml"),
            "--runs-dir",
            str(tmp_path),
            "--set",
            "optimizer.name=lion",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip().splitlines() == [
        f"layerscope: {CONFIGS / 'resnet8_digits.yaml'}: optimizer.name is 'lion'; allowed: adam, adamw, sgd"
    ]
    assert not any(tmp_path.iterdir())  # nothing launched


def test_train_needs_config_or_resume_not_both(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "--runs-dir", str(tmp_path)]) == 2
    assert "needs a CONFIG" in capsys.readouterr().err
    assert main(["train", "c.yaml", "--resume", "x", "--runs-dir", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["train", "--resume", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def _finished_run(root: Path, name: str, optimizer: str, acc: float) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(f"name: {name}\noptimizer:\n  name: {optimizer}\n  lr: 0.01\n")
    w = EventWriter(d)
    w.emit("started", max_epochs=1)
    w.emit("epoch", epoch=0, metrics={"val_acc": acc})
    w.emit("finished")
    (d / "metrics.json").write_text(
        json.dumps({"final": {"val_acc": acc, "val_loss": 1 - acc}, "best": None})
    )
    return d


def test_runs_list_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _finished_run(tmp_path, "20260101-000000-adam", "adam", 0.9)
    _finished_run(tmp_path, "20260101-000100-sgd", "sgd", 0.8)
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["status"], r["best_value"]) for r in rows] == [
        ("20260101-000000-adam", "finished", 0.9),
        ("20260101-000100-sgd", "finished", 0.8),
    ]
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "finished" in out and "val_acc 0.9000" in out


def test_runs_empty(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["runs", "--runs-dir", str(tmp_path / "none")]) == 0
    assert "no runs" in capsys.readouterr().out


def test_runs_compare(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _finished_run(tmp_path, "20260101-000000-adam", "adam", 0.9)
    _finished_run(tmp_path, "20260101-000100-sgd", "sgd", 0.8)
    assert main(["runs", "compare", "adam", "sgd", "--runs-dir", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r[0]: r[1:] for r in data["rows"]}
    assert rows["optimizer.name"] == ["adam", "sgd"]
    assert rows["final.val_acc"] == [0.9, 0.8]
    assert "optimizer.lr" not in rows  # equal in both runs
    assert main(["runs", "--runs-dir", str(tmp_path), "compare", "adam", "sgd"]) == 0
    out = capsys.readouterr().out
    assert "optimizer.name" in out and "sgd" in out


def test_runs_tail_and_stop(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _finished_run(tmp_path, "20260101-000000-adam", "adam", 0.9)
    assert main(["runs", "tail", "adam", "--runs-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "run started" in lines[0]
        and "epoch 1 done: val_acc 0.9000" in lines[1]  # events count from 0, people from 1
        and "run finished" in lines[2]
    )
    assert main(["runs", "stop", "adam", "--runs-dir", str(tmp_path)]) == 2
    assert "is not running" in capsys.readouterr().err
    assert main(["runs", "stop", "lion", "--runs-dir", str(tmp_path)]) == 2
    assert "no run 'lion'" in capsys.readouterr().err


def test_ctrl_c_while_following_detaches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    from layerscope.engine.cli import train as train_cli
    from layerscope.engine.training import events

    run_dir = _finished_run(tmp_path, "20260101-000000-adam", "adam", 0.9)

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        yield {"event": "started", "time": 0}
        raise KeyboardInterrupt

    monkeypatch.setattr(events, "tail_events", interrupted)
    assert train_cli.follow(run_dir) == 0
    out, err = capsys.readouterr()
    assert "run started" in out
    assert "detached" in err and f"layerscope runs tail {run_dir.name}" in err
    assert main(["runs", "tail", "adam", "--runs-dir", str(tmp_path)]) == 0  # also just leaves


def test_follow_of_failed_run_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from layerscope.engine.cli.train import follow

    d = tmp_path / "20260101-000000-x"
    d.mkdir()
    (d / "config.yaml").write_text("name: x\n")
    EventWriter(d).emit("failed", error="RuntimeError: boom")
    assert follow(d) == 1
    err = capsys.readouterr().err
    assert "failed" in err and "error: RuntimeError: boom" in err
