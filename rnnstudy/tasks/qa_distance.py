"""Question-answer distance: recall a key's value from ``d`` steps back (DESIGN §2.1)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from rnnstudy.tasks.base import Batch, one_hot
from rnnstudy.tasks.distance import DistanceTask
from rnnstudy.tasks.facts import DistanceFacts, register
from rnnstudy.typed import PositiveInt

if TYPE_CHECKING:
    import torch
    from torch import Tensor


class QADistanceTask(DistanceFacts):
    """Facts ``key value`` in filler, then a query marker and a key; answer its value."""

    name: Literal["qa_distance"] = "qa_distance"
    n_keys: Annotated[int, Field(ge=1)] = 8
    n_values: Annotated[int, Field(ge=2)] = 8
    n_facts: PositiveInt = 4
    n_filler: PositiveInt = 4
    d_min: PositiveInt = 2
    d_max: PositiveInt = 50
    solved_threshold: ClassVar[float | None] = 0.95

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last"

    @model_validator(mode="after")
    def _ranges(self) -> QADistanceTask:
        self._check_range(2, "the queried value sits at least 2 steps before the query's key")
        if self.n_facts > self.n_keys:
            raise ValueError(
                f"task.n_keys must be >= n_facts = {self.n_facts} so distractors have different"
                f" keys (got {self.n_keys})"
            )
        return self

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.n_values

    @property
    def memoryless_loss(self) -> float:
        return math.log(self.n_values)


def _log_comb(n: Tensor, k: Tensor) -> Tensor:
    """log C(n, k) elementwise; -inf where the binomial is zero (k < 0 or k > n)."""
    import torch

    n, k = n.to(torch.float64), k.to(torch.float64)
    ok = (k >= 0) & (k <= n)
    n_, k_ = n.clamp(min=0), k.clamp(min=0)
    out = torch.lgamma(n_ + 1) - torch.lgamma(k_ + 1) - torch.lgamma((n_ - k_).clamp(min=0) + 1)
    return torch.where(ok, out, torch.full_like(out, -math.inf))


def _choose_sorted(g: torch.Generator, limit: Tensor, count: Tensor, m: int, width: int) -> Tensor:
    """Per row, ``count`` distinct integers from ``range(limit)``, uniformly, in ascending order.

    Returns (B, m); columns ``j >= count`` hold ``width`` (a sentinel larger than any index).
    """
    import torch

    B = limit.shape[0]
    idx = torch.arange(width).expand(B, width)
    scores = torch.rand(B, width, generator=g)
    scores = torch.where(idx < limit[:, None], scores, torch.full_like(scores, 2.0))
    picked = scores.topk(m, dim=1, largest=False).indices  # ordered by score: random order
    rank = torch.arange(m).expand(B, m)
    picked = torch.where(rank < count[:, None], picked, torch.full_like(picked, width))
    return picked.sort(dim=1).values


@register
class QADistance(DistanceTask):
    """Filler with ``n_facts`` key->value facts in it; the sequence ends with a query marker and
    a key; answer that key's value at the last step (many-to-one).

    Vocabulary (``F, K, V = n_filler, n_keys, n_values``; ``input_size = F+K+V+2``): blank
    ``0`` (padding), filler ``[1, 1+F)``, keys ``[1+F, 1+F+K)``, values ``[1+F+K, 1+F+K+V)``,
    query marker ``1+F+K+V``. ``output_size = V``; the target is the value *index* ``0..V-1``.

    A fact is two consecutive steps, key token then value token. Every example has length
    ``L = d_max + 2*n_facts``; position ``L-2`` holds the query marker and ``L-1`` the queried
    key. The distance ``d`` (``meta['distance']``, drawn per example from ``[d_min, d_max]``)
    is the number of steps from the queried fact's value to the query's key, so the queried
    fact sits at ``L-2-d, L-1-d`` and ``meta['source'] = L-2-d`` (its key). The example fills
    its last ``d + 2*n_facts`` steps: the ``n_facts-1`` distractor facts (distinct keys, other
    than the queried key; random values) are placed uniformly at random (all non-overlapping
    layouts equally likely given ``d``) in those steps outside the queried fact and the query,
    before or after the queried fact; every other step there is random filler. The steps
    before are blanks (padding).

    Worked example (``F=2, K=3, V=3, n_facts=2, d_min=2, d_max=5``; ``L=9``, filler ``1,2``,
    keys ``3,4,5``, values ``6,7,8``, marker ``9``), queried key ``4`` (key #1) holding value
    ``8`` (value #2) at distance ``d=4``, and a distractor fact ``5 -> 6``::

        t      0  1  2  3  4  5  6  7  8
        x      0  5  6  4  8  2  1  9  4
                  ^^^^  ^^^^        ^  ^
                  distr queried     marker, queried key
        y      2        (value index of 8; source = 3, d = 8 - 4 = 4)

    ``mask`` and ``eval_mask`` are all True, shape (B,): only the last step has a target.

    Chance: the queried value is uniform, so ``chance_loss = ln(n_values)`` and accuracy
    ``1/n_values``. Solved: ``val/acc >= 0.95`` over all distances.
    """

    config = QADistanceTask

    def __init__(self, cfg: QADistanceTask) -> None:
        self.cfg = cfg
        self.n_filler, self.n_keys, self.n_values = cfg.n_filler, cfg.n_keys, cfg.n_values
        self.n_facts = cfg.n_facts
        self.d_min, self.d_max = cfg.d_min, cfg.d_max
        self.filler0 = 1
        self.key0 = 1 + self.n_filler
        self.value0 = self.key0 + self.n_keys
        self.query_marker = self.value0 + self.n_values
        self.input_size = self.query_marker + 1
        self.output_size = self.n_values
        self.seq_len = self.d_max + 2 * self.n_facts

    def generate(self, seed: int, n: int, d_range: tuple[int, int] | None = None) -> Batch:
        import torch

        g = self.generator(seed)
        L, P = self.seq_len, self.n_facts
        m = P - 1  # distractors
        tokens = torch.randint(self.filler0, self.filler0 + self.n_filler, (n, L), generator=g)
        d = self.draw_distances(g, n, d_range)
        begin = L - d - 2 * P  # first step of the example; blanks before
        q_start = L - 2 - d  # queried key position; its value sits at L-1-d
        keys = torch.rand(n, self.n_keys, generator=g).argsort(dim=1)[:, :P]  # [0] is queried
        values = torch.randint(0, self.n_values, (n, P), generator=g)

        starts = q_start[:, None]
        if m > 0:
            # Cells [begin, q_start) on the left (2m of them), [q_start+2, L-2) (d-2 cells) on
            # the right. Placing p pairs among c cells <-> choosing p of c-p slots (pair j at
            # slot_j + j), so r pairs go left with weight C(a-r, r) * C(b-(m-r), m-r).
            a, b = q_start - begin, d - 2
            r_all = torch.arange(m + 1)
            logw = _log_comb(a[:, None] - r_all, r_all.expand(n, -1)) + _log_comb(
                b[:, None] - (m - r_all), (m - r_all).expand(n, -1)
            )
            w = (logw - logw.max(dim=1, keepdim=True).values).exp()
            r = torch.multinomial(w, 1, generator=g)[:, 0]
            j = torch.arange(m)
            left = _choose_sorted(g, a - r, r, m, L) + j + begin[:, None]
            right = _choose_sorted(g, b - (m - r), m - r, m, L) + j + (q_start + 2)[:, None]
            left = torch.where(j < r[:, None], left, torch.full_like(left, 10 * L))
            right = torch.where(j < (m - r)[:, None], right, torch.full_like(right, 10 * L))
            distractors = torch.cat([left, right], dim=1).sort(dim=1).values[:, :m]
            starts = torch.cat([starts, distractors], dim=1)

        tokens[torch.arange(L)[None, :] < begin[:, None]] = 0
        tokens.scatter_(1, starts, self.key0 + keys)
        tokens.scatter_(1, starts + 1, self.value0 + values)
        tokens[:, L - 2] = self.query_marker
        tokens[:, L - 1] = self.key0 + keys[:, 0]
        y = values[:, 0].clone()
        mask = torch.ones(n, dtype=torch.bool)
        meta = {"distance": d, "source": q_start}
        return Batch(one_hot(tokens, self.input_size), y, mask, mask.clone(), meta)
