"""The clipping and memory-horizon studies print their claims by the claim standard."""

from __future__ import annotations

from types import SimpleNamespace

from rnnstudy.config import parse_run
from rnnstudy.studies.memory import horizon_claims
from rnnstudy.studies.outcomes import clip_claims
from rnnstudy.studies.records import RunRecord


def record(data: dict, metrics: dict, outcome: str) -> RunRecord:
    cfg = parse_run(data)
    run = SimpleNamespace(
        data=SimpleNamespace(metrics=metrics, tags={"outcome": outcome}),
        info=SimpleNamespace(status="FINISHED", run_id=str(id(data))),
    )
    return RunRecord(cfg, "x", "x", run)


def test_clip_claim_per_cell_and_setting():
    recs = []
    for seed in range(5):
        for cell, none_diverges in (("rnn", True), ("lstm", False)):
            for clip in ({"mode": "none"}, {"mode": "norm", "value": 1.0}):
                diverged = clip["mode"] == "none" and none_diverges
                data = {"seed": seed, "task": {"name": "adding"}, "model": {"cell": cell}}
                recs.append(
                    record({**data, "clip": clip}, {}, "diverged" if diverged else "unsolved")
                )
    t = clip_claims(recs)
    rows = {r["cell"]: r for r in t.rows}
    assert (
        rows["rnn"]["claim"].startswith("held")
        and rows["rnn"]["diverged none vs clipped"] == "5/5 vs 0/5"
    )
    assert rows["lstm"]["claim"].startswith("not separated")
    assert t.headline["summary/x/claim_held"] in (0.0, 1.0)  # keyed by the config label


def test_memory_claim_per_task_and_hidden():
    recs = []
    task = {"name": "qa_distance", "d_min": 2, "d_max": 60}
    for seed in range(5):
        for cell, h in (("rnn", 10 + seed), ("lstm", 60), ("gru", 40)):
            data = {"seed": seed, "task": task, "model": {"cell": cell, "hidden_size": 16}}
            recs.append(record(data, {"final/learned_d_max": float(h)}, "unsolved"))
    t = horizon_claims(recs)
    assert len(t.rows) == 1 and t.rows[0]["best gated"] == "lstm"
    assert t.rows[0]["claim"].startswith("held: horizon lstm − rnn 48")
