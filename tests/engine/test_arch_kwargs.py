"""``--arch module:Class`` with constructor arguments: from the CLI, from a file, from a Lightning
checkpoint's ``hyper_parameters``; the working folder is importable; failures say what to do."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import pytest
import torch

from layerscope.engine.cli import _tui_parser, build_parser, main
from layerscope.engine.errors import ArchitectureError
from layerscope.engine.loaders import load_model

_ids = itertools.count()

USER_MODULE = """
import torch
from torch import nn


class Net(nn.Module):
    input_shape = (3, 4, 4)

    def __init__(self, width, depth=1, num_classes=3):
        super().__init__()
        if width < 1:
            raise ValueError("width must be positive")
        layers = [nn.Conv2d(3, width, 1)] + [nn.Conv2d(width, width, 1) for _ in range(depth - 1)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def make(width, depth=1):
    return Net(width, depth)
"""


@pytest.fixture
def user_pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package ``archkw_pkg_N.models`` in the working folder (not on sys.path), and its weights."""
    name = f"archkw_pkg_{next(_ids)}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / name / "models.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the working folder added is undone
    return f"{name}.models"


def _weights(tmp_path: Path, module: str, width: int = 12, depth: int = 2) -> Path:
    sys.path.insert(0, str(tmp_path))
    try:
        mod = __import__(module, fromlist=["Net"])
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(mod.Net(width, depth).state_dict(), path)
    return path


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_cli_kwargs_inline_json(user_pkg: str, tmp_path: Path) -> None:
    w = _weights(tmp_path, user_pkg)
    args = [
        "inspect",
        str(w),
        "--arch",
        f"{user_pkg}:Net",
        "--arch-kwargs",
        '{"width": 12, "depth": 2}',
    ]
    assert main(args) == 0


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_cli_kwargs_from_file_and_factory(user_pkg: str, tmp_path: Path, suffix: str) -> None:
    w = _weights(tmp_path, user_pkg)
    spec = tmp_path / f"kw.{suffix}"
    spec.write_text('{"width": 12, "depth": 2}' if suffix == "json" else "width: 12\ndepth: 2\n")
    assert main(["inspect", str(w), "--arch", f"{user_pkg}:make", "--arch-kwargs", f"@{spec}"]) == 0


def test_capture_runs_with_kwargs(user_pkg: str, tmp_path: Path) -> None:
    w = _weights(tmp_path, user_pkg)
    args = ["capture", str(w), "--input", "random", "--out", str(tmp_path / "out"),
            "--arch", f"{user_pkg}:Net", "--arch-kwargs", '{"width": 12, "depth": 2}']  # fmt: skip
    assert main(args) == 0
    assert (tmp_path / "out" / "activation_report.json").is_file()


def test_missing_argument_is_named(user_pkg: str, tmp_path: Path, capsys) -> None:
    w = _weights(tmp_path, user_pkg)
    assert main(["inspect", str(w), "--arch", f"{user_pkg}:Net"]) == 2
    err = _err(capsys)
    assert "'width'" in err and "--arch-kwargs" in err


def test_rejected_argument_is_named(user_pkg: str, tmp_path: Path, capsys) -> None:
    w = _weights(tmp_path, user_pkg)
    kw = '{"width": 12, "widht": 3}'
    assert main(["inspect", str(w), "--arch", f"{user_pkg}:Net", "--arch-kwargs", kw]) == 2
    err = _err(capsys)
    assert "'widht'" in err and "width" in err


def test_constructor_error_is_one_line(user_pkg: str, tmp_path: Path, capsys) -> None:
    w = _weights(tmp_path, user_pkg)
    kw = '{"width": 0}'
    assert main(["inspect", str(w), "--arch", f"{user_pkg}:Net", "--arch-kwargs", kw]) == 2
    assert "width must be positive" in _err(capsys)


@pytest.mark.parametrize(
    "kw, says",
    [("{width: 12", "not valid JSON"), ("[1, 2]", "object"), ("@nowhere.json", "not found")],
)
def test_bad_kwargs_are_one_line(user_pkg: str, tmp_path: Path, capsys, kw: str, says: str) -> None:
    w = _weights(tmp_path, user_pkg)
    assert main(["inspect", str(w), "--arch", f"{user_pkg}:Net", "--arch-kwargs", kw]) == 2
    assert says in _err(capsys)


def test_unimportable_module_says_how_to_fix(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save({"w": torch.zeros(1)}, tmp_path / "w.pt")
    assert main(["inspect", "w.pt", "--arch", "archkw_nowhere.models:Net"]) == 2
    err = _err(capsys)
    assert "cannot import 'archkw_nowhere'" in err and "PYTHONPATH" in err


def _lightning(tmp_path: Path, module: str, hparams: dict) -> Path:
    sd = torch.load(_weights(tmp_path, module, width=12, depth=2))
    ckpt = {
        "state_dict": {f"model.{k}": v for k, v in sd.items()},
        "hyper_parameters": hparams,
        "epoch": 3,
        "global_step": 30,
        "pytorch-lightning_version": "2.4.0",
    }
    path = tmp_path / "run.ckpt"
    torch.save(ckpt, path)
    return path


def test_lightning_hyper_parameters_fill_the_constructor(user_pkg: str, tmp_path: Path) -> None:
    ckpt = _lightning(tmp_path, user_pkg, {"width": 12, "depth": 2, "lr": 0.1})
    m = load_model(ckpt, arch=f"{user_pkg}:Net")
    assert m.runnable
    assert m.metadata["arch_kwargs"] == {"width": 12, "depth": 2}  # lr is not Net's
    assert m.metadata["arch_kwargs_from"] == {
        "width": "hyper_parameters",
        "depth": "hyper_parameters",
    }


def test_explicit_kwargs_win_over_hyper_parameters(user_pkg: str, tmp_path: Path) -> None:
    ckpt = _lightning(tmp_path, user_pkg, {"width": 99, "depth": 2})
    m = load_model(ckpt, arch=f"{user_pkg}:Net", arch_kwargs={"width": 12})
    assert m.metadata["arch_kwargs"] == {"width": 12, "depth": 2}
    assert m.metadata["arch_kwargs_from"] == {"width": "arch_kwargs", "depth": "hyper_parameters"}


def test_hyper_parameters_that_do_not_fit_say_where_they_came_from(
    user_pkg: str, tmp_path: Path
) -> None:
    ckpt = _lightning(tmp_path, user_pkg, {"width": 99, "depth": 2})
    with pytest.raises(ArchitectureError, match="hyper_parameters"):
        load_model(ckpt, arch=f"{user_pkg}:Net")


def _option_strings(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def test_every_arch_option_has_arch_kwargs() -> None:
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    with_arch = [name for name, p in sub.items() if "--arch" in _option_strings(p)]
    assert {"inspect", "capture", "quant-compare"} <= set(with_arch)
    for name in with_arch:
        assert "--arch-kwargs" in _option_strings(sub[name]), name
    assert "--arch-kwargs" in _option_strings(_tui_parser())


def test_json_kwargs_must_be_an_object_of_names() -> None:
    from layerscope.engine.cli.arch_args import parse_arch_kwargs

    assert parse_arch_kwargs('{"width": 12}') == {"width": 12}
    assert parse_arch_kwargs(None) == {}
    with pytest.raises(Exception, match="object"):
        parse_arch_kwargs(json.dumps([1]))
