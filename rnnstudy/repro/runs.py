"""What the reproduction cards' read-out tools share: the runs of a profile's newest experiment
(read through ``rnnstudy.tracking``), a run's metric history, and the printed read-out with its
optional figure (matplotlib on the agg backend, imported only when a figure is drawn).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rnnstudy import tracking


def newest_parent(name: str, where: str = "") -> tuple[Any, str, list]:
    """The client, the id of experiment ``name`` and its newest parent run whose tags also match
    ``where`` (``" and ..."``), as a list of at most one run; SystemExit when there is no such
    experiment."""
    c = tracking.client()
    exp = tracking.find_experiment(c, name)
    if exp is None:
        raise SystemExit(f"no experiment {name!r} in {tracking.tracking_uri()}")
    parents = tracking.search_runs(
        c,
        exp.experiment_id,
        f"tags.`rnnstudy.kind` = 'experiment'{where}",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return c, exp.experiment_id, parents


def newest_children(name: str, profile: str) -> tuple[Any, str, list]:
    """The client, the id of the newest ``profile`` parent run of experiment ``name`` and that
    parent's child runs; SystemExit when there is no such experiment or run."""
    c, exp_id, parents = newest_parent(name, f" and tags.profile = '{profile}'")
    if not parents:
        raise SystemExit(f"no {profile!r} run of {name!r}")
    parent = parents[0]
    return c, parent.info.run_id, tracking.children(c, exp_id, parent.info.run_id)


def history(c: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    """``[(step, value)]`` of one metric of one run, in step order."""
    return [(s, v) for s, v, _ in tracking.metric_history(c, run_id, key)]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the agg backend."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def read_out(
    head: str,
    items: list,
    table: Callable[[list], list[str]],
    figure: Callable[[list, str], None] | None = None,
    path: str | None = None,
) -> None:
    """Print ``head`` and ``table(items)``; with a ``path``, draw ``figure(items, path)`` and
    say where it went."""
    print(head)
    print("\n".join(table(items)))
    if path and figure is not None:
        figure(items, path)
        print(f"figure: {path}")
