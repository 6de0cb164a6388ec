"""rnnstudy.startup: the collector is paused while a command imports, its state restored, and
what the imports made is frozen once per process (fresh interpreters: the test process may
have frozen already)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc, sys
from rnnstudy import startup
assert gc.isenabled() and gc.get_freeze_count() == 0
with startup.frozen_imports():
    assert not gc.isenabled()
    import numpy  # noqa: F401
first = gc.get_freeze_count()
assert gc.isenabled() and first > 1000, first
gc.disable()
with startup.frozen_imports():
    import json  # noqa: F401
assert not gc.isenabled()  # restored as it was: off
assert gc.get_freeze_count() == first  # frozen once per process
gc.enable()
try:
    with startup.frozen_imports():
        raise KeyError("x")
except KeyError:
    pass
assert gc.isenabled()
print("ok")
"""


def test_frozen_imports_pause_restore_and_freeze_once():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_import_training_loads_the_sql_store_unless_a_server(tmp_path):
    code = (
        "import sys; from rnnstudy import startup; startup.import_training();"
        " print('mlflow.store.tracking.sqlalchemy_store' in sys.modules,"
        " 'rnnstudy.runner' in sys.modules)"
    )
    for uri, store in ((f"sqlite:///{tmp_path}/m.db", "True"), ("http://127.0.0.1:1", "False")):
        env = {"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [store, "True"]


def test_load_training_imports_frozen_with_the_collector_back_on():
    code = (
        "import gc, sys; from rnnstudy import startup; startup.load_training();"
        " print(gc.isenabled(), gc.get_freeze_count() > 100000, 'rnnstudy.runner' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True"]
