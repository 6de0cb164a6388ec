"""The report's figures, one module each; ``build_all`` keeps those that have data.

Every module has ``build(data: ReportData) -> Figure | None`` and a one-line ``CAPTION``
saying how to read the figure. None means "no data for this figure": the report then says
nothing about it. ``LEAD`` figures open the report, beside the claim table: the horizon
growth curves, credit at the source by distance, the final accuracy by distance, the
propagation profiles and the half-life (or λ₁) against horizon scatter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from rnnstudy.reporting.figures import (
    ablation,
    clipping,
    credit,
    growth,
    heatmap,
    horizon,
    learning,
    propagation,
    reach,
    spectrum,
    sweep_history,
    sweep_importance,
    sweep_parallel,
    vanishing,
)
from rnnstudy.reporting.figures.base import Figure

log = logging.getLogger("rnnstudy.reporting")

#: First, beside the claim table (DESIGN §7).
LEAD: list[Callable] = [growth.build, credit.build, horizon.build, propagation.build, reach.build]

#: Then, in report order.
BUILDERS: list[Callable] = [
    sweep_history.build,
    sweep_importance.build,
    sweep_parallel.build,
    learning.build,
    ablation.build,
    vanishing.build,
    heatmap.build,
    clipping.build,
    spectrum.build,
]


def build_all(data) -> tuple[list[Figure], list[str]]:
    """(figures with data, warnings for figures that failed to draw)."""
    figs, problems = [], []
    if data.runs.empty:
        return figs, problems
    for build in [*LEAD, *BUILDERS]:
        try:
            fig = build(data)
        except Exception as err:  # one broken figure must not cost the whole report
            log.exception("figure %s failed", build.__module__)
            problems.append(f"{build.__module__.rsplit('.', 1)[-1]}: {type(err).__name__}: {err}")
            continue
        if fig is not None:
            fig.lead = build in LEAD
            figs.append(fig)
    return figs, problems


__all__ = ["BUILDERS", "LEAD", "Figure", "build_all"]
