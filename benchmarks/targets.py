"""The targets the benchmark is judged against, and one line per target: the worst value on the
primary clock, the other clock in brackets, met or missed."""

from __future__ import annotations

from typing import Any

from benchmarks.common import CLOCKS, div

TARGETS = {
    "b/a": 0.90,  # issue 7: rnnstudy with every default instrument vs the plain loop
    "c/a": 0.95,  # issue 7: the harness alone
    "b/c": 0.90,  # issues 3, 11, 16: every instrument on the default schedule, on vs off
    "probe/plain": 2.0,  # issue 3: one probe step / one plain step
    "lstm probe/plain": 1.5,  # issue 16: the LSTM probe at T = 1000
    "T1000/T100": 11.0,  # issue 7: time per iteration
    "mem b/a": 1.2,  # issue 7
    "mem probe": 2.0,  # issue 3: memory with probing / without
    "tour b/a": 0.95,  # issue 16: steady state at tour size
    "e2e": 0.80,  # issue 16: a 2,000-step tour-size run end to end, startup included
}


def fmt(x: float, digits: int = 2) -> str:
    return "–" if x != x else f"{x:.{digits}f}"


def check(value: float, target: float, upper: bool) -> str:
    if value != value:
        return "–"
    return "met" if (value <= target if upper else value >= target) else "**missed**"


def other(P: str) -> str:
    return CLOCKS[1 - CLOCKS.index(P)]


def t_scaling(rows: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    """{(cell, clock): {mode: time per step at T=1000 / at T=100}}."""
    by = {(r["cell"], r["T"]): r for r in rows}
    out = {}
    for cell in dict.fromkeys(r["cell"] for r in rows):
        if (cell, 100) in by and (cell, 1000) in by:
            for kind in CLOCKS:
                lo, hi = by[(cell, 100)][kind]["seconds"], by[(cell, 1000)][kind]["seconds"]
                out[(cell, kind)] = {k: hi[k] / lo[k] for k in "abc"}
    return out


def throughput_lines(rows: list[dict], P: str) -> list[str]:
    Q, tg, lines = other(P), TARGETS, []
    for key, label in (
        ("b/a", "(b)/(a) throughput"),
        ("c/a", "(c)/(a) throughput"),
        ("b/c", "every instrument on / off at the default probe schedule (issues 3, 11, 16)"),
    ):
        v, o, where = min(
            (r[P]["ratio"][key], r[Q]["ratio"][key], f"{r['cell']} T={r['T']}") for r in rows
        )
        lines.append(
            f"{label} ≥ {tg[key]}: worst {fmt(v, 3)} [{fmt(o, 3)}] ({where}) — "
            + check(v, tg[key], False)
        )
    longest = max(r["T"] for r in rows)
    for r in rows:
        if r["T"] != longest:
            continue
        for key, part in (("grad/plain", "gradient part alone"), ("probe/plain", "full probe")):
            v, o = r[P]["ratio"][key], r[Q]["ratio"][key]
            limits = [("probe/plain", "issue 3")]
            if r["cell"] == "lstm":
                limits.append(("lstm probe/plain", "issue 16"))
            verdict = "; ".join(f"≤ {tg[t]} ({who}) {check(v, tg[t], True)}" for t, who in limits)
            lines.append(
                f"(d) one probe step / one plain step, {part}, {r['cell']} T={r['T']}: "
                f"{fmt(v)} [{fmt(o)}] — {verdict}"
            )
    scaling = t_scaling(rows)
    for cell in dict.fromkeys(r["cell"] for r in rows):
        if (cell, P) in scaling:
            v, o = max(scaling[(cell, P)].values()), max(scaling[(cell, Q)].values())
            lines.append(
                f"T=1000 / T=100 time per iteration ≤ {tg['T1000/T100']}, {cell}: worst of (a), "
                f"(b), (c) {fmt(v, 1)} [{fmt(o, 1)}] — {check(v, tg['T1000/T100'], True)}"
            )
    return lines


def memory_lines(rows: list[dict]) -> list[str]:
    tg, lines = TARGETS, []
    measured = [r for r in rows if r.get("memory")]
    if not measured:
        return lines
    v, where = max(
        (div(r["memory"]["b"]["peak"], r["memory"]["a"]["peak"]), f"{r['cell']} T={r['T']}")
        for r in measured
    )
    lines.append(
        f"peak memory (b)/(a) ≤ {tg['mem b/a']}: worst {fmt(v)} ({where}) — "
        + check(v, tg["mem b/a"], True)
    )
    longest = max(r["T"] for r in rows)
    for r in measured:
        if r["T"] == longest:
            v = div(r["memory"]["b"]["peak"], r["memory"]["c"]["peak"])
            lines.append(
                f"memory with probing / without ≤ {tg['mem probe']} (issue 3), {r['cell']} "
                f"T={r['T']}: {fmt(v)} — {check(v, tg['mem probe'], True)}"
            )
    return lines


def tour_lines(res: dict[str, Any], P: str) -> list[str]:
    Q, tg, lines = other(P), TARGETS, []
    tour = res.get("tour") or []
    if tour:
        for key, target, label in (
            ("b/a", tg["tour b/a"], "tour size, steady state, rnnstudy / plain (issue 16)"),
            ("b/c", tg["b/c"], "tour size, every instrument on / off (issues 11, 16)"),
        ):
            v, o, where = min(
                (r[P]["ratio"][key], r[Q]["ratio"][key], f"{r['cell']} {r['task']}") for r in tour
            )
            lines.append(
                f"{label} ≥ {target}: worst {fmt(v, 3)} [{fmt(o, 3)}] ({where}) — "
                + check(v, target, False)
            )
    e2e = res.get("end_to_end")
    if e2e and "error" not in e2e:
        v, o = e2e[P]["ratio"], e2e[Q]["ratio"]
        lines.append(
            f"tour size, end to end ({e2e['steps']} steps, fresh processes, startup included) "
            f"≥ {tg['e2e']} (issue 16): {fmt(v, 3)} [{fmt(o, 3)}] — {check(v, tg['e2e'], False)}"
        )
    return lines


def target_lines(res: dict[str, Any]) -> list[str]:
    """Every target line of a result, on its primary clock."""
    P = res["primary_clock"]
    rows = res["rows"]
    return throughput_lines(rows, P) + tour_lines(res, P) + memory_lines(rows)
