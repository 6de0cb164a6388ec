"""Issue 13 defect 1: ``train.precision: "64"`` crashed every run at the end (float32 inputs
fed to a float64 model in ``evaluate_batch``) and left its MLflow run RUNNING."""

import math

import pytest
import pytorch_lightning as pl
from mlflow.tracking import MlflowClient

from rnnstudy.runner import run_one
from tests.helpers import tiny

FIGURES = ("grad/norm_preclip", "grad/norm_postclip", "train/loss", "val/loss")


def _history(c: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in c.get_metric_history(run_id, key))


def _gradtime_keys(c: MlflowClient, run_id: str) -> list[str]:
    return sorted(k for k in c.get_run(run_id).data.metrics if k.startswith("gradtime/"))


def test_defect1_precision64_run_finishes_with_float32_gradient_figures(store):
    over = {"task": {"name": "copy", "A": 4, "K": 2, "T": 5}, "train__max_steps": 4}
    r32 = run_one(tiny(**over), experiment="p64", progress=False)
    r64 = run_one(tiny(**over, train__precision="64"), experiment="p64", progress=False)
    c = MlflowClient(store)
    for r in (r32, r64):
        run = c.get_run(r.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["outcome"] in ("solved", "unsolved")
        assert math.isfinite(run.data.metrics["final/loss"])
    for key in FIGURES:
        h32, h64 = _history(c, r32.run_id, key), _history(c, r64.run_id, key)
        assert [s for s, _ in h32] == [s for s, _ in h64] and h32, key
        assert [v for _, v in h64] == pytest.approx([v for _, v in h32], rel=1e-4), key
    keys = _gradtime_keys(c, r32.run_id)
    assert keys and keys == _gradtime_keys(c, r64.run_id)
    for key in keys:
        h32, h64 = _history(c, r32.run_id, key), _history(c, r64.run_id, key)
        assert [v for _, v in h64] == pytest.approx([v for _, v in h32], rel=1e-3, nan_ok=True)
    assert r64.metrics["final/loss"] == pytest.approx(r32.metrics["final/loss"], rel=1e-4)


class _Boom(pl.Callback):
    """Fails after training is over, where the old runner had no handler."""

    def save(self) -> None:
        raise RuntimeError("boom after fit")


def test_defect1_exception_after_start_leaves_run_failed_with_error_tag(store):
    with pytest.raises(RuntimeError, match="boom after fit"):
        run_one(tiny(), experiment="boom", callbacks=[_Boom()], progress=False)
    c = MlflowClient(store)
    (run,) = c.search_runs([c.get_experiment_by_name("boom").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["outcome"] == "failed"
    assert "boom after fit" in run.data.tags["error"]


def test_defect1_rnnstudy_run_at_precision64_exits_0(store, tmp_path, capsys):
    from rnnstudy.cli import main

    f = tmp_path / "p64.yaml"
    f.write_text(
        "name: p64cli\nbase:\n  task: {name: copy, A: 4, K: 2, T: 5}\n"
        "  model: {cell: lstm, hidden_size: 8}\n"
        '  train: {max_steps: 3, batch_size: 8, val_every: 3, val_size: 16, precision: "64"}\n'
        "  probe: {every: 2}\n"
    )
    assert main(["run", str(f)]) == 0
    c = MlflowClient(store)
    (run,) = c.search_runs([c.get_experiment_by_name("p64cli").experiment_id])
    assert run.info.status == "FINISHED"
    # it prints its row of the per-point table, read back from MLflow (studies.points)
    out = capsys.readouterr().out
    assert out.startswith("Per point") and run.info.run_id in out and "val/acc" in out
