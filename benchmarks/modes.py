"""(b) rnnstudy with its default instruments, (c) rnnstudy with none, (d) one probe step, and
``bench_one``: all of them against (a) for one cell and length, on both clocks."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import pytorch_lightning as pl
import torch

from benchmarks.clocks import Clock, MetricCounter, StepClock
from benchmarks.common import (
    CLOCKS,
    EXPERIMENT,
    GATES,
    Settings,
    config,
    median,
    minor_faults,
    train_batch,
)
from benchmarks.reference import plain_fit
from rnnstudy import tracking
from rnnstudy.config import RunConfig
from rnnstudy.data import TaskData
from rnnstudy.instruments import Instruments
from rnnstudy.instruments.clipping import clip_gradients
from rnnstudy.instruments.gradtime import GradTime
from rnnstudy.instruments.lyapunov import Lyapunov
from rnnstudy.instruments.propagation import Propagation
from rnnstudy.instruments.record import StepRecord
from rnnstudy.instruments.schedule import should_probe
from rnnstudy.mlflow_logger import BufferedMLflowLogger
from rnnstudy.module import SequenceModule
from rnnstudy.runner import make_trainer, quiet_lightning, run_one
from rnnstudy.tasks import Task, build_task

PROBES = ("plain", "grad", "full")  # (d): a plain step, the gradient part alone, the full probe


def rnnstudy_fit(cfg: RunConfig, task: Task | None, callbacks: list) -> None:
    """(b) with ``cfg.probe.enabled``: the real ``run_one``. (c) otherwise: the same module,
    Trainer and MLflow logger, but no callbacks at all (``run_one`` always adds GradNorms)."""
    if cfg.probe.enabled:
        run_one(cfg, experiment=EXPERIMENT, callbacks=callbacks, progress=False, task=task)
        return
    task = task or build_task(cfg.task)
    quiet_lightning()
    client = tracking.client()
    exp_id = tracking.experiment_id(client, EXPERIMENT)
    run_id = tracking.start_run(client, exp_id, cfg.name + "-off", {}, {"mode": "off"})
    logger = BufferedMLflowLogger(client, run_id)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task)
    data = TaskData(task, cfg.seed, cfg.train.batch_size, cfg.train.val_size)
    make_trainer(cfg, logger, callbacks, progress=False).fit(module, datamodule=data)
    logger.flush()
    client.set_terminated(run_id, "FINISHED")


def default_probe(cfg: RunConfig) -> Instruments:
    """The probe ``run_one`` attaches by default: gradient norms, propagation profile, Lyapunov."""
    p = cfg.probe
    parts = [GradTime(p.every, p.log_spaced_early)]
    if p.propagation:
        parts.append(Propagation(p.every, p.log_spaced_early, p.sources))
    if p.lyapunov:
        parts.append(Lyapunov(p.every, p.log_spaced_early, p.lyapunov))
    return Instruments(parts, seed=cfg.seed)


def probe_pairs(
    cfg: RunConfig, task: Task, device: torch.device, reps: int
) -> dict[str, dict[str, list[float]]]:
    """Alternate a plain training step, a probe step with the gradient part alone
    (``GradTime(every, early)``) and a probe step with the default probe (``default_probe``) of
    the same module, ``reps`` times after one round of warm-up. A probe step is what the probe
    adds: the windows captured during forward/backward, then the driver's ``measure``.
    Returns {clock: {"plain" | "grad" | "full": [seconds]}}."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task).to(device)
    opt = module.configure_optimizers()
    probes = {
        "grad": Instruments([GradTime(cfg.probe.every, cfg.probe.log_spaced_early)]),
        "full": default_probe(cfg),
    }
    out: dict[str, dict[str, list[float]]] = {k: {p: [] for p in PROBES} for k in CLOCKS}
    step = 0
    for rep in range(reps + 1):
        for kind in PROBES if rep % 2 == 0 else PROBES[::-1]:
            capture = kind != "plain"
            batch = train_batch(task, cfg, step, device)
            step += 1
            clock = Clock(device)
            clock.mark()
            loss, wins = module.forward_capture(batch, capture=capture)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if capture:
                record = StepRecord(0, batch, float(loss), module.model, None, tuple(wins), 0)
                probes[kind].measure(record)
            clip_gradients(module.parameters(), cfg.clip.mode, cfg.clip.value)
            opt.step()
            clock.mark()
            if rep:
                for c in CLOCKS:
                    out[c][kind].append(clock.intervals(c)[0])
    return out


def recurrent_flops(cell: str, T: int, B: int, H: int, inputs: int) -> float:
    """Matrix-product FLOPs of one training step: forward W_hh and W_ih, backward twice that."""
    return 3.0 * T * 2 * B * GATES[cell] * H * (H + inputs)


def warm_up(s: Settings, cell: str, device: torch.device) -> None:
    """Tiny (a), (b), (c) fits: every lazily imported module and first-call cost paid."""
    tiny = Settings(**{**asdict(s), "hidden": 8, "batch": 4})
    for instruments in (True, False):
        warm = config(tiny, cell, 10, 2, instruments)
        rnnstudy_fit(warm, build_task(warm.task), [])
    plain_fit(warm, build_task(warm.task), device)


def bench_one(
    s: Settings, cell: str, T: int, device: torch.device, counter: MetricCounter, per_metric: float
) -> dict:
    """Time (a), (b), (c), (d) for one cell and length, on both clocks."""
    n = s.timed_steps(T)
    per_round = [n // s.rounds + (r < n % s.rounds) for r in range(s.rounds)]
    task = build_task(config(s, cell, T, 1, True).task)
    keys = ("a", "c", "b_plain", "b_probe", "d_plain", "d_grad", "d_probe")
    samples: dict[str, dict[str, list[float]]] = {k: {key: [] for key in keys} for k in CLOCKS}
    metrics: dict[str, list[int]] = {"b_plain": [], "b_probe": []}  # metrics logged per step
    faults: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    plain_fit(config(s, cell, T, 2, False), task, device)  # warm the kernels and the allocator
    for r, k in enumerate(per_round):
        for mode in "acb" if r % 2 == 0 else "bca":
            cfg = config(s, cell, T, s.warmup + k, mode == "b")
            f0 = minor_faults()
            if mode == "a":
                clock = Clock(device)
                plain_fit(cfg, task, device, clock)
                logged = [0] * cfg.train.max_steps
            else:
                timer = StepClock(device, counter)
                rnnstudy_fit(cfg, task, [timer])
                clock, logged = timer.clock, timer.metrics_per_step()
            faults[mode].append((minor_faults() - f0) / cfg.train.max_steps)
            add_steps(mode, clock, logged, cfg, s.warmup, samples, metrics)
    d = probe_pairs(config(s, cell, T, 1, True), task, device, s.probe_reps)
    for kind in CLOCKS:
        for p in PROBES:
            samples[kind]["d_probe" if p == "full" else f"d_{p}"] = d[kind][p]

    # (b) over a default-length run: its share of probe steps, and the logger's writes
    probe_cfg = config(s, cell, T, s.run_steps, True).probe
    n_probe = sum(
        should_probe(i, probe_cfg.every, probe_cfg.log_spaced_early) for i in range(s.run_steps)
    )
    share = n_probe / s.run_steps
    m_probe = median(metrics["b_probe"]) if metrics["b_probe"] else median(metrics["b_plain"])
    per_step = (1 - share) * median(metrics["b_plain"]) + share * m_probe
    t_flush = per_step * per_metric
    flops = recurrent_flops(cell, T, s.batch, s.hidden, s.alphabet)
    row: dict[str, Any] = {
        "cell": cell,
        "T": T,
        "timed_steps": n,
        "probes_per_run": n_probe,
        "metrics_per_step": per_step,
        "flush_seconds_per_step": t_flush,
        "minor_faults_per_step": {m: median(v) for m, v in faults.items()},
        "flops_per_step": flops,
        "loadavg": os.getloadavg(),
        "samples": samples,
    }
    for kind in CLOCKS:
        t = {key: median(v) for key, v in samples[kind].items()}
        t_probe = t["b_probe"] if samples[kind]["b_probe"] else t["d_probe"]
        t["b"] = (1 - share) * t["b_plain"] + share * t_probe + t_flush
        row[kind] = {
            "seconds": t,
            "seq_per_s": {m: s.batch / t[m] for m in ("a", "b", "c")},
            "ratio": {
                "b/a": t["a"] / t["b"],
                "c/a": t["a"] / t["c"],
                "b/c": t["c"] / t["b"],
                "probe/plain": t["d_probe"] / t["d_plain"],
                "grad/plain": t["d_grad"] / t["d_plain"],
                "probe/a": t["d_probe"] / t["a"],
                "b_probe/b_plain": t["b_probe"] / t["b_plain"],
            },
            "gflops_a": flops / t["a"] / 1e9,
        }
    return row


def add_steps(
    mode: str, clock: Clock, logged: list, cfg: RunConfig, warmup: int, samples: dict, metrics: dict
) -> None:
    """File one fit's timed steps (after ``warmup``) under ``mode``; mode "b" (rnnstudy with
    instruments) splits its steps into probe and plain steps and keeps their logged-metric counts."""
    intervals = {kind: clock.intervals(kind) for kind in CLOCKS}
    for step in range(warmup, cfg.train.max_steps):
        key = mode
        if mode == "b":
            probe = should_probe(step, cfg.probe.every, cfg.probe.log_spaced_early)
            key = "b_probe" if probe else "b_plain"
            metrics[key].append(logged[step])
        for kind in CLOCKS:
            samples[kind][key].append(intervals[kind][step])
