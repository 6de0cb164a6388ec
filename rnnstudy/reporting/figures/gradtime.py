"""Shared by the two ‖∂L/∂h_t‖ figures: which runs to show and their ``gradtime/l0.npz``.

Panels are laid out with one column per cell (rnn, lstm, gru) and one row per task (and per
other configuration difference when there are few configurations). Each panel shows one
representative run: the lowest seed of the first configuration that fits the panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnstudy import tracking

LAYER = "l0"
MAX_CONFIG_PANELS = 12
TRIES = 5  # runs tried per panel before giving up on it


@dataclass
class Panel:
    title: str
    run_id: str
    steps: np.ndarray
    norms: np.ndarray  # probes x time


@dataclass
class Grid:
    nrows: int
    ncols: int
    cells: dict[tuple[int, int], Panel] = field(default_factory=dict)

    def items(self):
        return self.cells.items()


_CACHE: dict[tuple[str, str], Grid | None] = {}


def panels(data) -> Grid | None:
    """The panel grid for ``data`` (cached: both figures use the same downloads)."""
    key = (data.store.uri, ",".join(data.runs["run_id"]))
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _panels(data)
    return _CACHE[key]


def _panels(data) -> Grid | None:
    runs = data.runs
    if (
        runs.empty
        or "params.probe.enabled" in runs
        and not (runs["params.probe.enabled"].astype(str) != "False").any()
    ):
        return None
    few = runs["config"].nunique() <= MAX_CONFIG_PANELS
    rows_key = runs["task_label"]
    if few:
        rest = runs["series"].where(runs["series"] != runs["cell"], "")
        rest = rest.str.replace(r"^(rnn|lstm|gru)( · )?", "", regex=True)
        rows_key = (runs["task_label"] + " · " + rest).str.rstrip(" ·")
    runs = runs.assign(_row=rows_key).sort_values(["_row", "config", "seed", "run_name"])
    row_names = sorted(set(runs["_row"]))
    cols = data.cells(runs["cell"])
    grid = Grid(len(row_names), len(cols))
    for (row, cell), sub in runs.groupby(["_row", "cell"], sort=False):
        for _, run in sub.head(TRIES).iterrows():  # the first run that has the artifact
            z = tracking.read_npz(data.store.client, run["run_id"], f"gradtime/{LAYER}.npz")
            if z is None or "norms" not in z or np.asarray(z["norms"]).ndim != 2:
                continue
            steps = np.asarray(z.get("steps", np.arange(len(z["norms"]))))
            seed = "" if np.isnan(run["seed"]) else f", seed {int(run['seed'])}"
            title = f"{cell} · {row}{seed}"
            grid.cells[(row_names.index(row), cols.index(cell))] = Panel(
                title, run["run_id"], steps, np.asarray(z["norms"], dtype=float)
            )
            break
    return grid if grid.cells else None
