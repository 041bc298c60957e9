"""report.html: the pipeline report as one self-contained page (inline CSS, images embedded as
base64 PNG; no external resources), to open in any browser."""

from __future__ import annotations

import base64
import html
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

__all__ = ["CSS", "SIDE_BY_SIDE_WIDTH", "render_html"]

# Widest pair of pictures (PNG pixels) still shown side by side, shrunk to the ~1150 px a
# section offers; a sample grid is ~470-600 px and a loss curve 320 px per loss.
SIDE_BY_SIDE_WIDTH = 1300


CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f4f5f7; color: #1f2328;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 24px 56px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 6px; }
p.description { font-size: 17px; margin: 4px 0 6px; }
p.facts, p.note, .meta { color: #57606a; font-size: 13.5px; }
p.note { max-width: 900px; margin: 6px 0; }
.table-wrap { overflow-x: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; margin: 18px 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 7px 9px; border-bottom: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; vertical-align: bottom; }
tr:last-child td { border-bottom: none; }
tbody tr:hover { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { text-align: right; }  /* headings wrap, so a wide metrics table still fits the page */
table.wide { font-size: 13px; }
table.wide th, table.wide td { padding: 6px 6px; }
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


def render_html(name, description, header, rows, columns) -> str:
    """report.html: the table, the notes, then one section per run with its pictures embedded."""
    e = html.escape
    heads = "".join(
        f'<th class="{"num" if i >= 3 else ""}">{e(h)}</th>'
        for i, h in enumerate(["run", "family", "data", "train time", *(KEY_METRICS[c] for c in columns), "export parity"])
    ) + "<th>status</th>"
    body = []
    for i, row in enumerate(rows):
        r = row.record
        cells = [
            f'<td class="run"><a href="#run-{i}">{e(r.label)}</a></td>',
            f"<td>{e(r.family)}</td>",
            f'<td title="{e(row.origin)}">{e(r.data_source)}</td>',
            f'<td class="num">{e(format_duration(r.train_seconds))}</td>',
            *(f'<td class="num">{e(format_number(row.metrics.get(c)))}</td>' for c in columns),
            f'<td class="num">{e(format_parity(row.parity))}</td>',
            f'<td><span class="badge {e(r.status)}">{e(status_text(r))}</span></td>',
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
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
<div class="table-wrap"><table{' class="wide"' if len(columns) > 8 else ""}>
<thead><tr>{heads}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table></div>
{"".join(f'<p class="note">{e(sentence)}</p>' for sentence in source_notes(rows))}
<p class="note">{note}</p>
{chr(10).join(sections)}
</main>
</body>
</html>
"""


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
