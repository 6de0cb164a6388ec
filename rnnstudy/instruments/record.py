"""The step record: the one read-only account of a training step that every instrument reads.

``SequenceModule`` builds it once per training step, after backward and clipping and before
the optimizer step (so the weights are the ones the gradients were taken at), and hands it to
``rnnstudy.instruments.driver.Instruments``. Nothing in it is for writing: an instrument never
edits the module, and the module exposes no attributes for instruments to set or clear.

Fields an instrument may read (what it must declare in ``needs`` is marked):

* ``step``, ``batch`` (inputs, targets, mask, ``meta``), ``loss`` (a float; NaN when the loss
  was not finite and no backward ran), ``clip`` (pre/post-clip norms, ``ClipStats``), ``model``
  (the ``RecurrentNet``, to read its weights);
* ``windows`` (``needs`` "windows"): per TBPTT window the layer inputs, outputs (states), the
  initial state and the captured immediate ``∂L/∂h_t`` (empty when no instrument asked);
  ``asked_at`` the step whose schedule asked for them (per-window TBPTT defers a probe to the
  sequence's last update); ``trajectory`` (per-window TBPTT) the probed sequence run from the
  network's initial state under the current weights;
* ``probe`` (``needs`` "probe"): the shared backward recurrence over the windows
  (``rnnstudy.instruments.probe.ProbeResult``), computed once by the driver for all instruments;
* ``loss_graph`` (``needs`` "loss_graph"): the loss tensor with its graph retained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from rnnstudy.instruments.clipping import ClipStats
    from rnnstudy.instruments.probe import ProbeResult
    from rnnstudy.tasks import Batch


@dataclass
class Window:
    """One TBPTT window of a captured step (the whole sequence without TBPTT)."""

    start: int
    inputs: list[Tensor]
    outputs: list[Tensor]
    state0: list | None
    grads: list[Tensor | None] = field(default_factory=list)


@dataclass(frozen=True)
class StepRecord:
    step: int
    batch: Batch
    loss: float
    model: Any
    clip: ClipStats | None = None
    windows: tuple[Window, ...] = ()
    asked_at: int | None = None
    trajectory: tuple[Window, ...] | None = None
    loss_graph: Tensor | None = None
    probe: ProbeResult | None = None

    @property
    def backward_ran(self) -> bool:
        """A backward pass happened this step (the loss was finite)."""
        return self.loss == self.loss and abs(self.loss) != float("inf")
