"""Escaped HTML and text rendering shared by our views: tables, numbers, times, notices.

Every value that comes from a run (names, params, tags, column names) passes through
``html.escape`` here, so a run named ``<img src=x onerror=alert(1)>`` shows as text.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from typing import Any

TABLE_STYLE = (
    "border-collapse:collapse;font-size:12px;font-family:var(--jp-code-font-family,monospace)"
)
CELL_STYLE = "border:1px solid #ccc;padding:2px 6px;text-align:left;white-space:nowrap"
BEST_STYLE = "background:#e6f4ea;font-weight:bold"
DIFF_STYLE = "background:#fff4ce"


def esc(value: Any) -> str:
    """``html.escape`` of ``str(value)``; quotes escaped too."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_number(value: Any) -> str:
    """A compact number: 4 significant digits, ``nan`` for NaN, empty for missing."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS`` UTC, empty when unknown."""
    if not ms:
        return ""
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: int | None) -> str:
    """A duration such as ``3.2s``, ``4m05s`` or ``2h03m``; empty when unknown."""
    if ms is None or ms < 0:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def html_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    row_styles: Sequence[str] | None = None,
    caption: str | None = None,
) -> str:
    """An HTML table; every header and cell is escaped (cells are shown as ``str``)."""
    head = "".join(f'<th style="{CELL_STYLE}">{esc(c)}</th>' for c in columns)
    body = []
    for n, row in enumerate(rows):
        style = row_styles[n] if row_styles and n < len(row_styles) else ""
        cells = "".join(f'<td style="{CELL_STYLE}">{esc(v)}</td>' for v in row)
        body.append(f'<tr style="{style}">{cells}</tr>')
    cap = f"<caption style='text-align:left'>{esc(caption)}</caption>" if caption else ""
    return (
        f'<table style="{TABLE_STYLE}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int = 24) -> str:
    """A fixed-width plain-text table, each cell cut to ``width`` characters."""

    def cut(value: Any) -> str:
        text = "" if value is None else str(value).replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    cells = [[cut(c) for c in columns], *[[cut(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def notice(text: str, kind: str = "info") -> str:
    """A one-line escaped message box: ``info``, ``warn`` or ``error``."""
    colours = {"info": "#eef3fb", "warn": "#fff4ce", "error": "#fde7e9"}
    return (
        f'<div style="background:{colours.get(kind, colours["info"])};padding:4px 8px;'
        f'margin:2px 0" class="jp-mlops-{kind}">{esc(text)}</div>'
    )


def code_block(text: str) -> str:
    """Escaped preformatted code."""
    return f'<pre style="margin:2px 0;padding:4px;background:#f6f8fa">{esc(text)}</pre>'
