"""Benchmark: ``rnnstudy report`` over an experiment of 100 child runs (issue 6: <= 60 s on 2 cores).

No training: a fresh SQLite store is filled with 100 child runs whose metric histories look like
real ones (300 training steps x ~11 per-step metrics, validation/probe metrics every 25 steps,
final metrics, a ``gradtime/l0.npz`` per run), written with ``MlflowClient.log_batch`` in
chunks of 1,000. Then the report is built the way a user builds it, in a fresh process::

    .venv/bin/python -m benchmarks.report_store                 # store in a temp dir, prints timings
    .venv/bin/python -m benchmarks.report_store --keep /tmp/b   # keep the store and the report

Prints the wall time of ``rnnstudy report`` (the figure that must stay <= 60 s, imports
included), its CPU time (user+sys: on a busy machine wall time grows, CPU time does not) and
the load average; the report's own line gives the time after imports.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

STEPS = 300
EVERY = 25
CELLS = ["rnn", "lstm"]
TASKS = {
    "copy": {"task.name": "copy", "task.A": 8, "task.K": 5, "task.T": 30},
    "qa_distance": {
        "task.name": "qa_distance",
        "task.n_keys": 8,
        "task.n_values": 8,
        "task.n_facts": 1,
        "task.n_filler": 4,
        "task.d_min": 2,
        "task.d_max": 50,
        "task.n_buckets": 5,
    },
}
CLIPS = [("none", 1.0), ("norm", 1.0), ("norm", 4.0), ("value", 0.5), ("value", 1.0)]
SEEDS = range(5)
BASE = {
    "model.nonlinearity": "tanh",
    "model.hidden_size": 64,
    "model.num_layers": 1,
    "model.bidirectional": False,
    "model.init": "default",
    "model.recurrent_gain": None,
    "model.forget_bias": 1.0,
    "optim.name": "adam",
    "optim.lr": 0.003,
    "optim.momentum": 0.0,
    "optim.weight_decay": 0.0,
    "train.max_steps": STEPS,
    "train.batch_size": 64,
    "train.val_every": EVERY,
    "train.val_size": 512,
    "train.tbptt": None,
    "train.stop_when_solved": False,
    "train.log_every": 1,
    "train.accelerator": "auto",
    "train.precision": "32",
    "probe.enabled": True,
    "probe.every": EVERY,
    "probe.log_spaced_early": True,
    "probe.spectrum": True,
}
GATES = {"rnn": [""], "lstm": ["", ".i", ".f", ".g", ".o"], "gru": ["", ".r", ".z", ".n"]}
PARAMS = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "head.weight", "head.bias"]


def histories(
    rng: np.random.Generator, cell: str, task: str, clip: tuple[str, float]
) -> list[Metric]:
    """~3,800 metrics of one run: curves that fall, noisy gradient norms with spikes."""
    ts = int(time.time() * 1000)
    good = cell != "rnn"
    out: list[Metric] = []
    clipped = 0
    for s in range(STEPS):
        frac = s / STEPS
        loss = 2.1 * math.exp(-(3 if good else 0.3) * frac) + 0.05 * rng.standard_normal() ** 2
        pre = float(
            np.exp(rng.normal(0.0 if good else 1.0, 0.6)) * (5 if rng.random() < 0.02 else 1)
        )
        mode, tau = clip
        post = min(pre, tau) if mode == "norm" else pre * (0.7 if mode == "value" else 1)
        clipped += int(post < pre)
        m = {
            "train/loss": loss,
            "grad/norm_preclip": pre,
            "grad/norm_postclip": post,
            "grad/clipped": float(post < pre),
            "grad/clip_rate": clipped / (s + 1),
        }
        m.update({f"grad/param/{p}": pre * rng.uniform(0.1, 0.6) for p in PARAMS})
        out += [Metric(k, float(v), ts, s) for k, v in m.items()]
    for s in range(0, STEPS + 1, EVERY):
        frac = s / STEPS
        acc = 0.125 + (0.85 if good else 0.1) * frac * rng.uniform(0.8, 1.0)
        m = {"val/loss": 2.1 * math.exp(-(3 if good else 0.3) * frac), "val/acc": acc}
        for g in GATES[cell]:
            m[f"spectral/weight_hh_l0{g}/radius"] = 0.9 + 0.3 * frac + 0.05 * rng.standard_normal()
            m[f"spectral/weight_hh_l0{g}/sigma_max"] = 1.2 + 0.3 * frac
        for k in ("first", "last", "log10_ratio", "half_life"):
            m[f"gradtime/l0/{k}"] = float(rng.uniform(0.1, 3))
        if task == "qa_distance":
            for i, d in enumerate((11, 21, 31, 41, 50)):
                m[f"val/acc_by_distance/{d}"] = min(1.0, acc * (1.2 - 0.15 * i))
            m["val/memory_horizon"] = 21.0 if acc > 0.8 else 0.0
        out += [Metric(k, float(v), ts, s) for k, v in m.items()]
    final = {
        k.replace("val/", "final/"): mt.value
        for mt in out
        if mt.step == STEPS
        for k in [mt.key]
        if k.startswith("val/")
    }
    final.update(
        {
            "final/steps": STEPS,
            "final/solved": float(good),
            "final/diverged": 0.0,
            "time/seconds": 20.0,
        }
    )
    if good:
        final["steps_to_solve"] = float(rng.integers(150, 300))
    out += [Metric(k, float(v), ts, STEPS) for k, v in final.items()]
    return out


def make_store(root: Path) -> tuple[str, float]:
    uri = f"sqlite:///{root / 'mlflow.db'}"
    os.chdir(root)  # artifacts land in ./mlruns, as for a user
    c = MlflowClient(uri)
    exp = c.create_experiment("bench")
    t0 = time.perf_counter()
    parent = c.create_run(
        exp, run_name="bench [full]", tags={"rnnstudy.kind": "experiment", "profile": "full"}
    )
    pid = parent.info.run_id
    c.log_batch(pid, params=[Param("file", "experiments/bench.yaml"), Param("profile", "full")])
    rng = np.random.default_rng(0)
    grid = list(itertools.product(CELLS, TASKS, CLIPS, SEEDS))
    rows = ["point,cell,task,clip,seed,outcome"]
    for cell, task, clip, seed in grid:
        label = "none" if clip[0] == "none" else f"{clip[0]}:{clip[1]:g}"
        name = f"model.cell={cell} task={task} clip={label} seed={seed}"
        outcome = "solved" if cell != "rnn" else "unsolved"
        tags = {
            "mlflow.parentRunId": pid,
            "cell": cell,
            "task": task,
            "clip": label,
            "outcome": outcome,
            "mlflow.source.git.commit": "0" * 40,
        }
        run = c.create_run(exp, run_name=name, tags=tags)
        rid = run.info.run_id
        params = {
            **BASE,
            **TASKS[task],
            "name": name,
            "seed": seed,
            "model.cell": cell,
            "clip.mode": clip[0],
            "clip.value": clip[1],
        }
        c.log_batch(rid, params=[Param(k, str(v)) for k, v in params.items()])
        metrics = histories(rng, cell, task, clip)
        for i in range(0, len(metrics), 1000):
            c.log_batch(rid, metrics=metrics[i : i + 1000])
        with tempfile.TemporaryDirectory() as tmp:
            T = 40 if task == "copy" else 55
            probes = np.array([0, 1, 2, 4, 8, 16, *range(EVERY, STEPS, EVERY)])
            decay = np.linspace(-4 if cell == "rnn" else -1, 0, T)
            norms = 10 ** (decay[None, :] + 0.1 * rng.standard_normal((len(probes), T)))
            d = Path(tmp) / "gradtime"
            d.mkdir()
            np.savez_compressed(d / "l0.npz", norms=norms, steps=probes, time=np.arange(T))
            c.log_artifacts(rid, str(d), "gradtime")
        c.set_terminated(rid)
        rows.append(f"{name},{cell},{task},{label},{seed},{outcome}")
    (root / "summary.csv").write_text("\n".join(rows) + "\n")
    c.log_artifact(pid, str(root / "summary.csv"))
    c.set_terminated(pid)
    return uri, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", default=None, help="folder for the store and report (kept)")
    args = ap.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_report_")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if (root / "mlflow.db").exists():
        uri = f"sqlite:///{root / 'mlflow.db'}"
        os.chdir(root)
        print(f"store: reusing {uri}")
    else:
        uri, secs = make_store(root)
        print(f"store: 100 child runs written in {secs:.1f}s ({uri})")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MPLBACKEND": "agg"}
    exe = Path(sys.executable).with_name("rnnstudy")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [str(exe), "report", "bench", "--out", str(root / "reports")], env=env, check=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    load = os.getloadavg()[0]
    print(
        f"rnnstudy report, 100 runs: {wall:.1f}s wall, {cpu:.1f}s CPU (user+sys),"
        f" {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    print("OK (<= 60 s)" if wall <= 60 else "SLOW (> 60 s)")
    return 0 if wall <= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
