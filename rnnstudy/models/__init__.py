"""Models: the fused recurrent net and its explicit per-step twin."""

from rnnstudy.models.recurrent import Forward, RecurrentNet, detach_state, gate_blocks, param_label

__all__ = ["Forward", "RecurrentNet", "detach_state", "gate_blocks", "param_label"]
