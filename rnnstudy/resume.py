"""Resume an interrupted experiment: find its parent run, skip the points already finished.

Every child run carries the tag ``config_hash``: a hash of its resolved config (everything but
the cosmetic ``name`` and the CPU thread count ``train.threads``). ``rnnstudy experiment FILE --resume`` takes the most recent parent run of
the same experiment and profile (or the one named by ``--resume-from RUN_ID``), treats every
point whose hash matches a FINISHED child as done, marks children left RUNNING by the killed
process as KILLED (``outcome=interrupted``), and runs the rest under that same parent. An
unfinished child that saved a checkpoint (``train.checkpoint_every``, tag ``checkpoint_step``)
is not replaced: it is continued from its checkpoint in the same MLflow run (``resumable``,
``rnnstudy.checkpoint``). ``train.checkpoint_every`` is left out of the hash, like the
threads: it changes how a run executes, not what it computes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rnnstudy import tracking
from rnnstudy.config import RunConfig
from rnnstudy.tracking import CHECKPOINT_TAG, HASH_TAG, KIND_TAG, Run, children

__all__ = [
    "HASH_TAG",
    "KIND_TAG",
    "children",
    "config_hash",
    "finished_by_hash",
    "latest_parent",
    "reopen",
    "resumable",
]


# knobs that change how a run executes, not what it computes: left out of the hash
NOT_HASHED: dict = {"name": True, "train": {"threads", "checkpoint_every"}}


def config_hash(cfg: RunConfig) -> str:
    """16 hex digits of sha256 over the canonical JSON of the config, without ``NOT_HASHED``."""
    data = cfg.model_dump(mode="json", exclude=NOT_HASHED)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def latest_parent(c: Any, exp_id: str, profile: str) -> str | None:
    """The most recent experiment parent run of this MLflow experiment and profile."""
    flt = f"tags.`{KIND_TAG}` = 'experiment' and tags.profile = '{profile}'"
    runs = tracking.search_runs(c, exp_id, flt, ["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def finished_by_hash(runs: list[Run]) -> dict[str, Run]:
    """FINISHED runs keyed by their ``config_hash`` tag (the latest one if there are several)."""
    out: dict[str, Run] = {}
    for r in sorted(runs, key=lambda r: r.info.start_time or 0):
        h = r.data.tags.get(HASH_TAG)
        if h and r.info.status == "FINISHED":
            out[h] = r
    return out


def resumable(runs: list[Run]) -> dict[str, Run]:
    """Unfinished runs that saved a checkpoint, keyed by ``config_hash`` (the latest one if
    there are several); a pruned trial is never continued."""
    out: dict[str, Run] = {}
    for r in sorted(runs, key=lambda r: r.info.start_time or 0):
        tags = r.data.tags
        h = tags.get(HASH_TAG)
        if h and r.info.status != "FINISHED" and CHECKPOINT_TAG in tags:
            if tags.get("outcome") != "pruned":
                out[h] = r
    return out


def reopen(c: Any, parent_id: str, runs: list[Run]) -> int:
    """Set the parent RUNNING again; mark children left RUNNING by a killed process KILLED."""
    c.update_run(parent_id, status="RUNNING")
    stale = [r for r in runs if r.info.status == "RUNNING"]
    for r in stale:
        tracking.set_tags(c, r.info.run_id, {"outcome": "interrupted"})
        c.set_terminated(r.info.run_id, "KILLED")
    return len(stale)
