"""``make ui`` from a fresh clone with no virtual environment activated (issue 21, item 2)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent  # the environment running these tests
# no .venv/bin, no virtual environment, no other mlflow command
BARE_PATH = ":".join(
    d for d in ("/usr/local/bin", "/usr/bin", "/bin") if not Path(d, "mlflow").exists()
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_clone(tmp_path: Path) -> Path:
    """``git clone`` of this repository, with this working tree's Makefile and the files its
    set-up stamp depends on (the ones under test, maybe not committed yet). Their times are
    set before the environment's set-up stamp: in a real fresh clone the set-up (``make
    experiment``, the README's first step) ran after the clone."""
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)],
        check=True,
        timeout=60,
    )
    stamp = (VENV / ".setup-done").stat().st_mtime
    for name in ("Makefile", "pyproject.toml", "scripts/setup.sh"):
        shutil.copy2(ROOT / name, clone / name)
        os.utime(clone / name, (stamp - 60, stamp - 60))
    return clone


def bare_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MLFLOW_TRACKING_URI")}
    env["PATH"] = BARE_PATH
    return env


def wait_for_200(url: str, proc: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return -proc.returncode - 1000  # exited: never answered
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status
        except OSError:
            time.sleep(0.3)
    return -1


def stop_group(proc: subprocess.Popen) -> str:
    """SIGTERM to the process group (make, rnnstudy, mlflow, its server workers); SIGKILL
    after 20 s. Returns what they printed."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    except ProcessLookupError:
        out, _ = proc.communicate()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server workers leave after make
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    return out


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None, reason="make/git")
def test_issue21_item2_make_ui_from_a_fresh_clone_without_venv_on_path(tmp_path: Path) -> None:
    if not (VENV / "bin" / "rnnstudy").is_file() or not (VENV / ".setup-done").is_file():
        pytest.skip(f"{VENV} is not a `make setup` environment (no bin/rnnstudy or stamp)")
    assert shutil.which("mlflow", path=BARE_PATH) is None
    clone = fresh_clone(tmp_path)
    port = free_port()
    make = [shutil.which("make"), "ui", f"VENV={VENV}", f"PORT={port}"]
    # the stamp is up to date: `make ui` must not reinstall into the environment running this
    dry = subprocess.run([*make, "-n"], cwd=clone, env=bare_env(), capture_output=True, text=True)
    assert dry.returncode == 0 and "setup.sh" not in dry.stdout, dry.stdout + dry.stderr
    assert f"--port {port}" in dry.stdout
    t0 = time.monotonic()
    proc = subprocess.Popen(
        make,
        cwd=clone,
        env=bare_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        status = wait_for_200(f"http://127.0.0.1:{port}/", proc, timeout=90)
        health = wait_for_200(f"http://127.0.0.1:{port}/health", proc, timeout=10)
    finally:
        out = stop_group(proc)
    assert status == 200 and health == 200, out
    assert "Traceback" not in out and "FileNotFoundError" not in out, out
    assert f"http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning" in out
    assert (clone / "mlflow.db").is_file()  # the clone's own store (sqlite:///mlflow.db)
    print(f"make ui answered in {time.monotonic() - t0:.1f}s")
