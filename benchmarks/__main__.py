"""``python -m benchmarks`` (= ``make bench``): run the benchmark, print the section, write
BENCHMARKS.md and benchmarks/latest.json. See ``benchmarks/__init__.py`` for what is measured."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch

from benchmarks import __doc__ as DOC
from benchmarks.clocks import MetricCounter, flush_cost_per_metric, gemm_rate
from benchmarks.common import EXPERIMENT, GATES, ROOT, Settings, config
from benchmarks.floor import lightning_floor
from benchmarks.memory import memory_child, memory_in_subprocess, want_memory
from benchmarks.modes import bench_one, warm_up
from benchmarks.probe_cost import probe_parts
from benchmarks.report import machine, markdown, write_markdown
from benchmarks.targets import TARGETS
from benchmarks.tour import end_to_end, tour_points, tour_row
from rnnstudy import startup, tracking
from rnnstudy.config import RunConfig
from rnnstudy.runner import quiet_lightning
from rnnstudy.tasks import build_task


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=DOC.split("\n")[0])
    ap.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=list(GATES))
    ap.add_argument("--lengths", nargs="+", type=int, default=[100, 1000])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=12, help="timed steps per mode at T=1000")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="fits per mode (timed steps split)")
    ap.add_argument("--probe-reps", type=int, default=3)
    ap.add_argument("--memory", choices=["all", "longest", "first", "none"], default="longest")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument(
        "--threads",
        type=int,
        default=RunConfig().train.threads,
        help="torch CPU threads, the same in every mode (default: rnnstudy's train.threads, "
        "%(default)s; torch alone would take every core)",
    )
    ap.add_argument("--tour-cells", nargs="*", default=["rnn", "lstm", "gru"], choices=list(GATES))
    ap.add_argument("--tour-steps", type=int, default=120, help="timed steps per mode and point")
    ap.add_argument("--tour-rounds", type=int, default=3, help="fits per mode and point")
    ap.add_argument("--e2e-steps", type=int, default=2000, help="0: no end-to-end row")
    ap.add_argument("--e2e-repeats", type=int, default=2)
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
        args.tour_cells, args.tour_steps, args.tour_rounds = args.tour_cells[:1], 3, 1
        args.e2e_steps = 0
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
            memory=args.memory if args.memory not in ("all", "longest") else "first",
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


def primary_clock(s: Settings) -> str:
    """The clock the targets are judged on: with one CPU thread, the process's CPU time (what a
    step costs on an idle core; it is not inflated by other jobs on a shared machine);
    otherwise wall-clock time (several threads spin-wait, and CPU time then over-counts)."""
    return "cpu" if s.threads == 1 and s.device == "cpu" else "wall"


def grid(s: Settings, device: torch.device, counter: MetricCounter, per_metric: float) -> list:
    """The main grid: one row per (T, cell); the parts of one probe at the longest T."""
    rows = []
    for T in s.lengths:
        for cell in s.cells:
            t0 = time.perf_counter()
            row = bench_one(s, cell, T, device, counter, per_metric)
            if T == max(s.lengths):
                cfg = config(s, cell, T, 1, True)
                row["probe_parts"] = probe_parts(cfg, build_task(cfg.task), device, s.probe_reps)
            if want_memory(s, cell, T):
                row["memory"] = memory_in_subprocess(s, cell, T)
            rows.append(row)
            q, w, c = row["wall"]["seq_per_s"], row["wall"]["ratio"], row["cpu"]["ratio"]
            keys = ("b/a", "c/a", "b/c", "grad/plain", "probe/plain")
            print(
                f"{cell:4s} T={T:5d}  a {q['a']:7.1f}  b {q['b']:7.1f}  c {q['c']:7.1f} seq/s  "
                + "  ".join(f"{k} {w[k]:.2f}/{c[k]:.2f}" for k in keys)
                + f"  (wall/cpu; {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    return rows


def tour(args, device: torch.device, counter: MetricCounter, per_metric: float) -> list:
    rows = []
    for label, cfg in tour_points(args.tour_cells):
        t0 = time.perf_counter()
        r = tour_row(
            label, cfg, device, counter, per_metric, timed=args.tour_steps, rounds=args.tour_rounds
        )
        rows.append(r)
        w, c = r["wall"]["ratio"], r["cpu"]["ratio"]
        print(
            f"tour {label:15s} {r['cell']:4s}  "
            + "  ".join(f"{k} {w[k]:.2f}/{c[k]:.2f}" for k in ("b/a", "c/a", "b/c"))
            + f"  (wall/cpu; {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        spec = json.loads(args.memory_child)
        cell, T = spec.pop("cell"), spec.pop("T")
        print(json.dumps(memory_child(Settings(**spec), cell, T)))
        return 0
    startup.load_training()  # as the ``rnnstudy`` command and its workers do
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
        print(f"peak: {peak['mm2048']:.1f} GFLOP/s (2048² mm), {peak['recurrent_gemm']:.1f}")
        rows = grid(s, device, counter, per_metric)
        tour_rows = tour(args, device, counter, per_metric) if args.tour_cells else []
    e2e = None
    if args.e2e_steps > 0:
        try:
            e2e = end_to_end(args.e2e_steps, args.e2e_repeats)
        except Exception as err:  # the other rows are kept; the report says what failed
            e2e = {"error": repr(err)[:500]}
            print(f"end to end failed: {err!r}", flush=True)
    floor = lightning_floor(200, 1) if args.quick else lightning_floor()
    print(f"Lightning's loop floor: {floor['floor'] * 1e3:.3f} ms a step", flush=True)
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
        "tour": tour_rows,
        "end_to_end": e2e,
        "lightning_floor": floor,
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
    return " ".join([".venv/bin/python -m benchmarks", *args]) + (
        "  (= make bench)" if not args else ""
    )


if __name__ == "__main__":
    sys.exit(main())
