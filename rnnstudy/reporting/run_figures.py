"""One run's figures as PNG artifacts, for the MLflow UI (a person opens a run and sees them).

``log_run_figures(run_id)`` reads what the run logged (through ``rnnstudy.tracking``) and logs,
under the run's ``figures/`` folder, every figure it has data for:

* ``figures/gradient_through_time_<layer>.png``: ‖∂L/∂h_t‖ against t (log scale) at up to five
  probe steps spread over training, from the artifact ``gradtime/<layer>.npz``;
* ``figures/gradient_heatmap_<layer>.png``: log10 ‖∂L/∂h_t‖, probe step (rows) × t (columns);
* ``figures/acc_by_distance.png``: the metrics ``final/acc_by_distance/<d>`` against d, with the
  memory horizon (``final/memory_horizon``, "≥ d_max" when the tag ``horizon_capped`` is true);
* ``figures/propagation_<layer>.png``: log ρ(k) against lag k per probe, from the artifact
  ``propagation/<layer>.npz`` (arrays ``rho`` probe × lag, ``steps``, ``lags``) when present;
* ``figures/credit_<layer>.png``: credit at the source (median ‖∂L/∂h_source‖ per distance
  bucket) against distance d per probe, from the artifact ``credit/<layer>.npz`` (arrays
  ``credit`` probe × bucket, NaN where the batch had no example of that bucket, ``edges``,
  ``steps``).

Called by the runner at the end of each run; also usable on an old store::

    python -c "from rnnstudy.reporting.run_figures import log_run_figures; print(log_run_figures('RUN_ID'))"
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from rnnstudy import tracking
from rnnstudy.horizon import HORIZON_ACC

log = logging.getLogger("rnnstudy.reporting")

FOLDER = "figures"
STAGES = 5


def stages(steps: np.ndarray, n: int = STAGES) -> list[int]:
    """Indices of up to ``n`` probes spread evenly over training, first and last included.

    >>> stages(np.array([0, 10, 20, 30, 40, 50, 60, 70, 80]), 3)
    [0, 4, 8]
    """
    if len(steps) <= n:
        return list(range(len(steps)))
    targets = np.linspace(steps[0], steps[-1], n)
    return sorted({int(np.abs(steps - t).argmin()) for t in targets})


def log10_or_nan(x: np.ndarray) -> np.ndarray:
    """log10 where x > 0 and finite, NaN elsewhere (a zero norm is undefined, not -inf)."""
    x = np.asarray(x, dtype=float)
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x) & (x > 0)
    out[ok] = np.log10(x[ok])
    return out


def _canvas() -> tuple[Figure, Any]:
    """A 6.4 x 3.8 in figure with one axes and fixed margins (no layout engine: a constrained
    layout pass would double the drawing time, paid at the end of every run)."""
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    fig.subplots_adjust(left=0.14, right=0.96, top=0.9, bottom=0.14)
    return fig, ax


def _title(run: Any) -> str:
    tags, params = run.data.tags, run.data.params
    cell = tags.get("cell") or params.get("model.cell", "?")
    task = tags.get("task") or params.get("task.name", "?")
    seed = params.get("seed")
    return f"{cell} · {task}" + (f" · seed {seed}" if seed is not None else "")


def _norm_label(layer: str) -> str:
    """``‖∂L/∂c_t‖`` for an LSTM cell-state matrix (layer ``l0_c``), else ``‖∂L/∂h_t‖``."""
    return "‖∂L/∂c_t‖" if layer.endswith("_c") else "‖∂L/∂h_t‖"


def gradient_through_time(z: dict[str, np.ndarray], title: str, layer: str = "l0") -> Figure | None:
    norms = np.asarray(z.get("norms", []), dtype=float)
    if norms.ndim != 2 or norms.size == 0:
        return None
    steps = np.asarray(z.get("steps", np.arange(len(norms))))
    fig, ax = _canvas()
    idx = stages(steps)
    cmap = matplotlib.colormaps["viridis_r"]
    colors = [cmap(i / max(1, len(idx) - 1)) for i in range(len(idx))]
    drew = False
    for color, i in zip(colors, idx, strict=True):
        row = norms[i]
        ok = np.isfinite(row) & (row > 0)
        if not ok.any():
            continue
        ax.plot(np.arange(len(row))[ok], row[ok], color=color, lw=1.4, label=f"{int(steps[i])}")
        drew = True
    if not drew:
        return None
    ax.set_yscale("log")
    ax.set(xlabel="time step t", ylabel=_norm_label(layer), title=f"Gradient through time: {title}")
    ax.legend(title="training step", fontsize="small", title_fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def gradient_heatmap(z: dict[str, np.ndarray], title: str, layer: str = "l0") -> Figure | None:
    norms = np.asarray(z.get("norms", []), dtype=float)
    if norms.ndim != 2 or norms.size == 0:
        return None
    logn = log10_or_nan(norms)
    if not np.isfinite(logn).any():
        return None
    steps = np.asarray(z.get("steps", np.arange(len(norms))))
    fig, ax = _canvas()
    im = ax.imshow(logn, aspect="auto", cmap="magma", interpolation="nearest", origin="upper")
    fig.colorbar(im, ax=ax, label=f"log10 {_norm_label(layer)}")
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int))
    ax.set_yticks(ticks, [str(int(steps[i])) for i in ticks])
    ax.set(xlabel="time step t", ylabel="training step", title=f"Gradient heatmap: {title}")
    return fig


def distance_points(metrics: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(distances, accuracies) from ``final/acc_by_distance/<d>``, sorted by d.

    >>> distance_points({"final/acc_by_distance/10": 0.5, "final/acc_by_distance/2": 1.0})
    (array([ 2., 10.]), array([1. , 0.5]))
    """
    prefix = "final/acc_by_distance/"
    pairs = []
    for k, v in metrics.items():
        if k.startswith(prefix):
            try:
                pairs.append((float(k[len(prefix) :]), float(v)))
            except ValueError:
                continue
    pairs.sort()
    return np.array([d for d, _ in pairs]), np.array([a for _, a in pairs])


def horizon_label(horizon: float, capped: bool) -> str:
    """How a horizon is written: "≥ 40" when capped at d_max, "12" otherwise, "n/a" if NaN.

    >>> horizon_label(40.0, True), horizon_label(12.0, False), horizon_label(float("nan"), False)
    ('≥ 40', '12', 'n/a')
    """
    if not np.isfinite(horizon):
        return "n/a"
    return ("≥ " if capped else "") + f"{horizon:g}"


def acc_by_distance(run: Any, title: str) -> Figure | None:
    d, acc = distance_points(run.data.metrics)
    if len(d) == 0:
        return None
    fig, ax = _canvas()
    ax.plot(d, acc, marker="o", lw=1.6, color="C0", label="final val accuracy")
    ax.axhline(HORIZON_ACC, ls=":", color="0.3", lw=1, label=f"horizon threshold {HORIZON_ACC}")
    h = float(run.data.metrics.get("final/memory_horizon", np.nan))
    capped = str(run.data.tags.get("horizon_capped", "")).lower() == "true"
    if np.isfinite(h) and h > 0:
        ax.axvline(
            h, ls="--", color="C3", lw=1.2, label=f"memory horizon {horizon_label(h, capped)}"
        )
    learned = run.data.metrics.get("final/learned_d_max")
    if learned is not None and np.isfinite(learned):
        ax.axvline(learned, ls="-.", color="C2", lw=1.2, label=f"learned d_max {learned:g}")
    ax.set_ylim(-0.02, 1.02)
    ax.set(xlabel="distance d", ylabel="accuracy", title=f"Accuracy by distance: {title}")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _stage_lines(ax, x: np.ndarray, rows: np.ndarray, steps: np.ndarray, **line) -> bool:
    """log10 of ``rows`` (probe x point) against ``x``, one viridis line per probe stage
    (``stages``), undefined points left out; False if nothing was drawn."""
    idx = stages(steps)
    cmap = matplotlib.colormaps["viridis_r"]
    drew = False
    for j, i in enumerate(idx):
        y = log10_or_nan(rows[i])
        ok = np.isfinite(y)
        if ok.any():
            color = cmap(j / max(1, len(idx) - 1))
            ax.plot(x[ok], y[ok], color=color, lw=1.4, label=f"{int(steps[i])}", **line)
            drew = True
    return drew


def propagation(z: dict[str, np.ndarray], title: str) -> Figure | None:
    rho = np.asarray(z.get("rho", []), dtype=float)
    if rho.ndim != 2 or rho.size == 0:
        return None
    lags = np.asarray(z.get("lags", np.arange(1, rho.shape[1] + 1)))
    steps = np.asarray(z.get("steps", np.arange(len(rho))))
    fig, ax = _canvas()
    if not _stage_lines(ax, lags, rho, steps):
        return None
    ax.set(xlabel="lag k", ylabel="log10 ρ(k)", title=f"Propagation profile: {title}")
    ax.legend(title="training step", fontsize="small", title_fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def credit(z: dict[str, np.ndarray], title: str) -> Figure | None:
    """log10 credit at the source against distance, one line per probe stage."""
    cr = np.asarray(z.get("credit", []), dtype=float)
    if cr.ndim != 2 or cr.size == 0:
        return None
    edges = np.asarray(z.get("edges", np.arange(cr.shape[1])))
    steps = np.asarray(z.get("steps", np.arange(len(cr))))
    fig, ax = _canvas()
    if not _stage_lines(ax, edges, cr, steps, marker="o", ms=3):
        return None
    ax.set(
        xlabel="distance d (bucket upper edge)",
        ylabel="log10 median ‖∂L/∂h_source‖",
        title=f"Credit at the source: {title}",
    )
    ax.legend(title="training step", fontsize="small", title_fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, facecolor="white")
    return buf.getvalue()


def _layers(c: Any, run_id: str, folder: str, local: Path | None) -> list[str]:
    """Layer names with a ``<folder>/<layer>.npz`` artifact (``l0``, ``l0_rev``…)."""
    if local is not None:
        names = [p.name for p in (local / folder).glob("*.npz")]
    else:
        names = [Path(p).name for p in tracking.list_artifacts(c, run_id, folder)]
    return sorted(n[: -len(".npz")] for n in names if n.endswith(".npz"))


def _npz(c: Any, run_id: str, path: str, local: Path | None) -> dict[str, np.ndarray]:
    """The arrays of artifact ``path``: from ``local`` when given, else from the store."""
    if local is None:
        return tracking.read_npz(c, run_id, path) or {}
    try:
        with np.load(local / path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return {}


def run_figures(c: Any, run_id: str, local: str | Path | None = None) -> dict[str, Figure]:
    """{artifact file name: figure} for every figure the run has data for. A figure that
    fails to draw is left out with a warning: pictures never fail a run.

    ``local``: a folder holding the run's artifacts as they were logged (the runner's, at the
    end of a run); the ``.npz`` arrays are read there instead of downloaded from the store."""
    local = Path(local) if local is not None else None
    run = tracking.get_run(c, run_id)
    title = _title(run)
    jobs: dict[str, Callable[[], Figure | None]] = {}
    for layer in _layers(c, run_id, "gradtime", local):
        z = _npz(c, run_id, f"gradtime/{layer}.npz", local)
        name = f"{title} · {layer}"
        jobs[f"gradient_through_time_{layer}.png"] = partial(gradient_through_time, z, name, layer)
        jobs[f"gradient_heatmap_{layer}.png"] = partial(gradient_heatmap, z, name, layer)
    jobs["acc_by_distance.png"] = partial(acc_by_distance, run, title)
    for layer in _layers(c, run_id, "propagation", local):
        z = _npz(c, run_id, f"propagation/{layer}.npz", local)
        jobs[f"propagation_{layer}.png"] = partial(propagation, z, f"{title} · {layer}")
    for layer in _layers(c, run_id, "credit", local):
        z = _npz(c, run_id, f"credit/{layer}.npz", local)
        jobs[f"credit_{layer}.png"] = partial(credit, z, f"{title} · {layer}")
    out: dict[str, Figure] = {}
    for file, draw in jobs.items():
        try:
            fig = draw()
        except Exception as err:
            log.warning(
                "run %s: figure %s not drawn (%s: %s)", run_id, file, type(err).__name__, err
            )
            continue
        if fig is not None:
            out[file] = fig
    return out


def log_run_figures(run_id: str, c: Any = None, local: str | Path | None = None) -> list[str]:
    """Draw the run's figures and log them as PNG artifacts under ``figures/``; returns their
    artifact paths (``[]`` when the run logged nothing to draw). ``local``: see ``run_figures``."""
    c = c or tracking.client()
    figs = run_figures(c, run_id, local)
    if not figs:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fig in figs.items():
            (Path(tmp) / name).write_bytes(png(fig))
        tracking.log_artifacts(c, run_id, tmp, FOLDER)
    return [f"{FOLDER}/{name}" for name in figs]
