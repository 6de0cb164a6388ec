"""Question-answer distance: recall a key's value from ``d`` steps back (DESIGN §2)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnstudy import config
from rnnstudy.tasks.base import Batch, Task, one_hot

HORIZON_ACC = 0.9  # a bucket counts towards the memory horizon at this accuracy


def _log_comb(n: Tensor, k: Tensor) -> Tensor:
    """log C(n, k) elementwise; -inf where the binomial is zero (k < 0 or k > n)."""
    n, k = n.to(torch.float64), k.to(torch.float64)
    ok = (k >= 0) & (k <= n)
    n_, k_ = n.clamp(min=0), k.clamp(min=0)
    out = torch.lgamma(n_ + 1) - torch.lgamma(k_ + 1) - torch.lgamma((n_ - k_).clamp(min=0) + 1)
    return torch.where(ok, out, torch.full_like(out, -math.inf))


def _choose_sorted(g: torch.Generator, limit: Tensor, count: Tensor, m: int, width: int) -> Tensor:
    """Per row, ``count`` distinct integers from ``range(limit)``, uniformly, in ascending order.

    Returns (B, m); columns ``j >= count`` hold ``width`` (a sentinel larger than any index).
    """
    B = limit.shape[0]
    idx = torch.arange(width).expand(B, width)
    scores = torch.rand(B, width, generator=g)
    scores = torch.where(idx < limit[:, None], scores, torch.full_like(scores, 2.0))
    picked = scores.topk(m, dim=1, largest=False).indices  # ordered by score: random order
    rank = torch.arange(m).expand(B, m)
    picked = torch.where(rank < count[:, None], picked, torch.full_like(picked, width))
    return picked.sort(dim=1).values


class QADistance(Task):
    """Filler with key->value facts in it; the sequence ends with a query marker and a key;
    answer that key's value at the last step (many-to-one).

    Vocabulary (``input_size = n_filler + n_keys + n_values + 1``):
    filler ``[0, F)``, keys ``[F, F+K)``, values ``[F+K, F+K+V)``, query marker ``F+K+V``
    (``F, K, V = n_filler, n_keys, n_values``). ``output_size = n_values``; the target is the
    value *index* ``0..V-1``.

    Every example has length ``L = d_max + 2*n_facts + 2``. A fact is two consecutive steps,
    key token then value token. Position ``L-2`` holds the query marker and ``L-1`` the queried
    key. The distance ``d = (L-1) - (position of the queried fact's value)`` is drawn uniformly
    per example from ``[d_min, d_max]`` (so ``d >= 2``) and returned as ``meta['distance']``.
    The other ``n_facts-1`` facts are distractors with distinct keys different from the
    queried key and random values, placed uniformly at random (all non-overlapping layouts
    equally likely given ``d``) anywhere in ``[0, L-2)`` outside the queried fact, also between
    the queried fact and the query. Every other step is random filler.

    Worked example (``F=2, K=3, V=3, n_facts=2, d_min=2, d_max=4``; so ``L=10``, keys
    ``2,3,4``, values ``5,6,7``, marker ``8``), with queried key ``3`` (key #1) holding value
    ``7`` (value #2) at distance 4, and a distractor fact ``4 -> 5``::

        t      0  1  2  3  4  5  6  7  8  9
        x      1  4  5  0  3  7  1  0  8  3
                  ^^^^     ^^^^        ^  ^
                  distr.   queried fact  marker, queried key
        y      2                            (value index of 7; d = 9 - 5 = 4)

    ``mask`` and ``eval_mask`` are all True, shape (B,).

    Chance: the queried value is uniform, so ``chance_loss = ln(n_values)`` and accuracy
    ``1/n_values``. Solved: ``val/acc >= 0.95`` over all distances. The report also groups
    accuracy by distance bucket (``buckets()``) and states the memory horizon
    (``memory_horizon``: the largest bucket upper edge with accuracy >= 0.9).
    """

    kind = "classification"
    readout = "last"
    metric = "val/acc"
    higher_is_better = True
    solved_threshold = 0.95

    def __init__(self, cfg: config.QADistanceTask) -> None:
        if cfg.d_min < 2 or cfg.d_max < cfg.d_min:
            raise ValueError(f"task: need 2 <= d_min <= d_max (got {cfg.d_min}, {cfg.d_max})")
        if cfg.n_facts > cfg.n_keys:
            raise ValueError(f"task.n_keys must be >= n_facts = {cfg.n_facts} (got {cfg.n_keys})")
        self.cfg = cfg
        self.n_filler, self.n_keys, self.n_values = cfg.n_filler, cfg.n_keys, cfg.n_values
        self.n_facts = cfg.n_facts
        self.d_min, self.d_max = cfg.d_min, cfg.d_max
        self.n_buckets = cfg.n_buckets
        self.key0 = self.n_filler
        self.value0 = self.n_filler + self.n_keys
        self.query_marker = self.value0 + self.n_values
        self.input_size = self.query_marker + 1
        self.output_size = self.n_values
        self.seq_len = self.d_max + 2 * self.n_facts + 2

    def generate(self, seed: int, n: int) -> Batch:
        g = self.generator(seed)
        L, P = self.seq_len, self.n_facts
        m = P - 1  # distractors
        tokens = torch.randint(0, self.n_filler, (n, L), generator=g)
        d = torch.randint(self.d_min, self.d_max + 1, (n,), generator=g)
        q_start = L - 2 - d  # queried key position; its value sits at L-1-d
        keys = torch.rand(n, self.n_keys, generator=g).argsort(dim=1)[:, :P]  # [0] is queried
        values = torch.randint(0, self.n_values, (n, P), generator=g)

        starts = q_start[:, None]
        if m > 0:
            # Cells [0, q_start) on the left, [q_start+2, L-2) (d-2 cells) on the right.
            # Placing p pairs among c cells <-> choosing p of c-p slots (pair j at slot_j + j),
            # so r pairs go left with weight C(a-r, r) * C(b-(m-r), m-r).
            a, b = q_start, d - 2
            r_all = torch.arange(m + 1)
            logw = _log_comb(a[:, None] - r_all, r_all.expand(n, -1)) + _log_comb(
                b[:, None] - (m - r_all), (m - r_all).expand(n, -1)
            )
            w = (logw - logw.max(dim=1, keepdim=True).values).exp()
            r = torch.multinomial(w, 1, generator=g)[:, 0]
            j = torch.arange(m)
            left = _choose_sorted(g, a - r, r, m, L) + j
            right = _choose_sorted(g, b - (m - r), m - r, m, L) + j + (q_start + 2)[:, None]
            left = torch.where(j < r[:, None], left, torch.full_like(left, 10 * L))
            right = torch.where(j < (m - r)[:, None], right, torch.full_like(right, 10 * L))
            distractors = torch.cat([left, right], dim=1).sort(dim=1).values[:, :m]
            starts = torch.cat([starts, distractors], dim=1)

        tokens.scatter_(1, starts, self.key0 + keys)
        tokens.scatter_(1, starts + 1, self.value0 + values)
        tokens[:, L - 2] = self.query_marker
        tokens[:, L - 1] = self.key0 + keys[:, 0]
        y = values[:, 0].clone()
        mask = torch.ones(n, dtype=torch.bool)
        return Batch(one_hot(tokens, self.input_size), y, mask, mask.clone(), {"distance": d})

    # ------------------------------------------------------------ distance buckets

    def buckets(self) -> list[tuple[int, int]]:
        """Contiguous inclusive integer ranges ``(lo, hi)`` covering ``[d_min, d_max]``:
        ``n_buckets`` of them as equal in size as possible (fewer if the range is shorter)."""
        span = self.d_max - self.d_min + 1
        k = min(self.n_buckets, span)
        base, extra = divmod(span, k)
        out, lo = [], self.d_min
        for i in range(k):
            hi = lo + base + (1 if i < extra else 0) - 1
            out.append((lo, hi))
            lo = hi + 1
        return out

    def bucket_edges(self, distance: Tensor) -> Tensor:
        """The upper edge of each distance's bucket, same shape as ``distance``."""
        uppers = torch.tensor([hi for _, hi in self.buckets()], device=distance.device)
        return uppers[torch.bucketize(distance, uppers)]

    def accuracy_by_bucket(self, correct: Tensor, distance: Tensor) -> dict[int, float]:
        """Accuracy per bucket, keyed by the bucket's upper edge (empty buckets left out)."""
        edges = self.bucket_edges(distance)
        out: dict[int, float] = {}
        for _, hi in self.buckets():
            sel = edges == hi
            if bool(sel.any()):
                out[hi] = float(correct[sel].float().mean())
        return out

    @staticmethod
    def memory_horizon(acc_by_bucket: dict[int, float], threshold: float = HORIZON_ACC) -> int:
        """The largest bucket upper edge whose accuracy is >= ``threshold`` (0 if none).

        Not required to be contiguous from the shortest bucket: ``{10: 0.5, 20: 0.95}`` -> 20.
        """
        ok = [int(edge) for edge, acc in acc_by_bucket.items() if acc >= threshold]
        return max(ok, default=0)

    # ------------------------------------------------------------ baselines, criterion

    @property
    def chance_loss(self) -> float:
        return math.log(self.n_values)

    @property
    def chance_metric(self) -> float:
        return 1.0 / self.n_values

    def solved(self, metrics: dict[str, float]) -> bool:
        return metrics.get(self.metric, float("nan")) >= self.solved_threshold
