"""Latent vs pixel diffusion on the same data: training time, FID, class accuracy, sampling speed.

    python benchmarks/latent_vs_pixel.py --minutes 45                 # pixel 45 min, latent 15 min
    python benchmarks/latent_vs_pixel.py --minutes 1 --latent-minutes 1 --n 200 \\
        --set-latent first_stage.epochs=1 --set-latent train.steps_per_epoch=30   # a quick check

Trains the pixel DDPM spec (default specs/ddpm_cond_mnist.yaml) for `--minutes` and the latent
spec (default specs/ldm_mnist.yaml) for `--latent-minutes` (default a third of it: issue 15's
claim is that the latent model reaches the pixel model's FID in at most a third of its training
wall time), each capped with `train.max_minutes` and otherwise as its spec says. Both are
exported and scored through their ONNX exports with genkit's evaluator (`evaluate_export`, FID
and class accuracy of conditional samples on the same N test images and seeds, at `--steps`
DDIM steps), and timed sampling `--speed-n` images with onnxruntime at the same step count.

Prints one table side by side and writes it as JSON to WORK/latent_vs_pixel.json. Training
time is the run's recorded training seconds (`train_seconds`: fitting only, no start-up,
evaluation or export). Runs and exports go under `--work` (default runs/latent_vs_pixel, which git ignores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROWS = (
    ("train_seconds", "training wall time (s)", "{:.0f}"),
    ("fid", "FID (genkit evaluator)", "{:.2f}"),
    ("class_accuracy", "class accuracy of samples", "{:.3f}"),
    ("seconds_per_image", "sampling s / image (onnxruntime)", "{:.4f}"),
)


def genkit(*args: str) -> None:
    """One genkit command in a fresh process (each training gets its own TensorFlow state)."""
    subprocess.run([sys.executable, "-m", "genkit.cli", *args], check=True, cwd=REPO)


def train_and_export(spec: Path, name: str, minutes: float, n: int, work: Path, overrides: list[str]) -> Path:
    """Train `spec` as `name` for at most `minutes`, export it; returns the export folder."""
    sets = [
        f"name={name}",
        f"runs_dir={work / 'runs'}",
        f"train.max_minutes={minutes}",
        "train.sample_every=0",
        f"evaluate.samples={n}",
        "evaluate.metrics=[fid,class_accuracy]",
        *overrides,
    ]
    genkit("train", str(spec), *[arg for s in sets for arg in ("--set", s)])
    run_dir = max((work / "runs" / name).iterdir())  # the newest run of this name
    export = work / "exports" / name
    genkit("export", str(run_dir), "--out", str(export), "--force")
    return export


def measure(export: Path, steps: int, speed_n: int) -> dict:
    """Train seconds, FID and class accuracy (onnxruntime samples), and seconds per sampled image."""
    from genkit.evaluate.export_eval import evaluate_export
    from genkit.runtime import Sampler
    from genkit.train.run_folder import recorded_train_seconds

    manifest = json.loads((export / "manifest.json").read_text())
    report = evaluate_export(export, steps=steps)
    sampler = Sampler(export)
    sampler.sample(2, seed=1, steps=steps)  # warm-up: sessions and memory arenas
    start = time.perf_counter()
    sampler.sample(speed_n, seed=0, steps=steps)
    seconds = time.perf_counter() - start
    return {
        "train_seconds": recorded_train_seconds(Path(manifest["genkit_export"]["run"])),
        "fid": report["metrics"].get("fid"),
        "class_accuracy": report["metrics"].get("class_accuracy"),
        "seconds_per_image": seconds / speed_n,
        "data": report["protocol"].get("data"),
        "examples": report["protocol"].get("examples"),
    }


def table(results: dict, steps: int) -> str:
    pixel, latent = results["pixel"], results["latent"]
    lines = [
        f"{'':34} {'pixel DDPM':>12} {'latent':>12} {'latent/pixel':>13}",
        f"{'':34} {pixel['spec']:>12} {latent['spec']:>12}",
    ]
    for key, label, form in ROWS:
        a, b = pixel.get(key), latent.get(key)
        ratio = f"{b / a:.3f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a else "-"
        cells = [form.format(v) if isinstance(v, (int, float)) else "-" for v in (a, b)]
        lines.append(f"{label:34} {cells[0]:>12} {cells[1]:>12} {ratio:>13}")
    lines.append(f"(FID and class accuracy on {pixel['examples']} test images of {pixel['data']}; {steps} DDIM steps)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=45.0, help="training budget of the pixel model")
    parser.add_argument(
        "--latent-minutes", type=float, help="training budget of the latent model (default: minutes / 3)"
    )
    parser.add_argument("--n", type=int, default=1000, help="samples (and test images) for FID and class accuracy")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps for evaluation and timing, both models")
    parser.add_argument("--speed-n", type=int, default=100, help="images sampled for the timing")
    parser.add_argument("--pixel", type=Path, default=REPO / "specs" / "ddpm_cond_mnist.yaml")
    parser.add_argument("--latent", type=Path, default=REPO / "specs" / "ldm_mnist.yaml")
    parser.add_argument(
        "--set-pixel", action="append", default=[], metavar="KEY=VALUE", help="a --set for the pixel run"
    )
    parser.add_argument(
        "--set-latent", action="append", default=[], metavar="KEY=VALUE", help="a --set for the latent run"
    )
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "latent_vs_pixel")
    args = parser.parse_args()
    latent_minutes = args.latent_minutes if args.latent_minutes is not None else args.minutes / 3
    work = args.work.resolve()
    results = {}
    for key, spec, minutes, overrides in (
        ("pixel", args.pixel, args.minutes, args.set_pixel),
        ("latent", args.latent, latent_minutes, args.set_latent),
    ):
        export = train_and_export(spec.resolve(), f"bench_{key}", minutes, args.n, work, overrides)
        results[key] = {"spec": spec.stem, "budget_minutes": minutes, **measure(export, args.steps, args.speed_n)}
    if results["pixel"]["data"] != results["latent"]["data"]:
        print(f"warning: the two runs read different data: {results['pixel']['data']} vs {results['latent']['data']}")
    (work / "latent_vs_pixel.json").write_text(json.dumps(results, indent=2))
    print(table(results, args.steps))


if __name__ == "__main__":
    main()
