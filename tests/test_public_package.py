"""The public package: `import layerscope` is the API, cheap to import, and never collides with a
user's own `engine`, `tui` or `models` module."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_import_is_cheap_and_help_lists_the_api(tmp_path: Path) -> None:
    code = (
        "import sys, pydoc, layerscope\n"
        "assert 'torch' not in sys.modules, 'import layerscope loaded torch'\n"
        "print(pydoc.render_doc(layerscope, renderer=pydoc.plaintext))\n"
    )
    out = _run(["-c", code], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for name in ("load_model", "tensor_stats", "capture", "diff", "quant_compare", "discover",
                 "load_input", "callbacks", "compare_run_dirs"):  # fmt: skip
        assert re.search(rf"^\s+{name}\(", out.stdout, re.M), f"help(layerscope) lacks {name}"


def test_every_name_in_all_resolves() -> None:
    import layerscope

    for name in layerscope.__all__:
        assert getattr(layerscope, name) is not None


def test_installed_import_names_are_only_layerscope() -> None:
    """Nothing generic (engine, tui, models) is importable from the install itself."""
    out = _run(["-c", "import importlib.util as u; print(u.find_spec('engine'), u.find_spec('tui'))"],
               cwd=Path("/"), env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "None"], out.stdout


USER_ENGINE = "raise SystemExit('the user engine.py was imported by layerscope')\n"
USER_MODEL = textwrap.dedent(
    """
    import torch

    class Net(torch.nn.Module):
        def __init__(self, width: int = 4):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, width, 3, padding=1)
            self.relu = torch.nn.ReLU()
            self.pool = torch.nn.AdaptiveAvgPool2d(1)
            self.fc = torch.nn.Linear(width, 3)

        def forward(self, x):
            return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))
    """
)


@pytest.mark.slow
def test_cli_works_beside_a_users_engine_tui_and_models(tmp_path: Path) -> None:
    """A research repo with its own engine.py, tui/ and models/ on PYTHONPATH (DETR/MAE style)."""
    (tmp_path / "engine.py").write_text(USER_ENGINE)
    (tmp_path / "tui").mkdir()
    (tmp_path / "tui" / "__init__.py").write_text(USER_ENGINE)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text(USER_ENGINE)
    (tmp_path / "usernet.py").write_text(USER_MODEL)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    make = "import torch, usernet; torch.manual_seed(0); torch.save(usernet.Net(6).state_dict(), 'net.pt')"
    assert _run(["-c", make], cwd=tmp_path, env=env).returncode == 0

    cli = ["-m", "layerscope"]
    for verb in ("inspect", "capture", "diff", "quant-compare", "train", "runs", "demo"):
        out = _run([*cli, verb, "--help"], cwd=tmp_path, env=env)
        assert out.returncode == 0, f"{verb} --help: {out.stderr}"
    arch = ["--arch", "usernet:Net", "--arch-kwargs", '{"width": 6}']
    out = _run([*cli, "inspect", "net.pt", *arch, "--json"], cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    layers = {la["name"]: la for la in json.loads(out.stdout)["layers"]}
    assert [t["shape"] for t in layers["conv"]["tensors"]][0] == [6, 3, 3, 3]
    out = _run([*cli, "capture", "net.pt", *arch, "--input", "random:3x16x16", "--output-json-name", "a.json"],
               cwd=tmp_path, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = _run([*cli, "diff", "a.json", "a.json"], cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    out = _run([*cli, "runs", "--runs-dir", "runs"], cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md has no ```python block after <!-- api-example -->"
    return m.group(1)


@pytest.mark.slow
def test_readme_api_example_runs(tmp_path: Path) -> None:
    make = textwrap.dedent(
        """
        import torch
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                                  torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                  torch.nn.Linear(4, 3)).eval()
        torch.onnx.export(net, torch.randn(1, 3, 16, 16), "my_model.onnx", dynamo=False)
        """
    )
    assert _run(["-c", make], cwd=tmp_path).returncode == 0
    (tmp_path / "example.py").write_text(_readme_example())
    out = _run(["example.py"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "before.json").is_file()
    assert "std=" in out.stdout
