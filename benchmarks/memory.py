"""Peak memory of (a), (c), (b) for one cell and length, in a fresh subprocess.

Before each phase the heap is freed and trimmed (``gc.collect`` + glibc ``malloc_trim``), the
kernel's RSS high-water mark is reset (``echo 5 > /proc/self/clear_refs``) and VmRSS read;
after it VmHWM is read. The figure is VmHWM - VmRSS(before): what training itself needs on top
of the libraries and the model. On CUDA it is ``torch.cuda.max_memory_allocated`` above the
allocation before the phase. tracemalloc would not see torch's allocations."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import ROOT, Settings, config, median
from benchmarks.modes import rnnstudy_fit, warm_up
from benchmarks.reference import plain_fit
from rnnstudy.tasks import build_task

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


def memory_child(s: Settings, cell: str, T: int) -> dict[str, dict[str, Any]]:
    """Run in a fresh process: peak memory of (a), (c), (b) for one cell and length, each
    measured ``s.memory_reps`` times in the order a c b, b c a, a c b, ...; the median counts
    (glibc's state makes single figures of one and the same step wander by up to ±40%).
    (a) and (c) run 2 steps, (b) 3: steps 0, 1, 2 are all probe steps, so (b)'s peak is the
    default probe's peak."""
    device = torch.device(s.device)
    torch.set_num_threads(s.threads)
    warm_up(s, cell, device)
    a = config(s, cell, T, 2, False)
    b = config(s, cell, T, 3, True)
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
    """``memory_child`` in a fresh ``python -m benchmarks --memory-child`` process."""
    spec = json.dumps({**asdict(s), "cell": cell, "T": T})
    cmd = [sys.executable, "-m", "benchmarks", "--memory-child", spec]
    res = subprocess.run(
        cmd, capture_output=True, text=True, env=os.environ.copy(), check=False, cwd=ROOT
    )
    if res.returncode != 0:
        raise RuntimeError(f"memory subprocess failed for {cell} T={T}:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def want_memory(s: Settings, cell: str, T: int) -> bool:
    if s.memory == "all":
        return True
    if s.memory == "longest":
        return T == max(s.lengths)
    if s.memory == "first":
        return T == max(s.lengths) and cell == s.cells[0]
    return False
