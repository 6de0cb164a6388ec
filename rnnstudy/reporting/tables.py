"""The report's tables: per configuration (outcomes, final metric, steps to solve), per run,
and the CSVs the parent run carries (``summary.csv`` with published numbers for a
reproduction, ``summary_*.csv``, and for sweeps ``importances.csv``/``trials.csv``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnstudy.reporting.data import ReportData

OUTCOMES = ["solved", "unsolved", "diverged"]
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


def _final(data: ReportData) -> pd.DataFrame:
    """Per run: metric name, final value, chance, final loss, steps to solve, seconds."""
    rows = []
    for _, r in data.runs.iterrows():
        base = data.baseline_of(r)
        key = "final/" + base.metric.split("/", 1)[1]
        final = r.get(f"metrics.{key}", np.nan)
        rows.append(
            {
                "run_id": r["run_id"],
                "metric": base.metric,
                "final": final,
                "chance": base.metric_value,
                "loss": r.get("metrics.final/loss", np.nan),
                "steps_to_solve": r.get("metrics.steps_to_solve", np.nan),
                "seconds": r.get("metrics.time/seconds", np.nan),
            }
        )
    return pd.DataFrame(rows)


def _mean_sd(v: pd.Series) -> str:
    v = pd.to_numeric(v, errors="coerce").dropna()
    if v.empty:
        return "–"
    if len(v) == 1:
        return fmt(float(v.iloc[0]))
    return f"{v.mean():.4g} ± {v.std(ddof=1):.2g}"


def _steps(v: pd.Series) -> str:
    v = pd.to_numeric(v, errors="coerce").dropna()
    if v.empty:
        return "–"
    if len(v) == 1:
        return str(int(v.iloc[0]))
    return f"{int(v.median())} [{int(v.min())}–{int(v.max())}]"


def per_config(data: ReportData) -> Table:
    df = data.runs.merge(_final(data), on="run_id")
    rows = []
    for cfg, g in df.groupby("config", sort=False):
        counts = g["outcome"].value_counts()
        other = int(len(g) - sum(counts.get(o, 0) for o in OUTCOMES))
        rows.append(
            {
                "configuration": cfg,
                "runs": len(g),
                "solved": int(counts.get("solved", 0)),
                "unsolved": int(counts.get("unsolved", 0)),
                "diverged": int(counts.get("diverged", 0)),
                "other": other,
                "metric": ", ".join(dict.fromkeys(g["metric"])),
                "final (mean ± sd)": _mean_sd(g["final"]),
                "chance": fmt(g["chance"].iloc[0]),
                "final loss": _mean_sd(g["loss"]),
                "steps to solve (median [range])": _steps(g["steps_to_solve"]),
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty and (frame["other"] == 0).all():
        frame = frame.drop(columns="other")
    caption = (
        "Seeds pooled per configuration. solved = the task's criterion held (DESIGN §2); "
        "diverged = loss or gradient not finite; other = failed, pruned or still running. "
        "Steps to solve over the solved seeds only."
    )
    return Table("per-config", "Outcomes per configuration", caption, frame.map(fmt))


def per_run(data: ReportData) -> Table:
    df = data.runs.merge(_final(data), on="run_id")
    frame = pd.DataFrame(
        {
            "run": df["run_name"],
            "seed": df["seed"].map(lambda s: "–" if pd.isna(s) else str(int(s))),
            "outcome": df["outcome"],
            "metric": df["metric"],
            "final": df["final"],
            "final loss": df["loss"],
            "steps to solve": df["steps_to_solve"],
            "seconds": df["seconds"],
            "run id": df["run_id"].str[:8],
        }
    )
    if data.is_sweep:
        frame.insert(0, "trial", df["trial"].map(lambda t: "–" if pd.isna(t) else str(int(t))))
    caption = "Every child run; the run id prefix finds it in the MLflow UI (rnnstudy ui)."
    return Table("per-run", "Runs", caption, frame.map(fmt))


def parent_tables(data: ReportData) -> list[Table]:
    store = data.store
    names = [n for n, _ in PARENT_CSVS]
    extra = sorted(p for p in store.parent_artifacts() if re.fullmatch(r"summary_[\w.-]+\.csv", p))
    out = []
    for name in [names[0], *extra, *names[1:]]:
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


def build_all(data: ReportData) -> list[Table]:
    tables = parent_tables(data)
    if not data.runs.empty:
        if not data.is_sweep:
            tables.insert(0, per_config(data))
        tables.append(per_run(data))
    return tables
