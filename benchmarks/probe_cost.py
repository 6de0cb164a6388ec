"""The cost of each part of one probe (issue 11, "Cost"): on the batch a step has just trained
on, ``run_probe`` with the gradient norms alone, the propagation profile alone, the Lyapunov
exponents alone, and all three as the default probe does them (the profile then shares the
gradient's backward pass), each against a plain training step of the same module.

Seconds are medians over ``reps`` rounds after one warm-up round; the order of the parts
alternates between rounds. The probe's settings are the run config's defaults
(``probe.sources`` source steps, ``probe.lyapunov`` exponents)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from benchmarks.clocks import Clock
from benchmarks.common import CLOCKS, median, train_batch
from rnnstudy.config import RunConfig
from rnnstudy.instruments.clipping import clip_gradients
from rnnstudy.instruments.probe import run_probe
from rnnstudy.module import SequenceModule
from rnnstudy.tasks import Task

PARTS = ("gradients", "propagation", "lyapunov", "full")


def part_kwargs(cfg: RunConfig, part: str) -> dict[str, Any]:
    """``run_probe`` keyword arguments of one part, e.g. propagation:
    ``{"gradients": False, "sources": 4, "lyapunov": 0}`` with the default config."""
    S, k = cfg.probe.sources, cfg.probe.lyapunov
    return {
        "gradients": {"gradients": True, "sources": 0, "lyapunov": 0},
        "propagation": {"gradients": False, "sources": S, "lyapunov": 0},
        "lyapunov": {"gradients": False, "sources": 0, "lyapunov": k},
        "full": {"gradients": True, "sources": S, "lyapunov": k},
    }[part]


def probe_parts(cfg: RunConfig, task: Task, device: torch.device, reps: int) -> dict[str, Any]:
    """{clock: {"plain" | part: seconds}} and {clock: {part: seconds / plain step}}."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task).to(device)
    opt = module.configure_optimizers()
    gen = torch.Generator().manual_seed(cfg.seed)
    samples: dict[str, dict[str, list[float]]] = {
        c: {p: [] for p in ("plain", *PARTS)} for c in CLOCKS
    }

    def step(batch, capture: bool) -> list:
        loss, captured = module.forward_capture(batch, capture=capture)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(module.parameters(), cfg.clip.mode, cfg.clip.value)
        opt.step()
        return captured

    for rep in range(reps + 1):
        clock = Clock(device)
        clock.mark()
        step(train_batch(task, cfg, 2 * rep, device), capture=False)
        clock.mark()
        windows = step(train_batch(task, cfg, 2 * rep + 1, device), capture=True)
        clock.mark()  # intervals: plain step, capture step, then one per part
        order = PARTS if rep % 2 == 0 else PARTS[::-1]
        for part in order:
            run_probe(module.model, windows, gen, **part_kwargs(cfg, part))
            clock.mark()
        if rep == 0:
            continue
        for c in CLOCKS:
            t = clock.intervals(c)
            samples[c]["plain"].append(t[0])
            for i, part in enumerate(order):
                samples[c][part].append(t[2 + i])
    out: dict[str, Any] = {"samples": samples}
    for c in CLOCKS:
        sec = {k: median(v) for k, v in samples[c].items()}
        out[c] = {"seconds": sec, "x_plain": {p: sec[p] / sec["plain"] for p in PARTS}}
    return out
