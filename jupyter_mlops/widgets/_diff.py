"""Side-by-side diff of two runs: params, metrics, data versions and cell code, escaped."""

from __future__ import annotations

import difflib

from jupyter_mlops.core.runs import RunSummary
from jupyter_mlops.widgets._html import DIFF_STYLE, esc, fmt_number, html_table, notice


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
        # HtmlDiff escapes the lines; the descriptions are escaped here
        code = difflib.HtmlDiff(wrapcolumn=80).make_table(
            (source_a or "").splitlines(),
            (source_b or "").splitlines(),
            esc(name_a),
            esc(name_b),
            context=True,
            numlines=3,
        )
    return f"<div><b>Diff</b>{table}<b>Cell code</b>{code}</div>"
