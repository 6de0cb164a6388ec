"""The instrument protocol (DESIGN §1): name, schedule, needs, ``measure(record)``.

An instrument is one class in one file. It declares

* ``name`` — its registry key (``rnnstudy.instruments.INSTRUMENTS``) and the folder of its
  arrays (``<name>/<key>.npz``);
* its schedule — ``due(step)``: every ``every`` steps and, if ``log_spaced_early``, at 1, 2,
  4, 8, ... below ``every`` (``rnnstudy.instruments.schedule``);
* ``needs`` — what it reads from the step record beyond the always-present fields:
  ``"windows"`` (captured states and ``∂L/∂h_t``), ``"probe"`` (the shared backward recurrence;
  implies windows; ``probe_args`` says which parts), ``"loss_graph"``;
* ``measure(record) -> (metrics, arrays)`` — metrics logged at ``record.step``; ``arrays``
  ({key: 1-d row}) kept by the driver, one row per measurement, or None to keep nothing;
* ``from_config(cfg)`` — the instance a run config asks for (its ``probe:`` switch), or None;
* ``write(steps, rows)`` — the npz arrays of each key at the end of the run;
* optional running state through ``state_dict`` / ``load_state_dict`` (checkpoints).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from rnnstudy.instruments.schedule import should_probe

Metrics = dict[str, float]
Rows = dict[str, np.ndarray]


class Instrument:
    name: ClassVar[str]
    needs: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, every: int = 1, log_spaced_early: bool = False):
        self.every, self.log_spaced_early = every, log_spaced_early

    @classmethod
    def from_config(cls, cfg: Any) -> Instrument | None:
        raise NotImplementedError

    def due(self, step: int) -> bool:
        return should_probe(step, self.every, self.log_spaced_early)

    def probe_args(self) -> dict[str, int]:
        """Arguments of ``run_probe`` this instrument needs (``needs`` "probe")."""
        return {}

    def measure(self, record: Any) -> tuple[Metrics, Rows | None]:
        raise NotImplementedError

    def write(self, steps: np.ndarray, rows: dict[str, list[np.ndarray]]) -> dict[str, Rows]:
        """{key: arrays of ``<name>/<key>.npz``} (``steps`` is added by the driver)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass


def finite(metrics: Metrics) -> Metrics:
    """An undefined summary (NaN) is not logged (DESIGN §4)."""
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


def pad_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Stack 1-d rows into (n, max length), NaN-padded (the length can change in a run)."""
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out
