"""Import cost of a run: what ``rnnstudy.runner`` leaves out of a fresh process."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import rnnstudy.runner
assert "scipy.signal" not in sys.modules, "scipy.signal was imported with Lightning"
import scipy.signal  # the real module, on demand
assert type(sys.modules["scipy.signal"]).__name__ == "module"
assert scipy.signal.windows.hamming(4).shape == (4,)
import torchmetrics.functional.audio  # torchmetrics works after the stand-in is gone
print("ok")
"""


def test_runner_import_defers_scipy_signal():
    out = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
