"""The tour's claim (rnnstudy.studies.tour) on synthetic run records: the speed form, censored
seeds, too few seeds, the mechanism line, rates not half-lives."""

from __future__ import annotations

import math
from types import SimpleNamespace

from rnnstudy.config import parse_run
from rnnstudy.studies.records import RunRecord
from rnnstudy.studies.tour import tour

D_MAX = 60  # buckets of [4, 60]: upper edges 15, 26, 37, 48, 60


def record(task: str, cell: str, seed: int, metrics: dict[str, float]) -> RunRecord:
    cfg = parse_run(
        {"seed": seed, "model": {"cell": cell}, "task": {"name": task, "d_min": 4, "d_max": D_MAX}}
    )
    run = SimpleNamespace(
        data=SimpleNamespace(metrics=metrics, tags={"outcome": "unsolved"}),
        info=SimpleNamespace(status="FINISHED", run_id=f"{task}{cell}{seed}"),
    )
    return RunRecord(cfg, f"{cell} · {task} · seed={seed}", f"{cell} · {task}", run)


def steps(reached: dict[int, float]) -> dict[str, float]:
    return {f"final/steps_to/{d}": float(s) for d, s in reached.items()}


def seeds_table(task, per_cell: dict[str, list[dict[str, float]]]) -> list[RunRecord]:
    return [
        record(task, cell, seed, m) for cell, ms in per_cell.items() for seed, m in enumerate(ms)
    ]


def test_speed_claim_held_with_censored_rnn_seeds():
    """The RNN's median seed reaches 15 (at 1,200 steps) and nothing further; two RNN seeds
    never reach 15 (censored). The LSTM reaches 60 by step 500, 15 by 100-200."""
    rnn = [
        {**steps({15: 900}), "final/learned_d_max": 15},
        {**steps({15: 1000}), "final/learned_d_max": 15},
        {**steps({15: 1200}), "final/learned_d_max": 15},
        {"final/learned_d_max": 0},
        {"final/learned_d_max": 0},
    ]
    lstm = [
        {**steps({15: 100 + 20 * i, 26: 200, 37: 300, 48: 400, 60: 500}), "final/learned_d_max": 60}
        for i in range(5)
    ]
    summary, verdict = tour(seeds_table("delayed_recall", {"rnn": rnn, "lstm": lstm}))
    line = verdict.rows[0]
    assert line["d*"] == 15 and line["fastest gated"] == "lstm"
    assert line["rnn steps"] == 1200 and line["gated steps"] == 140  # median with 2 inf
    assert line["verdict"] == "held" and line["pairs"] == "25/25"
    assert line["claim"].startswith("held: steps ratio rnn/lstm 8.57")
    assert summary.headline["summary/delayed_recall/claim_held"] == 1.0
    rows = {r["cell"]: r for r in summary.rows}
    assert rows["lstm"]["median_horizon"] == "≥ 60" and rows["rnn"]["median_horizon"] == "15"


def test_rnn_reaching_everything_later_is_still_the_speed_gap():
    """Both reach d_max: d* = 60, and the claim is about how many steps it took."""
    rnn = [{**steps({15: 300, 60: 1500 + 100 * i}), "final/learned_d_max": 60} for i in range(5)]
    gru = [{**steps({15: 100, 60: 300 + 10 * i}), "final/learned_d_max": 60} for i in range(5)]
    _, verdict = tour(seeds_table("qa_distance", {"rnn": rnn, "gru": gru}))
    line = verdict.rows[0]
    assert line["d*"] == 60 and line["verdict"] == "held"
    assert line["ratio"] == 1700 / 320


def test_similar_speeds_are_not_separated_and_not_held():
    rnn = [{**steps({15: s}), "final/learned_d_max": 15} for s in (200, 300, 400, 250, 350)]
    lstm = [{**steps({15: s}), "final/learned_d_max": 15} for s in (300, 200, 350, 400, 250)]
    summary, verdict = tour(seeds_table("copy", {"rnn": rnn, "lstm": lstm}))
    assert verdict.rows[0]["verdict"] == "not separated"
    assert summary.headline["summary/copy/claim_held"] == 0.0


def test_two_seeds_cannot_hold():
    rnn = [{**steps({15: 1000}), "final/learned_d_max": 15}] * 2
    lstm = [{**steps({15: 100, 60: 200}), "final/learned_d_max": 60}] * 2
    _, verdict = tour(seeds_table("copy", {"rnn": rnn, "lstm": lstm}))
    assert verdict.rows[0]["verdict"] == "not separated"
    assert "fewer than 5 seeds" in verdict.rows[0]["claim"]


def test_rnn_reaching_nothing_uses_the_first_gated_distance():
    rnn = [{"final/learned_d_max": 0}] * 5
    lstm = [{**steps({15: 100, 26: 200}), "final/learned_d_max": 26}] * 5
    _, verdict = tour(seeds_table("copy", {"rnn": rnn, "lstm": lstm}))
    line = verdict.rows[0]
    assert line["d*"] == 15 and math.isinf(line["ratio"]) and line["verdict"] == "held"


def test_mechanism_line_and_rates_not_half_lives():
    """Credit slopes come from the records (last probe value here, no history client); the
    propagation column aggregates rates: a rate interval containing 0 reads "no decay"."""
    rnn = [
        {"credit/l0/decay_per_step": -0.4 - 0.01 * i, "propagation/l0/decay_per_step": -0.2}
        for i in range(5)
    ]
    lstm = [
        {"credit/l0/decay_per_step": -0.1 - 0.01 * i, "propagation/l0/decay_per_step": r}
        for i, r in enumerate((1e-4, -2e-4, 3e-4, -1e-4, 0.0))
    ]
    for m in rnn + lstm:
        m.update(steps({15: 100}))
    summary, verdict = tour(seeds_table("delayed_recall", {"rnn": rnn, "lstm": lstm}))
    line = verdict.rows[0]
    assert line["rnn credit decays faster (end)"].startswith("lstm: held")
    rows = {r["cell"]: r for r in summary.rows}
    assert rows["lstm"]["half-life"] == "no decay"
    assert rows["rnn"]["half-life"] == f"{math.log(2) / 0.2:.3g}"


def test_credit_at_init_is_the_step_0_probe_only():
    """ "init" is the probe at step 0; a run whose first logged slope comes later (copy: the
    schedule starts on one distance, so step 0 has no slope) has no value at init, and the
    line says so instead of passing a trained network's slope off as the initial one."""

    def with_history(rec: RunRecord, hist: list[tuple[int, float]]) -> RunRecord:
        rec._history["credit/l0/decay_per_step"] = hist
        rec.client = object()  # history() reads the cache above; never called
        return rec

    recs = []
    for cell, base in (("rnn", -0.5), ("lstm", -0.1)):
        for seed in range(5):
            m = {**steps({15: 100}), "credit/l0/decay_per_step": base}
            rec = record("delayed_recall", cell, seed, m)
            recs.append(with_history(rec, [(0, base - 0.01 * seed), (300, base)]))
    line = tour(recs)[1].rows[0]
    assert line["rnn credit decays faster (init)"].startswith("lstm: held Δ-0.4")

    late = []
    for cell, base in (("rnn", -0.5), ("lstm", -0.1)):
        for seed in range(5):
            rec = record("copy", cell, seed, {**steps({15: 100}), "credit/l0/decay_per_step": base})
            late.append(with_history(rec, [(300, base - 0.01 * seed), (400, base)]))
    summary, verdict = tour(late)
    line = verdict.rows[0]
    assert line["rnn credit decays faster (init)"] == "lstm: n/a (no credit slope at step 0)"
    assert line["rnn credit decays faster (end)"].startswith("lstm: held")
    assert {r["credit slope init"] for r in summary.rows} == {"n/a"}
