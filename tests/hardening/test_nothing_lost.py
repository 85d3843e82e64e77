"""Nothing the user made is lost: report writers refuse to overwrite a file that is not a
layerscope file (unless --force) and never the model itself; stale temp files of a killed write
are cleaned up on the next write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from layerscope.engine.cli import main
from layerscope.engine.errors import LayerscopeError
from layerscope.engine.zoo import SmallCNN

FOREIGN = b'{"my": "notes", "keep": true}\n'


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202 - two cores shared by everyone
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "important.pt"
    torch.save(SmallCNN().state_dict(), path)
    return path


def _capture(model: Path, out: Path, name: str, *extra: str) -> int:
    args = ["capture", str(model), "--arch", "smallcnn", "--input", "random", "--out", str(out)]
    return main([*args, "--output-json-name", name, *extra])


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("layerscope: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("force", [False, True])
def test_capture_never_overwrites_the_model_it_reads(
    model: Path, capsys: pytest.CaptureFixture[str], force: bool
) -> None:
    before = model.read_bytes()
    extra = ["--force"] if force else []
    assert _capture(model, model.parent, model.name, *extra) == 2
    err = _one_line_error(capsys)
    assert "model" in err and model.name in err
    assert model.read_bytes() == before


def test_capture_never_overwrites_the_model_through_another_spelling(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = model.read_bytes()
    link = tmp_path / "alias.json"
    link.symlink_to(model)
    assert _capture(model, tmp_path, "alias.json", "--force") == 2
    _one_line_error(capsys)
    assert model.read_bytes() == before and link.is_symlink()


def test_capture_refuses_a_foreign_file_unless_forced(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "notes.json"
    target.write_bytes(FOREIGN)
    assert _capture(model, tmp_path, "notes.json") == 2
    err = _one_line_error(capsys)
    assert "notes.json" in err and "--force" in err
    assert "my" not in err.replace("notes.json", "")  # the file's bytes are never echoed
    assert target.read_bytes() == FOREIGN

    assert _capture(model, tmp_path, "notes.json", "--force") == 0
    assert json.loads(target.read_text())["schema"] == "layerscope.activation-report"


def test_capture_overwrites_its_own_report(model: Path, tmp_path: Path) -> None:
    assert _capture(model, tmp_path, "r.json") == 0
    first = json.loads((tmp_path / "r.json").read_text())
    assert _capture(model, tmp_path, "r.json", "--seed", "1") == 0  # a re-run replaces it
    second = json.loads((tmp_path / "r.json").read_text())
    assert second["input"]["seed"] == 1 != first["input"]["seed"]


def test_a_report_reordered_by_a_tool_is_still_recognised(model: Path, tmp_path: Path) -> None:
    assert _capture(model, tmp_path, "r.json") == 0
    d = json.loads((tmp_path / "r.json").read_text())
    (tmp_path / "r.json").write_text(json.dumps(dict(sorted(d.items())), indent=4))
    assert _capture(model, tmp_path, "r.json") == 0


def test_report_save_refuses_the_reports_own_model(model: Path, tmp_path: Path) -> None:
    """The engine writer holds the rule, so every caller (the app's save prompt too) gets it."""
    from layerscope.engine.capture import capture
    from layerscope.engine.inputs import load_input, model_input_shape
    from layerscope.engine.loaders import load_model
    from layerscope.engine.report import from_capture, save

    m = load_model(model, arch="smallcnn")
    batch = load_input("random", input_shape=model_input_shape(m))
    report = from_capture(capture(m, batch, bins=8))
    before = model.read_bytes()
    with pytest.raises(LayerscopeError, match="model"):
        save(report, model, force=True)
    assert model.read_bytes() == before
    other = tmp_path / "other.bin"
    other.write_bytes(b"\x00\x01 user data")
    with pytest.raises(LayerscopeError, match="not a layerscope file"):
        save(report, other)
    assert other.read_bytes() == b"\x00\x01 user data"


def test_app_exports_refuse_a_foreign_file_and_replace_their_own(tmp_path: Path) -> None:
    from layerscope.engine.io import check_user_target, write_user_json

    target = tmp_path / "smallcnn.features.0.weight.float.stats.json"
    target.write_bytes(FOREIGN)
    with pytest.raises(LayerscopeError) as info:
        write_user_json(target, {"tensor": "features.0.weight"}, schema="layerscope.tensor-stats")
    assert "\n" not in str(info.value) and "keep" not in str(info.value)
    assert target.read_bytes() == FOREIGN

    target.unlink()
    write_user_json(target, {"tensor": "a"}, schema="layerscope.tensor-stats")
    write_user_json(target, {"tensor": "b"}, schema="layerscope.tensor-stats")  # its own: fine
    written = json.loads(target.read_text())
    assert written["tensor"] == "b" and written["schema"] == "layerscope.tensor-stats"
    # The prompt asks the same question before it closes, so the refusal shows in place.
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx bytes")
    with pytest.raises(LayerscopeError, match="model"):
        check_user_target(model, protect=[model], force=True)
    check_user_target(tmp_path / "new.json", protect=[model])  # a new file is always fine


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_write_removes_stale_temp_files_of_killed_writers(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    dead = out / f".activation_report.{_dead_pid()}-0123abcd.tmp.json"
    dead.write_text('{"half": ')
    old = out / f".activation_report.{os.getpid()}-89abcdef.tmp.json"  # alive, but hours old
    old.write_text('{"half": ')
    hours_ago = time.time() - 3 * 3600
    os.utime(old, (hours_ago, hours_ago))
    live = out / f".activation_report.{os.getpid()}-fedcba98.tmp.json"  # a write in progress
    live.write_text('{"half": ')
    unrelated = out / ".activation_report.notes.tmp.json"  # not our pattern: the user's
    unrelated.write_text("mine")

    assert _capture(model, out, "activation_report.json") == 0
    assert not dead.exists() and not old.exists()
    assert live.exists() and unrelated.read_text() == "mine"
    assert (out / "activation_report.json").is_file()


async def test_the_save_prompt_shows_the_refusal_in_place(tmp_path: Path) -> None:
    from textual.app import App
    from textual.widgets import Input

    from layerscope.tui.screens.report_prompt import ReportPrompt

    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx bytes")
    notes = tmp_path / "notes.json"
    notes.write_bytes(FOREIGN)
    results: list[list[Path] | None] = []
    app = App()
    async with app.run_test() as pilot:
        prompt = ReportPrompt("Save:", [("report", model)], must_exist=False, protect=[model])
        app.push_screen(prompt, results.append)
        await pilot.pause()
        field = prompt.query_one(Input)
        for target in (model, notes):
            field.value = str(target)
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is prompt and results == []  # still asking: fix the name there
        messages = [n.message for n in app._notifications]
        assert any("model being read" in m for m in messages)
        assert any("not a layerscope file" in m for m in messages)
        field.value = str(tmp_path / "new.json")
        await pilot.press("enter")
        await pilot.pause()
    assert results == [[tmp_path / "new.json"]]
    assert model.read_bytes() == b"onnx bytes" and notes.read_bytes() == FOREIGN
