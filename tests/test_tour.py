"""The tour's claim (rnnstudy.studies.tour) on synthetic run records."""

from __future__ import annotations

import math
from types import SimpleNamespace

from rnnstudy.config import parse_run
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.tour import claim, tour

D_MAX = 60


def record(task: str, cell: str, seed: int, metrics: dict[str, float]) -> RunRecord:
    cfg = parse_run(
        {"seed": seed, "model": {"cell": cell}, "task": {"name": task, "d_min": 4, "d_max": D_MAX}}
    )
    run = SimpleNamespace(
        data=SimpleNamespace(metrics=metrics, tags={"outcome": "unsolved"}),
        info=SimpleNamespace(status="FINISHED", run_id=f"{task}{cell}{seed}"),
    )
    return RunRecord(cfg, f"{cell} · {task} · seed={seed}", f"{cell} · {task}", run)


def test_claim_rule():
    assert claim(19, {"lstm": 60, "gru": 47.5}, 60)[0]  # 60 >= max(57, 30)
    assert not claim(21, {"lstm": 60, "gru": 60}, 60)[0]  # 60 < 63
    assert not claim(0, {"lstm": 60}, 60)[0]  # the RNN learned nothing
    assert not claim(60, {"lstm": 60}, 60)[0]  # the RNN reached d_max: range too short
    assert not claim(5, {"lstm": 20, "gru": 25}, 60)[0]  # gated below d_max / 2
    held, why = claim(10, {"lstm": 60, "gru": 30}, 60)
    assert held and why.startswith("held: rnn 10 in (0, 60); lstm ≥ 60 >= max(3 x rnn")
    assert claim(math.nan, {"lstm": 60}, 60) == (
        False,
        "MISSED: horizons missing (failed or unfinished runs)",
    )


def test_tour_tables_from_records():
    recs = []
    for seed, (rnn, lstm, gru) in enumerate([(15, 60, 35), (23, 60, 60)]):
        recs.append(
            record(
                "delayed_recall",
                "rnn",
                seed,
                {"final/learned_d_max": rnn, "gradtime/l0/half_life": 3.0},
            )
        )
        recs.append(
            record(
                "delayed_recall",
                "lstm",
                seed,
                {"final/learned_d_max": lstm, "gradtime/l0/half_life": 9.0},
            )
        )
        recs.append(
            record(
                "delayed_recall",
                "gru",
                seed,
                {
                    "final/learned_d_max": gru,
                    "propagation/l0/half_life": 20.0,
                    "gradtime/l0/half_life": 1.0,
                },
            )
        )
        recs.append(record("qa_distance", "rnn", seed, {"final/memory_horizon": 0.0}))
        recs.append(record("qa_distance", "lstm", seed, {"final/memory_horizon": 60.0}))
    summary, verdict = tour(recs)
    rows = {(r["task"], r["cell"]): r for r in summary.rows}
    assert rows["delayed_recall", "rnn"]["median_horizon"] == "19"
    assert rows["delayed_recall", "rnn"]["horizons"] == "15 23"
    assert rows["delayed_recall", "lstm"]["median_horizon"] == "≥ 60"
    assert rows["delayed_recall", "gru"]["median_horizon"] == "47.5"
    assert rows["delayed_recall", "gru"]["median_half_life"] == 20.0  # propagation first
    assert rows["delayed_recall", "gru"]["half_life_from"] == "propagation"
    lines = {r["task"]: r for r in verdict.rows}
    assert lines["delayed_recall"]["claim"].startswith("held: rnn 19 in (0, 60); lstm ≥ 60")
    assert lines["delayed_recall"]["rnn_half_life_shortest"] == "yes"
    assert lines["qa_distance"]["claim"].startswith("MISSED: rnn 0 NOT in (0, 60)")
    assert summary.headline["summary/delayed_recall/claim_held"] == 1.0
    assert summary.headline["summary/qa_distance/claim_held"] == 0.0
    assert "MISSED" in verdict.text()


def test_negative_half_life_is_growth_not_short():
    recs = [
        record("copy", "rnn", 0, {"final/learned_d_max": 6, "gradtime/l0/half_life": -50.0}),
        record("copy", "lstm", 0, {"final/learned_d_max": 30, "gradtime/l0/half_life": 8.0}),
    ]
    _, verdict = tour(recs)
    assert verdict.rows[0]["rnn_half_life_shortest"] == "no"
