"""No run logs a gradient summary built on a zero or missing norm (issue 11 Must show 3,
issue 13 defect 3), through a real ``run_one`` with MLflow."""

import math

import numpy as np
from mlflow.tracking import MlflowClient

from rnnstudy.runner import run_one
from rnnstudy.tasks import build_task
from tests.helpers import tiny


def test_many_to_one_tbptt_logs_no_fake_first(store):
    """qa_distance is many-to-one: with TBPTT only the window that holds the last step gets a
    loss. L is not a multiple of k = 5 and every example's informative step
    (``meta["source"]``) lies more than k steps before the end, so both t = 0 and the sources
    are outside the last window, whether windows start at t = 0 or end at the sequence end:
    their norm is 0 and ``first`` / ``log10_ratio`` are undefined. They used to be logged as
    ≈ -29 (the 1e-30 clamp)."""
    task = {"name": "qa_distance", "d_min": 8, "d_max": 10, "n_facts": 2}
    cfg = tiny(task=task, train__tbptt=5, train__max_steps=3, probe__every=1)
    sample = build_task(cfg.task).generate(0, 64)
    L = sample.x.shape[1]
    assert L % 5 != 0 and L > 5
    if "source" in sample.meta:
        assert int(sample.meta["source"].max()) < L - 5
    result = run_one(cfg, experiment="honest", progress=False)
    c = MlflowClient(store)
    metrics = c.get_run(result.run_id).data.metrics
    gradtime = {k: v for k, v in metrics.items() if k.startswith("gradtime/")}
    assert "gradtime/l0/last" in gradtime and "gradtime/l0/half_life" in gradtime
    for k in gradtime:
        assert not k.endswith(("/first", "/log10_ratio")), k
        for m in c.get_metric_history(result.run_id, k):
            assert math.isfinite(m.value) and m.value != 0.0, (k, m.step, m.value)
    assert len(c.get_metric_history(result.run_id, "gradtime/l0/last")) == 3  # steps 0, 1, 2
    # the loss-independent instruments ran on the whole sequence despite the windows
    for key in ("propagation/l0/decay_per_step", "propagation/l0/half_life", "lyapunov/l0/l1"):
        assert len(c.get_metric_history(result.run_id, key)) == 3, key
    rho = np.load(c.download_artifacts(result.run_id, "propagation/l0.npz"))
    assert rho["rho"].shape == (3, L - 1) and list(rho["steps"]) == [0, 1, 2]
    assert list(rho["lags"]) == list(range(1, L))
    lyap = np.load(c.download_artifacts(result.run_id, "lyapunov/l0.npz"))
    assert lyap["exponents"].shape == (3, 4) and np.all(np.isfinite(lyap["exponents"]))
