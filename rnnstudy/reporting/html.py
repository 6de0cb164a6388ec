"""``index.html``: one self-contained file (CSS inline, figures as base64 PNG data URIs, no
script, no outside href or src), so it opens offline and can be mailed round. The MLflow UI
address of its runs (``tracking.run_url``: the Model-training view) is text, not a link."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape

from rnnstudy.reporting.figures.base import Figure
from rnnstudy.reporting.header import Header, command_words
from rnnstudy.reporting.tables import Table

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 color:#222;margin:0;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd;
 padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.sub{color:#666;margin:0 0 16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dt{color:#666}dd{margin:0;word-break:break-all}
pre{background:#f3f3f3;padding:8px 12px;border-radius:4px;margin:4px 0;white-space:pre-wrap;
 overflow-wrap:anywhere}
.w{white-space:nowrap}
.note{background:#fff7e0;border-left:3px solid #e0b000;padding:6px 10px;margin:8px 0}
nav ol{columns:2;margin:4px 0;padding-left:20px}
nav a{color:#1a5fb4;text-decoration:none}
figure{margin:0 0 8px}figure img{max-width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{color:#444;font-size:14px;margin-top:6px}
.caption{color:#444;font-size:14px;margin:0 0 8px}
.tablewrap{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#f0f0f0}tr:nth-child(even) td{background:#fafafa}
footer{color:#888;font-size:12px;margin-top:32px}
.lead h3{margin:10px 0 4px}.lead .caption,.lead figcaption{font-size:13px}
.lead table{width:100%}.lead td:last-child{white-space:normal}
.lead figure img{width:auto}
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _title(h: Header) -> str:
    return f'<h1>{escape(h.experiment)}</h1>\n<p class="sub">rnnstudy report</p>'


def _header(h: Header, links: Sequence[tuple[str, str]] = ()) -> str:
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in h.fields)
    rows += "".join(
        f"<dt>{escape(k)}</dt><dd><code>{escape(url)}</code></dd>"  # text: no outside href
        for k, url in links
    )
    out = [f'<section id="about"><h2>About this report</h2><dl>{rows}</dl>']
    if h.reproduce:
        cmds = "\n".join(
            " ".join(f'<span class="w">{escape(w)}</span>' for w in command_words(c))
            for c in h.reproduce
        )
        out.append(f"<h3>Reproduce</h3><pre>{cmds}</pre>")
    out += [f'<p class="note">{escape(n)}</p>' for n in h.notes]
    out.append("</section>")
    return "\n".join(out)


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in t.frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
        for row in t.frame.itertuples(index=False)
    )
    return (
        f'<section id="{t.slug}"><h2>{escape(t.title)}</h2>'
        f'<p class="caption">{escape(t.caption)}</p>'
        f'<div class="tablewrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _figure(f: Figure, png: bytes, heading: str = "h2") -> str:
    return (
        f'<section id="{f.slug}"><{heading}>{escape(f.title)}</{heading}><figure>'
        f'<img src="{data_uri(png)}" alt="{escape(f.title)}">'
        f"<figcaption>{escape(f.caption)}</figcaption></figure></section>"
    )


def _lead(figures: list[tuple[Figure, bytes]], tables: list[Table]) -> str:
    """The first screen: the claim table and the horizon curves, then (below, task columns
    aligned with the horizon curves) the propagation profiles and the reach scatter."""
    if not figures and not tables:
        return ""
    parts = ['<div class="lead">']
    parts += [_table(t).replace("<h2>", "<h3>").replace("</h2>", "</h3>") for t in tables]
    parts += [_figure(f, png, "h3") for f, png in figures]
    parts.append("</div>")
    return "\n".join(parts)


def render(
    h: Header,
    figures: list[tuple[Figure, bytes]],
    tables: list[Table],
    problems: list[str] | None = None,
    links: list[tuple[str, str]] | None = None,
) -> str:
    """The whole page. ``figures``: (figure, its PNG bytes). Figures and tables marked
    ``lead`` come first, before the header details. ``links``: (label, URL) rows of the
    header, URLs made by ``tracking.run_url`` / ``tracking.experiment_url``."""
    lead_figs = [(f, png) for f, png in figures if f.lead]
    lead_tabs = [t for t in tables if t.lead]
    figures = [(f, png) for f, png in figures if not f.lead]
    tables = [t for t in tables if not t.lead]
    toc = "".join(
        f'<li><a href="#{x.slug}">{escape(x.title)}</a></li>'
        for x in [*lead_tabs, *(f for f, _ in lead_figs), *(f for f, _ in figures), *tables]
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{escape(h.experiment)} — rnnstudy report</title>",
        f"<style>{CSS}</style></head><body><main>",
        _title(h),
        _lead(lead_figs, lead_tabs),
        _header(h, links or []),
    ]
    if problems:
        parts += [f'<p class="note">figure not drawn: {escape(p)}</p>' for p in problems]
    if not figures and not tables and not lead_figs and not lead_tabs:
        parts.append('<p class="note">This experiment has no finished child runs yet.</p>')
    if toc:
        parts.append(f"<nav><h3>Contents</h3><ol>{toc}</ol></nav>")
    parts += [_figure(f, png) for f, png in figures]
    parts += [_table(t) for t in tables]
    parts.append(
        "<footer>Made by <code>rnnstudy report</code> from the MLflow store only; "
        "figures with seaborn/matplotlib.</footer></main></body></html>"
    )
    return "\n".join(parts) + "\n"
