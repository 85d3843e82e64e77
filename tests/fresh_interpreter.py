"""What a fresh interpreter has imported after running some code (import-laziness tests:
``from tests.fresh_interpreter import modules_after``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # run in this checkout, whatever the venv points at


def modules_after(code: str) -> set[str]:
    """Every name in ``sys.modules`` once ``code`` has run in a new interpreter in this checkout."""
    code += "\nimport json as _json, sys as _sys\nprint(_json.dumps(sorted(_sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))
