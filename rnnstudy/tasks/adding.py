"""Adding problem (Hochreiter & Schmidhuber 1997; Bai, Kolter & Koltun 2018 format)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from rnnstudy.tasks.base import Batch, Task
from rnnstudy.tasks.facts import TaskFacts, register

# DESIGN §2.2 quotes "predicting 1 gives MSE ≈ 0.1767" (after Bai et al. 2018) and defines
# solved as MSE < 1% of that figure; the threshold keeps the DESIGN number. The exact value of
# the baseline for U[0,1] + U[0,1] is E[(U1 + U2 - 1)^2] = Var(U1 + U2) = 2/12 = 1/6 ≈ 0.1667,
# which is what chance_metric / memoryless_loss report.
BAI_BASELINE_MSE = 0.1767


class AddingTask(TaskFacts):
    name: Literal["adding"] = "adding"
    T: Annotated[int, Field(ge=2)] = 50
    # anywhere: two distinct positions uniformly over [0, T) (Bai et al.); halves: one in
    # [0, T//2), one in [T//2, T) (Arjovsky et al. 2016, adding_problem.py:22-23)
    marks: Literal["anywhere", "halves"] = "anywhere"
    metric: ClassVar[str] = "val/mse"
    higher_is_better: ClassVar[bool] = False
    solved_threshold: ClassVar[float | None] = 0.01 * BAI_BASELINE_MSE

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``marks`` is left out of a dump while it is ``anywhere``: a config written before the
        field existed keeps its ``config_hash`` (``rnnstudy.config.omit_at_default``)."""
        data = handler(self)
        if self.marks == "anywhere":
            data.pop("marks", None)
        return data

    @property
    def readout(self) -> Literal["per_step", "last"]:
        return "last"

    @property
    def chance_metric(self) -> float:
        return 1.0 / 6.0

    @property
    def memoryless_loss(self) -> float:
        return 1.0 / 6.0


@register
class Adding(Task):
    """Two real channels: values ``U[0,1]`` and a marker channel with exactly two 1s; the
    target at the last step is the sum of the two marked values (many-to-one regression).

    Where the marks go (``task.marks``):

    * ``anywhere`` (default): two distinct positions drawn uniformly over ordered pairs of
      ``[0, T)``, as in Bai et al.'s generator;
    * ``halves``: one position uniform in the first half ``[0, T//2)`` and one uniform in the
      second ``[T//2, T)``, as in Arjovsky, Shah & Bengio 2016's generator
      (amarshah/complex_RNN adding_problem.py:22-23: ``randint(T/2)`` and ``randint(T/2) +
      T/2``; for an odd ``T`` theirs never marks the last step, ours may).

    Worked example (``T=6``, ``marks: halves``: the first mark in steps 0-2, the second in 3-5)::

        t          0     1     2     3     4     5
        x[:, 0]  0.31  0.77  0.05  0.90  0.42  0.18
        x[:, 1]  0     1     0     0     1     0
        y        0.77 + 0.42 = 1.19

    ``x`` is (B, T, 2) float32, ``y`` is (B,) float32, ``mask``/``eval_mask`` all True (B,).
    ``meta['positions']`` is (B, 2) long: the two marked positions, in increasing order;
    ``meta['source']`` is (B,) long: the first marked position (the first informative input,
    read by the gradient summaries). In the example: positions ``[1, 4]``, source ``1``.

    Chance: always predicting the mean 1.0 gives ``E[(U1+U2-1)^2] = 1/6 ≈ 0.1667`` (DESIGN
    quotes ≈ 0.1767 after Bai et al.), for either layout. Solved: ``val/mse < 0.01 * 0.1767``.
    """

    config = AddingTask
    kind = "regression"

    def __init__(self, cfg: AddingTask) -> None:
        if cfg.T < 2:
            raise ValueError(f"task.T must be >= 2 to hold two marks (got {cfg.T})")
        self.cfg = cfg
        self.T = cfg.T
        self.input_size = 2
        self.output_size = 1
        self.seq_len = cfg.T

    def generate(self, seed: int, n: int) -> Batch:
        import torch

        g = self.generator(seed)
        T = self.T
        values = torch.rand(n, T, generator=g)
        if self.cfg.marks == "halves":
            half = T // 2
            first = torch.randint(0, half, (n,), generator=g)
            second = torch.randint(half, T, (n,), generator=g)
        else:
            first = torch.randint(0, T, (n,), generator=g)
            # uniform over ordered pairs of distinct positions
            second = (first + torch.randint(1, T, (n,), generator=g)) % T
        positions = torch.stack([first, second], dim=1).sort(dim=1).values
        marks = torch.zeros(n, T)
        marks.scatter_(1, positions, 1.0)
        y = values.gather(1, positions).sum(dim=1)
        x = torch.stack([values, marks], dim=2)
        mask = torch.ones(n, dtype=torch.bool)
        meta = {"positions": positions, "source": positions[:, 0].clone()}
        return Batch(x, y, mask, mask.clone(), meta)
