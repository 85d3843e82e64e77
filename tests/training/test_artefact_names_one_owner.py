"""A run folder's file names are spelled once, in ``engine/training/paths.py``: the callbacks
that write them and the listings that read them use its constants, so renaming one cannot leave
a writer and a reader disagreeing."""

from __future__ import annotations

import ast
from pathlib import Path

from layerscope.engine.training import paths

ENGINE = Path(__file__).resolve().parents[2] / "engine"
OWNED = {
    paths.CONFIG_FILE, paths.RUN_FILE, paths.HPARAMS_FILE, paths.EVENTS_FILE, paths.LOG_FILE,
    paths.STDOUT_FILE, paths.PID_FILE, paths.LAUNCH_FILE, paths.LAST_CKPT, paths.MODEL_ONNX,
    paths.HISTORY_FILE, paths.METRICS_PNG, paths.CONFUSION_JSON, paths.CONFUSION_PNG,
    paths.SAMPLES_PNG, *paths.CURVES,
}  # fmt: skip


def test_run_file_names_appear_only_in_paths_py() -> None:
    spelled = []
    for source in sorted(ENGINE.rglob("*.py")):
        if source == ENGINE / "training" / "paths.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in OWNED:
                spelled.append(f"{source.relative_to(ENGINE)}:{node.lineno} {node.value!r}")
    assert spelled == []


def test_the_globs_follow_the_names() -> None:
    assert paths.CONFUSION_GLOB.endswith("/" + paths.CONFUSION_PNG)
    assert paths.SAMPLES_GLOB.endswith("/" + paths.SAMPLES_PNG)
