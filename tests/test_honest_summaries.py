"""No run logs a gradient summary built on a zero or missing norm (issue 11 Must show 3,
issue 13 defect 3), through a real ``run_one`` with MLflow."""

import math

from mlflow.tracking import MlflowClient

from rnnstudy.runner import run_one
from tests.helpers import tiny


def test_many_to_one_tbptt_logs_no_fake_first(store):
    """qa_distance is many-to-one: with TBPTT only the window that holds the last step gets a
    loss. L = d_max + 2 n_facts + 2 = 16 is not a multiple of k = 5 and d >= 8 > k, so both the
    step t = 0 and every example's informative step (the queried value, L-1-d) lie outside the
    last window, whether windows start at t = 0 or end at the sequence end: their norm is 0 and
    ``first`` / ``log10_ratio`` are undefined. They used to be logged as ≈ -29 (1e-30 clamp)."""
    task = {"name": "qa_distance", "d_min": 8, "d_max": 10, "n_facts": 2}
    cfg = tiny(task=task, train__tbptt=5, train__max_steps=3, probe__every=1)
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
