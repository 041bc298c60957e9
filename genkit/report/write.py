"""`write_report`: the report folder — report.md, report.html, metrics.csv and images/ — written atomically."""

from __future__ import annotations

import re
from pathlib import Path

from genkit.atomic import atomic_directory
from genkit.report.facts import KEY_METRICS, header_facts, read_row
from genkit.report.html_page import render_html
from genkit.report.markdown import render_markdown
from genkit.report.metrics_csv import render_csv
from genkit.report.ranking import Ranking, ranking_csv, ranking_html, ranking_markdown

__all__ = ["write_report"]


def write_report(
    folder, *, name: str, description: str, source: str, records: list, seconds: float | None = None, ranking: Ranking | None = None
) -> Path:
    """Write report.md, report.html, metrics.csv and images/ into `folder` (replaced atomically).

    With `ranking` (a sweep), both pages open with the trials ranked by its metric, and
    sweep.csv holds that ranking.
    """
    folder = Path(folder)
    rows = [read_row(r) for r in records]
    columns = [key for key in KEY_METRICS if any(key in row.metrics for row in rows)]
    header = header_facts(rows, source, seconds)
    md_extra = ranking_markdown(rows, ranking) if ranking else ""
    html_extra = ranking_html(rows, ranking) if ranking else ""
    with atomic_directory(folder) as tmp:
        images = _copy_images(rows, tmp / "images")
        (tmp / "report.md").write_text(render_markdown(name, description, header, rows, columns, images, md_extra), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(name, description, header, rows, columns, html_extra), encoding="utf-8")
        (tmp / "metrics.csv").write_text(render_csv(rows), encoding="utf-8", newline="")
        if ranking:
            (tmp / "sweep.csv").write_text(ranking_csv(rows, ranking), encoding="utf-8", newline="")
    return folder


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
