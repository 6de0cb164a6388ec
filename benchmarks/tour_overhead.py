"""Tour-size overhead: rnnstudy against a plain PyTorch loop doing the same training.

    nice -n 10 .venv/bin/python benchmarks/tour_overhead.py                  # both rows
    nice -n 10 .venv/bin/python benchmarks/tour_overhead.py --repeats 3 --e2e-steps 2000

The tour-sized run of issue 16, fixed here so that figures stay comparable when the tour
changes: LSTM, qa_distance as the tour had it when the issue was measured (8 keys, 8 values,
1 fact, 4 filler symbols, d in [2, 50], L = 52), hidden 64, batch 64, Adam 3e-3, clip norm 1,
validation on 512 examples every 100 steps, probes every 100 steps. The plain loop uses the same task generator,
an ``nn.LSTM`` + ``nn.Linear`` on the last state, ``clip_grad_norm_`` and the same validation;
it imports neither Lightning nor MLflow.

Every measurement is a fresh process, and the two sides alternate (plain, rnnstudy, plain, ...)
so that a change in the machine's load hits both. Printed ratios are plain time / rnnstudy
time (throughput of rnnstudy relative to the plain loop; 1.0 = as fast), each in two clocks:
CPU seconds of the process (robust on a shared machine: other people's jobs do not count) and
wall seconds (what a person waits; noisy when the machine is busy). Both sides use one torch
thread, so CPU time and wall time agree on an idle machine.

* steady state: seconds per step from step ``--warm`` to the end of a ``--steps`` run, inside
  the process (``run_one`` with a clock callback; MLflow recording on, as in ``rnnstudy run``),
  with the probes off and on (gradient-time and spectrum every 100 steps, as in the tour);
* end to end: wall time of a fresh ``rnnstudy run`` process (probes on, as the tour) against a
  fresh plain-script process, ``--e2e-steps`` steps, startup included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TASK = {
    "name": "qa_distance",
    "n_keys": 8,
    "n_values": 8,
    "n_facts": 1,
    "n_filler": 4,
    "d_min": 2,
    "d_max": 50,
}
HIDDEN, BATCH, LR, CLIP, VAL_EVERY, VAL_SIZE = 64, 64, 3e-3, 1.0, 100, 512


def run_config(steps: int, probes: bool) -> dict:
    return {
        "name": "tour_overhead",
        "seed": 0,
        "task": TASK,
        "model": {"cell": "lstm", "hidden_size": HIDDEN},
        "optim": {"name": "adam", "lr": LR},
        "clip": {"mode": "norm", "value": CLIP},
        "train": {
            "max_steps": steps,
            "batch_size": BATCH,
            "val_every": VAL_EVERY,
            "val_size": VAL_SIZE,
        },
        "probe": {"enabled": probes, "every": 100},
    }


# ---------------------------------------------------------------- the children (fresh processes)


def child_plain(steps: int, warm: int) -> dict:
    """The plain PyTorch loop. Returns per-phase times."""
    t0 = time.perf_counter()
    import torch
    import torch.nn.functional as F
    from torch import nn

    from rnnstudy.config import QADistanceTask
    from rnnstudy.tasks import build_task

    torch.set_num_threads(1)
    torch.manual_seed(0)
    task = build_task(QADistanceTask(**TASK))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(task.input_size, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, task.output_size)

        def forward(self, x):
            h, _ = self.rnn(x)
            return self.head(h[:, -1])

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    val = task.generate(10**9, VAL_SIZE)
    marks = {}
    t_setup = time.perf_counter()
    for step in range(steps):
        if step == warm:
            marks["warm"] = time.perf_counter()
            marks["warm_cpu"] = time.process_time()
        b = task.generate(step, BATCH)
        loss = F.cross_entropy(net(b.x), b.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        if (step + 1) % VAL_EVERY == 0:
            with torch.no_grad():
                out = net(val.x)
                float(F.cross_entropy(out, val.y)), float((out.argmax(-1) == val.y).float().mean())
    t_end, cpu_end = time.perf_counter(), time.process_time()
    return {
        "setup": t_setup - t0,
        "steady_per_step": (t_end - marks["warm"]) / (steps - warm),
        "steady_cpu_per_step": (cpu_end - marks["warm_cpu"]) / (steps - warm),
        "train": t_end - t_setup,
    }


def child_rnnstudy(steps: int, warm: int, probes: bool) -> dict:
    """``run_one`` as ``rnnstudy run`` calls it (MLflow on), timed by a callback."""
    t0 = time.perf_counter()
    from rnnstudy import startup

    startup.load_training()  # as the ``rnnstudy`` command imports
    import pytorch_lightning as pl

    from rnnstudy.config import parse_run
    from rnnstudy.runner import run_one

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.at: dict[int, float] = {}
            self.cpu: dict[int, float] = {}

        def on_train_start(self, trainer, pl_module) -> None:
            self.at[-1] = time.perf_counter()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.global_step == warm and warm not in self.at:
                self.at[warm], self.cpu[warm] = time.perf_counter(), time.process_time()

        def on_train_end(self, trainer, pl_module) -> None:
            self.at[steps], self.cpu[steps] = time.perf_counter(), time.process_time()

    clock = Clock()
    t_import = time.perf_counter()
    run_one(
        parse_run(run_config(steps, probes)),
        experiment="tour_overhead",
        progress=False,
        callbacks=[clock],
    )
    t_end = time.perf_counter()
    return {
        "import": t_import - t0,
        "setup": clock.at[-1] - t0,
        "steady_per_step": (clock.at[steps] - clock.at[warm]) / (steps - warm),
        "steady_cpu_per_step": (clock.cpu[steps] - clock.cpu[warm]) / (steps - warm),
        "train": clock.at[steps] - clock.at[-1],
        "after_train": t_end - clock.at[steps],
    }


# ---------------------------------------------------------------- the parent


def _timed(cmd: list[str], env: dict, cwd: Path) -> tuple[str, float, float]:
    """(stdout, wall seconds, CPU seconds) of one fresh process."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=cwd)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return out.stdout, wall, cpu


def _child(kind: str, steps: int, warm: int, env: dict) -> dict:
    cmd = [PY, __file__, "--child", kind, "--steps", str(steps), "--warm", str(warm)]
    stdout, wall, cpu = _timed(cmd, env, ROOT)
    res = json.loads(stdout.strip().splitlines()[-1])
    res["wall"], res["cpu"] = wall, cpu
    return res


def _cli(steps: int, env: dict, tmp: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of a fresh ``rnnstudy run`` process (probes on, as in the tour)."""
    import yaml

    f = tmp / "tour_overhead.yaml"
    f.write_text(yaml.safe_dump({"name": "tour_overhead", "base": run_config(steps, True)}))
    _, wall, cpu = _timed([str(Path(PY).parent / "rnnstudy"), "run", str(f)], env, tmp)
    return wall, cpu


def _plain(steps: int, env: dict) -> tuple[float, float]:
    r = _child("plain", steps, min(100, steps // 2), env)
    return r["wall"], r["cpu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=600, help="steps of the steady-state runs")
    ap.add_argument("--warm", type=int, default=100, help="steady state is timed from here")
    ap.add_argument("--e2e-steps", type=int, default=2000, help="steps of the end-to-end runs")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--child", choices=["plain", "rnnstudy", "rnnstudy-noprobe"])
    a = ap.parse_args()
    if a.child:
        if a.child == "plain":
            res = child_plain(a.steps, a.warm)
        else:
            res = child_rnnstudy(a.steps, a.warm, probes=a.child == "rnnstudy")
        print(json.dumps(res))
        return

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        env.update(MPLBACKEND="agg", PYTHONWARNINGS="ignore")
        _child("plain", 20, 10, env)  # warm the file cache and create the MLflow store
        _child("rnnstudy-noprobe", 20, 10, env)
        rows: dict[str, list[dict]] = {"plain": [], "rnnstudy-noprobe": [], "rnnstudy": []}
        for r in range(a.repeats):
            for kind in rows:
                rows[kind].append(_child(kind, a.steps, a.warm, env))
                x = rows[kind][-1]
                print(
                    f"  steady {kind:17s} repeat {r + 1}: {x['steady_cpu_per_step'] * 1e3:6.2f}"
                    f" ms/step CPU, {x['steady_per_step'] * 1e3:6.2f} wall",
                    flush=True,
                )
        e2e: dict[str, list[tuple[float, float]]] = {"plain": [], "rnnstudy": []}
        if not a.skip_e2e:
            for r in range(a.repeats):
                e2e["plain"].append(_plain(a.e2e_steps, env))
                e2e["rnnstudy"].append(_cli(a.e2e_steps, env, tmp))
                (pw, pc), (qw, qc) = e2e["plain"][-1], e2e["rnnstudy"][-1]
                print(
                    f"  end to end repeat {r + 1}: plain {pc:.1f} s CPU ({pw:.1f} wall),"
                    f" rnnstudy run {qc:.1f} s CPU ({qw:.1f} wall)",
                    flush=True,
                )

    def med(kind: str, key: str) -> float:
        return statistics.median(x[key] for x in rows[kind])

    print(f"\ntour-size LSTM, qa_distance L=52, hidden {HIDDEN}, batch {BATCH}, 1 torch thread")
    print(f"steady state ({a.steps} steps, timed from step {a.warm}; median of {a.repeats}):")
    for key, clock in (("steady_cpu_per_step", "CPU "), ("steady_per_step", "wall")):
        p = med("plain", key)
        line = f"  {clock}: plain {p * 1e3:6.2f} ms/step"
        for kind, label in (("rnnstudy-noprobe", "probes off"), ("rnnstudy", "probes on")):
            q = med(kind, key)
            line += f" | rnnstudy {label} {q * 1e3:6.2f} ratio {p / q:.3f}"
        print(line)
    print(
        f"  set-up to the first step (wall): plain {med('plain', 'setup'):.2f} s,"
        f" rnnstudy {med('rnnstudy', 'setup'):.2f} s"
        f" (of which imports {med('rnnstudy', 'import'):.2f} s)"
    )
    if e2e["plain"]:
        print(f"end to end ({a.e2e_steps} steps, fresh processes, startup included; median):")
        for i, clock in ((1, "CPU "), (0, "wall")):
            p = statistics.median(x[i] for x in e2e["plain"])
            q = statistics.median(x[i] for x in e2e["rnnstudy"])
            print(f"  {clock}: plain script {p:.1f} s, rnnstudy run {q:.1f} s   ratio {p / q:.3f}")


if __name__ == "__main__":
    main()
