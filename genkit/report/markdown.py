"""report.md: the pipeline report as Markdown, its pictures linked from `images/`."""

from __future__ import annotations

from genkit.report.facts import (
    KEY_METRICS,
    NOTE,
    ONE_EPOCH,
    format_duration,
    format_number,
    format_parity,
    run_facts,
    source_notes,
    status_text,
)

__all__ = ["render_markdown"]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(name, description, header, rows, columns, images, extra: str = "") -> str:
    """report.md: `extra` (a sweep's ranking), the table, the notes, then one section per run;
    `images` maps (label, kind) to a file in images/."""
    out = [f"# Pipeline {name}", ""]
    if description:
        out += [description, ""]
    out += [header, ""]
    if extra:
        out += [extra, "## Runs", ""]
    heads = ["run", "family", "data", "train time", *(KEY_METRICS[c] for c in columns), "export parity", "status"]
    out.append("| " + " | ".join(heads) + " |")
    out.append("|" + "|".join(["---"] * 4 + ["---:"] * (len(columns) + 1) + ["---"]) + "|")
    for row in rows:
        r = row.record
        cells = [r.label, r.family, r.data_source, format_duration(r.train_seconds)]
        cells += [format_number(row.metrics.get(c)) for c in columns] + [format_parity(row.parity), status_text(r)]
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    out += [""]
    for sentence in source_notes(rows):
        out += [sentence, ""]
    out += [NOTE, ""]
    for row in rows:
        r = row.record
        out += [f"## {r.label}", ""]
        facts = [f"{label} `{value}`" if code else f"{label}{value}" for label, value, code in run_facts(r)]
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
