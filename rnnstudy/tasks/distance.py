"""What the three core tasks share (DESIGN §2.1): a distance ``d`` per example, drawn uniformly
from a range, and left padding so every recall sits at the end of one common length."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnstudy.tasks.base import Task

if TYPE_CHECKING:
    import torch
    from torch import Tensor


class DistanceTask(Task):
    """A core task. ``generate(seed, n, d_range=(lo, hi))`` draws ``d`` from ``[lo, hi]``
    (default ``[d_min, d_max]``; the distance schedule passes a narrower range) but always
    pads to the length of ``d_max``, so every batch of a run has one length."""

    d_min: int
    d_max: int

    def distance_range(self, d_range: tuple[int, int] | None) -> tuple[int, int]:
        lo, hi = d_range if d_range is not None else (self.d_min, self.d_max)
        if not self.d_min <= lo <= hi <= self.d_max:
            raise ValueError(
                f"d_range {lo, hi} must lie inside [d_min, d_max] = [{self.d_min}, {self.d_max}]"
            )
        return lo, hi

    def draw_distances(self, g: torch.Generator, n: int, d_range: tuple[int, int] | None) -> Tensor:
        import torch

        lo, hi = self.distance_range(d_range)
        return torch.randint(lo, hi + 1, (n,), generator=g)

    def buckets(self) -> list[tuple[int, int]]:
        """The memory-horizon buckets ``(lo, hi)`` (rnnstudy.horizon)."""
        return self.cfg.buckets()
