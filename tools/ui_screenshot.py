"""Screenshot of the MLflow UI comparing the cells, for ``docs/`` (a real ``mlflow ui`` in
headless system Chromium driven by Playwright, ``tools/browser.py``, the way README tells a
person to do it by hand). Developer tooling, not part of ``rnnstudy``; ``make screenshots``
regenerates both docs images from the project's store (after ``make experiment``).

    python -m tools.ui_screenshot --experiment tour --task delayed_recall \\
        --out docs/ui-compare.png            # store: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db

Steps, as in README: open the experiment in the "Model training" view
(``?workflowType=machine_learning``, from ``rnnstudy.tracking.experiment_url``), filter the runs
to one task (``tags.task = '…'``), expand the parent run, group the runs by ``cell``, switch to
the chart view and search the charts for ``val/acc`` (validation accuracy over training, one
line per cell, seeds pooled into a band).

With ``--figure figures/gradient_through_time_l0.png`` (and ``--cell``, ``--task``): one
training run's Artifacts tab (``rnnstudy.tracking.run_url``) showing that figure
(``rnnstudy.reporting.run_figures``), e.g. ``docs/ui-run-figure.png`` from a real tour run in a
store of its own::

    mkdir -p /tmp/ui && export MLFLOW_TRACKING_URI=sqlite:////tmp/ui/mlflow.db
    rnnstudy run experiments/tour.yaml --profile quick --set model.cell=lstm
    python -m tools.ui_screenshot --figure figures/gradient_through_time_l0.png \\
        --cell lstm --out docs/ui-run-figure.png
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rnnstudy import tracking
from tools.browser import Browser

ASSISTANT_CLOSE = '[data-component-id="mlflow.assistant.chat_panel.close"]'
EXPAND_PARENT = (
    '[data-component-id="codegen_mlflow_app_src_experiment-tracking_components_experiment-page'
    '_components_runs_cells_runnamecellrenderer.tsx_46"]'
)
GROUP_BY = '[data-testid="column-selection-dropdown"]'
CHART_SEARCH = 'input[placeholder="Search metric charts"]'
TREE_ITEM = "span, div, a, li, button"  # an artifact tree entry, matched by its exact text
FIGURE_SHOWN = "Array.from(document.images).some(i => i.complete && i.naturalWidth > 300)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ui(uri: str, port: int) -> subprocess.Popen:
    """``mlflow ui`` on 127.0.0.1:``port`` over ``uri`` (this interpreter's MLflow, as
    ``rnnstudy ui`` runs it); returns once it answers."""
    proc = subprocess.Popen(
        tracking.ui_command(uri, port, workers=1),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its server workers are stopped with it (stop_ui)
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow ui exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return proc
        except OSError:
            time.sleep(1)
    stop_ui(proc)
    raise TimeoutError("mlflow ui did not answer in 180 s")


def stop_ui(proc: subprocess.Popen) -> None:
    """Stop ``mlflow ui`` and the server processes it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def compare_url(base: str, exp_id: str, task: str | None) -> str:
    q = {"compareRunsMode": "CHART"}
    if task:
        q["searchFilter"] = f"tags.task = '{task}'"
    return tracking.experiment_url(exp_id, base, **q)


def shoot(
    base: str, exp_id: str, out: Path, task: str | None, group_by: list[str], charts: str
) -> None:
    with Browser(1600, 1000) as b:
        b.goto(compare_url(base, exp_id, task), settle=4)
        if b.center(ASSISTANT_CLOSE):
            b.click(ASSISTANT_CLOSE)
        if b.center(EXPAND_PARENT):
            b.click(EXPAND_PARENT)
            b.sleep(1)
        for tag in group_by:
            if b.center("[role=menuitemcheckbox]", tag) is None:
                b.click(GROUP_BY)
            b.click("[role=menuitemcheckbox]", tag)
            b.sleep(0.5)
        b.press("Escape")
        b.click(CHART_SEARCH)
        b.type(charts)
        b.wait_for("document.querySelectorAll('.js-plotly-plot .main-svg').length > 0", 120)
        b.sleep(3)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b.screenshot())


def shoot_figure(base: str, exp_id: str, run_id: str, figure: str, out: Path) -> None:
    """A child run's Artifacts tab with ``figure`` (``figures/<name>.png``) open."""
    url = tracking.run_url(exp_id, run_id, "artifacts", base)
    folder, name = figure.rsplit("/", 1)
    with Browser(1600, 1000) as b:
        b.goto(url, settle=2)
        if b.center(ASSISTANT_CLOSE):
            b.click(ASSISTANT_CLOSE)
        b.click(TREE_ITEM, folder, timeout=120)
        for attempt in range(3):  # the tree may still move while the folder opens
            b.sleep(1.5)
            b.click(TREE_ITEM, name)
            try:
                b.wait_for(FIGURE_SHOWN, 20)
                break
            except TimeoutError:
                if attempt == 2:
                    raise
        b.sleep(1)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b.screenshot())


def child_run(uri: str, exp_id: str, cell: str | None, task: str | None) -> str:
    """The first training run (by start time) with these ``cell`` and ``task`` tags: a child
    run of an experiment, or a single ``rnnstudy run`` (no parent run, not a parent)."""
    c = tracking.client(uri)
    want = {"cell": cell, "task": task}
    for r in reversed(tracking.search_runs(c, exp_id)):
        tags = r.data.tags
        if tracking.KIND_TAG not in tags and all(
            v is None or tags.get(k) == v for k, v in want.items()
        ):
            return r.info.run_id
    raise SystemExit(f"no training run with cell={cell} task={task}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default="tour")
    ap.add_argument("--task", default=None, help="show only this task's runs")
    ap.add_argument("--group-by", nargs="*", default=["cell"], help="tags to group runs by")
    ap.add_argument("--charts", default="val/acc", help="text typed in the chart search box")
    ap.add_argument("--out", type=Path, default=Path("docs/ui-compare.png"))
    ap.add_argument("--uri", default=None, help="tracking URI (default: the project's)")
    ap.add_argument("--figure", default=None, help="a child run's figure artifact to show")
    ap.add_argument("--cell", default=None, help="with --figure: the run's cell")
    args = ap.parse_args(argv)
    uri = args.uri or tracking.tracking_uri()
    exp = tracking.find_experiment(tracking.client(uri), args.experiment)
    if exp is None:
        print(f"no experiment {args.experiment!r} in {tracking.mask_secrets(uri)}", file=sys.stderr)
        return 2
    port = free_port()
    ui = start_ui(uri, port)
    base = tracking.local_ui(port)
    try:
        if args.figure:
            rid = child_run(uri, exp.experiment_id, args.cell, args.task)
            shoot_figure(base, exp.experiment_id, rid, args.figure, args.out)
        else:
            shoot(base, exp.experiment_id, args.out, args.task, args.group_by, args.charts)
    finally:
        stop_ui(ui)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
