"""Summaries of a per-time-step gradient profile ‖∂L/∂h_t‖ read from a ``gradtime`` artifact.

``reach``: how many steps back from the last step the gradient still arrives — the largest
distance ``L-1-t`` with ``n_t >= rel * max(n)``. Truncated BPTT with window k on a many-to-one
task cuts it to at most k-1 (nothing crosses a window boundary); full BPTT lets it run as far
as the gradient does not vanish.

    >>> reach([0.0, 0.0, 1e-5, 0.5, 1.0])  # 1e-5 is below 1e-3 of the peak
    1
    >>> reach([0.0, 0.0, 1e-5, 0.5, 1.0], rel=1e-6)
    2
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

REL = 1e-3


def reach(norms: Sequence[float] | np.ndarray, rel: float = REL) -> int:
    n = np.asarray(norms, dtype=np.float64)
    if n.size == 0 or not np.isfinite(n).any() or np.nanmax(n) <= 0:
        return 0
    ok = np.flatnonzero(n >= rel * np.nanmax(n))
    return int(n.size - 1 - ok[0])


def last_row_reach(z: dict[str, np.ndarray] | None) -> float:
    """``reach`` of the last probe's profile in a gradtime artifact (nan if there is none)."""
    if z is None or z["norms"].size == 0:
        return math.nan
    return float(reach(z["norms"][-1]))
