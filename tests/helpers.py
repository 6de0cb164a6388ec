"""Small shared builders for tests: tiny configs and a one-call trainer."""

from __future__ import annotations

from rnnstudy.config import parse_run


def tiny(**over):
    """A tiny, fast run config; keyword args are dotted paths with '__' for '.'."""
    data = {
        "task": {"name": "copy", "A": 4, "K": 3, "T": 6},
        "model": {"cell": "lstm", "hidden_size": 8},
        "train": {"max_steps": 5, "batch_size": 8, "val_every": 5, "val_size": 16},
        "probe": {"every": 2},
    }
    from rnnstudy.config import apply_overrides

    data = apply_overrides(data, {k.replace("__", "."): v for k, v in over.items()})
    return parse_run(data)
