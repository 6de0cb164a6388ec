"""The report's figures, one module each; ``build_all`` keeps those that have data.

Every module has ``build(data: ReportData) -> Figure | None`` and a one-line ``CAPTION``
saying how to read the figure. None means "no data for this figure": the report then says
nothing about it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rnnstudy.reporting.figures import (
    ablation,
    clipping,
    distance,
    heatmap,
    learning,
    spectrum,
    sweep_history,
    sweep_importance,
    sweep_parallel,
    vanishing,
)
from rnnstudy.reporting.figures.base import Figure

log = logging.getLogger("rnnstudy.reporting")

#: In report order.
BUILDERS: list[Callable] = [
    sweep_history.build,
    sweep_importance.build,
    sweep_parallel.build,
    learning.build,
    ablation.build,
    vanishing.build,
    heatmap.build,
    clipping.build,
    distance.build,
    spectrum.build,
]


def build_all(data) -> tuple[list[Figure], list[str]]:
    """(figures with data, warnings for figures that failed to draw)."""
    figs, problems = [], []
    if data.runs.empty:
        return figs, problems
    for build in BUILDERS:
        try:
            fig = build(data)
        except Exception as err:  # one broken figure must not cost the whole report
            log.exception("figure %s failed", build.__module__)
            problems.append(f"{build.__module__.rsplit('.', 1)[-1]}: {type(err).__name__}: {err}")
            continue
        if fig is not None:
            figs.append(fig)
    return figs, problems


__all__ = ["BUILDERS", "Figure", "build_all"]
