"""Truncated BPTT windows (DESIGN §3, ``train.tbptt``): pure arithmetic on sequence lengths.

The windows end at the sequence end, so the last window (the one that holds a many-to-one
target) is a full ``k`` steps and the first one is the short one (``rnnstudy.module``).
"""

from __future__ import annotations

from rnnstudy.tasks import Batch


def windows(length: int, k: int | None) -> list[tuple[int, int]]:
    """Spans of ``k`` steps covering ``length``, aligned to end at the sequence end (the first
    span is the short one); one span without TBPTT.

    >>> windows(10, 4)
    [(0, 2), (2, 6), (6, 10)]
    >>> windows(8, 4), windows(5, None), windows(5, 9)
    ([(0, 4), (4, 8)], [(0, 5)], [(0, 5)])
    """
    if k is None or k >= length:
        return [(0, length)]
    ends = range(length, 0, -k)
    return [(max(0, b - k), b) for b in reversed(ends)]


def update_windows(batch: Batch, k: int | None, readout: str) -> list[int]:
    """Indices (into ``windows``) of the windows that hold a loss term: one per-window update
    each. A last-step readout has its target in the last window only."""
    L = batch.x.shape[1]
    spans = windows(L, k)
    if readout == "last":
        return [len(spans) - 1]
    keep = [i for i, (a, b) in enumerate(spans) if bool(batch.mask[:, a:b].any())]
    return keep or [len(spans) - 1]  # a batch without any target still takes one (empty) step
