"""Settings for the whole suite."""

import os

# Long CLI work prints a progress line every few seconds when stderr is not a terminal. Tests that
# assert a one-line error must not see one just because a busy machine took longer: progress is
# off unless a test turns it on (tests/capture/test_progress_and_width.py sets it to 0).
os.environ["LAYERSCOPE_PROGRESS_EVERY"] = "1e9"
