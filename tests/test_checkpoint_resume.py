"""Long runs survive interruption (issue 24): ``train.checkpoint_every`` and ``--resume``.

    .venv/bin/pytest -q tests/test_checkpoint_resume.py

1. A real ``rnnstudy experiment`` process on a one-point file with checkpoints is killed with
   SIGKILL once its second checkpoint is in the store; ``--resume`` continues the same MLflow
   run: one child run, FINISHED, no step twice in any metric history, and every metric history
   (and the gradient-time matrix) equal to an uninterrupted run's.
2. A run that fails after its checkpoint flushes what it measured past the checkpoint before it
   is marked FAILED; continuing it logs none of those points again (the logger drops points at
   steps the store already holds), and again equals the uninterrupted run.

The task grows its distance range (the schedule's state is in the checkpoint) and the probe
runs (its rows are), so a resumed run that forgot any of them would differ.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import yaml
from mlflow.tracking import MlflowClient

from rnnstudy.cli import main
from rnnstudy.config import parse_run
from rnnstudy.runner import run_one
from tests.experiment_helpers import start_experiment

POINT = """\
name: {name}
base:
  seed: 0
  task: {{name: delayed_recall, A: 4, n_distractors: 4, d_min: 2, d_max: 20, n_buckets: 4,
         curriculum: grow, d_start: 4}}
  model: {{cell: gru, hidden_size: 12}}
  optim: {{name: adam, lr: 0.01}}
  clip: {{mode: norm, value: 1.0}}
  train: {{max_steps: 400, batch_size: 16, val_every: 25, val_size: 64, checkpoint_every: 20}}
  probe: {{every: 50, lyapunov: 2}}
grid:
  seed: [0]
"""


def write(tmp_path: Path, name: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(POINT.format(name=name))
    return p


def child_runs(c: MlflowClient, name: str) -> list:
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return []
    runs = c.search_runs([exp.experiment_id])
    return [r for r in runs if r.data.tags.get("rnnstudy.kind") != "experiment"]


def histories(c: MlflowClient, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """{key: [(step, value)]} in step order, every metric of the run but the wall time."""
    keys = [k for k in c.get_run(run_id).data.metrics if k != "time/seconds"]
    out = {}
    for k in keys:
        ms = sorted(c.get_metric_history(run_id, k), key=lambda m: (m.step, m.timestamp))
        out[k] = [(m.step, m.value) for m in ms]
    return out


def assert_no_step_twice(hist: dict[str, list[tuple[int, float]]]) -> None:
    twice = {k: len(h) - len({s for s, _ in h}) for k, h in hist.items()}
    assert not any(twice.values()), {k: n for k, n in twice.items() if n}


def assert_same_run(c: MlflowClient, got_id: str, want_id: str) -> None:
    """Every metric history and the gradient-time matrix equal to the reference run's."""
    got, want = histories(c, got_id), histories(c, want_id)
    assert_no_step_twice(got)
    assert sorted(got) == sorted(want)
    for k, h in want.items():
        assert [s for s, _ in got[k]] == [s for s, _ in h], k
        np.testing.assert_allclose([v for _, v in got[k]], [v for _, v in h], rtol=1e-6, err_msg=k)
    assert c.get_run(got_id).data.tags["outcome"] == c.get_run(want_id).data.tags["outcome"]
    for path in ("gradtime/l0.npz", "credit/l0.npz"):
        with (
            np.load(c.download_artifacts(got_id, path)) as a,
            np.load(c.download_artifacts(want_id, path)) as b,
        ):
            for name in b.files:
                np.testing.assert_allclose(a[name], b[name], rtol=1e-6, err_msg=f"{path} {name}")


def experiment(path: Path, *extra: str) -> int:
    return main(["experiment", str(path), "--jobs", "1", "--no-progress", "--no-report", *extra])


def test_sigkill_then_resume_continues_the_same_run(tmp_path: Path, agg_store: str) -> None:
    c = MlflowClient(agg_store)
    assert experiment(write(tmp_path, "uncut")) == 0
    (ref,) = child_runs(c, "uncut")
    assert int(ref.data.tags["checkpoint_step"]) == 380  # the last multiple of 20 before 400

    path = write(tmp_path, "cut")
    proc = start_experiment(path)
    deadline = time.monotonic() + 120
    try:
        while True:  # until the second checkpoint is in the store
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "no second checkpoint within 120 s"
            runs = child_runs(c, "cut")
            if runs and int(runs[0].data.tags.get("checkpoint_step", 0)) >= 40:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (killed,) = child_runs(c, "cut")
    step = int(killed.data.tags["checkpoint_step"])
    assert killed.info.status == "RUNNING" and 40 <= step < 400, (killed.info.status, step)
    assert "checkpoints/last.ckpt" in [
        a.path for a in c.list_artifacts(killed.info.run_id, "checkpoints")
    ]
    print(f"killed after the checkpoint at step {step}")

    assert experiment(path, "--resume") == 0
    (run,) = child_runs(c, "cut")  # one run for the point: the killed one, continued
    assert run.info.run_id == killed.info.run_id
    assert run.info.status == "FINISHED" and run.data.tags["resumed"] == "true"
    assert "error" not in run.data.tags
    assert_same_run(c, run.info.run_id, ref.info.run_id)


class Fail(pl.Callback):
    """Raise at the start of step ``at`` (a crash, or a SIGTERM that Lightning turns into one)."""

    def __init__(self, at: int):
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.at:
            raise RuntimeError("interrupted")


def test_points_flushed_past_the_checkpoint_are_not_logged_again(agg_store: str) -> None:
    """A failed run flushes its buffer (steps up to 135) after its checkpoint at 120; the
    continued run recomputes steps 121-135 and logs none of them twice."""
    cfg = parse_run(yaml.safe_load(POINT.format(name="x"))["base"])
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_steps": 200})})
    ref = run_one(cfg, experiment="flush_ref", progress=False)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_one(cfg, experiment="flush_cut", progress=False, callbacks=[Fail(136)])
    c = MlflowClient(agg_store)
    (failed,) = child_runs(c, "flush_cut")
    assert failed.info.status == "FAILED" and failed.data.tags["checkpoint_step"] == "120"
    assert max(s for s, _ in histories(c, failed.info.run_id)["train/loss"]) == 135
    res = run_one(cfg, experiment="flush_cut", progress=False, resume_run=failed.info.run_id)
    assert res.run_id == failed.info.run_id
    assert c.get_run(res.run_id).info.status == "FINISHED"
    assert_same_run(c, res.run_id, ref.run_id)
