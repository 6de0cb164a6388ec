"""Study summaries: from the child runs of one experiment to tables and headline metrics.

The experiment file's ``summary: {kind: ...}`` picks the study; without it the default table
gives outcomes per configuration (seeds pooled). Every study also gets the per-point table.

    kind             what the summary shows
    default          success / divergence rate, median steps to solve, mean final metric
    clip_ablation    + clip rate and the largest pre-clip gradient norm (seeds pooled)
    memory_horizon   memory horizon and accuracy by distance per config and per seed
    tbptt            success, accuracy, memory horizon, gradient reach / half-life per k
    init_gain        gradient half-life at init, divergence, success per init x gain
    reproduction     ours beside the published figures of ``summary.published``
    tour             per task x cell median horizon and half-life; whether DESIGN §7's claim held
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnstudy.studies.init_gain import init_gain
from rnnstudy.studies.memory import memory_horizon
from rnnstudy.studies.outcomes import clip_ablation, default_study
from rnnstudy.studies.points import point_table
from rnnstudy.studies.records import RunRecord, collect
from rnnstudy.studies.reproduction import reproduction
from rnnstudy.studies.table import Study, StudyTable
from rnnstudy.studies.tbptt import tbptt
from rnnstudy.studies.tour import tour

STUDY_TAG = "study"  # on the parent run: which study wrote summary.csv
OUTCOME_STUDIES = ("default", "clip_ablation")  # their summary.csv is the outcome table

if TYPE_CHECKING:
    from rnnstudy.experiment import SummarySpec

# The registry of study kinds: the experiment file's ``summary.kind`` (``rnnstudy.experiment.
# StudyKind``) is built from it. A new study = its module here + one entry below.
STUDIES: dict[str, Study] = {
    "default": default_study,
    "clip_ablation": clip_ablation,
    "memory_horizon": memory_horizon,
    "tbptt": tbptt,
    "init_gain": init_gain,
    "reproduction": reproduction,
    "tour": tour,
}


def summarise(records: list[RunRecord], spec: SummarySpec) -> list[StudyTable]:
    """The study's tables (the first one is ``summary.csv``), then the per-point table.
    ``spec.kind`` is one of ``STUDIES`` (the experiment file's ``Literal``, built from it:
    checked at parse)."""
    return [*STUDIES[spec.kind](records, spec), point_table(records)]


__all__ = [
    "OUTCOME_STUDIES",
    "STUDY_TAG",
    "STUDIES",
    "RunRecord",
    "StudyTable",
    "collect",
    "summarise",
]
