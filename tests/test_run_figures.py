"""A run's figures for the MLflow UI, drawn from what the run logged (rnnstudy.reporting.run_figures)."""

from __future__ import annotations

import io

import matplotlib.image as mpimg
import numpy as np

from rnnstudy import tracking
from rnnstudy.reporting import run_figures as rf


def _run(tmp_path, with_distance: bool = True, with_propagation: bool = False) -> tuple:
    c = tracking.client()
    exp = tracking.experiment_id(c, "figs")
    tags = {"cell": "rnn", "task": "delayed_recall", "horizon_capped": "true"}
    run = tracking.start_run(c, exp, "r", {"seed": 3}, tags)
    rng = np.random.default_rng(0)
    norms = np.exp(rng.normal(size=(9, 12)))
    norms[0, 0] = 0.0  # a zero norm: undefined on a log scale, must not be drawn
    art = tmp_path / "art"
    (art / "gradtime").mkdir(parents=True)
    np.savez(art / "gradtime" / "l0.npz", norms=norms, steps=np.arange(0, 90, 10))
    if with_propagation:
        (art / "propagation").mkdir()
        rho = np.exp(-0.1 * np.arange(1, 8))[None, :] * np.ones((3, 1))
        np.savez(art / "propagation" / "l0.npz", rho=rho, steps=[0, 5, 10], lags=np.arange(1, 8))
    tracking.log_artifacts(c, run, art)
    if with_distance:
        accs = {f"final/acc_by_distance/{d}": a for d, a in [(2, 1.0), (6, 0.95), (10, 0.4)]}
        tracking.log_metrics(c, run, {**accs, "final/memory_horizon": 6.0})
    return c, run, norms


def test_every_figure_is_logged_as_a_png_artifact(store, tmp_path):
    c, run, _ = _run(tmp_path, with_propagation=True)
    paths = rf.log_run_figures(run)
    assert paths == [
        "figures/gradient_through_time_l0.png",
        "figures/gradient_heatmap_l0.png",
        "figures/acc_by_distance.png",
        "figures/propagation_l0.png",
    ]
    assert sorted(tracking.list_artifacts(c, run, "figures")) == sorted(paths)
    for p in paths:
        img = mpimg.imread(io.BytesIO(tracking.read_artifact_bytes(c, run, p)), format="png")
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300


def test_gradient_lines_are_the_logged_norms_at_spread_probes(store, tmp_path):
    c, run, norms = _run(tmp_path)
    figs = rf.run_figures(c, run)
    lines = figs["gradient_through_time_l0.png"].axes[0].get_lines()
    assert [ln.get_label() for ln in lines] == ["0", "20", "40", "60", "80"]
    # exact: the figure holds the logged array's own values (no arithmetic between them)
    for ln, row in zip(lines, norms[[0, 2, 4, 6, 8]], strict=True):
        ok = row > 0
        assert np.array_equal(ln.get_xdata(), np.arange(12)[ok])
        assert np.array_equal(ln.get_ydata(), row[ok])
    heat = figs["gradient_heatmap_l0.png"].axes[0].images[0].get_array()
    assert np.ma.is_masked(heat[0, 0]) or np.isnan(heat[0, 0])
    assert np.allclose(heat[1:], np.log10(norms[1:]))


def test_local_artifacts_draw_the_same_figures_as_the_store(store, tmp_path):
    """The runner passes the folder it just logged (``local``): same figures, same data."""
    c, run, _ = _run(tmp_path, with_propagation=True)
    stored, local = rf.run_figures(c, run), rf.run_figures(c, run, local=tmp_path / "art")
    assert list(local) == list(stored)
    # exact: both draw the same saved npz arrays (one read from the store, one from the folder)
    for name, fig in stored.items():
        for a, b in zip(fig.axes, local[name].axes, strict=True):
            for la, lb in zip(a.get_lines(), b.get_lines(), strict=True):
                assert np.array_equal(la.get_ydata(), lb.get_ydata())
            for ia, ib in zip(a.images, b.images, strict=True):
                assert np.array_equal(ia.get_array(), ib.get_array(), equal_nan=True)


def test_capped_horizon_reads_at_least(store, tmp_path):
    c, run, _ = _run(tmp_path)
    ax = rf.run_figures(c, run)["acc_by_distance.png"].axes[0]
    acc = ax.get_lines()[0]
    assert list(acc.get_xdata()) == [2, 6, 10] and list(acc.get_ydata()) == [1.0, 0.95, 0.4]
    assert "memory horizon ≥ 6" in [ln.get_label() for ln in ax.get_lines()]


def test_a_run_without_data_gets_no_figures(store, tmp_path):
    c = tracking.client()
    run = tracking.start_run(c, tracking.experiment_id(c, "empty"), "r")
    assert rf.log_run_figures(run) == []
    assert tracking.list_artifacts(c, run) == []


def test_a_broken_artifact_costs_only_its_own_figures(store, tmp_path):
    c = tracking.client()
    run = tracking.start_run(c, tracking.experiment_id(c, "broken"), "r")
    art = tmp_path / "art" / "gradtime"
    art.mkdir(parents=True)
    np.savez(art / "l0.npz", norms=np.ones((9, 4)), steps=np.array(list("abcdefghi")))
    tracking.log_artifacts(c, run, tmp_path / "art")
    tracking.log_metrics(c, run, {"final/acc_by_distance/3": 1.0})
    assert rf.log_run_figures(run) == ["figures/acc_by_distance.png"]


def test_credit_figure_draws_the_logged_bucket_medians(store, tmp_path):
    """``credit/<layer>.npz``: one line per probe stage over the buckets the batch held (NaN
    buckets, absent under the distance schedule, are not drawn)."""
    c = tracking.client()
    run = tracking.start_run(c, tracking.experiment_id(c, "credit"), "r", {"seed": 1})
    art = tmp_path / "art" / "credit"
    art.mkdir(parents=True)
    cr = np.array([[1e-1, np.nan, np.nan], [1e-1, 1e-3, 1e-6]])
    np.savez(art / "l0.npz", credit=cr, edges=np.array([10, 20, 30]), steps=np.array([0, 100]))
    tracking.log_artifacts(c, run, tmp_path / "art")
    ax = rf.run_figures(c, run)["credit_l0.png"].axes[0]
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["0", "100"]
    assert list(lines[0].get_xdata()) == [10]  # the buckets without examples are left out
    np.testing.assert_allclose(lines[1].get_ydata(), [-1, -3, -6], rtol=1e-12)
