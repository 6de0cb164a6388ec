"""Build one report: MLflow store -> figures + tables -> ``<out>/<experiment>/index.html`` and
``report.pdf``.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python -c \\
        "from rnnstudy.reporting.build import build_report; print(build_report('tour'))"
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnnstudy.reporting import data as data_mod
from rnnstudy.reporting import figures, header, html, pdf, tables
from rnnstudy.reporting.store import open_store


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


def safe_name(name: str) -> str:
    """An experiment name as a folder name (``a/b c`` -> ``a_b_c``)."""
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "experiment"


def build_report(
    name: str, out: str | Path = "reports", parent: str = "latest", uri: str | None = None
) -> Report:
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
    tabs = tables.build_all(data)
    head = header.build(store, len(data.runs))
    lap("tables")
    folder = Path(out) / safe_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    pngs = [(f, f.png()) for f in figs]
    page = html.render(head, pngs, tabs, problems)
    (folder / "index.html").write_text(page, encoding="utf-8")
    lap("html")
    pages = pdf.render(folder / "report.pdf", head, figs, tabs)
    lap("pdf")
    return Report(
        folder / "index.html",
        folder / "report.pdf",
        [f.slug for f in figs],
        [t.slug for t in tabs],
        pages,
        len(data.runs),
        problems,
        secs,
    )
