"""The driver: hands each step record to the instruments that are due, logs what they measure,
keeps their arrays and writes them at the end.

The module asks it two questions before a step (``capture_due``: must this step's states and
``∂L/∂h_t`` be captured; ``graph_due``: must the loss graph survive backward) and hands it the
record after clipping (``measure``). An instrument that needs ``windows`` measures when the
record carries them and it was due at ``record.asked_at``; any other when it is due at
``record.step``. The shared backward recurrence (``run_probe``: gradient norms, propagated unit
vectors, Lyapunov exponents) runs once per record for all instruments that need ``probe``, with
the driver's own random generator (seeded by the run's seed).

Arrays: each measurement's rows are kept per instrument and key, with the step; at the end
``save()`` writes ``<out_dir>/<name>/<key>.npz`` (``steps`` plus the instrument's ``write``).
Checkpoints carry the rows, the steps, the generator and each instrument's own state.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnstudy.instruments.base import Instrument
from rnnstudy.instruments.probe import run_probe
from rnnstudy.instruments.record import StepRecord


class Instruments:
    def __init__(self, instruments: list[Instrument], out_dir: Path | None = None, seed: int = 0):
        self.instruments = instruments
        self.out_dir = Path(out_dir) if out_dir else None
        self.gen = torch.Generator().manual_seed(seed)
        self.steps: dict[str, list[int]] = {i.name: [] for i in instruments}
        self.rows: dict[str, dict[str, list[np.ndarray]]] = {i.name: {} for i in instruments}

    def __getitem__(self, name: str) -> Instrument:
        return next(i for i in self.instruments if i.name == name)

    def capture_due(self, step: int) -> bool:
        return any(i.due(step) for i in self.instruments if _windows(i))

    def graph_due(self, step: int) -> bool:
        return any(i.due(step) for i in self.instruments if "loss_graph" in i.needs)

    def _due(self, inst: Instrument, record: StepRecord) -> bool:
        if _windows(inst):
            ok = record.windows and record.backward_ran and record.asked_at is not None
            return bool(ok) and inst.due(record.asked_at)
        return inst.due(record.step)

    def measure(self, record: StepRecord, logger: Any = None) -> dict[str, float]:
        """Every due instrument's metrics (logged at ``record.step`` through ``logger``)."""
        due = [i for i in self.instruments if self._due(i, record)]
        if any("probe" in i.needs for i in due):
            args: dict[str, int] = {}
            for i in due:
                args.update(i.probe_args())
            traj = None if record.trajectory is None else list(record.trajectory)
            probe = run_probe(record.model, list(record.windows), self.gen, trajectory=traj, **args)
            record = replace(record, probe=probe)
        metrics: dict[str, float] = {}
        for inst in due:
            m, rows = inst.measure(record)
            metrics.update(m)
            if rows is not None:
                self.steps[inst.name].append(record.step)
                for k, row in rows.items():
                    self.rows[inst.name].setdefault(k, []).append(row)
        if logger is not None and metrics:
            logger.log_metrics(metrics, step=record.step)
        return metrics

    def arrays(self, name: str) -> dict[str, dict[str, np.ndarray]]:
        """{key: arrays} of instrument ``name`` as ``save`` writes them (``steps`` included)."""
        if not self.steps.get(name):
            return {}
        steps = np.asarray(self.steps[name], dtype=np.int64)
        written = self[name].write(steps, self.rows[name])
        return {k: {"steps": steps, **a} for k, a in written.items()}

    def save(self) -> list[Path]:
        """``<out_dir>/<name>/<key>.npz`` for every instrument that kept rows."""
        paths: list[Path] = []
        if self.out_dir is None:
            return paths
        for inst in self.instruments:
            for key, arrays in self.arrays(inst.name).items():
                folder = self.out_dir / inst.name
                folder.mkdir(parents=True, exist_ok=True)
                np.savez_compressed(folder / f"{key}.npz", **arrays)
                paths.append(folder / f"{key}.npz")
        return paths

    def state_dict(self) -> dict[str, Any]:
        """Plain types and tensors only (checkpoints load with ``weights_only=True``)."""
        rows = {
            n: {k: [torch.as_tensor(np.asarray(r)) for r in rs] for k, rs in d.items()}
            for n, d in self.rows.items()
        }
        own = {i.name: i.state_dict() for i in self.instruments}
        return {"steps": self.steps, "rows": rows, "gen": self.gen.get_state(), "own": own}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.steps:
            self.steps[name] = [int(s) for s in state["steps"].get(name, [])]
            saved = state["rows"].get(name, {})
            self.rows[name] = {k: [t.numpy() for t in rs] for k, rs in saved.items()}
        self.gen.set_state(state["gen"])
        for inst in self.instruments:
            inst.load_state_dict(state["own"].get(inst.name, {}))


def _windows(inst: Instrument) -> bool:
    return bool({"windows", "probe"} & inst.needs)
