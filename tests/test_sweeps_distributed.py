"""Many workers on one study: a real PostgreSQL server and a real ``mlflow server`` on loopback.

    .venv/bin/pytest -q tests/test_sweeps_distributed.py      (1-3 minutes on 2 cores)

Needs the PostgreSQL server binaries (Debian package ``postgresql``, installed by ``make test`` as root):
without them this test FAILS, it does not skip. As root, the server runs as the ``postgres``
user (``initdb`` refuses root). Every process started here is stopped at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from rnnstudy.sweeps.storage import with_driver
from tests.conftest_sweeps import all_params_and_tags, free_port, sweep_runs, write_sweep
from tests.test_dashboard import dashboard_reads

PASSWORD = "S3cret-Pw-7781"
SUPER_PASSWORD = "Super-Pw-4412"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
SWEEP = {
    "metric": "val/loss",
    "sampler": {"name": "random", "seed": 0},
    "pruner": "none",
    "space": {"optim.lr": {"type": "float", "low": 1.0e-4, "high": 0.05, "log": True}},
}


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    found += [p for p in [shutil.which("initdb")] if p]
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb):"
            " install the Debian package `postgresql` (.ci/run does: apt-get install postgresql)"
        )
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser") is None:
        pytest.fail("running as root needs `runuser` to start PostgreSQL as user postgres")
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1:<free port>; yields a URL with a password."""
    import psycopg2

    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="rnnstudy-pg-"))
    data, log = root / "data", root / "server.log"
    (root / "pw").write_text(SUPER_PASSWORD + "\n")
    if os.geteuid() == 0:
        try:
            shutil.chown(root, "postgres", "postgres")
            shutil.chown(root / "pw", "postgres", "postgres")
        except (LookupError, PermissionError) as err:
            pytest.fail(f"cannot hand {root} to user postgres ({err}); is `postgresql` installed?")
    port = free_port()
    run = lambda cmd: subprocess.run(  # noqa: E731
        _as_postgres(cmd), check=True, capture_output=True, text=True, timeout=120
    )
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "scram-sha-256",
             f"--pwfile={root / 'pw'}", "-E", "UTF8", "--no-sync"])  # fmt: skip
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
        run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
             "-o", opts, "start"])  # fmt: skip
    except subprocess.CalledProcessError as err:
        text = log.read_text() if log.exists() else ""
        pytest.fail(f"could not start PostgreSQL: {err.stderr}\n{text}")
    try:
        con = psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", password=SUPER_PASSWORD, dbname="postgres"
        )
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f"CREATE ROLE rnn LOGIN PASSWORD '{PASSWORD}'")
            cur.execute("CREATE DATABASE optuna OWNER rnn")
        con.close()
        yield f"postgresql://rnn:{PASSWORD}@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` (SQLite backend, proxied artifacts) on 127.0.0.1:<free port>."""
    d = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server",
           "--backend-store-uri", f"sqlite:///{d}/server.db",
           "--artifacts-destination", str(d / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    with open(d / "server.log", "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=d, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(d / 'server.log').read_text()}")
            time.sleep(0.5)
        yield uri
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # the group: also the server's own child processes
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)


class Workers:
    """N ``rnnstudy sweep`` processes on one study; all stopped on exit."""

    def __init__(self, folder: Path, path: Path, storage: str, uri: str, n: int, *extra: str):
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONUNBUFFERED": "1"}
        env["MPLBACKEND"] = "agg"
        cmd = [sys.executable, "-m", "rnnstudy.cli", "sweep", str(path), "--storage", storage,
               "--no-progress", "--heartbeat", "1", "--grace", "6", *extra]  # fmt: skip
        self.logs = [folder / f"worker{i}.log" for i in range(n)]
        self.procs = []
        for log in self.logs:
            with open(log, "wb") as fh:
                self.procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=folder,
                        env=env,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )  # fmt: skip
                )

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            _stop(p)

    def wait(self, timeout: float) -> list[int | None]:
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"workers still running after {timeout}s:\n{self.output()}")
        return [p.returncode for p in self.procs]

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in self.logs)


def _load(name: str, url: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=with_driver(url))


def test_three_workers_share_one_study(tmp_path: Path, postgres: str, mlflow_server: str) -> None:
    path = write_sweep(tmp_path, "dist", {**SWEEP, "n_trials": 9}, train={"max_steps": 20})
    with Workers(tmp_path, path, postgres, mlflow_server, 3) as w:
        codes = w.wait(timeout=240)
        assert codes == [0, 0, 0], w.output()
        output = w.output()

    trials = _load("dist", postgres).get_trials()
    assert len(trials) == 9, [(t.number, t.state) for t in trials]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) >= 2, workers  # the trials were shared out

    client = MlflowClient(mlflow_server)
    parents, children = sweep_runs(client, "dist")
    assert len(parents) == 3 and all(p.info.status == "FINISHED" for p in parents)
    assert len(children) == 9
    by_number = {int(r.data.tags["optuna_trial_number"]): r for r in children}
    assert sorted(by_number) == list(range(9))
    for t in trials:
        assert by_number[t.number].data.tags["optuna_state"] == t.state.name

    # the storage password reaches no MLflow param or tag, and no worker output
    text = all_params_and_tags(client)
    assert "127.0.0.1" in text  # the (masked) storage URL is recorded...
    assert PASSWORD not in text  # ...without its password
    assert PASSWORD not in output

    # optuna-dashboard on the PostgreSQL storage finds the study and its 9 trials
    summary, detail, banner = dashboard_reads(postgres, "dist", tmp_path)
    assert summary["directions"] == ["minimize"]
    assert sorted(t["number"] for t in detail["trials"]) == list(range(9))
    assert {t["number"]: t["state"].upper() for t in detail["trials"]} == {
        t.number: t.state.name for t in trials
    }
    assert PASSWORD not in banner and "rnn:***@127.0.0.1" in banner


def test_killed_worker_trial_fails_and_is_retried(
    tmp_path: Path, postgres: str, mlflow_server: str
) -> None:
    train = {"max_steps": 200, "val_every": 10}
    path = write_sweep(tmp_path, "dist-kill", {**SWEEP, "n_trials": 4}, train=train)
    with Workers(tmp_path, path, postgres, mlflow_server, 3) as w:
        victim, killed = None, None
        deadline = time.monotonic() + 180
        while victim is None and time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                running = _load("dist-kill", postgres).get_trials(states=(TrialState.RUNNING,))
            except KeyError:
                continue  # the study does not exist yet
            for t in running:
                pid = int(str(t.user_attrs.get("worker", "::")).split(":")[1] or 0)
                mine = [p for p in w.procs if p.pid == pid]
                if t.intermediate_values and mine:  # mid-trial: it has validated at least once
                    victim, killed = mine[0], t.number
                    break
        assert victim is not None, f"no trial caught mid-way\n{w.output()}"
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        survivors = [p for p in w.procs if p is not victim]
        for p in survivors:
            p.wait(timeout=240)
        assert [p.returncode for p in survivors] == [0, 0], w.output()

    trials = _load("dist-kill", postgres).get_trials()
    dead = trials[killed]
    assert dead.state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retries) == 1, [(t.number, t.state, t.system_attrs) for t in trials]
    retry = retries[0]
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retry.params == dead.params
    assert retry.user_attrs["worker"] != dead.user_attrs["worker"]
    counted = [t for t in trials if t.state in FINISHED and t.number != killed]
    assert len(counted) == 4 and len(trials) == 5

    parents, children = sweep_runs(MlflowClient(mlflow_server), "dist-kill")
    by_number = {int(r.data.tags["optuna_trial_number"]): r for r in children}
    lost = by_number[killed]
    assert lost.info.status == "FAILED"
    assert lost.data.tags["optuna_state"] == "FAIL"
    assert "heartbeat stale" in lost.data.tags["error"]
    assert by_number[retry.number].data.tags["optuna_retry_of"] == str(killed)
    assert by_number[retry.number].data.tags["optuna_state"] == retry.state.name
