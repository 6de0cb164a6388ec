"""Tour-size rows (issue 16): the sizes researchers run, hidden 64, batch 64, the tour's tasks.

Steady state: for each point of ``experiments/tour.yaml`` (seed 0; its task, cell, optimiser,
clipping and probe schedule), in one process, alternating fits a c b / b c a: (a) the plain
loop of ``benchmarks.reference`` on the same batches and weights, (b) ``run_one`` with the
default instruments (MLflow on), (c) the same Lightning module and logger with none. (b) is
amortised like the main grid's (b): over the point's ``train.max_steps``, its probe steps on
the default schedule weighted in, plus the logger's writes. Validation is left out here (both
sides validate in the end-to-end row).

End to end: ``benchmarks/tour_overhead.py``'s fresh processes, a plain script against
``rnnstudy run`` (LSTM, qa_distance with 1 fact and d in [2, 50], hidden 64, batch 64, probes
every 100 steps as the tour; startup, validation and the end of the run included), alternating.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks import tour_overhead as to  # bound at start: its file may change during a run
from benchmarks.clocks import Clock, MetricCounter, StepClock
from benchmarks.common import CLOCKS, ROOT, median
from benchmarks.modes import add_steps, rnnstudy_fit
from benchmarks.reference import plain_fit
from rnnstudy.config import RunConfig, apply_overrides, parse_run
from rnnstudy.experiment import expand, load_experiment
from rnnstudy.instruments.schedule import should_probe
from rnnstudy.tasks import build_task

TOUR = ROOT / "experiments" / "tour.yaml"


def tour_points(cells: list[str], path: Path = TOUR) -> list[tuple[str, RunConfig]]:
    """(task label, run config) of every tour point with seed 0 and a cell in ``cells``."""
    out = []
    for p in expand(load_experiment(path)):
        cfg = p.config
        if cfg.seed == 0 and cfg.model.cell in cells:
            out.append((p.values.get("cases", {}).get("label", cfg.task.name), cfg))
    return out


def with_steps(cfg: RunConfig, steps: int, instruments: bool) -> RunConfig:
    """``cfg`` cut to ``steps`` steps, validation only after the last one."""
    data = cfg.model_dump()
    data = apply_overrides(
        data,
        {"train.max_steps": steps, "train.val_every": 10**9, "probe.enabled": instruments},
    )
    data["train"]["stop_when_solved"] = False
    return parse_run(data)


def probe_share(cfg: RunConfig) -> tuple[int, float]:
    """(probe steps, their share) of a ``cfg.train.max_steps`` run on ``cfg``'s schedule."""
    n = cfg.train.max_steps
    k = sum(should_probe(i, cfg.probe.every, cfg.probe.log_spaced_early) for i in range(n))
    return k, k / n


def tour_row(
    label: str,
    cfg: RunConfig,
    device: torch.device,
    counter: MetricCounter,
    per_metric: float,
    timed: int = 120,
    warmup: int = 2,
    rounds: int = 3,
) -> dict[str, Any]:
    """Steady-state (a), (b), (c) of one tour point, on both clocks."""
    keys = ("a", "c", "b_plain", "b_probe")
    samples: dict[str, dict[str, list[float]]] = {k: {key: [] for key in keys} for k in CLOCKS}
    metrics: dict[str, list[int]] = {"b_plain": [], "b_probe": []}
    task = build_task(cfg.task)
    plain_fit(with_steps(cfg, 2, False), task, device)  # warm the kernels and the allocator
    per_round = [timed // rounds + (r < timed % rounds) for r in range(rounds)]
    for r, k in enumerate(per_round):
        for mode in "acb" if r % 2 == 0 else "bca":
            run = with_steps(cfg, warmup + k, mode == "b")
            if mode == "a":
                clock = Clock(device)
                plain_fit(run, task, device, clock)
                logged = [0] * k
            else:
                timer = StepClock(device, counter)
                rnnstudy_fit(run, build_task(run.task), [timer])  # fresh: a curriculum mutates
                clock, logged = timer.clock, timer.metrics_per_step()
            add_steps(mode, clock, logged, run, warmup, samples, metrics)
    n_probe, share = probe_share(cfg)
    m_probe = median(metrics["b_probe"]) if metrics["b_probe"] else median(metrics["b_plain"])
    per_step = (1 - share) * median(metrics["b_plain"]) + share * m_probe
    row: dict[str, Any] = {
        "task": label,
        "cell": cfg.model.cell,
        "L": int(task.generate(0, 1).x.shape[1]),
        "run_steps": cfg.train.max_steps,
        "probes_per_run": n_probe,
        "metrics_per_step": per_step,
        "loadavg": os.getloadavg(),
        "samples": samples,
    }
    for kind in CLOCKS:
        t = {key: median(v) for key, v in samples[kind].items()}
        t["b"] = (1 - share) * t["b_plain"] + share * t["b_probe"] + per_step * per_metric
        row[kind] = {
            "seconds": t,
            "ratio": {"b/a": t["a"] / t["b"], "c/a": t["a"] / t["c"], "b/c": t["c"] / t["b"]},
        }
    return row


def end_to_end(steps: int, repeats: int) -> dict[str, Any]:
    """Fresh plain-script and ``rnnstudy run`` processes, alternating, ``repeats`` pairs;
    seconds on both clocks and plain / rnnstudy ratios of the medians."""
    runs: dict[str, list[tuple[float, float]]] = {"plain": [], "rnnstudy": []}
    with tempfile.TemporaryDirectory(prefix="rnnstudy-bench-e2e-") as d:
        tmp = Path(d)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        env.update(MPLBACKEND="agg", PYTHONWARNINGS="ignore")
        to._cli(20, env, tmp)  # create the store and warm the file cache
        for r in range(repeats):
            pair = [
                ("plain", lambda: to._plain(steps, env)),
                ("rnnstudy", lambda: to._cli(steps, env, tmp)),
            ]
            for kind, fn in pair if r % 2 == 0 else pair[::-1]:
                runs[kind].append(fn())
                wall, cpu = runs[kind][-1]
                print(
                    f"  end to end {kind:8s} {steps} steps: {cpu:.1f} s CPU, {wall:.1f} s wall",
                    flush=True,
                )
    out: dict[str, Any] = {"steps": steps, "repeats": repeats, "runs": runs}
    for i, kind in ((0, "wall"), (1, "cpu")):
        p = statistics.median(x[i] for x in runs["plain"])
        q = statistics.median(x[i] for x in runs["rnnstudy"])
        out[kind] = {"plain": p, "rnnstudy": q, "ratio": p / q}
    return out
