"""One configuration label and one table computation everywhere (issue 15, item 2).

A real quick clip-ablation experiment: the child runs' ``config`` tags, the rows of the
parent's ``summary.csv``, the parent's headline metrics ``summary/<config>/…``, the report's
configuration column and the report's per-run table all name and count the runs alike,
because each is computed once (``rnnstudy.labels``, ``rnnstudy.studies``) and drawn elsewhere.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from rnnstudy import tracking
from rnnstudy.cli import main
from rnnstudy.experiment import expand, load_experiment
from rnnstudy.labels import metric_label
from rnnstudy.reporting import data as data_mod
from rnnstudy.reporting import tables
from rnnstudy.reporting.store import open_store
from rnnstudy.studies.outcomes import outcome_rows
from rnnstudy.studies.records import from_run

FILE = Path(__file__).parent.parent / "experiments" / "clip_ablation.yaml"


def test_one_label_from_grid_to_report(module_store: str) -> None:
    args = ["--profile", "quick", "--jobs", "1", "--no-progress", "--no-report"]
    assert main(["experiment", str(FILE), *args]) == 0
    points = expand(load_experiment(FILE), "quick")
    c = MlflowClient(module_store)
    exp = c.get_experiment_by_name("clip_ablation")
    parent = c.search_runs([exp.experiment_id], "tags.`rnnstudy.kind` = 'experiment'")[0]
    kids = tracking.children(c, exp.experiment_id, parent.info.run_id)

    # the grid's words, on the runs: "rnn · clip=norm:0.5"
    wanted = {p.config_label for p in points}
    assert {k.data.tags["config"] for k in kids} == wanted
    assert any("clip=norm:" in w for w in wanted) and any("clip=none" in w for w in wanted)
    assert {k.data.tags["point"] for k in kids} == {p.label for p in points}
    assert parent.data.tags["study"] == "clip_ablation"

    # the study's summary.csv and the parent's headline metrics use the same labels
    text = tracking.read_artifact_text(c, parent.info.run_id, "summary.csv")
    summary = pd.read_csv(io.StringIO(text))
    assert set(summary["config"]) == wanted
    heads = {k.split("/")[1] for k in parent.data.metrics if k.count("/") == 2}
    assert heads == {metric_label(w) for w in wanted}

    # the report labels the runs with the same words and draws the study's own tables
    data = data_mod.load(open_store("clip_ablation", parent.info.run_id))
    assert set(data.runs["config"]) == wanted
    assert len(data.records) == len(points)
    drawn = {t.slug: t for t in tables.build_all(data)}
    assert "per-config" not in drawn  # summary.csv is the outcome table already
    assert set(drawn["summary"].frame["config"]) == wanted
    runs = drawn["per-run"].frame
    assert sorted(runs["point"]) == sorted(p.label for p in points)

    # records rebuilt from the run params compute the same table as the experiment's records
    rebuilt = [from_run(c, k) for k in kids]
    assert all(r is not None for r in rebuilt)
    again = {row["config"]: row for row in outcome_rows(rebuilt, clip_stats=True).rows}
    for row in summary.to_dict("records"):
        mine = again[row["config"]]
        assert mine["runs"] == row["runs"]
        assert mine["success_rate"] == row["success_rate"]
        assert mine["diverged_rate"] == row["diverged_rate"]
