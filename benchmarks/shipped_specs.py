"""Run every shipped spec as a user would and print what each costs and gives.

For each `specs/*.yaml`: `genkit run` in a fresh process (wall time, peak RSS), then the
headline metrics from the run's `metrics.json` and the ONNX parity from the export's
`manifest.json`. Runs and exports go to a scratch folder, not the repo's.

    python benchmarks/shipped_specs.py [--only cvae_mnist vae_mnist] [--set train.epochs=1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADLINE = (
    "neg_elbo",
    "reconstruction",
    "mse_per_pixel",
    "fid",
    "mode_coverage",
    "class_accuracy",
    "translation_l1",
    "translation_l1_baseline",
    "cycle_error",
)


def run_spec(spec: Path, scratch: Path, extra: list) -> dict:
    export_dir = scratch / "exports" / spec.stem
    command = [
        "genkit", "run", str(spec),
        "--set", f"runs_dir={scratch / 'runs'}",
        "--set", f"export.dir={export_dir}",
    ]
    for item in extra:
        command += ["--set", item]
    log = scratch / f"{spec.stem}.log"
    start = time.time()
    # A small launcher reads the child's own peak RSS (getrusage of children would include
    # whatever this process had already used).
    launcher = (
        "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:], stdout=open(os.environ['LOG'], 'w'), "
        "stderr=subprocess.STDOUT); _, status, usage = os.wait4(p.pid, 0); print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", launcher, *command], capture_output=True, text=True, cwd=REPO, env={**os.environ, "LOG": str(log)})
    code, maxrss_kb = (int(v) for v in out.stdout.split())
    row = {"spec": spec.name, "exit": code, "seconds": time.time() - start, "peak_rss_mb": maxrss_kb / 1024}
    found = sorted((scratch / "runs" / _name(spec)).glob("*/metrics.json"))
    if found:
        metrics = json.loads(found[-1].read_text())["metrics"]
        row.update({k: metrics[k] for k in HEADLINE if k in metrics})
    manifest = export_dir / "manifest.json"
    if manifest.is_file():
        networks = json.loads(manifest.read_text())["networks"]
        row["parity"] = max(n["parity_max_abs_diff"] for n in networks.values())
    if code != 0:
        row["log"] = str(log)
    return row


def _name(spec: Path) -> str:
    import yaml

    return yaml.safe_load(spec.read_text()).get("name", spec.stem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="spec names (file stems) to run")
    parser.add_argument("--set", action="append", default=[], help="override passed to every run")
    args = parser.parse_args()
    specs = sorted((REPO / "specs").glob("*.yaml"))
    if args.only:
        specs = [s for s in specs if s.stem in args.only]
    scratch = Path(tempfile.mkdtemp(prefix="genkit-specs-"))
    print(f"scratch folder: {scratch}; CPU cores: {os.cpu_count()}")
    header = f"{'spec':<26}{'exit':>5}{'wall s':>8}{'peak MB':>9}  {'parity':>8}  metrics"
    print(header)
    for spec in specs:
        row = run_spec(spec, scratch, args.set)
        metrics = "  ".join(f"{k}={row[k]:.4g}" for k in HEADLINE if k in row)
        parity = f"{row['parity']:.1e}" if "parity" in row else "-"
        print(f"{row['spec']:<26}{row['exit']:>5}{row['seconds']:>8.0f}{row['peak_rss_mb']:>9.0f}  {parity:>8}  {metrics}"
              + (f"  (log: {row['log']})" if "log" in row else ""), flush=True)


if __name__ == "__main__":
    main()
