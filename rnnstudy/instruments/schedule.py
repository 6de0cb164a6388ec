"""When to probe: every ``every`` training steps, optionally also at log-spaced early steps."""

from __future__ import annotations


def should_probe(step: int, every: int, log_spaced_early: bool) -> bool:
    """Step 0, every multiple of ``every`` and, if asked, 1, 2, 4, 8, ... below ``every``.

    >>> [s for s in range(40) if should_probe(s, 16, True)]
    [0, 1, 2, 4, 8, 16, 32]
    """
    if step % every == 0:
        return True
    return log_spaced_early and step < every and (step & (step - 1)) == 0
