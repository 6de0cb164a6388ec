"""What every part of the benchmark shares: its settings, the run config of one (cell, T), the
training batches, and small helpers."""

from __future__ import annotations

import resource
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rnnstudy.config import RunConfig, parse_run
from rnnstudy.data import TRAIN, derive_seed
from rnnstudy.tasks import Batch, Task

ROOT = Path(__file__).resolve().parents[1]
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CLOCKS = ("wall", "cpu")
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
EXPERIMENT = "bench"


@dataclass
class Settings:
    cells: list[str]
    lengths: list[int]
    hidden: int = 128
    batch: int = 64
    alphabet: int = 8
    steps: int = 12  # timed steps per mode at T=1000; scaled by 1000/T, at most max_timed
    max_timed: int = 40
    warmup: int = 2  # steps dropped at the start of every fit
    rounds: int = 3  # the timed steps are split over this many fits per mode
    probe_reps: int = 3  # (d): plain / gradient probe / full probe triples
    memory: str = "all"  # all | longest | first | none
    memory_reps: int = 3  # memory measurements per mode (median)
    run_steps: int = 1000  # the run length (b) is amortised over (the default max_steps)
    seed: int = 0
    device: str = "cpu"
    threads: int = 1  # torch CPU threads, for every mode alike (rnnstudy: train.threads)

    def timed_steps(self, T: int) -> int:
        """Timed steps per mode at length T, e.g. steps=12: 12 at T=1000, 40 at T=100."""
        return max(self.rounds, min(self.max_timed, round(self.steps * 1000 / T)))


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def config(s: Settings, cell: str, T: int, max_steps: int, instruments: bool) -> RunConfig:
    """The run config of one cell and length: defaults everywhere except the sizes (so the
    probe is the default one: gradient norms, propagation profile, Lyapunov exponents)."""
    return parse_run(
        {
            "name": f"bench-{cell}-T{T}",
            "seed": s.seed,
            "task": {"name": "delayed_recall", "A": s.alphabet, "D": max(1, T // 2), "L": T},
            "model": {"cell": cell, "hidden_size": s.hidden},
            "optim": {"name": "adam", "lr": 3e-3},
            "clip": {"mode": "norm", "value": 1.0},
            "train": {
                "max_steps": max_steps,
                "batch_size": s.batch,
                "val_every": 10**9,  # validation only after the last step
                "val_size": s.batch,
                "log_every": 1,
                "threads": s.threads,
            },
            "probe": {"enabled": instruments},
        }
    )


def train_batch(task: Task, cfg: RunConfig, step: int, device: torch.device) -> Batch:
    """Training batch ``step`` of the run: what ``TaskData``'s stream yields at the start of a
    run (a ``curriculum: grow`` task draws its first range of distances, d_min..d_start)."""
    seed = derive_seed(cfg.seed, TRAIN, step)
    t = cfg.task
    if getattr(t, "has_distances", False) and getattr(t, "curriculum", None) == "grow":
        return task.generate(seed, cfg.train.batch_size, d_range=(t.d_min, t.start)).to(device)
    return task.generate(seed, cfg.train.batch_size).to(device)
