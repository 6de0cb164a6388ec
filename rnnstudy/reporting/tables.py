"""The report's tables, drawn, never computed here: the study tables the parent run carries
(``summary.csv`` with published numbers for a reproduction, ``summary_*.csv``, and for sweeps
``importances.csv``/``trials.csv``), else the outcomes per configuration, and every run; the
last two computed by ``rnnstudy.studies`` from the same run records as the experiment's own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnstudy.reporting.data import ReportData
from rnnstudy.studies import OUTCOME_STUDIES, STUDY_TAG
from rnnstudy.studies.outcomes import outcome_rows
from rnnstudy.studies.points import point_table
from rnnstudy.studies.table import StudyTable

PARENT_CSVS = [
    ("summary.csv", "Study summary (summary.csv)"),
    ("importances.csv", "Parameter importances (importances.csv)"),
    ("trials.csv", "Trials (trials.csv)"),
]


@dataclass
class Table:
    slug: str
    title: str
    caption: str
    frame: pd.DataFrame  # cells already formatted as strings
    lead: bool = False  # on the report's first screen (the tour's claim table)


def fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool | np.bool_):
        return str(v)
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.4g}"
    return "–" if str(v) in ("nan", "None", "") else str(v)


def study_table(t: StudyTable, slug: str, caption: str) -> Table:
    """A study's table (computed by ``rnnstudy.studies`` from the run records) as drawn."""
    frame = pd.DataFrame(t.rows, columns=t.cols)
    return Table(slug, t.title, caption, frame.map(fmt))


def per_config(data: ReportData) -> Table:
    """Outcomes per configuration: ``rnnstudy.studies.outcomes`` on this report's runs (the
    default study's ``summary.csv``), for reports whose parent carries no study table."""
    caption = (
        "Seeds pooled per configuration. success = the task's criterion held (DESIGN §2); "
        "diverged = loss or gradient not finite. Median steps to solve over the solved seeds."
    )
    return study_table(outcome_rows(data.records), "per-config", caption)


def per_run(data: ReportData) -> Table:
    """Every child run: ``rnnstudy.studies.points`` (the parent's ``points.csv``), run ids cut to
    the prefix the MLflow UI search accepts."""
    t = point_table(data.records)
    for row in t.rows:
        row["run_id"] = str(row.get("run_id") or "")[:8]
    t.columns = [c for c in t.cols if c != "config_hash"]
    caption = "Every child run; the run id prefix finds it in the MLflow UI (rnnstudy ui)."
    table = study_table(t, "per-run", caption)
    table.title = "Runs"
    return table


def parent_tables(data: ReportData, skip: tuple[str, ...] = ()) -> list[Table]:
    store = data.store
    names = [n for n, _ in PARENT_CSVS]
    extra = sorted(p for p in store.parent_artifacts() if re.fullmatch(r"summary_[\w.-]+\.csv", p))
    out = []
    for name in [names[0], *extra, *names[1:]]:
        if name in skip:
            continue
        title = dict(PARENT_CSVS).get(name, f"Study table ({name})")
        df = store.parent_csv(name)
        if df is None or df.empty:
            continue
        caption = f"The parent run's {name}, as logged by the experiment."
        if any("publish" in str(c).lower() or "paper" in str(c).lower() for c in df.columns):
            caption += " Published numbers are shown beside ours."
        slug = re.sub(r"\W+", "-", name.removesuffix(".csv"))
        out.append(Table(slug, title, caption, df.map(fmt)))
    return out


def build_all(data: ReportData, skip: tuple[str, ...] = ()) -> list[Table]:
    """The outcomes per configuration (unless the parent's ``summary.csv`` is that table
    already: the default and clip-ablation studies), the parent's study tables (``skip``: CSVs
    drawn elsewhere, e.g. the lead claim), then every run."""
    tables = parent_tables(data, skip)
    if not data.records:
        return tables
    if not data.is_sweep and data.store.parent_tag(STUDY_TAG) not in OUTCOME_STUDIES:
        tables.insert(0, per_config(data))
    return [*tables, per_run(data)]
