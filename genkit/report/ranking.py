"""A sweep's ranking: its trials best first by one metric, each with its params, in report.md,
report.html and sweep.csv.

The metric is read from each trial's own metrics.json (the report's rows), so the ranking
says what the run folders say. Finished trials without the metric, failed trials (with
their reason) and trials not run yet follow the ranked ones, in trial order.
"""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass

from genkit.report.facts import format_duration, format_number, status_text
from genkit.report.html_page import number_cell, sortable_table

__all__ = ["Ranking", "ranked", "ranking_csv", "ranking_html", "ranking_markdown"]


@dataclass(frozen=True)
class Ranking:
    """What a sweep ranks by, and each trial's params (label -> {--set path: value})."""

    metric: str
    direction: str  # minimize | maximize
    method: str
    params: dict

    @property
    def keys(self) -> list:
        keys: list = []
        for values in self.params.values():
            keys += [k for k in values if k not in keys]
        return keys


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value(row, metric):
    value = row.metrics.get(metric)
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def ranked(rows, ranking: Ranking) -> list:
    """(rank or None, row, value): ranked trials best first (ties in trial order), then the others."""
    scored = [row for row in rows if row.record.status == "ok" and _value(row, ranking.metric) is not None]
    sign = -1 if ranking.direction == "maximize" else 1
    scored.sort(key=lambda row: sign * _value(row, ranking.metric))  # stable: ties keep trial order
    rest = [row for row in rows if row not in scored]
    return [(i, row, _value(row, ranking.metric)) for i, row in enumerate(scored, 1)] + [
        (None, row, None) for row in rest
    ]


def _outcome(row, metric) -> str:
    r = row.record
    if r.status == "ok":
        return "ok" if _value(row, metric) is not None else f"ok, but metrics.json has no finite {metric}"
    if r.status == "failed":
        first = (r.error or "?").splitlines()[0]
        return f"{status_text(r)}: {first}"
    return status_text(r)


def _title(ranking: Ranking, rows) -> tuple:
    best = "smallest" if ranking.direction == "minimize" else "largest"
    done = sum(row.record.status in ("ok", "failed") for row in rows)
    return (
        "Sweep ranking",
        f"{ranking.method} sweep, {done} of {len(rows)} trials finished; best first: {best} {ranking.metric}.",
    )


def _cells(rank, row, value, ranking: Ranking) -> list:
    params = ranking.params.get(row.record.label, {})
    return [
        "" if rank is None else str(rank),
        row.record.label,
        *("" if k not in params else str(params[k]) for k in ranking.keys),
        format_number(value),
        format_duration(row.record.train_seconds),
        _outcome(row, ranking.metric),
    ]


def ranking_markdown(rows, ranking: Ranking) -> str:
    title, line = _title(ranking, rows)
    heads = ["rank", "trial", *ranking.keys, ranking.metric, "train time", "status"]
    out = [f"## {title}", "", line, "", "| " + " | ".join(heads) + " |"]
    out.append("|" + "|".join(["---:", "---"] + ["---"] * len(ranking.keys) + ["---:", "---:", "---"]) + "|")
    for rank, row, value in ranked(rows, ranking):
        cells = [str(c).replace("|", "\\|").replace("\n", " ") for c in _cells(rank, row, value, ranking)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def ranking_html(rows, ranking: Ranking) -> str:
    """The ranking as one of report.html's sortable tables (a click on a heading sorts by it)."""
    e = html.escape
    title, line = _title(ranking, rows)
    heads = ["rank", "trial", *ranking.keys, ranking.metric, "train time", "status"]
    # A param column sorts as numbers when every trial's value of it is one.
    numbers_only = [all(_is_number(p.get(k)) for p in ranking.params.values() if k in p) for k in ranking.keys]
    numeric = [True, False, *numbers_only, True, True, False]
    bodies = []
    for rank, row, value in ranked(rows, ranking):
        texts = _cells(rank, row, value, ranking)
        params = ranking.params.get(row.record.label, {})
        numbers = [rank, None, *(params.get(k) for k in ranking.keys), value, row.record.train_seconds, None]
        cells = [number_cell(n, t) if num else f"<td>{e(t)}</td>" for t, n, num in zip(texts, numbers, numeric)]
        bodies.append('<tbody class="run"><tr>' + "".join(cells) + "</tr></tbody>")
    return (
        f'<h2>{e(title)}</h2>\n<p class="facts">{e(line)}</p>\n'
        + sortable_table(heads, numeric, bodies, "ranking")
        + "\n"
    )


def ranking_csv(rows, ranking: Ranking) -> str:
    """sweep.csv: one row per trial, ranked first; numbers unformatted, for a spreadsheet or pandas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["rank", "trial", *ranking.keys, ranking.metric, "status", "failed_stage", "error", "train_seconds", "run_dir"]
    )
    for rank, row, value in ranked(rows, ranking):
        r, params = row.record, ranking.params.get(row.record.label, {})
        writer.writerow(
            [
                "" if rank is None else rank,
                r.label,
                *(params.get(k, "") for k in ranking.keys),
                "" if value is None else value,
                r.status,
                r.stage if r.status == "failed" else "",
                r.error,
                "" if r.train_seconds is None else f"{r.train_seconds:.1f}",
                "" if r.run_dir is None else str(r.run_dir),
            ]
        )
    return buffer.getvalue()
