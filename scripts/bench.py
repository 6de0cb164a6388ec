"""Training throughput and instrument overhead of rnnstudy against a plain PyTorch loop.

Issue 7 (and the speed figures of issue 3, item 6). Commands::

    make bench                                    # the full benchmark (~15 min on 2 CPU cores):
                                                  # rewrites the table section of BENCHMARKS.md
                                                  # and benchmarks/latest.json
    .venv/bin/python scripts/bench.py             # the same
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

A step's time is the interval between the ends of consecutive training steps (so it includes
fetching the batch and every hook); the first ``--warmup`` steps of each fit are dropped; the
figure is the median over the timed steps of all rounds (the modes alternate a, c, b / b, c, a
in each round so that a change in machine load hits all of them alike). On a GPU, intervals come
from CUDA events and the fused layers run on cuDNN (that branch is written but untested here).

(b)'s throughput is the *amortised* rate of a default-length run (1000 steps, 17 of them probe
steps): median non-probe step and median probe step of (b), weighted by the schedule, plus the
measured cost of the logger's batched writes (``flush``) per step.

Memory: for each (cell, T) a fresh subprocess runs (a), (c), (b) in turn; before each phase it
frees and trims the heap (``gc.collect`` + glibc ``malloc_trim``), resets the kernel's RSS
high-water mark (``echo 5 > /proc/self/clear_refs``) and reads VmRSS; after the phase it reads
VmHWM. The figure is the peak increase, VmHWM - VmRSS(before): what training itself needs on top
of the libraries and the model. (b)'s first steps are probe steps, so its peak includes probing.
On CUDA it is ``torch.cuda.max_memory_allocated`` above the allocation before the phase.

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
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
EXPERIMENT = "bench"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TARGETS = {"b/a": 0.90, "c/a": 0.95, "probe/plain": 2.0, "T1000/T100": 11.0, "mem b/a": 1.2}


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
    rounds: int = 2  # the timed steps are split over this many fits per mode
    probe_reps: int = 3  # (d): plain/probe pairs
    memory: str = "all"  # all | longest | first | none
    run_steps: int = 1000  # the run length (b) is amortised over (the default max_steps)
    seed: int = 0
    device: str = "cpu"
    threads: int = 1  # torch CPU threads, for every mode alike (rnnstudy: train.threads)

    def timed_steps(self, T: int) -> int:
        return max(self.rounds, min(self.max_timed, round(self.steps * 1000 / T)))


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
    """Marks on the host clock (CPU) or CUDA events (GPU); intervals between marks in s."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: list[Any] = []

    def mark(self) -> None:
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            self.marks.append(ev)
        else:
            self.marks.append(time.perf_counter())

    def intervals(self) -> list[float]:
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) / 1e3 for a, b in pairwise(self.marks)]
        return [b - a for a, b in pairwise(self.marks)]


class StepClock(pl.Callback):
    """Marks the end of every training step (after every other callback's hooks)."""

    def __init__(self, device: torch.device):
        self.clock = Clock(device)

    def on_train_start(self, trainer, pl_module) -> None:
        self.clock.mark()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.clock.mark()


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

    def take(self) -> int:
        n, self.count = self.count, 0
        return n


def flush_cost_per_metric(batch: int = 300, reps: int = 5) -> float:
    """Seconds per metric of the logger's batched SQLite write (``flush``), for buffers of
    ``batch`` metrics (about 30 steps of GradNorms: what the 30-second flush timer collects at
    T=1000). (b)'s short timed fits rarely reach a flush, so this cost is added per metric."""
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
) -> dict[str, list[float]]:
    """Alternate a plain training step and a probe step of the same module, ``reps`` times
    (after one of each as warm-up). A probe step is what GradTime adds on a probe step:
    ``capture`` on during forward/backward, then its ``on_after_backward`` computation."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SequenceModule(cfg, task).to(device)
    opt = module.configure_optimizers()
    probe = GradTime(cfg.probe.every, cfg.probe.log_spaced_early)
    stub = SimpleNamespace(global_step=0, logger=None)
    out: dict[str, list[float]] = {"plain": [], "probe": []}
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
            out["probe" if capture else "plain"].append(clock.intervals()[0])
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
    """Run in a fresh process: peak memory of (a), (c), (b) for one cell and length."""
    device = torch.device(s.device)
    torch.set_num_threads(s.threads)
    warm_up(s, cell, device)
    out = {}
    a = config(s, cell, T, 2, False)
    task = build_task(a.task)
    out["a"] = measure_peak(lambda: plain_fit(a, task, device), device)
    out["c"] = measure_peak(lambda: rnnstudy_fit(a, task, []), device)
    b = config(s, cell, T, 3, True)  # steps 0, 1, 2: all probe steps
    out["b"] = measure_peak(lambda: rnnstudy_fit(b, task, []), device)
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


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench_one(
    s: Settings, cell: str, T: int, device: torch.device, counter: MetricCounter, per_metric: float
) -> dict:
    """Time (a), (b), (c), (d) for one cell and length."""
    n = s.timed_steps(T)
    per_round = [n // s.rounds + (r < n % s.rounds) for r in range(s.rounds)]
    task = build_task(config(s, cell, T, 1, True).task)
    times: dict[str, list[float]] = {"a": [], "c": [], "b_plain": [], "b_probe": []}
    logged = b_steps = 0
    plain_fit(config(s, cell, T, 2, False), task, device)  # warm the kernels and the allocator
    for r, k in enumerate(per_round):
        order = "acb" if r % 2 == 0 else "bca"
        for mode in order:
            cfg = config(s, cell, T, s.warmup + k, mode == "b")
            if mode == "a":
                clock = Clock(device)
                plain_fit(cfg, task, device, clock)
                times["a"] += clock.intervals()[s.warmup :]
                continue
            timer = StepClock(device)
            counter.take()
            rnnstudy_fit(cfg, task, [timer])
            steps = timer.clock.intervals()
            if mode == "c":
                times["c"] += steps[s.warmup :]
                continue
            logged, b_steps = logged + counter.take(), b_steps + len(steps)
            for step, dt in enumerate(steps):
                if step >= s.warmup:
                    probe = should_probe(step, cfg.probe.every, cfg.probe.log_spaced_early)
                    times["b_probe" if probe else "b_plain"].append(dt)
    d = probe_pairs(config(s, cell, T, 1, True), task, device, s.probe_reps)
    schedule = config(s, cell, T, s.run_steps, True).probe
    n_probe = sum(
        should_probe(i, schedule.every, schedule.log_spaced_early) for i in range(s.run_steps)
    )
    t = {k: median(v) for k, v in times.items()}
    t_flush = logged / max(b_steps, 1) * per_metric  # the logger's writes, per step
    t_probe = t["b_probe"] if times["b_probe"] else median(d["probe"])
    t["b"] = (n_probe * t_probe + (s.run_steps - n_probe) * t["b_plain"]) / s.run_steps + t_flush
    t["d_plain"], t["d_probe"] = median(d["plain"]), median(d["probe"])
    flops = recurrent_flops(cell, T, s.batch, s.hidden, s.alphabet)
    return {
        "cell": cell,
        "T": T,
        "timed_steps": n,
        "probes_per_run": n_probe,
        "seconds": t,
        "metrics_per_step": logged / max(b_steps, 1),
        "flush_seconds_per_step": t_flush,
        "samples": {**times, **{f"d_{k}": v for k, v in d.items()}},
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
        "flops_per_step": flops,
        "loadavg": os.getloadavg(),
    }


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


def markdown(res: dict) -> str:
    rows, m, peak = res["rows"], res["machine"], res["peak"]
    mem = {(r["cell"], r["T"]): r.get("memory") for r in rows}
    out = [
        BEGIN,
        f"Run {res['finished']} on {m['cpu']} ({m['cores']} cores, torch {m['torch']} with "
        f"{m['torch_threads']} threads, Lightning {m['pytorch_lightning']}, MLflow {m['mlflow']}, "
        f"device {m['device']}{', ' + m['gpu'] if 'gpu' in m else ''}); "
        f"load average {fmt(res['loadavg_start'][0])} at the start, "
        f"{fmt(res['loadavg_end'][0])} at the end; {fmt(res['wall_seconds'] / 60, 1)} min.",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Matrix-product peak in this run: {fmt(peak['mm2048'], 1)} GFLOP/s (2048×2048 `torch.mm`); "
        f"{fmt(peak['recurrent_gemm'], 1)} GFLOP/s for the recurrent shape "
        f"({res['settings']['batch']}×{res['settings']['hidden']})·({res['settings']['hidden']}×"
        f"{4 * res['settings']['hidden']}).",
        "",
        "| cell | T | (a) plain seq/s | (b) rnnstudy seq/s | (b)/(a) | (c) off seq/s | (c)/(a) "
        "| (b)/(c) | (d) probe/plain step | peak MB (a) | (b) | (c) | mem (b)/(a) | mem (b)/(c) "
        "| GFLOP/s (a) | % of mm peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        q, ratio, mm = r["seq_per_s"], r["ratio"], mem[(r["cell"], r["T"])]
        pa, pb, pc = (mm[k]["peak"] if mm else float("nan") for k in "abc")
        out.append(
            f"| {r['cell']} | {r['T']} | {fmt(q['a'], 1)} | {fmt(q['b'], 1)} | {fmt(ratio['b/a'])} "
            f"| {fmt(q['c'], 1)} | {fmt(ratio['c/a'])} | {fmt(ratio['b/c'])} "
            f"| {fmt(ratio['probe/plain'])} | {fmt(pa, 0)} | {fmt(pb, 0)} | {fmt(pc, 0)} "
            f"| {fmt(div(pb, pa))} | {fmt(div(pb, pc))} | {fmt(r['gflops_a'], 1)} "
            f"| {fmt(100 * r['gflops_a'] / peak['mm2048'], 0)} |"
        )
    out += ["", "Time per iteration, T=1000 over T=100 (target ≤ 11×):", ""]
    out += ["| cell | (a) | (b) | (c) |", "|---|---:|---:|---:|"]
    by = {(r["cell"], r["T"]): r for r in rows}
    for cell in dict.fromkeys(r["cell"] for r in rows):
        if (cell, 100) in by and (cell, 1000) in by:
            lo, hi = by[(cell, 100)]["seconds"], by[(cell, 1000)]["seconds"]
            out.append(f"| {cell} | " + " | ".join(fmt(hi[k] / lo[k], 1) for k in "abc") + " |")
    out += ["", "Targets:", ""]
    out += [f"- {line}" for line in target_lines(rows, mem)]
    out += ["", END]
    return "\n".join(out)


def target_lines(rows: list[dict], mem: dict) -> list[str]:
    lines = []

    def worst(key: str, upper: bool) -> tuple[float, str]:
        vals = [(r["ratio"][key], f"{r['cell']} T={r['T']}") for r in rows]
        return max(vals) if upper else min(vals)

    for key, label in (("b/a", "(b)/(a) throughput"), ("c/a", "(c)/(a) throughput")):
        v, where = worst(key, upper=False)
        lines.append(
            f"{label} ≥ {TARGETS[key]}: worst {fmt(v)} ({where}) — {check(v, TARGETS[key], False)}"
        )
    v, where = worst("b/c", upper=False)
    lines.append(
        f"issue 3: instruments on / off throughput ≥ 0.9 at the default schedule: worst {fmt(v)} "
        f"({where}) — {check(v, 0.9, False)}"
    )
    long = [r for r in rows if r["T"] == max(x["T"] for x in rows)]
    for r in long:
        v = r["ratio"]["probe/plain"]
        lines.append(
            f"(d) probe step / plain step, {r['cell']} T={r['T']}: {fmt(v)} "
            f"(vs (a)'s step: {fmt(r['ratio']['probe/a'])}) — {check(v, 2.0, True)}"
        )
    by = {(r["cell"], r["T"]): r for r in rows}
    for cell in dict.fromkeys(r["cell"] for r in rows):
        if (cell, 100) in by and (cell, 1000) in by:
            lo, hi = by[(cell, 100)]["seconds"], by[(cell, 1000)]["seconds"]
            v = max(hi[k] / lo[k] for k in "abc")
            lines.append(
                f"T=1000 / T=100 time per iteration, {cell}: worst {fmt(v, 1)}× — {check(v, 11, True)}"
            )
    measured = [(k, m) for k, m in mem.items() if m]
    if measured:
        v, where = max(
            (div(m["b"]["peak"], m["a"]["peak"]), f"{c} T={T}") for (c, T), m in measured
        )
        lines.append(f"peak memory (b)/(a) ≤ 1.2: worst {fmt(v)} ({where}) — {check(v, 1.2, True)}")
        for (c, T), m in measured:
            if T == max(t for _, t in mem):
                v = div(m["b"]["peak"], m["c"]["peak"])
                lines.append(
                    f"issue 3: probing memory / plain-step memory, {c} T={T}: {fmt(v)} — {check(v, 2.0, True)}"
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
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--probe-reps", type=int, default=3)
    ap.add_argument("--memory", choices=["all", "longest", "first", "none"], default="all")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument(
        "--threads",
        type=int,
        default=torch.get_num_threads(),
        help="torch CPU threads for every mode (default: torch's default, %(default)s here)",
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
                q, ratio = row["seq_per_s"], row["ratio"]
                print(
                    f"{cell:4s} T={T:5d}  a {q['a']:8.1f}  b {q['b']:8.1f}  c {q['c']:8.1f} seq/s  "
                    f"b/a {ratio['b/a']:.3f}  c/a {ratio['c/a']:.3f}  probe/plain "
                    f"{ratio['probe/plain']:.2f}  ({time.perf_counter() - t0:.0f} s, "
                    f"load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    res = {
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench"
        if not sys.argv[1:]
        else "scripts/bench.py " + " ".join(sys.argv[1:]),
        "machine": machine(device),
        "settings": asdict(s),
        "targets": TARGETS,
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
