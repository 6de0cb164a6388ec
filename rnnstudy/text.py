"""Plain-text tables for the terminal (``rnnstudy run``, ``experiment``, ``sweep``)::

>>> print(format_table([{"cell": "rnn", "final": 0.12345}, {"cell": "lstm", "final": float("nan")}]))
cell  final
----  ------
rnn   0.1235
lstm  -
"""

from __future__ import annotations

import math
from typing import Any


def fmt(v: Any) -> str:
    """One table cell: 4 significant digits, '-' for missing or NaN."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(no runs)"
    columns = columns or list(rows[0])
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(out)
