"""The report: the machine, the markdown section of BENCHMARKS.md (between the bench markers),
and writing it into the file without touching the prose around it."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from benchmarks.common import div
from benchmarks.probe_cost import PARTS
from benchmarks.targets import fmt, t_scaling, target_lines

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


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


def header(res: dict) -> list[str]:
    m, peak, st, P = res["machine"], res["peak"], res["settings"], res["primary_clock"]
    load0, load1 = res["loadavg_start"][0], res["loadavg_end"][0]
    return [
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
    ]


def grid_tables(rows: list[dict], peak: dict) -> list[str]:
    out = [
        "",
        "Throughput (sequences/s from the median wall-clock step) and ratios on both clocks "
        "(wall = elapsed; cpu = this process's CPU seconds); (d) probe step / plain step for the "
        "gradient part alone and for the full default probe:",
        "",
        "| cell | T | (a) plain | (b) rnnstudy | (c) off | (b)/(a) wall | cpu | (c)/(a) wall | cpu "
        "| (b)/(c) wall | cpu | (d) gradient wall | cpu | (d) full probe wall | cpu |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        q, w, c = r["wall"]["seq_per_s"], r["wall"]["ratio"], r["cpu"]["ratio"]
        cells = [fmt(q[k], 1) for k in "abc"]
        for key in ("b/a", "c/a", "b/c", "grad/plain", "probe/plain"):
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
    return out


def probe_table(res: dict) -> list[str]:
    parts = [r for r in res["rows"] if r.get("probe_parts")]
    if not parts:
        return []
    P = res["primary_clock"]
    out = [
        "",
        f"One probe's parts on the batch a step just trained on ({P} clock; seconds, and × one "
        "plain training step of the same module): gradient norms alone, propagation profile "
        "alone, Lyapunov exponents alone, and the full default probe (the profile then shares "
        "the gradient's backward pass):",
        "",
        "| cell | T | plain step s | " + " | ".join(f"{p} s | ×" for p in PARTS) + " |",
        "|---|---:|---:|" + "---:|---:|" * len(PARTS),
    ]
    for r in parts:
        pp = r["probe_parts"][P]
        cells = [fmt(pp["seconds"]["plain"], 3)]
        for p in PARTS:
            cells += [fmt(pp["seconds"][p], 3), fmt(pp["x_plain"][p])]
        out.append(f"| {r['cell']} | {r['T']} | " + " | ".join(cells) + " |")
    return out


def tour_table(res: dict) -> list[str]:
    tour, e2e = res.get("tour") or [], res.get("end_to_end")
    out = []
    if tour:
        out += [
            "",
            "Tour size (`experiments/tour.yaml`, seed 0: hidden 64, batch 64), steady state, "
            "training steps only; ms per step on the cpu clock, ratios on both clocks "
            "(rnnstudy amortised over the point's `train.max_steps` with its probes):",
            "",
            "| task | cell | L | steps | probes | (a) plain ms | (b) rnnstudy ms | (c) off ms "
            "| (b)/(a) wall | cpu | (c)/(a) wall | cpu | (b)/(c) wall | cpu |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in tour:
            t, w, c = r["cpu"]["seconds"], r["wall"]["ratio"], r["cpu"]["ratio"]
            cells = [
                r["task"],
                r["cell"],
                str(r["L"]),
                str(r["run_steps"]),
                str(r["probes_per_run"]),
                *(fmt(1e3 * t[k], 1) for k in "abc"),
            ]
            for key in ("b/a", "c/a", "b/c"):
                cells += [fmt(w[key]), fmt(c[key])]
            out.append("| " + " | ".join(cells) + " |")
    if e2e and "error" in e2e:
        out += ["", f"End to end: the measurement failed ({e2e['error']})."]
    elif e2e:
        n = e2e["repeats"]
        out += [
            "",
            f"End to end (`benchmarks/tour_overhead.py`'s fresh processes, {e2e['steps']} steps, "
            f"startup, validation and end of run included; median of {n} alternating pair(s)): "
            f"plain script {fmt(e2e['cpu']['plain'], 1)} s CPU ({fmt(e2e['wall']['plain'], 1)} s "
            f"wall), `rnnstudy run` {fmt(e2e['cpu']['rnnstudy'], 1)} s CPU "
            f"({fmt(e2e['wall']['rnnstudy'], 1)} s wall): ratio {fmt(e2e['cpu']['ratio'], 3)} "
            f"CPU, {fmt(e2e['wall']['ratio'], 3)} wall.",
        ]
    floor = res.get("lightning_floor")
    if floor:
        out += [
            "",
            f"Lightning's own loop (`benchmarks/floor.py`: a one-layer 4→1 module through "
            f"`pl.Trainer` with no logger or callbacks against the same plain loop, "
            f"{floor['steps']} steps, cpu clock): {fmt(1e3 * floor['lightning'], 3)} against "
            f"{fmt(1e3 * floor['plain'], 3)} ms a step, a floor of "
            f"**{fmt(1e3 * floor['floor'], 3)} ms a step** under anything trained through the "
            "Trainer. A steady-state ratio of 0.95 leaves 0.05/0.95 of the plain step for the "
            "whole harness (0.22 ms for a 4.2 ms step).",
        ]
    return out


def markdown(res: dict) -> str:
    P = res["primary_clock"]
    out = [BEGIN, *header(res), *grid_tables(res["rows"], res["peak"])]
    out += probe_table(res) + tour_table(res)
    out += ["", f"Targets ({P} clock; the other clock in brackets):", ""]
    out += [f"- {line}" for line in target_lines(res)]
    out += ["", END]
    return "\n".join(out)


def write_markdown(path: Path, section: str) -> None:
    """Replace the text between the bench markers of ``path`` (or append a section)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Latest run\n\n" + section + "\n"
    path.write_text(text)
