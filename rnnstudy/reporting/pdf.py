"""``report.pdf`` with matplotlib's ``PdfPages`` (nothing else to install): a title page with
the header, one page per figure (title above, caption below), then the tables (A4 landscape,
long tables over several pages, wide ones split by columns)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from rnnstudy.reporting.figures.base import Figure, style
from rnnstudy.reporting.header import Header, command_words
from rnnstudy.reporting.tables import Table

A4 = (11.69, 8.27)  # landscape, inches
ROWS_PER_PAGE = 26
MAX_CHARS = 165  # characters of table text across one page at 7 pt
MAX_CELL = 42
FONT_PT = 7.5


def _shell_wrap(cmd: str, width: int) -> list[str]:
    """A long shell command over several lines, continued with backslashes; a flag stays
    on the same line as its value."""
    lines = [""]
    for w in command_words(cmd):
        if lines[-1] and len(lines[-1]) + 1 + len(w) > width - 2:
            lines.append("    ")
        lines[-1] += ("" if lines[-1].strip() == "" else " ") + w
    return [ln + " \\" for ln in lines[:-1]] + lines[-1:]


def _title_page(h: Header) -> MplFigure:
    fig = MplFigure(figsize=A4)
    fig.text(0.06, 0.9, h.experiment, fontsize=26, weight="bold", va="top")
    fig.text(0.06, 0.83, "rnnstudy report", fontsize=13, color="0.4", va="top")
    y = 0.75
    for k, v in h.fields:
        fig.text(0.06, y, k, fontsize=10, color="0.4", va="top")
        lines = textwrap.wrap(v, 110) or [""]
        fig.text(0.27, y, "\n".join(lines), fontsize=10, va="top", family="DejaVu Sans")
        y -= 0.035 * len(lines)
    if h.reproduce:
        y -= 0.02
        fig.text(0.06, y, "reproduce", fontsize=10, color="0.4", va="top")
        lines = [ln for cmd in h.reproduce for ln in _shell_wrap(cmd, 100)]
        fig.text(0.27, y, "\n".join(lines), fontsize=9, va="top", family="monospace")
        y -= 0.032 * len(lines)
    for n in h.notes:
        y -= 0.02
        fig.text(
            0.06,
            y,
            "\n".join(textwrap.wrap("Note: " + n, 130)),
            fontsize=9,
            va="top",
            color="#8a6d00",
        )
        y -= 0.04
    return fig


def _annotate(f: Figure) -> None:
    """Make room above and below the figure for its title and caption (drawn once, no
    bbox_inches='tight' pass: that would lay the figure out twice more)."""
    fig = f.fig
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(f.caption, int(width * 12.5))
    top_in, bottom_in = 0.55, 0.25 + 0.19 * len(lines)
    total = height + top_in + bottom_in
    fig.set_size_inches(width, total)
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, bottom_in / total, 1, height / total))
    fig.text(0.02, 1 - 0.15 / total, f.title, fontsize=14, weight="bold", va="top")
    fig.text(
        0.02,
        (bottom_in - 0.12) / total,
        "\n".join(lines),
        va="top",
        ha="left",
        fontsize=10,
        color="0.25",
    )


def column_groups(frame: pd.DataFrame, max_chars: int = MAX_CHARS) -> list[list[str]]:
    """Split the columns so each group fits a page; the first column repeats as the key."""
    cols = list(frame.columns)
    if not cols:
        return [cols]
    width = {
        c: min(MAX_CELL, max(len(str(c)), *(len(str(v)) for v in frame[c]), 1)) + 2 for c in cols
    }
    groups, cur, used = [], [cols[0]], width[cols[0]]
    for c in cols[1:]:
        if used + width[c] > max_chars and len(cur) > 1:
            groups.append(cur)
            cur, used = [cols[0]], width[cols[0]]
        cur.append(c)
        used += width[c]
    groups.append(cur)
    return groups


def table_pages(t: Table) -> int:
    return len(column_groups(t.frame)) * max(1, math.ceil(len(t.frame) / ROWS_PER_PAGE))


def _clip(v: object) -> str:
    s = str(v)
    return s if len(s) <= MAX_CELL else s[: MAX_CELL - 1] + "…"


def _widths(frame: pd.DataFrame, cols: list[str]) -> dict[str, int]:
    return {
        c: min(MAX_CELL, max(len(str(c)), *(len(str(v)) for v in frame[c]), 1)) + 2 for c in cols
    }


def _table_figs(t: Table) -> list[MplFigure]:
    """Pages of a table, set in monospace: one text block per column (fast to lay out)."""
    groups = column_groups(t.frame)
    n_row_pages = max(1, math.ceil(len(t.frame) / ROWS_PER_PAGE))
    char_in = FONT_PT * 0.6 / 72  # DejaVu Sans Mono advance: 0.6 em
    line_in = FONT_PT * 1.6 / 72
    figs = []
    for gi, cols in enumerate(groups):
        widths = _widths(t.frame, cols)
        for pi in range(n_row_pages):
            chunk = t.frame.iloc[pi * ROWS_PER_PAGE : (pi + 1) * ROWS_PER_PAGE]
            fig = MplFigure(figsize=A4)
            w, h = A4
            part = []
            if n_row_pages > 1:
                first = pi * ROWS_PER_PAGE + 1
                part.append(f"rows {first}–{first + len(chunk) - 1} of {len(t.frame)}")
            if len(groups) > 1:
                part.append(f"columns part {gi + 1} of {len(groups)}")
            title = t.title + (f" ({', '.join(part)})" if part else "")
            fig.text(0.04, 0.95, title, fontsize=14, weight="bold", va="top")
            caption = textwrap.wrap(t.caption, 150)
            fig.text(0.04, 0.905, "\n".join(caption), fontsize=9, color="0.3", va="top")
            # inches from the bottom: below the caption (9 pt lines at matplotlib's 1.2 spacing)
            top = min(0.8 * h, 0.905 * h - len(caption) * 9 * 1.2 / 72 - 0.25)
            rows = [[_clip(c) for c in cols]]
            rows += [[_clip(v) for v in r] for r in chunk[cols].itertuples(index=False)]
            right = 0.04 * w + sum(widths.values()) * char_in
            for i, row in enumerate(rows):
                y = top - i * line_in
                if i % 2 == 0 and i > 0:  # zebra stripes
                    fig.patches.append(
                        Rectangle(
                            (0.035, (y - 0.85 * line_in) / h),
                            min(0.93, right / w - 0.03),
                            line_in / h,
                            transform=fig.transFigure,
                            color="#f0f0f0",
                            lw=0,
                            zorder=0,
                        )
                    )
                x = 0.04 * w
                for c, v in zip(cols, row, strict=True):
                    fig.text(
                        x / w,
                        y / h,
                        v,
                        fontsize=FONT_PT,
                        family="monospace",
                        va="top",
                        weight="bold" if i == 0 else "normal",
                    )
                    x += widths[c] * char_in
            x = right
            fig.add_artist(
                Line2D(
                    [0.04, min(0.97, x / w)], [(top - 0.8 * line_in) / h] * 2, color="0.4", lw=0.6
                )
            )
            figs.append(fig)
    return figs


def render(path: Path, h: Header, figures: list[Figure], tables: list[Table]) -> int:
    """Write the PDF; returns its number of pages. Page order: the title page, the lead table
    (``tables[0]``: the study's result, e.g. the tour's claim; see ``build.lead_first``), the
    figures in their order (the lead figures first), then the other tables."""
    pages = 0
    meta = {"Title": f"{h.experiment} — rnnstudy report", "Creator": "rnnstudy report"}
    with style(), PdfPages(path, metadata=meta) as pdf:
        pdf.savefig(_title_page(h))
        pages += 1
        for fig in [g for t in tables[:1] for g in _table_figs(t)]:
            pdf.savefig(fig)
            pages += 1
        for f in figures:
            _annotate(f)
            pdf.savefig(f.fig)
            pages += 1
        for t in tables[1:]:
            for fig in _table_figs(t):
                pdf.savefig(fig)
                pages += 1
    return pages
