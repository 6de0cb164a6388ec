"""Read the ‖∂C/∂h_t‖ profiles of a finished experiment from MLflow and print, per run and per
probe step, the norm at the first and last time step and their ratio (orders of magnitude).

    MLFLOW_TRACKING_URI=... .venv/bin/python experiments/repro/gradnorms.py arjovsky2016_gradnorms

Uses the harness's own artifact ``gradtime/l0.npz`` (``norms``: probe step x time step, the
mean over the batch of ‖∂C/∂h_t‖; ``steps``: the training step of each probe).
"""

from __future__ import annotations

import math
import sys
import tempfile

import numpy as np
from mlflow.tracking import MlflowClient


def main(name: str) -> None:
    c = MlflowClient()
    exp = c.get_experiment_by_name(name)
    parent = c.search_runs(
        [exp.experiment_id],
        "tags.`rnnstudy.kind` = 'experiment'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    kids = c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    print(f"parent {parent.info.run_id} [{parent.data.tags.get('profile')}]")
    print(
        f"{'point':28s} {'step':>5s} {'|dC/dh_0|':>11s} {'|dC/dh_T-1|':>11s} {'log10 ratio':>11s}"
    )
    for k in sorted(kids, key=lambda r: r.data.tags.get("point", "")):
        with tempfile.TemporaryDirectory() as d:
            try:
                path = c.download_artifacts(k.info.run_id, "gradtime/l0.npz", d)
            except Exception:  # noqa: BLE001 - a run without the artifact
                continue
            z = np.load(path)
            for step, row in zip(z["steps"], z["norms"], strict=True):
                first, last = float(row[0]), float(row[-1])
                ratio = math.log10(first / last) if first > 0 and last > 0 else math.nan
                print(
                    f"{k.data.tags['point']:28s} {step:5d} {first:11.3e} {last:11.3e} {ratio:11.2f}"
                )


if __name__ == "__main__":
    main(sys.argv[1])
