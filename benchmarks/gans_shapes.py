"""The GANs of issue #14 against DCGAN and WGAN-GP on `shapes`, at equal training wall time.

Each spec trains in a fresh `genkit run` process under the same budget
(`train.max_minutes`, with train.epochs raised so the budget is what stops it), then genkit's
own evaluator scores 1,000 samples against held-out images in the feature space genkit trains
on `shapes` (the same cached extractor for every run). Printed per run: training seconds, the
images the models saw, FID with its floor (`fid_real_train`: real training images scored the
same way), KID, precision/recall, and FID as a ratio to DCGAN's.

    python benchmarks/gans_shapes.py --minutes 10
    python benchmarks/gans_shapes.py --minutes 2 --only dcgan_shapes progan_shapes

The runs are sequential, so on a shared machine their budgets can meet different loads:
the images column (about the real images drawn) shows how much work each budget bought.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SPECS = ("dcgan_shapes", "wgan_gp_shapes", "progan_shapes", "stylegan_shapes")
STEPS = 100
COLUMNS = ("fid", "fid_real_train", "kid", "precision", "recall")


def run(spec: Path, scratch: Path, minutes: float, samples: int, extra: list) -> dict:
    name = yaml.safe_load(spec.read_text())["name"]
    command = [
        sys.executable, "-m", "genkit.cli", "run", str(spec),
        "--set", f"runs_dir={scratch / 'runs'}",
        "--set", f"export.dir={scratch / 'exports' / name}",
        "--set", f"train.max_minutes={minutes}",
        "--set", "train.epochs=100000",  # the budget stops training, not the epoch count
        "--set", f"train.steps_per_epoch={STEPS}",  # short epochs: the history counts the work done
        "--set", "train.sample_every=10",
        "--set", f"evaluate.samples={samples}",
        "--set", "train.tensorboard=false",
    ]
    for item in extra:
        command += ["--set", item]
    log = scratch / f"{name}.log"
    start = time.time()
    with open(log, "w") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO).returncode
    row = {"spec": spec.stem, "exit": code, "wall": time.time() - start, "log": str(log)}
    runs = sorted((scratch / "runs" / name).glob("*/metrics.json"))
    if runs:
        folder = runs[-1].parent
        row.update({k: v for k, v in json.loads(runs[-1].read_text())["metrics"].items() if k in COLUMNS})
        record = json.loads((folder / "run.json").read_text())
        row["train_seconds"] = record.get("train_seconds")
        resolved = yaml.safe_load((folder / "spec.yaml").read_text()) if (folder / "spec.yaml").is_file() else {}
        batch = resolved.get("data", {}).get("batch_size", 0)
        with open(folder / "history.csv") as f:
            epochs = list(csv.DictReader(f))
        row["images"] = len(epochs) * STEPS * batch  # the last epoch may be cut short by the budget
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per run (train.max_minutes)")
    parser.add_argument("--samples", type=int, default=1000, help="samples each FID is measured on")
    parser.add_argument("--only", nargs="*", help="spec names among " + ", ".join(SPECS))
    parser.add_argument("--set", action="append", default=[], help="override passed to every run")
    args = parser.parse_args()
    names = args.only or SPECS
    scratch = Path(tempfile.mkdtemp(prefix="genkit-gans-shapes-"))
    print(f"scratch: {scratch}; CPU cores: {os.cpu_count()}; budget {args.minutes:g} min per run; N = {args.samples}")
    print(f"{'spec':<18}{'exit':>5}{'train s':>9}{'images':>9}  " + "".join(f"{c:>15}" for c in COLUMNS) + f"{'FID/DCGAN':>11}")
    baseline = None
    for name in names:
        row = run(REPO / "specs" / f"{name}.yaml", scratch, args.minutes, args.samples, args.set)
        if name == "dcgan_shapes" and "fid" in row:
            baseline = row["fid"]
        cells = "".join(f"{row[c]:>15.4g}" if c in row else f"{'-':>15}" for c in COLUMNS)
        ratio = f"{row['fid'] / baseline:>11.2f}" if baseline and "fid" in row else f"{'-':>11}"
        train = f"{row['train_seconds']:>9.0f}" if row.get("train_seconds") else f"{'-':>9}"
        print(f"{row['spec']:<18}{row['exit']:>5}{train}{row.get('images', 0):>9}  {cells}{ratio}", flush=True)
        if row["exit"] != 0:
            print(f"  failed: see {row['log']}", flush=True)


if __name__ == "__main__":
    main()
