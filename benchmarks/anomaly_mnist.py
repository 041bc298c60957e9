"""How well does an autoencoder trained without the digit 7 flag 7s as anomalies?

Trains `specs/anomaly_mnist.yaml` (MNIST without 7, `data.exclude_classes: [7]`) with
`genkit run` into a scratch folder, writes the whole MNIST test split (every digit, with
labels) to an .npz, and scores it through `genkit.runtime.anomaly.score_main` (onnxruntime
only, as `genkit score` does): normal = test digits other than 7, anomalous = 7. Prints the
ROC AUC, the operating point at 5% false positives and the mean score of each digit.

The threshold of that operating point is set on the test split's own normal digits. A
second operating point sets it on the run's validation digits instead (normal digits the
model did not train on, outside the test split) and reports the rates it gives on the test
split: what a deployment that calibrates on held-out normal data would see.

    python benchmarks/anomaly_mnist.py                      # train, then score (a few minutes)
    python benchmarks/anomaly_mnist.py --export DIR         # score an existing export
    python benchmarks/anomaly_mnist.py --set model.family=denoising_ae --metric bce
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from genkit.data import load_data
from genkit.runtime import Sampler
from genkit.runtime.anomaly import reconstruction_errors, score_main, threshold_at_fpr
from genkit.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
ANOMALY = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "specs" / "anomaly_mnist.yaml"))
    parser.add_argument("--work", help="scratch folder (default: a new temporary folder)")
    parser.add_argument("--export", help="score this export instead of training the spec")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="spec override")
    parser.add_argument("--metric", default="mse", choices=("mse", "bce"))
    parser.add_argument("--fpr", type=float, default=0.05)
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="genkit_anomaly_"))
    work.mkdir(parents=True, exist_ok=True)
    export = Path(args.export) if args.export else work / "export"
    if not args.export:
        start = time.time()
        command = [sys.executable, "-m", "genkit.cli", "run", args.spec, "--allow-outside-paths"]
        for override in (f"runs_dir={work / 'runs'}", f"export.dir={export}", *args.set):
            command += ["--set", override]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True, cwd=REPO)
        print(f"trained and exported in {time.time() - start:.0f} s\n")

    # The full test split with labels, in the export's range; the spec's data section (its
    # seed picks the same validation digits the run held out) for the second operating point.
    spec = load_spec(args.spec, args.set, allow_outside_paths=True).spec
    sampler = Sampler(export)
    test = load_data(spec.data.model_copy(update={"labels": True, "exclude_classes": []}), spec.seed)
    held_out = load_data(spec.data.model_copy(update={"labels": True}), spec.seed)
    print(test.describe())
    data_npz = work / "mnist_test.npz"
    np.savez(data_npz, x=test.x_test, y=test.y_test)

    out = work / "score"
    print(score_main(export, data_npz, out, fpr=args.fpr, anomaly_labels=[ANOMALY], metric=args.metric))
    report = json.loads((out / "report.json").read_text())

    print(f"\n{sampler.name} ({sampler.family}), metric {args.metric}, digit {ANOMALY} anomalous, "
          f"{report['counts']['normal']:,} normal / {report['counts']['anomalous']:,} anomalous test digits")
    print(f"ROC AUC                     {report['auc']:.4f}")
    print(f"threshold at {args.fpr:.0%} FPR       {report['threshold']:.6g}  (set on test digits other than {ANOMALY})")
    print(f"  achieved FPR              {report['fpr']:.4f}")
    print(f"  TPR (7s flagged)          {report['tpr']:.4f}")

    normal_val = reconstruction_errors(sampler, held_out.x_val, metric=args.metric)
    scores = np.loadtxt(out / "scores.csv", delimiter=",", skiprows=1, usecols=1)
    is_seven = test.y_test == ANOMALY
    threshold = threshold_at_fpr(normal_val, args.fpr)
    print(f"threshold set on {len(normal_val):,} validation digits (not {ANOMALY}, not trained on): {threshold:.6g}")
    print(f"  test FPR                  {np.mean(scores[~is_seven] > threshold):.4f}")
    print(f"  test TPR                  {np.mean(scores[is_seven] > threshold):.4f}")

    print("\ndigit  count  mean score  flagged")
    for digit, row in report["per_label"].items():
        mark = "  <- anomalous" if int(digit) == ANOMALY else ""
        print(f"{digit:>5}  {row['count']:>5}  {row['mean_score']:10.5f}  {row['flagged_share']:7.1%}{mark}")
    print(f"\nfiles: {out} (scores.csv, report.json, roc.png, histogram.png)")


if __name__ == "__main__":
    main()
