"""`layerscope inspect` as a user runs it: tables, histograms, JSON, and one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from layerscope.engine.cli import main


@pytest.fixture
def sd_path(tiny, tmp_path: Path) -> Path:
    path = tmp_path / "tiny_state.pt"
    torch.save(tiny.state_dict(), path)
    return path


def test_tree_table_lists_layers_and_totals(sd_path: Path, capsys) -> None:
    assert main(["inspect", str(sd_path)]) == 0
    out = capsys.readouterr().out
    for name in ("conv", "bn", "fc", "running_var", "4×3×3×3"):
        assert name in out
    assert "parameters" in out and "weights only" in out


def test_json_has_documented_keys_and_exact_stats(tiny, sd_path: Path, capsys) -> None:
    assert main(["inspect", str(sd_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"]["format"] == "state-dict"
    assert data["model"]["params"] == sum(v.numel() for v in tiny.state_dict().values())
    fc = next(layer for layer in data["layers"] if layer["name"] == "fc")
    weight = next(t for t in fc["tensors"] if t["role"] == "weight")
    assert weight["shape"] == [2, 4]
    assert weight["stats"]["max"] == pytest.approx(float(tiny.fc.weight.detach().max()))
    assert sum(weight["stats"]["counts"]) == 8


def test_layer_view_prints_histogram(sd_path: Path, capsys) -> None:
    assert main(["inspect", str(sd_path), "--layer", "conv", "--bins", "6"]) == 0
    out = capsys.readouterr().out
    assert "conv.weight" in out and "elements" in out
    bins = [line for line in out.splitlines() if line.strip().startswith("[")]
    assert len(bins) == 6 and sum(int(b.split()[-1]) for b in bins) == 4 * 3 * 3 * 3


def test_layer_json_with_tensor_role(sd_path: Path, capsys) -> None:
    assert (
        main(
            [
                "inspect",
                str(sd_path),
                "--layer",
                "bn",
                "--tensor",
                "running_var",
                "--json",
                "--bins",
                "4",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (
        data["tensor"]["name"] == "bn.running_var" and len(data["tensor"]["stats"]["counts"]) == 4
    )


@pytest.mark.parametrize(
    "args, expected",
    [
        (["MISSING"], "no such file"),
        (["CORRUPT"], "unknown format"),
        (["SD", "--layer", "conv1"], "did you mean 'conv'"),
        (["SD", "--layer", "fc", "--tensor", "gamma"], "no tensor"),
        (["SD", "--bins", "0"], "--bins"),
        (["SD", "--arch", "resnet8"], "does not fit --arch resnet8"),
        (["WHOLE"], "--trust"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    tiny, sd_path: Path, tmp_path: Path, capsys, args, expected
) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"definitely not a model" * 10)
    whole = tmp_path / "whole.pt"
    torch.save(tiny, whole)
    subst = {
        "MISSING": str(tmp_path / "missing.pt"),
        "CORRUPT": str(corrupt),
        "SD": str(sd_path),
        "WHOLE": str(whole),
    }
    code = main(["inspect", *[subst.get(a, a) for a in args]])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_console_script_runs_in_a_subprocess(sd_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "layerscope", "inspect", str(sd_path), "--no-stats"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "fc" in proc.stdout
