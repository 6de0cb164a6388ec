"""The clip-ablation figure from synthetic ReportData: rates against τ per mode and cell, the
unclipped reference and Pascanu's band, all checked against numpy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from rnnstudy.reporting.data import ReportData, label_runs
from rnnstudy.reporting.figures import ablation

RNG = np.random.default_rng(0)
CLIPS = [
    ("none", None),
    ("norm", 0.1),
    ("norm", 1.0),
    ("norm", 10.0),
    ("value", 0.5),
    ("value", 5.0),
]
CELLS = ("rnn", "lstm")
SEEDS = range(5)
OUTCOMES = ("solved", "unsolved", "diverged")


def synthetic(lstm_norms: bool = True) -> ReportData:
    rows, hist = [], []
    for cell in CELLS:
        for mode, tau in CLIPS:
            for seed in SEEDS:
                rid = f"{cell}-{mode}-{tau}-{seed}"
                label = "none" if mode == "none" else f"{mode}:{tau:g}"
                rows.append({
                    "run_id": rid, "status": "FINISHED", "params.seed": str(seed),
                    "params.model.cell": cell, "params.clip.mode": mode,
                    "params.clip.value": "None" if tau is None else str(tau),
                    "params.task.name": "copy", "tags.cell": cell, "tags.task": "copy",
                    "tags.clip": label, "tags.outcome": str(RNG.choice(OUTCOMES)),
                })  # fmt: skip
                if mode == "none" and (cell == "rnn" or lstm_norms):
                    vals = RNG.lognormal(1.0, 1.0, size=7)
                    vals[seed % 7] = np.inf if seed % 2 else np.nan  # not finite: left out
                    hist += [(rid, "grad/norm_preclip", s, v) for s, v in enumerate(vals)]
                elif mode == "none":
                    hist += [(rid, "grad/norm_preclip", 0, np.nan)]
    runs = label_runs(pd.DataFrame(rows))
    history = pd.DataFrame(hist, columns=["run_id", "key", "step", "value"])
    return ReportData(SimpleNamespace(kind="experiment"), runs, history)


def expected_rate(data: ReportData, cell: str, mode: str, tau, what: str) -> float:
    r = data.runs
    sel = (r["cell"] == cell) & (r["params.clip.mode"] == mode)
    if tau is not None:
        sel &= pd.to_numeric(r["params.clip.value"], errors="coerce") == tau
    return float(np.mean(r.loc[sel, "outcome"].to_numpy() == what))


def expected_mean_norm(data: ReportData, cell: str) -> float:
    ids = data.runs.loc[(data.runs["cell"] == cell) & (data.runs["clip"] == "none"), "run_id"]
    v = data.history.loc[data.history["run_id"].isin(ids), "value"].to_numpy(float)
    return float(v[np.isfinite(v)].mean())


def artists(ax, prefix: str) -> dict:
    found = {}
    for a in [*ax.lines, *ax.patches]:
        gid = a.get_gid() or ""
        if gid.startswith(prefix):
            found[gid[len(prefix) :]] = a
    return found


def test_rates_against_tau_equal_numpy():
    data = synthetic()
    fig = ablation.build(data)
    assert fig is not None and fig.slug == "clip-ablation"
    axes = np.array(fig.fig.axes).reshape(2, 2)  # rows: solved, diverged; cols: norm, value
    for c, mode in enumerate(("norm", "value")):
        taus = sorted(t for m, t in CLIPS if m == mode)
        for r, what in enumerate(("solved", "diverged")):
            ax = axes[r, c]
            assert ax.get_xscale() == "log"
            lines = artists(ax, "rate:")
            assert set(lines) == set(CELLS)
            for cell, ln in lines.items():
                np.testing.assert_allclose(ln.get_xdata(), taus)
                want = [expected_rate(data, cell, mode, t, what) for t in taus]
                np.testing.assert_allclose(ln.get_ydata(), want)
            ref = artists(ax, "unclipped:")
            assert set(ref) == set(CELLS)
            for cell, ln in ref.items():
                np.testing.assert_allclose(
                    ln.get_ydata(), expected_rate(data, cell, "none", None, what)
                )
    assert fig.png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pascanu_band_is_half_to_ten_times_the_mean_unclipped_norm():
    data = synthetic()
    fig = ablation.build(data)
    axes = np.array(fig.fig.axes).reshape(2, 2)
    for r in range(2):
        bands = artists(axes[r, 0], "band:")
        assert set(bands) == set(CELLS)
        for cell, patch in bands.items():
            m = expected_mean_norm(data, cell)
            xs = patch.get_path().transformed(patch.get_patch_transform()).vertices[:, 0]
            np.testing.assert_allclose([xs.min(), xs.max()], [0.5 * m, 10 * m])
        assert artists(axes[r, 1], "band:") == {}  # no band on the value panels
    runs = ablation.prepare(data)
    got = ablation.bands(data, runs)
    for cell in CELLS:
        m = expected_mean_norm(data, cell)
        np.testing.assert_allclose(got[cell], (0.5 * m, 10 * m))


def test_cell_without_finite_norms_gets_no_band():
    data = synthetic(lstm_norms=False)
    fig = ablation.build(data)
    axes = np.array(fig.fig.axes).reshape(2, 2)
    assert set(artists(axes[0, 0], "band:")) == {"rnn"}
    assert set(ablation.bands(data, ablation.prepare(data))) == {"rnn"}


def test_no_figure_without_thresholds_or_for_a_sweep():
    data = synthetic()
    only_none = data.runs[data.runs["clip"] == "none"]
    assert ablation.build(ReportData(data.store, only_none, data.history)) is None
    sweep = ReportData(SimpleNamespace(kind="sweep"), data.runs, data.history)
    assert ablation.build(sweep) is None
