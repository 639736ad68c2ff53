"""Render a report dict as one self-contained HTML page: inline CSS, charts as inline SVG drawn
here, no script and no external resource. Every name from the data is HTML-escaped."""
from __future__ import annotations

import datetime as _dt
import html
import math
from typing import Any, Iterable

REAL_COLOR = "#1f5f8b"
SYN_COLOR = "#e07b39"

CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;margin:0;
background:#f5f6f8;color:#1d2330}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px} h2{font-size:20px;margin:28px 0 10px;border-bottom:2px solid #dde1e7;
padding-bottom:4px} h3{font-size:16px;margin:18px 0 8px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 18px;
margin-bottom:16px}
.score{display:flex;align-items:center;gap:24px}
.big{font-size:44px;font-weight:700}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.good{color:#1b7a3a}.ok{color:#a06800}.bad{color:#b3261e}.muted{color:#6b7280}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:12px}
.plot{background:#fff;border:1px solid #eceef2;border-radius:6px;padding:6px}
.plot .t{font-size:12px;font-weight:600;margin:0 0 2px;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
.side{display:flex;gap:18px;flex-wrap:wrap}
details summary{cursor:pointer;color:#1f5f8b;margin:6px 0}
code{background:#f0f2f5;padding:1px 4px;border-radius:3px}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}f}"
    return esc(value)


def score_class(v: float | None) -> str:
    if v is None:
        return "muted"
    return "good" if v >= 0.8 else ("ok" if v >= 0.6 else "bad")


def short(text: Any, n: int = 22) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def _table(headers: list[str], rows: Iterable[list[str]], num_cols: Iterable[int] = ()) -> str:
    nums = set(num_cols)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = "".join(f'<td class="num">{c}</td>' if i in nums else f"<td>{c}</td>"
                        for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return '<p class="muted">Nothing to show.</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _score_cell(v: float | None) -> str:
    return f'<span class="{score_class(v)}">{fmt(v)}</span>'


def _axis_label(v: float, sdtype: str) -> str:
    if sdtype == "datetime":
        try:
            return _dt.datetime.fromtimestamp(v / 1e6, tz=_dt.timezone.utc).strftime("%Y-%m-%d")
        except (OverflowError, OSError, ValueError):
            return f"{v:.3g}"
    if abs(v) >= 1e5 or (abs(v) < 1e-2 and v != 0):
        return f"{v:.3g}"
    return f"{v:.4g}"


def svg_histogram(plot: dict[str, Any], width: int = 260, height: int = 150) -> str:
    """Real vs synthetic shares per bin (side by side bars)."""
    real, syn = plot["real"], plot["synthetic"]
    n = max(len(real), 1)
    top = max([*real, *syn, 1e-12])
    x0, y0, w, h = 30, 8, width - 38, height - 34
    bw = w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#9aa1ab"/>',
             f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + h}" stroke="#9aa1ab"/>',
             f'<text x="{x0 - 3}" y="{y0 + 8}" font-size="9" text-anchor="end">{top:.2f}</text>',
             f'<text x="{x0 - 3}" y="{y0 + h}" font-size="9" text-anchor="end">0</text>']
    for i in range(len(real)):
        for j, (vals, color) in enumerate(((real, REAL_COLOR), (syn, SYN_COLOR))):
            bh = h * vals[i] / top
            parts.append(f'<rect x="{x0 + i * bw + j * bw / 2:.2f}" y="{y0 + h - bh:.2f}" '
                         f'width="{max(bw / 2 - 0.3, 0.5):.2f}" height="{bh:.2f}" fill="{color}"/>')
    edges = plot.get("edges") or []
    if edges:
        sd = plot.get("sdtype", "numerical")
        parts.append(f'<text x="{x0}" y="{y0 + h + 13}" font-size="9">{esc(_axis_label(edges[0], sd))}</text>')
        parts.append(f'<text x="{x0 + w}" y="{y0 + h + 13}" font-size="9" text-anchor="end">'
                     f'{esc(_axis_label(edges[-1], sd))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(plot: dict[str, Any], width: int = 260) -> str:
    """Real vs synthetic shares of the most frequent categories (horizontal bars)."""
    cats, real, syn = plot["categories"], plot["real"], plot["synthetic"]
    row_h = 16
    height = max(len(cats), 1) * row_h + 16
    x0 = 92
    w = width - x0 - 58
    top = max([*real, *syn, 1e-12])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, c in enumerate(cats):
        y = 4 + i * row_h
        label = "(missing)" if c is None else short(c, 15)
        parts.append(f'<text x="{x0 - 4}" y="{y + 11}" font-size="10" text-anchor="end">'
                     f'<title>{esc(c)}</title>{esc(label)}</text>')
        for j, (vals, color) in enumerate(((real, REAL_COLOR), (syn, SYN_COLOR))):
            bw = w * vals[i] / top
            parts.append(f'<rect x="{x0}" y="{y + j * 7:.1f}" width="{bw:.2f}" height="6.5" fill="{color}"/>')
        parts.append(f'<text x="{x0 + w * max(real[i], syn[i]) / top + 3:.1f}" y="{y + 11}" font-size="9" '
                     f'fill="#6b7280">{real[i]:.2f}/{syn[i]:.2f}</text>')
    if not cats:
        parts.append('<text x="10" y="14" font-size="10">no values</text>')
    parts.append("</svg>")
    return "".join(parts)


def _corr_color(v: float | None) -> str:
    if v is None:
        return "#e5e7eb"
    v = max(-1.0, min(1.0, v))
    if v >= 0:
        r, g, b = (int(255 - (255 - 31) * v), int(255 - (255 - 95) * v), int(255 - (255 - 139) * v))
    else:
        a = -v
        r, g, b = (int(255 - (255 - 179) * a), int(255 - (255 - 38) * a), int(255 - (255 - 30) * a))
    return f"rgb({r},{g},{b})"


def svg_heatmap(cols: list[str], matrix: list[list[float | None]], title: str) -> str:
    n = len(cols)
    cell = max(16, min(44, 360 // max(n, 1)))
    left, topm = 110, 20
    width, height = left + n * cell + 10, topm + n * cell + 100
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<text x="{left}" y="14" font-size="12" font-weight="600">{esc(title)}</text>']
    for i in range(n):
        parts.append(f'<text x="{left - 4}" y="{topm + i * cell + cell / 2 + 4:.1f}" font-size="10" '
                     f'text-anchor="end"><title>{esc(cols[i])}</title>{esc(short(cols[i], 16))}</text>')
        x = left + i * cell + cell / 2
        y = topm + n * cell + 6
        parts.append(f'<text x="{x:.1f}" y="{y}" font-size="10" text-anchor="end" '
                     f'transform="rotate(-60 {x:.1f} {y})"><title>{esc(cols[i])}</title>'
                     f'{esc(short(cols[i], 16))}</text>')
        for j in range(n):
            v = matrix[i][j]
            parts.append(f'<rect x="{left + j * cell}" y="{topm + i * cell}" width="{cell - 1}" '
                         f'height="{cell - 1}" fill="{_corr_color(v)}"><title>{esc(cols[i])} x '
                         f'{esc(cols[j])}: {fmt(v, 3)}</title></rect>')
            if n <= 10 and v is not None:
                tc = "#fff" if abs(v) > 0.55 else "#1d2330"
                parts.append(f'<text x="{left + j * cell + cell / 2:.1f}" y="{topm + i * cell + cell / 2 + 4:.1f}" '
                             f'font-size="10" text-anchor="middle" fill="{tc}">{v:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_cardinality(real: dict[str, int], syn: dict[str, int], width: int = 420, height: int = 170,
                    max_bars: int = 25) -> str:
    """Share of parents by number of children (the last bar collects the tail)."""
    keys = sorted({int(k) for k in (*real, *syn)})
    if not keys:
        return '<p class="muted">No parents.</p>'
    cap = keys[-1] if len(keys) <= max_bars else sorted(keys)[max_bars - 1]
    nr, ns = max(sum(real.values()), 1), max(sum(syn.values()), 1)
    xs = [k for k in keys if k <= cap]
    r_sh = {k: 0.0 for k in xs}
    s_sh = {k: 0.0 for k in xs}
    for src, dst, tot in ((real, r_sh, nr), (syn, s_sh, ns)):
        for k, v in src.items():
            dst[min(int(k), cap)] += v / tot
    top = max([*r_sh.values(), *s_sh.values(), 1e-12])
    x0, y0, w, h = 34, 8, width - 44, height - 36
    bw = w / len(xs)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#9aa1ab"/>',
             f'<text x="{x0 - 3}" y="{y0 + 8}" font-size="9" text-anchor="end">{top:.2f}</text>']
    for i, k in enumerate(xs):
        for j, (d, color) in enumerate(((r_sh, REAL_COLOR), (s_sh, SYN_COLOR))):
            bh = h * d[k] / top
            parts.append(f'<rect x="{x0 + i * bw + j * bw / 2:.2f}" y="{y0 + h - bh:.2f}" '
                         f'width="{max(bw / 2 - 0.5, 0.5):.2f}" height="{bh:.2f}" fill="{color}">'
                         f'<title>{k} children: {d[k]:.3f}</title></rect>')
        if len(xs) <= 12 or i % max(1, len(xs) // 12) == 0 or k == cap:
            label = f"{k}+" if (k == cap and cap < keys[-1]) else str(k)
            parts.append(f'<text x="{x0 + i * bw + bw / 2:.1f}" y="{y0 + h + 12}" font-size="9" '
                         f'text-anchor="middle">{label}</text>')
    parts.append(f'<text x="{x0 + w / 2}" y="{height - 4}" font-size="10" text-anchor="middle">'
                 'children per parent</text></svg>')
    return "".join(parts)


LEGEND = (f'<div class="legend muted" style="font-size:12px"><span style="background:{REAL_COLOR}"></span>'
          f'real<span style="background:{SYN_COLOR}"></span>synthetic</div>')


def render(data: dict[str, Any]) -> str:
    out: list[str] = []
    score = data.get("score")
    props = data.get("properties", {})
    extra = data.get("additional_properties", {})
    details = data.get("details", {})
    tables = data.get("tables", {})
    plots = data.get("plots", {})
    out.append('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
               '<meta name="viewport" content="width=device-width, initial-scale=1">'
               f'<title>Synthetic data validation report</title><style>{CSS}</style></head><body><main>')
    out.append('<h1>Synthetic data validation report</h1>')
    out.append(f'<p class="muted">Tables: {", ".join(esc(t) for t in tables)}</p>')

    # overall
    bar_w = 0 if score is None else int(300 * max(0.0, min(1.0, score)))
    out.append('<section class="card score" id="overall"><div><div class="muted">Overall quality score</div>'
               f'<div class="big {score_class(score)}">{"n/a" if score is None else f"{100 * score:.1f}%"}</div></div>'
               '<svg xmlns="http://www.w3.org/2000/svg" width="310" height="22" role="img">'
               '<rect x="0" y="4" width="300" height="14" rx="7" fill="#e5e7eb"/>'
               f'<rect x="0" y="4" width="{bar_w}" height="14" rx="7" fill="#1b7a3a"/></svg></section>')
    rows = [[esc(k), _score_cell(v["score"]), "yes", esc(v["description"]), esc(v.get("note") or "")]
            for k, v in props.items()]
    rows += [[esc(k), _score_cell(v["score"]), "no", esc(v["description"]), esc(v.get("note") or "")]
             for k, v in extra.items()]
    out.append('<section class="card" id="properties"><h2>Properties</h2>'
               + _table(["Property", "Score", "In overall score", "Definition", "Note"], rows, [1])
               + "</section>")

    for t, tinfo in tables.items():
        out.append(_render_table(t, tinfo, details, plots.get("tables", {}).get(t, {})))

    if details.get("referential_integrity") or details.get("cardinality"):
        out.append(_render_relationships(details, plots.get("cardinality", [])))
    out.append(_render_privacy(data.get("privacy", {}), data.get("settings", {})))
    out.append(_render_settings(data.get("settings", {}), data.get("timings_s", {})))
    out.append('<p class="muted" style="font-size:12px">Generated by synthohive-spark. Metric '
               'definitions follow SDMetrics; all metrics were computed in Spark.</p>')
    out.append("</main></body></html>")
    return "".join(out)


def _render_table(t: str, tinfo: dict[str, Any], details: dict[str, Any], plot: dict[str, Any]) -> str:
    out = [f'<section class="card" id="table-{esc(t)}"><h2>Table {esc(t)}</h2>',
           f'<p class="muted">{fmt(tinfo.get("real_rows"))} real rows, '
           f'{fmt(tinfo.get("synthetic_rows"))} synthetic rows</p>']
    missing = {r["column"]: r for r in details.get("missing_values", []) if r.get("table") == t}
    rows = []
    for r in details.get("column_shapes", []):
        if r.get("table") != t:
            continue
        m = missing.get(r["column"], {})
        bound = r.get("error_bound")
        method = esc(r.get("method") or "")
        if bound:
            method += f" (\u00b1{bound:.4f})"
        rows.append([esc(r["column"]), esc(r["sdtype"]), esc(r["metric"]), _score_cell(r.get("score")),
                     method, fmt(m.get("real_missing")), fmt(m.get("synthetic_missing")),
                     _score_cell(m.get("score")), esc(r.get("reason") or "")])
    out.append("<h3>Column shapes</h3>")
    out.append(_table(["Column", "Type", "Metric", "Score", "Method", "Missing (real)",
                       "Missing (synthetic)", "Missing-value similarity", "Note"], rows, [3, 5, 6, 7]))

    na = [r for r in details.get("not_applicable", []) if r.get("table") == t]
    if na:
        out.append("<h3>Columns without shape or pair metrics</h3>")
        out.append(_table(["Column", "Type", "Reason"],
                          [[esc(r["column"]), esc(r["sdtype"]), esc(r["reason"])] for r in na]))

    cols = plot.get("columns", {})
    if cols:
        out.append("<h3>Distributions: real vs synthetic</h3>" + LEGEND + '<div class="grid">')
        for name in plot.get("order", list(cols)):
            p = cols[name]
            chart = svg_histogram(p) if p["kind"] == "continuous" else svg_bars(p)
            out.append(f'<div class="plot"><div class="t" title="{esc(name)}">{esc(name)}</div>{chart}</div>')
        out.append("</div>")

    corr = plot.get("correlation") or {}
    if len(corr.get("columns", [])) >= 2:
        out.append('<h3>Correlations (Pearson)</h3><div class="side">'
                   + svg_heatmap(corr["columns"], corr["real"], "Real")
                   + svg_heatmap(corr["columns"], corr["synthetic"], "Synthetic") + "</div>")

    prs = [r for r in details.get("column_pair_trends", []) if r.get("table") == t]
    if prs:
        prs = sorted(prs, key=lambda r: (r["score"] is None, r["score"] if r["score"] is not None else 0))
        rows = [[esc(r["column_1"]), esc(r["column_2"]), esc(r["metric"]), _score_cell(r.get("score")),
                 fmt(r.get("real_correlation")), fmt(r.get("synthetic_correlation")),
                 esc(r.get("reason") or r.get("note") or "")] for r in prs]
        out.append(f"<h3>Column pair trends ({len(prs)} pairs, lowest first)</h3>")
        out.append(_table(["Column 1", "Column 2", "Metric", "Score", "Real corr.", "Synthetic corr.",
                           "Note"], rows, [3, 4, 5]))
    out.append("</section>")
    return "".join(out)


def _render_relationships(details: dict[str, Any], card_plots: list[dict[str, Any]]) -> str:
    out = ['<section class="card" id="relationships"><h2>Relationships</h2>']
    ri = details.get("referential_integrity", [])
    out.append("<h3>Referential integrity</h3>")
    out.append(_table(["Child", "Foreign key", "Parent", "Score (synthetic)", "Orphans",
                       "Foreign keys", "Score (real)"],
                      [[esc(r["child_table"]), esc(r["foreign_key"]), esc(f"{r['parent_table']}.{r['primary_key']}"),
                        _score_cell(r.get("score")), fmt(r.get("synthetic_orphans")),
                        fmt(r.get("synthetic_foreign_keys")), fmt(r.get("real_score"))] for r in ri],
                      [3, 4, 5, 6]))
    card = details.get("cardinality", [])
    out.append("<h3>Cardinality</h3>")
    out.append(_table(["Child", "Foreign key", "Parent", "Metric", "Score", "Note"],
                      [[esc(r["child_table"]), esc(r["foreign_key"]), esc(r["parent_table"]), esc(r["metric"]),
                        _score_cell(r.get("score")), esc(r.get("reason") or "")] for r in card], [4]))
    if card_plots:
        out.append(LEGEND + '<div class="side">')
        for p in card_plots:
            out.append(f'<div class="plot"><div class="t">{esc(p["parent_table"])} \u2192 '
                       f'{esc(p["child_table"])} ({esc(p["foreign_key"])})</div>'
                       f'{svg_cardinality(p["real"], p["synthetic"])}</div>')
        out.append("</div>")
    it = details.get("intertable_trends", [])
    if it:
        it = sorted(it, key=lambda r: (r["score"] is None, r["score"] if r["score"] is not None else 0))
        out.append(f"<h3>Intertable trends ({len(it)} pairs, lowest first)</h3>")
        out.append(_table(["Parent", "Parent column", "Child", "Child column", "Metric", "Score", "Note"],
                          [[esc(r["parent_table"]), esc(r["column_1"]), esc(r["child_table"]),
                            esc(r["column_2"]), esc(r.get("metric")), _score_cell(r.get("score")),
                            esc(r.get("reason") or r.get("note") or "")] for r in it], [5]))
    out.append("</section>")
    return "".join(out)


#: keys of the privacy section that summarise every table (the others are tables)
PRIVACY_SUMMARY_KEYS = ("k_anonymity", "membership_inference_auc", "differential_privacy",
                        "copy_settings")


def _render_dp(dp: dict[str, Any]) -> str:
    rows = [["Epsilon spent (budget)", f"{fmt(dp.get('epsilon'), 4)} ({fmt(dp.get('epsilon_budget'))})"],
            ["Delta", esc(f"{dp.get('delta'):.3g}" if dp.get("delta") is not None else "")],
            ["Unit", esc(dp.get("unit") or "")]]
    for t, p in (dp.get("tables") or {}).items():
        rows.append([f"Table {esc(t)}", f"epsilon {fmt(p.get('epsilon'), 4)}, delta "
                                        f"{esc(format(p.get('delta', 0), '.3g'))}"])
    items = "".join(f"<li>{esc(c)}</li>" for c in dp.get("not_covered") or [])
    covered = "".join(f"<li>{esc(c)}</li>" for c in dp.get("covered") or [])
    note = f'<p class="muted">{esc(dp["parent_context"])}</p>' if dp.get("parent_context") else ""
    return ('<h3>Differential privacy of the model</h3>' + _table(["", ""], rows, [])
            + f"<p>Covered:</p><ul>{covered}</ul><p>Not covered (read from the real rows without "
              f"noise):</p><ul>{items}</ul>" + note)


def _render_k_anonymity(kanon: dict[str, Any]) -> str:
    rows = []
    for t, r in kanon.items():
        if not r.get("applicable", True):
            rows.append([esc(t), fmt(r.get("k")), "", "", "", "", "", esc(r.get("reason") or "")])
            continue
        ok = '<span class="good">yes</span>' if r.get("satisfied") else '<span class="bad">no</span>'
        rows.append([esc(t), fmt(r.get("k")), esc(", ".join(r.get("quasi_identifiers", []))),
                     fmt(r.get("smallest_class")), fmt(r.get("classes_below_k")),
                     f"{fmt(r.get('rows_below_k'))} of {fmt(r.get('rows'))}", ok,
                     esc(f"missing from the synthetic data: {r['missing_columns']}"
                         if r.get("missing_columns") else "")])
    return ('<h3>k-anonymity of the synthetic data</h3><p class="muted">Equivalence class: the rows '
            'that share every quasi-identifier value (null counts as a value); k-anonymous when no '
            'class holds fewer than k rows.</p>'
            + _table(["Table", "k", "Quasi-identifiers", "Smallest class", "Classes below k",
                      "Rows below k", "k-anonymous", "Note"], rows, [1, 3, 4, 5]))


def _render_copy_settings(checks: dict[str, Any]) -> str:
    def holds(v: Any) -> str:
        return "" if v is None else ('<span class="good">yes</span>' if v
                                     else '<span class="bad">no</span>')
    rows = []
    for t, r in checks.items():
        if not r.get("applicable", True):
            rows.append([esc(t), "", "", "", "", "", esc(r.get("reason") or "")])
            continue
        below = (f"{fmt(r.get('share_below_min_dcr'), 4)} of {fmt(r.get('synthetic_sample_rows'))}"
                 if "min_dcr" in r else "")
        rows.append([esc(t), fmt(r.get("min_dcr")) if "min_dcr" in r else "not set", below,
                     holds(r.get("min_dcr_holds")),
                     f"{fmt(r.get('exact_copy_rate'), 5)} (tolerance {fmt(r.get('exact_copy_tolerance'))})",
                     holds(r.get("exact_copy_tolerance_holds")), ""])
    return ('<h3>Distance settings of the metadata</h3><p class="muted">privacy.min_dcr: no sampled '
            'synthetic row closer than it to a sampled training row; privacy.exact_copy_tolerance: '
            'the share of synthetic rows equal to a training row (all rows) at most this.</p>'
            + _table(["Table", "min_dcr", "Sampled rows below it", "Holds", "Exact-copy rate",
                      "Holds", "Note"], rows, [1, 2, 4]))


def _render_privacy(privacy: dict[str, Any], settings: dict[str, Any]) -> str:
    out = ['<section class="card" id="privacy"><h2>Privacy</h2>']
    if privacy.get("differential_privacy"):
        out.append(_render_dp(privacy["differential_privacy"]))
    if privacy.get("k_anonymity"):
        out.append(_render_k_anonymity(privacy["k_anonymity"]))
    if privacy.get("copy_settings"):
        out.append(_render_copy_settings(privacy["copy_settings"]))
    tables = {t: p for t, p in privacy.items() if t not in PRIVACY_SUMMARY_KEYS}
    if not tables:
        out.append('<p class="muted">Distance to closest record and membership inference not '
                   'computed: no real holdout (rows not used for training) was given.</p></section>')
        return "".join(out)
    out.append('<p class="muted">Distance to closest record (DCR): mean over columns of a normalised '
               'numeric distance (|a-b| / real range, at most 1) or a category mismatch (0/1). A '
               'synthetic row much closer to training rows than to holdout rows suggests memorisation; '
               'about half of the rows closer to training is the ideal. Membership inference: an '
               'attacker who scores each real row by its distance to the closest synthetic row tells '
               'training rows from holdout rows with this AUC (0.5: no better than chance; 1: every '
               'training row is given away).</p>')
    for t, p in tables.items():
        out.append(f"<h3>Table {esc(t)}</h3>")
        if not p.get("applicable", True):
            out.append(f'<p class="muted">{esc(p.get("reason"))}</p>')
            continue
        rows = [
            ["Synthetic rows sampled for DCR", fmt(p.get("synthetic_sample_rows"))],
            ["Training and holdout rows sampled (each)", fmt(p.get("reference_sample_rows_each"))],
            ["Median DCR to training", fmt(p.get("dcr_train_median"), 4)],
            ["Median DCR to holdout", fmt(p.get("dcr_holdout_median"), 4)],
            ["5th percentile DCR to training / holdout",
             f"{fmt(p.get('dcr_train_p05'), 4)} / {fmt(p.get('dcr_holdout_p05'), 4)}"],
            ["Share of synthetic rows closer to training than holdout", fmt(p.get("share_closer_to_train"), 4)],
            ["Overfitting protection score (SDMetrics)", _score_cell(p.get("overfitting_protection_score"))],
            [f"Membership inference AUC ({fmt(p.get('membership_inference_member_rows'))} training vs "
             f"{fmt(p.get('membership_inference_non_member_rows'))} holdout rows)",
             fmt(p.get("membership_inference_auc"), 4)],
            ["Exact-copy rate (synthetic rows equal to a training row, all rows)", fmt(p.get("exact_copy_rate"), 5)],
            ["Exact copies of holdout rows (synthetic)", fmt(p.get("synthetic_exact_copies_of_holdout_rate"), 5)],
            ["Holdout rows equal to a training row (baseline)", fmt(p.get("holdout_exact_copy_rate"), 5)],
        ]
        out.append(_table(["Measure", "Value"], rows, [1]))
        ht, hh = p.get("dcr_train_histogram"), p.get("dcr_holdout_histogram")
        if ht and hh:
            tot_t, tot_h = max(sum(ht), 1), max(sum(hh), 1)
            plot = {"real": [x / tot_t for x in ht], "synthetic": [x / tot_h for x in hh],
                    "edges": [i / len(ht) for i in range(len(ht) + 1)], "sdtype": "numerical"}
            out.append('<div class="plot" style="max-width:440px"><div class="t">DCR of synthetic rows: '
                       'to training (blue) vs to holdout (orange)</div>'
                       + svg_histogram(plot, width=420, height=160) + "</div>")
    out.append("</section>")
    return "".join(out)


def _render_settings(settings: dict[str, Any], timings: dict[str, Any]) -> str:
    rows = [[esc(k), f"<code>{esc(v)}</code>"] for k, v in settings.items()]
    out = ['<section class="card" id="settings"><h2>Run settings</h2>',
           _table(["Setting", "Value"], rows)]
    if timings:
        out.append("<h3>Time per property (seconds)</h3>")
        out.append(_table(["Step", "Seconds"], [[esc(k), fmt(float(v), 2)] for k, v in timings.items()], [1]))
    out.append("</section>")
    return "".join(out)
