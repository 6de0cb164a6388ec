"""Build one report: MLflow store -> figures + tables -> ``<out>/<experiment>/index.html`` and
``report.pdf``, both also logged to the parent run they report (artifacts ``report/index.html``,
``report/report.pdf``: the MLflow UI shows the study's report on its parent run).

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python -c \\
        "from rnnstudy.reporting.build import build_report; print(build_report('tour'))"
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnnstudy import tracking
from rnnstudy.reporting import claim, figures, header, html, pdf, tables
from rnnstudy.reporting import data as data_mod
from rnnstudy.reporting.store import open_store
from rnnstudy.studies import STUDY_TAG

REPORT_FOLDER = "report"  # artifact folder of the report on its parent run


@dataclass
class Report:
    html: Path
    pdf: Path
    figures: list[str]  # slugs, in order
    tables: list[str]
    pdf_pages: int
    runs: int
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    mlflow_url: str = ""  # the parent run (or the runs) in the MLflow UI, training view


def safe_name(name: str) -> str:
    """An experiment name as a folder name (``a/b c`` -> ``a_b_c``)."""
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "experiment"


def lead_first(data: data_mod.ReportData) -> list[tables.Table]:
    """The tables, the one that carries the study's result first (on the first screen): a
    reproduction's ours-beside-published table (``summary.csv``), else the tour's claim (drawn
    from the runs; the parent's copy, ``summary_claim.csv``, not again)."""
    verdict = claim.build(data) if not data.runs.empty else None
    tabs = tables.build_all(data, skip=("summary_claim.csv",) if verdict else ())
    lead = None
    if data.store.parent_tag(STUDY_TAG) == "reproduction":
        lead = next((t for t in tabs if t.slug == "summary"), None)
        tabs = [t for t in tabs if t is not lead]
    if lead is not None:
        lead.title = "Reproduction: ours beside the published figures (summary.csv)"
        tabs = ([verdict] if verdict else []) + tabs
    else:
        lead = verdict
    if lead is not None:
        lead.lead = True
    return ([lead] if lead else []) + tabs


def mlflow_link(store) -> tuple[str, str]:
    """(label, URL) of what the report shows in the MLflow UI: its parent run (which holds the
    report too), else the experiment's runs; the Model-training view (``tracking.run_url``)."""
    base = tracking.ui_base(store.uri)
    if store.parent is not None:
        url = tracking.run_url(store.experiment_id, str(store.parent["run_id"]), base=base)
        return "parent run in MLflow", url
    return "runs in MLflow", tracking.experiment_url(store.experiment_id, base)


def build_report(
    name: str,
    out: str | Path = "reports",
    parent: str = "latest",
    uri: str | None = None,
    attach: bool = True,
) -> Report:
    """Build the report of experiment ``name``'s parent run ``parent`` (latest | all | run id);
    with ``attach``, log it to that parent run (not for ``all``, which pools several)."""
    t0 = time.perf_counter()
    secs: dict[str, float] = {}

    def lap(phase: str) -> None:
        secs[phase] = round(time.perf_counter() - t0 - sum(secs.values()), 3)

    store = open_store(name, parent, uri)
    lap("runs")
    data = data_mod.load(store)
    lap("histories")
    figs, problems = figures.build_all(data)
    lap("figures")
    tabs = lead_first(data)
    head = header.build(store, len(data.runs))
    lap("tables")
    folder = Path(out) / safe_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    pngs = [(f, f.png()) for f in figs]
    link = mlflow_link(store)
    page = html.render(head, pngs, tabs, problems, [link])
    (folder / "index.html").write_text(page, encoding="utf-8")
    lap("html")
    pages = pdf.render(folder / "report.pdf", head, figs, tabs)
    lap("pdf")
    if attach and store.parent is not None and parent != "all":
        rid = str(store.parent["run_id"])
        for f in ("index.html", "report.pdf"):
            tracking.log_artifact(store.client, rid, folder / f, REPORT_FOLDER)
        lap("attach")
    return Report(
        folder / "index.html",
        folder / "report.pdf",
        [f.slug for f in figs],
        [t.slug for t in tabs],
        pages,
        len(data.runs),
        problems,
        secs,
        link[1],
    )
