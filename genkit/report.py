"""Pipeline reports: one table comparing the runs, with each run's sample grid and loss curve.

`write_report(folder, ...)` writes one folder, atomically (it appears whole or not at all):

- `report.md`: the table, then per run its final sample grid and loss curve, copied into
  `images/` and linked relatively, so the folder can be moved or attached as it is;
- `report.html`: the same as one self-contained page (inline CSS, images embedded as
  base64 PNG; no external resources), to open in any browser;
- `metrics.csv`: one row per run, one column per metric of its `metrics.json`.

The numbers come from the run folders themselves (`metrics.json`) and the exports
(`manifest.json`), so a report says exactly what those files say. Standard library only.

Example:
    write_report(Path("reports/zoo"), name="zoo", description="", source="pipelines/zoo.yaml",
                 records=[RunRecord("vae", "specs/vae_mnist.yaml", "vae", "mnist", status="ok",
                                    run_dir=Path("runs/vae_mnist/20260101-120000"))])
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from genkit.atomic import atomic_directory

__all__ = ["KEY_METRICS", "RunRecord", "format_duration", "write_report"]

# metrics.json key -> column heading, in table order; a column appears when any run has it.
KEY_METRICS = {
    "loss": "loss",
    "reconstruction": "reconstruction",
    "mse_per_pixel": "MSE / pixel",
    "neg_elbo": "−ELBO",
    "neg_log_likelihood": "−log p(x) IW",
    "fid": "FID",
    "kid": "KID",
    "precision": "precision",
    "recall": "recall",
    "mode_coverage": "modes",
    "class_accuracy": "class accuracy",
    "translation_l1": "L1 |G(x) − y|",
    "translation_l1_baseline": "L1 |x − y|",
    "cycle_error": "cycle error",
}
STATUS_TEXT = {"ok": "ok", "failed": "failed", "pending": "not run yet"}


@dataclass
class RunRecord:
    """What a pipeline knows about one run; the report reads the rest from its folders."""

    label: str
    spec: str  # the spec file, as shown to the user
    family: str
    data_source: str  # spec data.source, e.g. "mnist"
    status: str = "pending"  # pending | ok | failed
    stage: str = ""  # the stage that failed: train | evaluate | export
    error: str = ""
    train_seconds: Optional[float] = None
    seconds: Optional[float] = None  # train + evaluate + export
    run_dir: Optional[Path] = None
    export_dir: Optional[Path] = None  # set only when this run's export succeeded


@dataclass
class _Row:
    """A record with what its folders say: metrics, data origin, parity, pictures."""

    record: RunRecord
    metrics: dict
    origin: str
    feature_space: str  # the extractor sample scores were computed with, if any
    parity: Optional[float]
    grid: Optional[Path]
    grid_caption: str
    curve: Optional[Path]
    epochs: int  # rows of the run's history.csv


def write_report(folder, *, name: str, description: str, source: str, records: list, seconds: float | None = None) -> Path:
    """Write report.md, report.html, metrics.csv and images/ into `folder` (replaced atomically)."""
    folder = Path(folder)
    rows = [_row(r) for r in records]
    columns = [key for key in KEY_METRICS if any(key in row.metrics for row in rows)]
    header = _header_facts(rows, source, seconds)
    with atomic_directory(folder) as tmp:
        images = _copy_images(rows, tmp / "images")
        (tmp / "report.md").write_text(_markdown(name, description, header, rows, columns, images), encoding="utf-8")
        (tmp / "report.html").write_text(_html(name, description, header, rows, columns), encoding="utf-8")
        (tmp / "metrics.csv").write_text(_csv(rows), encoding="utf-8", newline="")
    return folder


def format_duration(seconds) -> str:
    """'42 s', '3 min 05 s', or '-' for None."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


# --------------------------------------------------------------------------- reading the folders
def _row(record: RunRecord) -> _Row:
    report = _read_json(record.run_dir / "metrics.json") if record.run_dir else {}
    manifest = _read_json(record.export_dir / "manifest.json") if record.export_dir else {}
    diffs = [n.get("parity_max_abs_diff") for n in manifest.get("networks", {}).values()]
    diffs = [d for d in diffs if isinstance(d, (int, float))]
    grid, caption = _final_grid(record)
    curve = record.run_dir / "loss_curve.png" if record.run_dir else None
    epochs = _epochs(record.run_dir)
    return _Row(
        record=record,
        metrics=report.get("metrics", {}),
        origin=report.get("protocol", {}).get("data", ""),
        feature_space=report.get("protocol", {}).get("feature_space", ""),
        parity=max(diffs) if diffs else None,
        grid=grid,
        grid_caption=caption,
        # One epoch draws a single invisible point: say so instead of showing empty axes.
        curve=curve if curve is not None and curve.is_file() and epochs > 1 else None,
        epochs=epochs,
    )


def _epochs(run_dir) -> int:
    try:
        with open(Path(run_dir) / "history.csv", newline="") as f:
            return len(list(csv.DictReader(f)))
    except (OSError, TypeError):
        return 0


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _final_grid(record: RunRecord):
    """The last epoch's grid of the run folder, else the export's sample grid."""
    if record.run_dir is not None:
        grids = sorted((record.run_dir / "samples").glob("epoch_*.png"))
        if grids:
            epoch = grids[-1].stem.split("_")[-1].lstrip("0") or "0"
            return grids[-1], f"final sample grid (epoch {epoch})"
    if record.export_dir is not None and (record.export_dir / "samples.png").is_file():
        return record.export_dir / "samples.png", "samples drawn from the export"
    return None, ""


def _header_facts(rows, source, seconds) -> str:
    counts = {}
    for row in rows:
        counts[row.record.status] = counts.get(row.record.status, 0) + 1
    parts = [f"{len(rows)} run{'s' if len(rows) != 1 else ''}"]
    parts += [f"{counts[s]} {word}" for s, word in (("ok", "finished"), ("failed", "failed"), ("pending", "not run yet")) if counts.get(s)]
    facts = [f"pipeline file {source}", ", ".join(parts)]
    trained = [row.record.train_seconds for row in rows if row.record.train_seconds]
    if trained:
        facts.append(f"{format_duration(sum(trained))} of training in all")
    if seconds is not None:
        # With --reuse this pipeline run may have trained only some of the runs.
        facts.append(f"{format_duration(seconds)} for this invocation")
    facts.append(f"written {time.strftime('%Y-%m-%d %H:%M')}")
    return " · ".join(facts)


def _copy_images(rows, folder: Path) -> dict:
    """Copy each run's pictures into `folder`: (label, kind) -> file name."""
    names = {}
    for row in rows:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", row.record.label)
        for kind, path in (("samples", row.grid), ("loss", row.curve)):
            if path is None:
                continue
            folder.mkdir(exist_ok=True)
            name = f"{safe}-{kind}.png"
            (folder / name).write_bytes(path.read_bytes())
            names[(row.record.label, kind)] = name
    return names


# --------------------------------------------------------------------------- cells
def _number(value) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.4g}"


def _parity(value) -> str:
    return "–" if value is None else f"{value:.1e}"


def _notes(rows) -> list:
    """Sentences about where the numbers come from: each data origin and feature space once."""
    notes = []
    seen = dict.fromkeys((row.record.data_source, row.origin) for row in rows if row.origin)
    if seen:
        notes.append("Data: " + "; ".join(f"{source} from {origin}" for source, origin in seen) + ".")
    spaces = dict.fromkeys(row.feature_space for row in rows if row.feature_space)
    if spaces:
        notes.append(
            "FID, KID, precision/recall, modes (share of classes among the samples) and class accuracy are "
            "computed in the feature space of: " + "; ".join(spaces) + "."
        )
    floors = sorted({round(row.metrics["fid_real_train"], 1) for row in rows if "fid_real_train" in row.metrics})
    if floors:
        shown = f"{floors[0]:g}" if len(floors) == 1 else f"{floors[0]:g} to {floors[-1]:g}"
        notes.append(f"Real training images in place of samples score FID {shown}: the floor of this protocol.")
    return notes


def _status(record: RunRecord) -> str:
    if record.status == "failed":
        return f"failed at {record.stage}" if record.stage else "failed"
    return STATUS_TEXT.get(record.status, record.status)


NOTE = (
    "`loss` is each family's own training objective (a VAE's includes its KL term), so compare it only "
    "between runs of one family; `MSE / pixel` compares reconstructions across families. "
    "Metrics are on held-out test images; export parity is the largest |Keras − ONNX| difference "
    "over the exported networks."
)
# Widest pair of pictures (PNG pixels) still shown side by side, shrunk to the ~1150 px a
# section offers; a sample grid is ~470-600 px and a loss curve 320 px per loss.
SIDE_BY_SIDE_WIDTH = 1300
ONE_EPOCH = "Loss curves: one epoch only, nothing to draw (the numbers are in the table and history.csv)."


# --------------------------------------------------------------------------- report.md
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(name, description, header, rows, columns, images) -> str:
    out = [f"# Pipeline {name}", ""]
    if description:
        out += [description, ""]
    out += [header, ""]
    heads = ["run", "family", "data", "train time", *(KEY_METRICS[c] for c in columns), "export parity", "status"]
    out.append("| " + " | ".join(heads) + " |")
    out.append("|" + "|".join(["---"] * 4 + ["---:"] * (len(columns) + 1) + ["---"]) + "|")
    for row in rows:
        r = row.record
        cells = [r.label, r.family, r.data_source, format_duration(r.train_seconds)]
        cells += [_number(row.metrics.get(c)) for c in columns] + [_parity(row.parity), _status(r)]
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    out += [""]
    for sentence in _notes(rows):
        out += [sentence, ""]
    out += [NOTE, ""]
    for row in rows:
        r = row.record
        out += [f"## {r.label}", ""]
        facts = [f"{label} `{value}`" if code else f"{label}{value}" for label, value, code in _run_facts(r)]
        out += [" · ".join(facts), ""]
        if r.status == "failed":
            out += [f"**Failed at {r.stage or 'start'}:**", "", "```", r.error, "```", ""]
        elif r.status == "pending":
            out += ["Not run yet.", ""]
        for kind, caption in (("samples", row.grid_caption), ("loss", "loss curves")):
            if (r.label, kind) in images:
                out += [f"![{r.label}: {caption}](images/{images[(r.label, kind)]})", "", f"*{caption}*", ""]
        if row.epochs == 1:
            out += [f"*{ONE_EPOCH}*", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- report.html
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


def _html(name, description, header, rows, columns) -> str:
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
            *(f'<td class="num">{e(_number(row.metrics.get(c)))}</td>' for c in columns),
            f'<td class="num">{e(_parity(row.parity))}</td>',
            f'<td><span class="badge {e(r.status)}">{e(_status(r))}</span></td>',
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
{"".join(f'<p class="note">{e(sentence)}</p>' for sentence in _notes(rows))}
<p class="note">{note}</p>
{chr(10).join(sections)}
</main>
</body>
</html>
"""


def _run_facts(r) -> list:
    """(label, value, shown as code) of one run, for the markdown and the HTML report alike."""
    facts = [("spec", r.spec, True), ("family ", r.family, False)]
    if r.run_dir:
        facts.append(("run folder", r.run_dir, True))
    if r.export_dir:
        facts.append(("export", r.export_dir, True))
    if r.seconds is not None:
        facts.append(("", f"{format_duration(r.seconds)} in all", False))
    return facts


def _html_section(i: int, row: _Row) -> str:
    e, r = html.escape, row.record
    meta = [
        f"{label} <code>{e(str(value))}</code>" if code else f"{e(label)}{e(str(value))}"
        for label, value, code in _run_facts(r)
    ]
    parts = [
        f'<section class="run {e(r.status)}" id="run-{i}">',
        f'<h2>{e(r.label)} <span class="badge {e(r.status)}">{e(_status(r))}</span></h2>',
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


# --------------------------------------------------------------------------- metrics.csv
def _csv(rows) -> str:
    metric_columns: list = []
    flat_rows = []
    for row in rows:
        flat = {}
        for key, value in row.metrics.items():
            if isinstance(value, dict):  # e.g. class_accuracy_per_class: one column per class
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        for key in flat:
            if key not in metric_columns:
                metric_columns.append(key)
        flat_rows.append(flat)
    head = ["run", "status", "family", "spec", "data_source", "data_origin", "train_seconds", "total_seconds"]
    tail = ["export_parity_max_abs_diff", "failed_stage", "error", "run_dir", "export_dir"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(head + metric_columns + tail)
    for row, flat in zip(rows, flat_rows):
        r = row.record
        writer.writerow(
            [
                r.label,
                r.status,
                r.family,
                r.spec,
                r.data_source,
                row.origin,
                "" if r.train_seconds is None else f"{r.train_seconds:.1f}",
                "" if r.seconds is None else f"{r.seconds:.1f}",
                *("" if flat.get(k) is None else flat[k] for k in metric_columns),
                "" if row.parity is None else f"{row.parity:.3g}",
                r.stage if r.status == "failed" else "",
                r.error,
                "" if r.run_dir is None else str(r.run_dir),
                "" if r.export_dir is None else str(r.export_dir),
            ]
        )
    return buffer.getvalue()
