"""The report's first table: the tour's claim (DESIGN §7), computed by ``rnnstudy.studies.tour``
from this report's run records (the table the experiment logged as ``summary_claim.csv``), and
drawn only where it applies: the RNN and a gated cell ran, and within each task the runs differ
only by cell and seed (not a study that also varies, say, the hidden size or the clipping,
whose medians would pool unlike runs)."""

from __future__ import annotations

import pandas as pd

from rnnstudy.reporting.data import ReportData
from rnnstudy.reporting.tables import Table, study_table
from rnnstudy.studies.tour import CELLS, GATED, run_rows, tour

CAPTION = (
    "Per task, the claim in its speed form (DESIGN §7): d* is the longest distance bucket that "
    "the RNN's median seed and a gated cell's both reach; the statistic is the ratio of median "
    "steps to reach d*, RNN over the fastest gated cell, with a 95% bootstrap interval over "
    "seeds and the pairs (RNN seed, gated seed) in which the RNN was slower; an RNN seed that "
    "never reached d* counts as not reached. Held: ratio ≥ 3 and the interval excludes 1; not "
    "separated: the interval contains 1 or fewer than 5 seeds. Horizons: median learned "
    "horizon ('≥ d_max' when capped). The mechanism columns compare the slope of ln credit at "
    "the source against distance (RNN minus gated, interval over seeds) at initialisation (the "
    "probe at step 0; n/a where the training range then holds one distance) and at the last "
    "probe. seeds: rnn/lstm/gru."
)
COLUMNS = ["run_id", "task", "cell", "seed", "d_max", "horizon", "capped", "half_life"]


def per_run(data: ReportData) -> pd.DataFrame:
    """``studies.tour.run_rows`` as a frame: one row per run of a task with distances."""
    return pd.DataFrame(run_rows(data.records), columns=[*COLUMNS, "half_life_from"])


def applies(data: ReportData, runs: pd.DataFrame) -> bool:
    cells = set(runs["cell"])
    if "rnn" not in cells or not cells & set(GATED):
        return False
    labels = data.runs.loc[data.runs["run_id"].isin(runs["run_id"]), ["task", "series", "cell"]]
    per_task = labels.groupby("task")[["series", "cell"]].nunique()
    return bool((per_task["series"] == per_task["cell"]).all())


def build(data: ReportData) -> Table | None:
    runs = per_run(data)
    if runs.empty or not runs["horizon"].notna().any() or not applies(data, runs):
        return None
    table = tour(data.records)[1]
    # the verdict first (the claim text holds ratio, interval, pairs and d*), then the rest
    cols = [c for c in table.cols if c not in ("ratio", "verdict")]
    lead = [c for c in ("task", "claim") if c in cols]
    table.columns = lead + [c for c in cols if c not in lead]
    return study_table(table, "claim", CAPTION)


__all__ = ["CELLS", "build", "per_run"]
