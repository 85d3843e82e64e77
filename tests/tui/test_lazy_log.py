"""The app's logger (``layerscope.tui.log``) imports loguru on first use, not before the first
frame; set-up registered with ``when_loaded`` (dropping the stderr sink, adding the log pane's)
runs before the first record, so no record misses the pane or reaches the screen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )


def test_loguru_loads_on_first_use_after_its_set_up() -> None:
    out = run(
        "import sys\n"
        "from layerscope.tui import log\n"
        "seen = []\n"
        "def pane(logger):\n"
        "    logger.add(lambda m: seen.append(str(m).strip()), format='{message}')\n"
        "log.when_loaded(lambda logger: logger.remove())\n"
        "log.when_loaded(pane)\n"
        "dropped = lambda logger: seen.append('cancelled hook ran')\n"
        "log.when_loaded(dropped)\n"
        "assert log.cancel(dropped)\n"
        "print('loguru' in sys.modules, log.is_loaded())\n"
        "log.logger.info('first record')\n"
        "print('loguru' in sys.modules, log.is_loaded(), seen)\n"
        "log.when_loaded(lambda logger: seen.append('at once'))\n"
        "print(seen[-1])\n"
    )
    assert out.stdout.splitlines() == [
        "False False", "True True ['first record']", "at once",
    ]  # fmt: skip
    assert "first record" not in out.stderr  # the default sink was gone before it


def test_run_app_drops_the_stderr_sink_and_the_app_adds_the_panes_when_loguru_loads() -> None:
    out = run(
        "import sys\n"
        "from layerscope.tui import log\n"
        "from layerscope.tui.app import LayerscopeApp\n"
        "from layerscope.tui.logsink import add_sink\n"
        "app = LayerscopeApp('models')\n"
        "app.post_message = lambda message: print('pane:', message.text) or True\n"
        "remove = add_sink(app, timestamps=False)\n"
        "log.when_loaded(lambda logger: logger.remove(0))  # the stderr sink, as run_app drops it\n"
        "print('loguru' in sys.modules)\n"
        "log.logger.info('to the pane')\n"
        "remove()\n"
        "log.logger.info('after removal')\n"
        "remove2 = add_sink(app, timestamps=False)  # loguru loaded: added at once\n"
        "log.logger.warning('again')\n"
        "remove2()\n"
    )
    assert out.stdout.splitlines() == ["False", "pane: to the pane", "pane: again"]
    assert not out.stderr
