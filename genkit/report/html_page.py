"""report.html: the pipeline report as one self-contained page (inline CSS and script, images
embedded as base64 PNG; no external resources), to open in any browser.

The runs are grouped by data set, one table each with the metrics its runs have; a click on a
column heading sorts that table (numbers as numbers, blanks last).
"""

from __future__ import annotations

import base64
import html
import math
import struct

from genkit.report.facts import (
    KEY_METRICS,
    NOTE,
    ONE_EPOCH,
    Row,
    format_duration,
    format_number,
    format_parity,
    run_facts,
    source_notes,
    status_text,
)

__all__ = ["CSS", "MAX_METRIC_COLUMNS", "SIDE_BY_SIDE_WIDTH", "SORT_SCRIPT", "number_cell", "render_html", "sortable_table"]

# Widest pair of pictures (PNG pixels) still shown side by side, shrunk to the ~1150 px a
# section offers; a sample grid is ~470-600 px and a loss curve 320 px per loss.
SIDE_BY_SIDE_WIDTH = 1300


# A data set's table shows at most this many metric columns: those most of its runs have (the
# others go on a line under each run's row). With run, family, train time, export parity and
# status, 8 numbers fit the ~1,190 px a 1,300 px window gives the page, with no sideways scroll.
MAX_METRIC_COLUMNS = 8


CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f4f5f7; color: #1f2328;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 24px 56px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 6px; }
h2.data { margin: 26px 0 0; }
h2.data .meta { font-weight: 400; }
p.description { font-size: 17px; margin: 4px 0 6px; }
p.facts, p.note, .meta { color: #57606a; font-size: 13.5px; }
p.note { max-width: 900px; margin: 6px 0; }
.table-wrap { overflow-x: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; margin: 8px 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 7px 9px; border-top: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
thead th { border-top: none; }
tr.more td { border-top: none; padding-top: 0; color: #57606a; font-size: 13px; }
th { background: #f6f8fa; font-weight: 600; vertical-align: bottom; }
/* Headings are buttons: a click sorts the table by that column, a second click reverses it. */
th button { all: unset; cursor: pointer; }
th button:focus-visible { outline: 2px solid #0969da; outline-offset: 2px; }
th button::after { content: "\\00a0↕"; color: #8c959f; font-weight: 400; }  /* no-break space: the mark stays by its word */
th[aria-sort=ascending] button::after { content: "\\00a0▲"; color: #1f2328; }
th[aria-sort=descending] button::after { content: "\\00a0▼"; color: #1f2328; }
tbody:hover { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { text-align: right; }  /* headings wrap, so a wide metrics table still fits the page */
td.run { overflow-wrap: break-word; }  /* a long label breaks only where the table cannot widen */
td.run a { color: #0550ae; font-weight: 600; text-decoration: none; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12.5px; font-weight: 600; white-space: nowrap; }
.badge.ok { background: #dafbe1; color: #116329; }
.badge.failed { background: #ffebe9; color: #a40e26; }
.badge.pending { background: #eaeef2; color: #57606a; }
section.run { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 18px 22px; margin: 22px 0; }
section.run.failed { border-left: 4px solid #cf222e; }
.meta code { font-size: 12.5px; background: #f6f8fa; padding: 1px 4px; border-radius: 4px; word-break: break-all; }
.figures { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; margin-top: 12px; }
/* .row: side by side, shrunk a little if needed; else a wide curve (many losses) gets its own line. */
.figures.row { flex-wrap: nowrap; }
figure { margin: 0; flex: 0 1 auto; min-width: 0; max-width: 100%; }
.figures > p { margin: 0; flex: 1 1 280px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e4e7eb; border-radius: 4px; }
figure img.grid { image-rendering: pixelated; }
figcaption { color: #57606a; font-size: 13px; margin-top: 4px; }
pre.error { background: #fff5f5; border: 1px solid #ffcecb; border-radius: 6px; padding: 10px 12px;
            white-space: pre-wrap; word-break: break-word; font-size: 13px; margin: 10px 0 0; }
"""

# Sorts each table.sortable by the clicked heading. A run is one <tbody> (its row and the line
# of its other metrics), moved whole. Cells with data-value sort as numbers, the rest as text;
# an empty data-value (no number) sorts last both ways. Plain script in the page: the report
# loads nothing from elsewhere.
SORT_SCRIPT = """
(function () {
  function key(run, col) {
    var cell = run.rows[0].cells[col], value = cell.getAttribute("data-value");
    if (value === null) return { text: cell.textContent.trim() };
    var number = parseFloat(value);
    return isNaN(number) ? null : { number: number };
  }
  function compare(a, b, ascending) {
    if (a === null || b === null) return (a === null) - (b === null);
    var d = "number" in a ? a.number - b.number : a.text.localeCompare(b.text, undefined, { numeric: true });
    return ascending ? d : -d;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      var button = th.querySelector("button");
      if (!button) return;  // a heading without a button does not sort
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var runs = Array.prototype.slice.call(table.tBodies);
        runs.sort(function (a, b) { return compare(key(a, col), key(b, col), ascending); });
        runs.forEach(function (run) { table.appendChild(run); });
      });
    });
  });
})();
"""


def render_html(name, description, header, rows, columns, extra: str = "") -> str:
    """report.html: `extra` (HTML: a sweep's ranking), a sortable table per data set, the notes,
    then one section per run with its pictures embedded."""
    e = html.escape
    groups = {}
    for i, row in enumerate(rows):
        groups.setdefault(row.record.data_source, []).append((i, row))
    tables = [_group_table(source, members, columns) for source, members in groups.items()]
    note = e(NOTE).replace("`", "")
    sections = [_html_section(i, row) for i, row in enumerate(rows)]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pipeline {e(name)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<h1>Pipeline {e(name)}</h1>
{f'<p class="description">{e(description)}</p>' if description else ""}
<p class="facts">{e(header)}</p>
{extra}{chr(10).join(tables)}
{"".join(f'<p class="note">{e(sentence)}</p>' for sentence in source_notes(rows))}
<p class="note">{note}</p>
{chr(10).join(sections)}
</main>
<script>{SORT_SCRIPT}</script>
</body>
</html>
"""


def _group_table(source: str, members: list, columns: list) -> str:
    """The heading and sortable table of one data set's runs; `members` are (index, Row)."""
    e = html.escape
    present = [c for c in columns if any(c in row.metrics for _, row in members)]
    # The metrics most of the group's runs have; sorted() is stable, so ties keep the table order.
    widest = sorted(present, key=lambda c: -sum(c in row.metrics for _, row in members))[:MAX_METRIC_COLUMNS]
    shown = [c for c in present if c in widest]
    others = [c for c in present if c not in widest]
    names = ["run", "family", "train time", *(KEY_METRICS[c] for c in shown), "export parity", "status"]
    numeric = [False, False, True, *([True] * len(shown)), True, False]
    body = []
    for i, row in members:
        r = row.record
        cells = [
            f'<td class="run" title="{e(row.origin)}"><a href="#run-{i}">{e(r.label)}</a></td>',
            f"<td>{e(r.family)}</td>",
            number_cell(r.train_seconds, format_duration(r.train_seconds)),
            *(number_cell(row.metrics.get(c), format_number(row.metrics.get(c))) for c in shown),
            number_cell(row.parity, format_parity(row.parity)),
            f'<td><span class="badge {e(r.status)}">{e(status_text(r))}</span></td>',
        ]
        lines = ['<tr class="main">' + "".join(cells) + "</tr>"]
        more = [f"{KEY_METRICS[c]} {format_number(row.metrics[c])}" for c in others if c in row.metrics]
        if more:
            lines.append(f'<tr class="more"><td colspan="{len(names)}">{e(" · ".join(more))}</td></tr>')
        body.append('<tbody class="run">' + "".join(lines) + "</tbody>")
    count = f"{len(members)} run{'s' if len(members) != 1 else ''}"
    heading = f'<h2 class="data">{e(source or "no data set")} <span class="meta">· {count}</span></h2>'
    return heading + "\n" + sortable_table(names, numeric, body)


def sortable_table(names, numeric, bodies, css: str = "") -> str:
    """A table SORT_SCRIPT sorts: a button per heading (`numeric` ones right-aligned) and
    `bodies`, one <tbody> per row (with any line under it), moved whole."""
    e = html.escape
    heads = "".join(
        f'<th scope="col" class="{"num" if num else ""}"><button type="button">{e(h)}</button></th>' for h, num in zip(names, numeric)
    )
    return (
        f'<div class="table-wrap"><table class="{" ".join(["sortable", *css.split()])}">\n<thead><tr>{heads}</tr></thead>\n'
        + "\n".join(bodies)
        + "\n</table></div>"
    )


def number_cell(value, text: str) -> str:
    """A right-aligned cell showing `text`; the sort script reads `value` from data-value (empty: no number, sorted last)."""
    number = repr(float(value)) if isinstance(value, (int, float)) and math.isfinite(value) else ""
    return f'<td class="num" data-value="{number}">{html.escape(text)}</td>'


def _html_section(i: int, row: Row) -> str:
    e, r = html.escape, row.record
    meta = [
        f"{label} <code>{e(str(value))}</code>" if code else f"{e(label)}{e(str(value))}"
        for label, value, code in run_facts(r)
    ]
    parts = [
        f'<section class="run {e(r.status)}" id="run-{i}">',
        f'<h2>{e(r.label)} <span class="badge {e(r.status)}">{e(status_text(r))}</span></h2>',
        f'<div class="meta">{" · ".join(meta)}</div>',
    ]
    if r.status == "failed":
        parts.append(f'<pre class="error">{e(r.error)}</pre>')
    figures, width = [], 0
    for path, caption, css in ((row.grid, row.grid_caption, "grid"), (row.curve, "loss curves", "curve")):
        if path is not None:
            data = path.read_bytes()
            width += (_png_size(data) or (SIDE_BY_SIDE_WIDTH, 0))[0]
            figures.append(f"<figure>{_img(data, f'{r.label}: {caption}', css)}<figcaption>{e(caption)}</figcaption></figure>")
    if row.epochs == 1:
        figures.append(f'<p class="note">{e(ONE_EPOCH)}</p>')
    if figures:
        row_class = " row" if len(figures) > 1 and width <= SIDE_BY_SIDE_WIDTH else ""
        parts.append(f'<div class="figures{row_class}">' + "".join(figures) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _img(data: bytes, alt: str, css: str) -> str:
    size = _png_size(data)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="{css}" alt="{html.escape(alt)}"{dims} src="data:image/png;base64,{encoded}">'


def _png_size(data: bytes):
    """(width, height) from a PNG's IHDR chunk, or None; lets the page lay out before decoding."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])
