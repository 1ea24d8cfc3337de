"""Side-by-side diff of two runs: params, metrics, data versions and cell code, escaped."""

from __future__ import annotations

import difflib

from jupyter_mlops.core.runs.summaries import RunSummary
from jupyter_mlops.widgets._html import (
    CELL_STYLE,
    DIFF_STYLE,
    TABLE_STYLE,
    esc,
    fmt_number,
    html_table,
    notice,
)

# side-by-side code rows: changed (both sides), removed (left), added (right); dark text so a
# dark theme's light foreground stays readable on the light highlight
_CHANGED = "background:#fff4ce;color:#1f1f1f"
_REMOVED = "background:#fde7e9;color:#1f1f1f"
_ADDED = "background:#e6f4ea;color:#1f1f1f"
_LINENO = "color:#888;text-align:right;padding:0 4px;user-select:none"
_CODE = "white-space:pre-wrap;word-break:break-all;padding:0 6px;min-width:20em"


def code_diff_html(a: list[str], b: list[str], name_a: str, name_b: str, context: int = 3) -> str:
    """A side-by-side diff of two cells' lines: changes highlighted, ``context`` lines around
    them, gaps marked with ``⋯``; every line and name escaped."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    rows: list[str] = []

    def row(left: int | None, right: int | None, style_l: str, style_r: str) -> None:
        cells = []
        for index, lines, style in ((left, a, style_l), (right, b, style_r)):
            number = "" if index is None else str(index + 1)
            text = "" if index is None else esc(lines[index])
            cells.append(f'<td style="{_LINENO};{style}">{number}</td>')
            cells.append(f'<td style="{_CODE};{style}">{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")

    for n, group in enumerate(matcher.get_grouped_opcodes(context)):
        if n:
            rows.append(f'<tr><td colspan="4" style="{_LINENO};text-align:center">⋯</td></tr>')
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for k in range(i2 - i1):
                    row(i1 + k, j1 + k, "", "")
                continue
            for k in range(max(i2 - i1, j2 - j1)):
                left = i1 + k if i1 + k < i2 else None
                right = j1 + k if j1 + k < j2 else None
                both = left is not None and right is not None
                style = _CHANGED if both else _REMOVED if right is None else _ADDED
                row(
                    left,
                    right,
                    style if left is not None else "",
                    style if right is not None else "",
                )
    head = "".join(f'<th colspan="2" style="{CELL_STYLE}">{esc(n)}</th>' for n in (name_a, name_b))
    return (
        f'<table style="{TABLE_STYLE};table-layout:auto"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _data(run: RunSummary) -> dict[str, str]:
    return {f"data: {d['name']}": d["digest"] for d in run.data_versions}


def diff_rows(a: RunSummary, b: RunSummary) -> list[tuple[str, str, str, bool]]:
    """(field, value in a, value in b, differs) for every param, metric and data version."""
    rows: list[tuple[str, str, str, bool]] = [
        ("status", a.status, b.status, a.status != b.status),
    ]
    for key in sorted(set(a.params) | set(b.params)):
        va, vb = a.params.get(key, ""), b.params.get(key, "")
        rows.append((f"param: {key}", va, vb, va != vb))
    for key in sorted(set(a.metrics) | set(b.metrics)):
        va, vb = fmt_number(a.metrics.get(key)), fmt_number(b.metrics.get(key))
        rows.append((f"metric: {key}", va, vb, va != vb))
    da, db = _data(a), _data(b)
    for key in sorted(set(da) | set(db)):
        va, vb = da.get(key, ""), db.get(key, "")
        rows.append((key, va, vb, va != vb))
    return rows


def run_diff_html(a: RunSummary, b: RunSummary, source_a: str | None, source_b: str | None) -> str:
    """HTML: a field table with differing rows highlighted, then the cell-code diff."""
    name_a, name_b = a.run_name or a.run_id[:8], b.run_name or b.run_id[:8]
    rows = diff_rows(a, b)
    table = html_table(
        ["", name_a, name_b],
        [(f, va, vb) for f, va, vb, _ in rows],
        row_styles=[DIFF_STYLE if d else "" for *_, d in rows],
        caption=f"{sum(d for *_, d in rows)} of {len(rows)} fields differ",
    )
    if source_a is None and source_b is None:
        code = notice("no cell code recorded for these runs")
    elif source_a == source_b:
        code = notice("identical cell code")
    else:
        code = code_diff_html(
            (source_a or "").splitlines(), (source_b or "").splitlines(), name_a, name_b
        )
    return f"<div><b>Diff</b>{table}<b>Cell code</b>{code}</div>"
