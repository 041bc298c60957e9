"""report.html's tables: one per data set, only the metrics its runs have (at most
MAX_METRIC_COLUMNS, the rest on a line under each run), sortable by a self-contained script."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from genkit.report import RunRecord, write_report
from genkit.report.facts import KEY_METRICS
from genkit.report.html_page import MAX_METRIC_COLUMNS


class Tables(HTMLParser):
    """The page's h2.data headings and tables: per table its heading texts (with whether each
    is a button) and per <tbody> its rows of (cell attributes, cell text)."""

    def __init__(self):
        super().__init__()
        self.headings, self.tables, self.scripts = [], [], []
        self.text, self.cell, self.in_heading, self.in_script = None, None, False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2" and attrs.get("class") == "data":
            self.in_heading, self.text = True, ""
        elif tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "heads": [], "runs": []})
        elif tag == "tbody" and self.tables:
            self.tables[-1]["runs"].append([])
        elif tag == "tr" and self.tables and self.tables[-1]["runs"]:
            self.tables[-1]["runs"][-1].append([])
        elif tag in ("th", "td"):
            self.cell, self.text = {"tag": tag, "attrs": attrs, "button": False}, ""
        elif tag == "button" and self.cell is not None:
            self.cell["button"] = attrs.get("type") == "button"
        elif tag == "script":
            self.in_script, self.text = True, ""
            self.scripts.append({"attrs": attrs})

    def handle_data(self, data):
        if self.text is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "h2" and self.in_heading:
            self.headings.append(self.text.split("·")[0].strip())
            self.in_heading, self.text = False, None
        elif tag in ("th", "td") and self.cell is not None:
            self.cell["text"] = self.text.strip()
            if tag == "th":
                self.tables[-1]["heads"].append(self.cell)
            else:
                self.tables[-1]["runs"][-1][-1].append(self.cell)
            self.cell, self.text = None, None
        elif tag == "script":
            self.scripts[-1]["text"] = self.text
            self.in_script, self.text = False, None


def record(tmp_path, label, source, metrics, status="ok"):
    run_dir = tmp_path / "runs" / label
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps({"metrics": metrics, "protocol": {"data": f"{source} origin"}}))
    return RunRecord(label, f"specs/{label}.yaml", "vae", source, status=status, train_seconds=12.0, run_dir=run_dir)


def page(tmp_path, records) -> Tables:
    folder = write_report(tmp_path / "report", name="zoo", description="", source="pipelines/zoo.yaml", records=records)
    parsed = Tables()
    parsed.feed((folder / "report.html").read_text(encoding="utf-8"))
    return parsed


def labels(table) -> list:
    return [run[0][0]["text"] for run in table["runs"]]


def metric_heads(table) -> list:
    return [h["text"] for h in table["heads"][3:-2]]  # after run, family, train time; before parity, status


MANY = list(KEY_METRICS)[:10]  # more metrics than one table shows


def zoo(tmp_path):
    return [
        record(tmp_path, "ae", "mnist", {"loss": 3.0, "reconstruction": 2.0}),
        record(tmp_path, "betavae", "shapes", {"loss": 9.0, "mig": 0.25}),
        record(tmp_path, "vae", "mnist", {key: float(i) for i, key in enumerate(MANY)}),
        record(tmp_path, "broken", "mnist", {}, status="failed"),
    ]


def test_runs_are_grouped_by_data_set_in_pipeline_order(tmp_path):
    parsed = page(tmp_path, zoo(tmp_path))
    assert parsed.headings == ["mnist", "shapes"]
    assert [labels(t) for t in parsed.tables] == [["ae", "vae", "broken"], ["betavae"]]
    # The run links still point at each run's section (numbered in pipeline order).
    links = [run[0][0] for t in parsed.tables for run in t["runs"]]
    assert [cell["attrs"].get("title") for cell in links] == ["mnist origin", "mnist origin", "mnist origin", "shapes origin"]


def test_a_table_has_only_its_groups_metrics_at_most_eight_and_the_rest_under_each_run(tmp_path):
    mnist, shapes = page(tmp_path, zoo(tmp_path)).tables
    assert metric_heads(shapes) == ["loss", "MIG"]
    # mnist: loss and reconstruction (two runs each) come first, then the table order up to eight.
    shown = metric_heads(mnist)
    assert len(shown) == MAX_METRIC_COLUMNS
    assert shown == [KEY_METRICS[k] for k in MANY[:MAX_METRIC_COLUMNS]]
    assert "MIG" not in shown  # only the shapes group has it
    ae, vae, broken = mnist["runs"]
    # The VAE's two other metrics go on a line of their own, spanning the table; the others have none.
    assert len(ae) == 1 and len(broken) == 1 and len(vae) == 2
    (more,) = vae[1]
    assert more["attrs"]["colspan"] == str(len(mnist["heads"]))
    assert more["text"] == " · ".join(f"{KEY_METRICS[k]} {MANY.index(k)}" for k in MANY[MAX_METRIC_COLUMNS:])
    assert all(len(t["heads"]) <= MAX_METRIC_COLUMNS + 5 for t in (mnist, shapes))


def test_every_heading_is_a_sort_button_and_number_cells_carry_their_values(tmp_path):
    mnist, shapes = page(tmp_path, zoo(tmp_path)).tables
    for table in (mnist, shapes):
        assert "sortable" in table["class"].split()
        assert table["heads"] and all(h["button"] for h in table["heads"])
    ae, vae, broken = (run[0] for run in mnist["runs"])
    loss = 3  # run, family, train time, loss
    assert [run[loss]["attrs"]["data-value"] for run in (ae, vae, broken)] == ["3.0", "0.0", ""]  # blank: no number
    assert ae[2]["attrs"]["data-value"] == "12.0" and ae[2]["text"] == "12 s"  # sorts by seconds, shows words
    # Text columns (run, family, status) sort by their text: they carry no data-value.
    assert not any("data-value" in ae[i]["attrs"] for i in (0, 1, -1))
    assert all("data-value" in cell["attrs"] for cell in ae[2:-1])


def test_the_sort_script_is_in_the_page_and_loads_nothing(tmp_path):
    parsed = page(tmp_path, zoo(tmp_path))
    (script,) = parsed.scripts
    assert script["attrs"] == {}  # inline: no src
    code = script["text"]
    for needle in ("table.sortable", "tBodies", "data-value", "aria-sort", "addEventListener(\"click\""):
        assert needle in code, needle
    assert not re.search(r"https?:|import\(|fetch\(|XMLHttpRequest", code)
