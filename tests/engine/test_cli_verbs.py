"""`layerscope [PATH]` decides app-or-verb from a static list of verb names, so opening the app
imports no verb module (quant-compare's loads numpy before the first frame)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from layerscope.engine.cli import VERB_NAMES, build_parser
from tests.fresh_interpreter import modules_after


def test_verb_names_match_the_parser() -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(VERB_NAMES) == set(choices)


def test_opening_the_app_imports_no_verb_module() -> None:
    # run_app stubbed out: only what main() imports on its way to the app is measured.
    loaded = modules_after(
        "import layerscope.tui.app as a\n"
        "a.run_app = lambda *args, **kw: 0\n"
        "from layerscope.engine.cli import main\n"
        "assert main(['models']) == 0\n"
    )
    verbs = sorted(m for m in loaded if m.startswith("layerscope.engine.cli."))
    assert verbs == [], verbs
    assert "numpy" not in loaded
    assert "argparse" not in loaded  # `layerscope [PATH]` needs no parser (~3 ms of start)


def test_a_verb_still_reaches_its_parser(capsys: object) -> None:
    from layerscope.engine.cli import main

    try:
        main(["diff", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "usage: layerscope diff" in out


@pytest.mark.parametrize("argv", [[], ["models"], ["some dir/model.onnx"], [""]])
def test_the_apps_short_path_passes_what_the_parser_would(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope.tui.app as app_module
    from layerscope.engine.cli import main

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(app_module, "run_app", lambda *a, **kw: calls.append((a, kw)) or 0)
    try:
        assert main(argv) == 0  # the short path
        assert main([*argv, "--device", "cpu"]) == 0  # an option: through the parser
    finally:
        gc.enable()  # main paused collection for the app, which would resume it
    short, parsed = calls
    assert short == parsed


@pytest.mark.parametrize("argv", [[], ["--device", "cpu"]])
def test_without_a_path_it_opens_models_else_the_current_folder(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`layerscope` in a folder without models/ listed "models: no such file or folder"."""
    import layerscope.tui.app as app_module
    from layerscope.engine.cli import main

    opened: list[object] = []
    monkeypatch.setattr(app_module, "run_app", lambda path, **kw: opened.append(path) or 0)
    monkeypatch.chdir(tmp_path)
    try:
        main(argv)
        (tmp_path / "models").mkdir()
        main(argv)
    finally:
        gc.enable()
    assert opened == [".", "models"]
