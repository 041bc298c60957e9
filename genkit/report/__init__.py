"""Pipeline reports: one table comparing the runs, with each run's sample grid and loss curve.

`write_report(folder, ...)` writes one folder, atomically (it appears whole or not at all):

- `report.md`: the table, then per run its final sample grid and loss curve, copied into
  `images/` and linked relatively, so the folder can be moved or attached as it is;
- `report.html`: the same as one self-contained page (inline CSS, images embedded as
  base64 PNG; no external resources), to open in any browser;
- `metrics.csv`: one row per run, one column per metric of its `metrics.json`.

The numbers come from the run folders themselves (`metrics.json`) and the exports
(`manifest.json`), so a report says exactly what those files say. Standard library only.

Modules: `facts` (the records, what their folders hold, the wording both pages share),
`markdown`, `html_page` and `metrics_csv` (one file each), `write` (the folder).

Example:
    write_report(Path("reports/zoo"), name="zoo", description="", source="pipelines/zoo.yaml",
                 records=[RunRecord("vae", "specs/vae_mnist.yaml", "vae", "mnist", status="ok",
                                    run_dir=Path("runs/vae_mnist/20260101-120000"))])
"""

from genkit.report.facts import KEY_METRICS, RunRecord, format_duration
from genkit.report.write import write_report

__all__ = ["KEY_METRICS", "RunRecord", "format_duration", "write_report"]
