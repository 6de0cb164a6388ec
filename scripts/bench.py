"""Training throughput and instrument overhead of rnnstudy against a plain PyTorch loop.

Issue 7 (and the speed figures of issue 3, item 6). Commands::

    make bench                                    # the full benchmark (~10-15 min on 2 CPU
                                                  # cores): rewrites the table section of
                                                  # BENCHMARKS.md and benchmarks/latest.json
    .venv/bin/python scripts/bench.py             # the same
    make bench ARGS="--threads 2"                 # both cores for torch in every mode
    .venv/bin/python scripts/bench.py --quick --json /tmp/q.json --markdown /tmp/q.md
                                                  # smoke run: tiny sizes, seconds (tests/test_bench.py)
    .venv/bin/python scripts/bench.py --cells lstm --lengths 1000 --no-write
                                                  # one row, printed only

For every cell (rnn, lstm, gru) and sequence length T (100, 300, 1000), hidden 128, batch 64,
on the same data (the ``delayed_recall`` generator, one-hot input, D = T/2) and the same initial
weights, in one process:

(a) plain    a hand-written PyTorch loop: fused ``nn.RNN/LSTM/GRU`` + ``nn.Linear`` head,
             masked cross-entropy, Adam, ``clip_grad_norm_``; no Lightning, no logging.
(b) rnnstudy ``runner.run_one``: Lightning, the real ``BufferedMLflowLogger`` writing to a
             temporary SQLite MLflow store, the default instruments (GradNorms every step,
             GradTime + Spectrum on the default probe schedule: every 100 steps and at the
             log-spaced early steps 1, 2, 4, ...). Validation only once, after the timed steps.
(c) off      the same Lightning module, Trainer and logger with no instruments at all.
(d) probe    one probe step alone (training step with ``capture`` on + the GradTime
             computation) against one plain step of the same module, alternated in a loop.

Every mode runs with the same number of torch threads (``--threads``; default rnnstudy's own
``train.threads``, 1). A step's time is the interval between the ends of consecutive training
steps (so it includes fetching the batch and every hook), on two clocks: wall-clock, and this
process's CPU time (user + system, all threads), which other jobs on a shared machine do not
inflate; with one thread it is what the step costs on an idle core, and the targets are judged
on it. The first ``--warmup`` steps of each fit are dropped; the figure is the median over the
timed steps of all rounds (the modes alternate a, c, b / b, c, a in each round so that a change
in machine load hits all of them alike). On a GPU, wall-clock intervals come from CUDA events
and the fused layers run on cuDNN (that branch is written but untested here).

(b)'s throughput is the *amortised* rate of a default-length run (1000 steps, 17 of them probe
steps): median non-probe step and median probe step of (b), weighted by the schedule, plus the
logger's batched SQLite writes (``flush``, which a short timed fit rarely reaches): the metrics
(b) logs per step times the cost per metric of a 1000-metric flush measured in the same run.

Memory: for each (cell, T) a fresh subprocess runs (a) 2 steps, (c) 2 steps, (b) 3 steps, in
the order a c b, b c a, a c b; before each phase it frees and trims the heap (``gc.collect`` +
glibc ``malloc_trim``), resets the kernel's RSS high-water mark (``echo 5 >
/proc/self/clear_refs``) and reads VmRSS; after the phase it reads VmHWM. The figure is the peak
increase, VmHWM - VmRSS(before), median of the three: what training itself needs on top of the
libraries and the model. (b)'s steps 0, 1, 2 are all probe steps, so its peak includes probing. On CUDA
it is ``torch.cuda.max_memory_allocated`` above the allocation before the phase.

GFLOP/s: the recurrent matrix products of one training step, 3 x T x 2·B·G·H·(H + I) (forward
W_hh and input projection; backward twice that), divided by (a)'s step time, against a 2048 x 2048
``torch.mm`` and against the recurrent GEMM shape (B x H)·(H x G·H) measured in the same run.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnnstudy import tracking  # noqa: E402
from rnnstudy.config import RunConfig, parse_run  # noqa: E402
from rnnstudy.data import TRAIN, TaskData, derive_seed  # noqa: E402
from rnnstudy.instruments.callbacks import GradTime  # noqa: E402
from rnnstudy.instruments.clipping import clip_gradients  # noqa: E402
from rnnstudy.instruments.schedule import should_probe  # noqa: E402
from rnnstudy.models import RecurrentNet  # noqa: E402
from rnnstudy.module import SequenceModule  # noqa: E402
from rnnstudy.runner import make_trainer, quiet_lightning, run_one  # noqa: E402
from rnnstudy.tasks import Batch, Task, build_task  # noqa: E402

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CLOCKS = ("wall", "cpu")
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
EXPERIMENT = "bench"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TARGETS = {  # issue 7 and issue 3 item 6
    "b/a": 0.90,
    "c/a": 0.95,
    "b/c": 0.90,
    "probe/plain": 2.0,
    "T1000/T100": 11.0,
    "mem b/a": 1.2,
    "mem probe": 2.0,
}


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
    probe_reps: int = 3  # (d): plain/probe pairs
    memory: str = "all"  # all | longest | first | none
    memory_reps: int = 3  # memory measurements per mode (median)
    run_steps: int = 1000  # the run length (b) is amortised over (the default max_steps)
    seed: int = 0
    device: str = "cpu"
    threads: int = 1  # torch CPU threads, for every mode alike (rnnstudy: train.threads)

    def timed_steps(self, T: int) -> int:
        return max(self.rounds, min(self.max_timed, round(self.steps * 1000 / T)))


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# ----------------------------------------------------------------------------- configuration


def config(s: Settings, cell: str, T: int, max_steps: int, instruments: bool) -> RunConfig:
    """The run config of one cell and length: defaults everywhere except the sizes."""
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
    """Training batch ``step`` of the run: exactly what ``TaskData``'s stream yields."""
    return task.generate(derive_seed(cfg.seed, TRAIN, step), cfg.train.batch_size).to(device)


# ----------------------------------------------------------------------------- clocks


class Clock:
    """Marks of wall-clock time (CUDA events on a GPU) and of this process's CPU time
    (user + system, all threads); ``intervals(kind)`` gives the time between marks in s."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[Any, float]] = []

    def mark(self) -> None:
        if self.cuda:
            wall: Any = torch.cuda.Event(enable_timing=True)
            wall.record()
        else:
            wall = time.perf_counter()
        self.marks.append((wall, time.process_time()))

    def intervals(self, kind: str = "wall") -> list[float]:
        if kind == "cpu":
            return [b[1] - a[1] for a, b in pairwise(self.marks)]
        if self.cuda:
            torch.cuda.synchronize()
            return [a[0].elapsed_time(b[0]) / 1e3 for a, b in pairwise(self.marks)]
        return [b[0] - a[0] for a, b in pairwise(self.marks)]


class StepClock(pl.Callback):
    """Marks the end of every training step (after every other callback's hooks) and, with a
    ``counter``, how many metrics had been sent to the logger by then."""

    def __init__(self, device: torch.device, counter: MetricCounter | None = None):
        self.clock = Clock(device)
        self.counter = counter
        self.counts: list[int] = []

    def _mark(self) -> None:
        self.clock.mark()
        self.counts.append(self.counter.count if self.counter else 0)

    def on_train_start(self, trainer, pl_module) -> None:
        self._mark()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._mark()

    def metrics_per_step(self) -> list[int]:
        return [b - a for a, b in pairwise(self.counts)]


class MetricCounter:
    """Counts the metrics sent to ``BufferedMLflowLogger.log_metrics`` while in a ``with``
    block (a wrapper around the method; the logger's behaviour is unchanged)."""

    def __init__(self) -> None:
        self.count = 0
        self._original = tracking.BufferedMLflowLogger.log_metrics

    def __enter__(self) -> MetricCounter:
        original = self._original

        def counted(logger: tracking.BufferedMLflowLogger, metrics: dict, step: int | None = None):
            self.count += len(metrics)
            return original(logger, metrics, step)

        tracking.BufferedMLflowLogger.log_metrics = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        tracking.BufferedMLflowLogger.log_metrics = self._original  # type: ignore[method-assign]


def flush_cost_per_metric(batch: int = 1000, reps: int = 5) -> float:
    """Seconds per metric of the logger's batched SQLite write (``flush``), for buffers of
    ``batch`` metrics (one ``log_batch`` call; the logger flushes every 5000 metrics or 30 s).
    (b)'s short timed fits rarely reach a flush, so this cost is added per metric logged."""
    client = tracking.client()
    run_id = tracking.start_run(client, tracking.experiment_id(client, EXPERIMENT), "flush-cost")
    logger = tracking.BufferedMLflowLogger(client, run_id)
    costs = []
    for r in range(reps + 1):
        for i in range(batch // 10):
            logger.log_metrics(
                {f"grad/param/p{k}": float(k * i) for k in range(10)}, step=r * batch + i
            )
        t0 = time.perf_counter()
        logger.flush()
        if r:
            costs.append((time.perf_counter() - t0) / batch)
    client.set_terminated(run_id, "FINISHED")
    return statistics.median(costs)


# ----------------------------------------------------------------------------- (a) plain PyTorch


class PlainNet(nn.Module):
    """What a researcher writes by hand: one fused recurrent layer and a linear head."""

    def __init__(self, cell: str, inputs: int, hidden: int, outputs: int):
        super().__init__()
        self.rnn = CELLS[cell](inputs, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.rnn(x)[0])


def same_weights(cfg: RunConfig, task: Task) -> PlainNet:
    """A PlainNet with the initial weights rnnstudy's module gets (same seed, same init)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    ref = RecurrentNet(cfg.model, task.input_size, task.output_size, task.readout)
    net = PlainNet(cfg.model.cell, task.input_size, cfg.model.hidden_size, task.output_size)
    net.rnn.load_state_dict(ref.layers[0].state_dict())
    net.head.load_state_dict(ref.head.state_dict())
    return net


def plain_fit(cfg: RunConfig, task: Task, device: torch.device, clock: Clock | None = None) -> None:
    """(a): ``cfg.train.max_steps`` steps of the hand-written loop on the run's batches."""
    net = same_weights(cfg, task).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr)
    if clock:
        clock.mark()
    for step in range(cfg.train.max_steps):
        b = train_batch(task, cfg, step, device)
        logits = net(b.x)
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), b.y.reshape(-1), reduction="none"
        )
        loss = (ce * b.mask.reshape(-1)).sum() / b.mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), cfg.clip.value)
        opt.step()
        if clock:
            clock.mark()


# ----------------------------------------------------------------------------- (b), (c) rnnstudy


def rnnstudy_fit(cfg: RunConfig, task: Task, callbacks: list) -> None:
    """(b) with ``cfg.probe.enabled``: the real ``run_one``. (c) otherwise: the same module,
    Trainer and MLflow logger, but no callbacks at all (``run_one`` always adds GradNorms)."""
    if cfg.probe.enabled:
        run_one(cfg, experiment=EXPERIMENT, callbacks=callbacks, progress=False, task=task)
        return
    quiet_lightning()
    client = tracking.client()
    exp_id = tracking.experiment_id(client, EXPERIMENT)
    run_id = tracking.start_run(client, exp_id, cfg.name + "-off", {}, {"mode": "off"})
    logger = tracking.BufferedMLflowLogger(client, run_id)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task)
    data = TaskData(task, cfg.seed, cfg.train.batch_size, cfg.train.val_size)
    make_trainer(cfg, logger, callbacks, progress=False).fit(module, datamodule=data)
    logger.flush()
    client.set_terminated(run_id, "FINISHED")


# ----------------------------------------------------------------------------- (d) one probe step


def probe_pairs(
    cfg: RunConfig, task: Task, device: torch.device, reps: int
) -> dict[str, dict[str, list[float]]]:
    """Alternate a plain training step and a probe step of the same module, ``reps`` times
    (after one of each as warm-up). A probe step is what GradTime adds on a probe step:
    ``capture`` on during forward/backward, then its ``on_after_backward`` computation."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task).to(device)
    opt = module.configure_optimizers()
    probe = GradTime(cfg.probe.every, cfg.probe.log_spaced_early)
    stub = SimpleNamespace(global_step=0, logger=None)
    out: dict[str, dict[str, list[float]]] = {kind: {"plain": [], "probe": []} for kind in CLOCKS}
    for step in range(2 * (reps + 1)):
        capture = step % 2 == 1
        batch = train_batch(task, cfg, step, device)
        clock = Clock(device)
        clock.mark()
        module.capture = capture
        loss = module.forward_loss(batch, capture=capture)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if capture:
            probe.on_after_backward(stub, module)
        clip_gradients(module.parameters(), cfg.clip.mode, cfg.clip.value)
        opt.step()
        module.capture, module.captured = False, []
        clock.mark()
        if step >= 2:
            for kind in CLOCKS:
                out[kind]["probe" if capture else "plain"].append(clock.intervals(kind)[0])
    return out


# ----------------------------------------------------------------------------- peaks, flops


def recurrent_flops(cell: str, T: int, B: int, H: int, inputs: int) -> float:
    """Matrix-product FLOPs of one training step: forward W_hh and W_ih, backward twice that."""
    return 3.0 * T * 2 * B * GATES[cell] * H * (H + inputs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def gemm_rate(m: int, k: int, n: int, device: torch.device, reps: int) -> float:
    """GFLOP/s of (m x k) @ (k x n), median of 5 timings of ``reps`` products."""
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    out = torch.empty(m, n, device=device)
    rates = []
    for i in range(6):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        sync(device)
        if i:
            rates.append(2.0 * m * k * n * reps / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


# ----------------------------------------------------------------------------- memory (subprocess)

_libc = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _status_mb(key: str) -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]


def measure_peak(fn: Callable[[], None], device: torch.device) -> dict[str, Any]:
    """Peak memory of ``fn()`` above the memory in use just before it (MB)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
        fn()
        return {
            "before": base,
            "peak": torch.cuda.max_memory_allocated() / 2**20 - base,
            "hwm_reset": True,
        }
    if _libc is not None:
        _libc.malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        reset = True
    except OSError:  # then VmHWM counts from the start of the process: an upper bound
        reset = False
    before = _status_mb("VmRSS")
    fn()
    return {"before": before, "peak": _status_mb("VmHWM") - before, "hwm_reset": reset}


def warm_up(s: Settings, cell: str, device: torch.device) -> None:
    """Tiny (a), (b), (c) fits: every lazily imported module and first-call cost paid."""
    tiny = Settings(**{**asdict(s), "hidden": 8, "batch": 4})
    for instruments in (True, False):
        warm = config(tiny, cell, 10, 2, instruments)
        rnnstudy_fit(warm, build_task(warm.task), [])
    plain_fit(warm, build_task(warm.task), device)


def memory_child(s: Settings, cell: str, T: int) -> dict[str, dict[str, Any]]:
    """Run in a fresh process: peak memory of (a), (c), (b) for one cell and length, each
    measured ``s.memory_reps`` times in the order a c b, b c a, a c b, ...; the median counts
    (glibc's state makes single figures of one and the same step wander by up to ±40%)."""
    device = torch.device(s.device)
    torch.set_num_threads(s.threads)
    warm_up(s, cell, device)
    a = config(s, cell, T, 2, False)
    b = config(s, cell, T, 3, True)  # steps 0, 1, 2: all probe steps
    task = build_task(a.task)
    phases: dict[str, Callable[[], None]] = {
        "a": lambda: plain_fit(a, task, device),
        "c": lambda: rnnstudy_fit(a, task, []),
        "b": lambda: rnnstudy_fit(b, task, []),
    }
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in phases}
    for rep in range(s.memory_reps):
        for mode in "acb" if rep % 2 == 0 else "bca":
            runs[mode].append(measure_peak(phases[mode], device))
    out = {}
    for mode, results in runs.items():
        peaks = [r["peak"] for r in results]
        out[mode] = {"peak": median(peaks), "peaks": peaks, "before": results[0]["before"]}
        out[mode]["hwm_reset"] = all(r["hwm_reset"] for r in results)
    return out


def memory_in_subprocess(s: Settings, cell: str, T: int) -> dict[str, dict[str, Any]]:
    cmd = [
        sys.executable,
        __file__,
        "--memory-child",
        json.dumps({**asdict(s), "cell": cell, "T": T}),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), check=False)
    if res.returncode != 0:
        raise RuntimeError(f"memory subprocess failed for {cell} T={T}:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- one configuration


def bench_one(
    s: Settings, cell: str, T: int, device: torch.device, counter: MetricCounter, per_metric: float
) -> dict:
    """Time (a), (b), (c), (d) for one cell and length, on both clocks."""
    n = s.timed_steps(T)
    per_round = [n // s.rounds + (r < n % s.rounds) for r in range(s.rounds)]
    task = build_task(config(s, cell, T, 1, True).task)
    keys = ("a", "c", "b_plain", "b_probe", "d_plain", "d_probe")
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
            intervals = {kind: clock.intervals(kind) for kind in CLOCKS}
            for step in range(s.warmup, cfg.train.max_steps):
                key = mode
                if mode == "b":
                    probe = should_probe(step, cfg.probe.every, cfg.probe.log_spaced_early)
                    key = "b_probe" if probe else "b_plain"
                    metrics[key].append(logged[step])
                for kind in CLOCKS:
                    samples[kind][key].append(intervals[kind][step])
    d = probe_pairs(config(s, cell, T, 1, True), task, device, s.probe_reps)
    for kind in CLOCKS:
        samples[kind]["d_plain"], samples[kind]["d_probe"] = d[kind]["plain"], d[kind]["probe"]

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
                "probe/a": t["d_probe"] / t["a"],
                "b_probe/b_plain": t["b_probe"] / t["b_plain"],
            },
            "gflops_a": flops / t["a"] / 1e9,
        }
    return row


# ----------------------------------------------------------------------------- report


def machine(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import mlflow

    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "mlflow": mlflow.__version__,
        "device": str(device),
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def fmt(x: float, digits: int = 2) -> str:
    return "–" if x != x else f"{x:.{digits}f}"


def check(value: float, target: float, upper: bool) -> str:
    if value != value:
        return "–"
    return "met" if (value <= target if upper else value >= target) else "**missed**"


def primary_clock(s: Settings) -> str:
    """The clock the targets are judged on: with one CPU thread, the process's CPU time (what a
    step costs on an idle core; it is not inflated by other jobs on a shared machine);
    otherwise wall-clock time (several threads spin-wait, and CPU time then over-counts)."""
    return "cpu" if s.threads == 1 and s.device == "cpu" else "wall"


def markdown(res: dict) -> str:
    rows, m, peak, st = res["rows"], res["machine"], res["peak"], res["settings"]
    P = res["primary_clock"]
    load0, load1 = res["loadavg_start"][0], res["loadavg_end"][0]
    out = [
        BEGIN,
        f"Run {res['finished']} on {m['cpu']} ({m['cores']} cores; torch {m['torch']}, "
        f"{m['torch_threads']} thread(s) in every mode; Lightning {m['pytorch_lightning']}; "
        f"MLflow {m['mlflow']}; device {m['device']}{', ' + m['gpu'] if 'gpu' in m else ''}). "
        f"Load average {fmt(load0)} at the start, {fmt(load1)} at the end; "
        f"{fmt(res['wall_seconds'] / 60, 1)} min. Targets judged on the **{P}** clock.",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Matrix-product peak measured in this run: {fmt(peak['mm2048'], 1)} GFLOP/s (2048×2048 "
        f"`torch.mm`), {fmt(peak['recurrent_gemm'], 1)} GFLOP/s for the recurrent GEMM shape "
        f"({st['batch']}×{st['hidden']})·({st['hidden']}×{4 * st['hidden']}). Logger write: "
        f"{fmt(res['flush_seconds_per_metric'] * 1e6, 0)} µs per metric.",
        "",
        "Throughput (sequences/s from the median wall-clock step) and ratios on both clocks "
        "(wall = elapsed; cpu = this process's CPU seconds):",
        "",
        "| cell | T | (a) plain | (b) rnnstudy | (c) off | (b)/(a) wall | cpu | (c)/(a) wall | cpu "
        "| (b)/(c) wall | cpu | (d) probe/plain wall | cpu |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        q, w, c = r["wall"]["seq_per_s"], r["wall"]["ratio"], r["cpu"]["ratio"]
        cells = [fmt(q[k], 1) for k in "abc"]
        for key in ("b/a", "c/a", "b/c", "probe/plain"):
            cells += [fmt(w[key]), fmt(c[key])]
        out.append(f"| {r['cell']} | {r['T']} | " + " | ".join(cells) + " |")
    out += [
        "",
        "Peak memory above the resident size before training (MB, fresh process per cell and T), "
        "arithmetic rate of (a)'s recurrent matrix products, and minor page faults per step:",
        "",
        "| cell | T | mem (a) | (b) | (c) | (b)/(a) | (b)/(c) | GFLOP/s (a) wall | cpu "
        "| % of mm peak (cpu) | faults/step (a) | (b) | (c) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mm = r.get("memory")
        pa, pb, pc = (mm[k]["peak"] if mm else float("nan") for k in "abc")
        f = r["minor_faults_per_step"]
        out.append(
            f"| {r['cell']} | {r['T']} | {fmt(pa, 0)} | {fmt(pb, 0)} | {fmt(pc, 0)} "
            f"| {fmt(div(pb, pa))} | {fmt(div(pb, pc))} | {fmt(r['wall']['gflops_a'], 1)} "
            f"| {fmt(r['cpu']['gflops_a'], 1)} | {fmt(100 * r['cpu']['gflops_a'] / peak['mm2048'], 0)} "
            f"| {fmt(f['a'], 0)} | {fmt(f['b'], 0)} | {fmt(f['c'], 0)} |"
        )
    scaling = t_scaling(rows)
    if scaling:
        out += ["", "Time per iteration, T=1000 over T=100 (target ≤ 11×):", ""]
        out += ["| cell | clock | (a) | (b) | (c) |", "|---|---|---:|---:|---:|"]
        for (cell, kind), v in scaling.items():
            out.append(f"| {cell} | {kind} | " + " | ".join(fmt(v[k], 1) for k in "abc") + " |")
    out += ["", f"Targets ({P} clock; the other clock in brackets):", ""]
    out += [f"- {line}" for line in target_lines(rows, P)]
    out += ["", END]
    return "\n".join(out)


def t_scaling(rows: list[dict]) -> dict[tuple[str, str], dict[str, float]]:
    by = {(r["cell"], r["T"]): r for r in rows}
    out = {}
    for cell in dict.fromkeys(r["cell"] for r in rows):
        if (cell, 100) in by and (cell, 1000) in by:
            for kind in CLOCKS:
                lo, hi = by[(cell, 100)][kind]["seconds"], by[(cell, 1000)][kind]["seconds"]
                out[(cell, kind)] = {k: hi[k] / lo[k] for k in "abc"}
    return out


def target_lines(rows: list[dict], P: str) -> list[str]:
    """One line per target: the worst value on the primary clock P, the other clock in [ ]."""
    Q = "wall" if P == "cpu" else "cpu"
    tg, lines = TARGETS, []
    for key, label in (
        ("b/a", "(b)/(a) throughput"),
        ("c/a", "(c)/(a) throughput"),
        ("b/c", "issue 3: instruments on / off throughput at the default probe schedule"),
    ):
        v, other, where = min(
            (r[P]["ratio"][key], r[Q]["ratio"][key], f"{r['cell']} T={r['T']}") for r in rows
        )
        lines.append(
            f"{label} ≥ {tg[key]}: worst {fmt(v, 3)} [{fmt(other, 3)}] ({where}) — "
            + check(v, tg[key], False)
        )
    longest = max(r["T"] for r in rows)
    for r in rows:
        if r["T"] == longest:
            v, other = r[P]["ratio"]["probe/plain"], r[Q]["ratio"]["probe/plain"]
            lines.append(
                f"(d) one probe step / one plain step ≤ {tg['probe/plain']}, {r['cell']} "
                f"T={r['T']}: {fmt(v)} [{fmt(other)}] — {check(v, tg['probe/plain'], True)}"
            )
    scaling = t_scaling(rows)
    for cell in dict.fromkeys(r["cell"] for r in rows):
        if (cell, P) in scaling:
            v, other = max(scaling[(cell, P)].values()), max(scaling[(cell, Q)].values())
            lines.append(
                f"T=1000 / T=100 time per iteration ≤ {tg['T1000/T100']}, {cell}: worst of (a), "
                f"(b), (c) {fmt(v, 1)} [{fmt(other, 1)}] — {check(v, tg['T1000/T100'], True)}"
            )
    measured = [r for r in rows if r.get("memory")]
    if measured:
        v, where = max(
            (div(r["memory"]["b"]["peak"], r["memory"]["a"]["peak"]), f"{r['cell']} T={r['T']}")
            for r in measured
        )
        lines.append(
            f"peak memory (b)/(a) ≤ {tg['mem b/a']}: worst {fmt(v)} ({where}) — "
            + check(v, tg["mem b/a"], True)
        )
        for r in measured:
            if r["T"] == longest:
                v = div(r["memory"]["b"]["peak"], r["memory"]["c"]["peak"])
                lines.append(
                    f"issue 3: memory with probing / without ≤ {tg['mem probe']}, {r['cell']} "
                    f"T={r['T']}: {fmt(v)} — {check(v, tg['mem probe'], True)}"
                )
    return lines


def write_markdown(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Latest run\n\n" + section + "\n"
    path.write_text(text)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=list(GATES))
    ap.add_argument("--lengths", nargs="+", type=int, default=[100, 300, 1000])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=12, help="timed steps per mode at T=1000")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="fits per mode (timed steps split)")
    ap.add_argument("--probe-reps", type=int, default=3)
    ap.add_argument("--memory", choices=["all", "longest", "first", "none"], default="all")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument(
        "--threads",
        type=int,
        default=RunConfig().train.threads,
        help="torch CPU threads, the same in every mode (default: rnnstudy's train.threads, "
        "%(default)s; torch alone would take every core)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: T 10 20, hidden 8, 3 steps")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "latest.json")
    ap.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.quick:
        return Settings(
            cells=args.cells,
            lengths=[10, 20],
            hidden=8,
            batch=4,
            steps=3,
            max_timed=3,
            warmup=1,
            rounds=1,
            probe_reps=1,
            memory=args.memory if args.memory != "all" else "first",
            memory_reps=1,
            device=args.device,
            threads=1,
        )
    return Settings(
        cells=args.cells,
        lengths=args.lengths,
        hidden=args.hidden,
        batch=args.batch,
        steps=args.steps,
        warmup=args.warmup,
        rounds=args.rounds,
        probe_reps=args.probe_reps,
        memory=args.memory,
        device=args.device,
        threads=args.threads,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        spec = json.loads(args.memory_child)
        cell, T = spec.pop("cell"), spec.pop("T")
        print(json.dumps(memory_child(Settings(**spec), cell, T)))
        return 0
    s = settings_from(args)
    device = torch.device(s.device)
    torch.set_num_threads(s.threads)
    t_start, load_start = time.perf_counter(), os.getloadavg()
    quiet_lightning()
    with tempfile.TemporaryDirectory(prefix="rnnstudy-bench-") as tmp, MetricCounter() as counter:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"  # inherited by children
        client = tracking.client()  # the store, and artifacts under tmp too
        client.create_experiment(EXPERIMENT, artifact_location=str(Path(tmp) / "artifacts"))
        warm_up(s, s.cells[0], device)
        per_metric = flush_cost_per_metric()
        print(f"logger flush: {per_metric * 1e6:.0f} µs per metric", flush=True)
        reps = min(2000, max(10, 10**9 // (s.batch * s.hidden * 4 * s.hidden * 2)))
        peak = {
            "mm2048": gemm_rate(2048, 2048, 2048, device, 1),
            "recurrent_gemm": gemm_rate(s.batch, s.hidden, 4 * s.hidden, device, reps),
        }
        print(
            f"peak: {peak['mm2048']:.1f} GFLOP/s (2048² mm), {peak['recurrent_gemm']:.1f} (recurrent shape)",
            flush=True,
        )
        rows = []
        for T in s.lengths:
            for cell in s.cells:
                t0 = time.perf_counter()
                row = bench_one(s, cell, T, device, counter, per_metric)
                if want_memory(s, cell, T):
                    row["memory"] = memory_in_subprocess(s, cell, T)
                rows.append(row)
                q, w, c = row["wall"]["seq_per_s"], row["wall"]["ratio"], row["cpu"]["ratio"]
                print(
                    f"{cell:4s} T={T:5d}  a {q['a']:7.1f}  b {q['b']:7.1f}  c {q['c']:7.1f} seq/s  "
                    + "  ".join(
                        f"{k} {w[k]:.2f}/{c[k]:.2f}" for k in ("b/a", "c/a", "b/c", "probe/plain")
                    )
                    + f"  (wall/cpu; {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    res = {
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command(argv),
        "machine": machine(device),
        "settings": asdict(s),
        "targets": TARGETS,
        "primary_clock": primary_clock(s),
        "peak": peak,
        "flush_seconds_per_metric": per_metric,
        "rows": rows,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "wall_seconds": time.perf_counter() - t_start,
    }
    section = markdown(res)
    print(section)
    if not args.no_write:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")
        write_markdown(args.markdown, section)
        print(f"wrote {args.json} and {args.markdown}")
    return 0


def command(argv: list[str] | None) -> str:
    args = sys.argv[1:] if argv is None else argv
    return " ".join([".venv/bin/python scripts/bench.py", *args]) + (
        "  (= make bench)" if not args else ""
    )


def want_memory(s: Settings, cell: str, T: int) -> bool:
    if s.memory == "all":
        return True
    if s.memory == "longest":
        return T == max(s.lengths)
    if s.memory == "first":
        return T == max(s.lengths) and cell == s.cells[0]
    return False


if __name__ == "__main__":
    sys.exit(main())
