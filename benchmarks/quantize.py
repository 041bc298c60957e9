"""What does export.onnx.quantize buy and cost? Speed-up and FID change of each setting, per export.

    python benchmarks/quantize.py                                   # exports/smoke/*/ (speed) + trained exports (FID)
    python benchmarks/quantize.py --export exports/smoke/cvae/ --quality exports/cvae_mnist/ --modes dynamic_int8

For every export and setting, a copy of the export gets its quantised networks exactly as
`genkit export` writes them (`genkit.export.quantize.quantize_export`). Speed: the sampling
network (the decoder, generator, synthesis network or denoiser; a translator's "ab" generator)
on seeded inputs of its manifest's shapes at batch 1 and 256, float32 vs quantised sessions
opened as the runtime opens them, in interleaved rounds (`_ratio.interleave`); the speed-up
is the median (min-max) of the per-round ratios float32 time / quantised time. Quality (the
`--quality` exports, trained ones: smoke networks are untrained and their FID says nothing):
FID of `--samples` samples vs as many real test images in genkit's feature space, and class
accuracy for conditional models, float32 vs quantised on the same seeded latents, with the
change in percent; issue 18 keeps float32 the default unless int8 costs < 5% FID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _ratio import REPO, interleave, machine_facts, markdown_table, ratio_range

TRAINED = ("exports/cvae_mnist", "exports/infogan_mnist", "exports/stylegan_shapes", "exports/fused_ddpm_cond")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, nargs="*", help="exports timed only (default: exports/smoke/*/)")
    parser.add_argument(
        "--quality", type=Path, nargs="*", help=f"exports timed and scored (default: {', '.join(TRAINED)})"
    )
    parser.add_argument("--modes", nargs="+", default=["dynamic_int8", "static_int8", "float16"])
    parser.add_argument("--samples", type=int, default=500, help="samples per FID (both sides: the same latents)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.3, help="time budget per measurement")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    timed = (
        args.export if args.export is not None else sorted(p for p in (REPO / "exports/smoke").iterdir() if p.is_dir())
    )
    scored = args.quality if args.quality is not None else [REPO / p for p in TRAINED if (REPO / p).is_dir()]

    print(f"python benchmarks/quantize.py {' '.join(sys.argv[1:])}".strip())
    print(machine_facts(with_tensorflow=False))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for export in [*scored, *timed]:
            quality = export in scored
            for mode in args.modes:
                copy = Path(tmp) / f"{export.name}-{mode}"
                try:
                    rows.append(measure(export, copy, mode, quality, args))
                except Exception as exc:  # noqa: BLE001 (a benchmark row, not the run, fails: say why)
                    rows.append({"export": str(export), "mode": mode, "error": f"{type(exc).__name__}: {exc}"[:200]})
                print(json.dumps(rows[-1]), flush=True)
                shutil.rmtree(copy, ignore_errors=True)
    print(f"load average at end (1/5/15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows, args.batches))


def measure(export: Path, copy: Path, mode: str, quality: bool, args) -> dict:
    from genkit.export.quantize import quantize_export
    from genkit.manifest import load_manifest

    shutil.copytree(export, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    spec, data = _spec_and_data(manifest, quality) if quality or not manifest.get("sampling") else (None, None)
    spec = spec if quality else None  # data only: a translator calibrates on its training images
    samples = args.samples if quality else 16
    start = time.perf_counter()
    manifest = quantize_export(copy, manifest, mode, samples=samples, seed=0, spec=spec, data=data)
    row = {"export": export.relative_to(REPO).as_posix() if export.is_relative_to(REPO) else str(export)}
    row.update(family=manifest["family"], mode=mode, quantize_seconds=round(time.perf_counter() - start, 1))
    q = load_manifest(copy)["quantize"]
    row.update(sample_mean_abs_diff=q["sample_mean_abs_diff"], sample_max_abs_diff=q["sample_max_abs_diff"])
    for key in ("fid", "class_accuracy"):
        if q["float32"].get(key) is not None:
            row[f"{key}_float32"], row[f"{key}_quantized"] = q["float32"][key], q["quantized"][key]
    network = _timed_network(manifest)
    entry = manifest["networks"][network]
    row["network"] = network
    row["network_mean_abs_diff"] = entry.get("quantized_mean_abs_diff")  # on the calibration batches
    row["bytes"] = [(copy / entry["float32_file"]).stat().st_size, (copy / entry["file"]).stat().st_size]
    for batch in args.batches:
        row[f"speedup_b{batch}"], row[f"ms_b{batch}"] = _speed(copy, manifest, network, batch, args)
    return row


def _spec_and_data(manifest: dict, quality: bool):
    """The export's spec (to score: evaluate.metrics fid, and class_accuracy for conditional models) and its data."""
    from genkit.data import load_data
    from genkit.spec import validate_dict

    spec = dict(manifest["spec"])
    conditional = bool((manifest.get("sampling") or {}).get("label_input"))
    if quality:
        spec["evaluate"] = {
            **spec.get("evaluate", {}),
            "metrics": ["fid", "class_accuracy"] if conditional else ["fid"],
        }
    spec = validate_dict(spec)
    return spec, load_data(spec.data, spec.seed)


def _timed_network(manifest: dict) -> str:
    if manifest.get("sampling"):
        return manifest["sampling"]["network"]
    if manifest.get("translation"):
        return manifest["translation"]["ab"]["network"]
    return next(iter(manifest["networks"]))


def _speed(folder: Path, manifest: dict, network: str, batch: int, args) -> tuple[str, list]:
    import numpy as np

    from genkit.runtime.providers import make_session

    entry = manifest["networks"][network]
    sessions = {
        side: make_session(folder / entry[key], provider="cpu")[0]
        for side, key in (("float32", "float32_file"), ("quantized", "file"))
    }
    rng = np.random.default_rng(0)
    timesteps = (manifest.get("diffusion") or {}).get("timesteps", 1000)
    classes = manifest["data"].get("num_classes") or 2
    feeds = {}
    for io in entry["inputs"]:
        shape = [batch, *(d for d in io["shape"][1:])]
        if io["dtype"].startswith("int"):
            feeds[io["name"]] = rng.integers(0, classes, size=shape).astype(io["dtype"])
        elif io["name"] == (manifest.get("sampling") or {}).get("time_input"):
            feeds[io["name"]] = rng.integers(0, timesteps, size=shape).astype(io["dtype"])
        else:
            feeds[io["name"]] = rng.standard_normal(shape).astype(io["dtype"])

    def timer(session):
        def once():
            session.run(None, feeds)  # warm
            runs, start = 0, time.perf_counter()
            while runs < 2 or (time.perf_counter() - start < args.seconds and runs < 200):
                session.run(None, feeds)
                runs += 1
            return (time.perf_counter() - start) / runs

        return once

    times = interleave({side: timer(s) for side, s in sessions.items()}, args.rounds)
    ms = [round(statistics.median(times[side]) * 1e3, 3) for side in ("float32", "quantized")]
    return ratio_range(times["float32"], times["quantized"]), ms


def _diff(row: dict) -> str:
    """Mean |float32 - quantised| of the samples, or (an export that cannot sample) of the network's outputs."""
    if row["sample_mean_abs_diff"] is not None:
        return f"{row['sample_mean_abs_diff']:.2g}"
    return "" if row.get("network_mean_abs_diff") is None else f"{row['network_mean_abs_diff']:.2g} (network)"


def table(rows: list, batches: list) -> str:
    headers = [
        "export",
        "family",
        "setting",
        *(f"speed-up b{b}" for b in batches),
        "file size",
        "mean |Δx|",
        "FID f32 → q (Δ%)",
        "class acc f32 → q",
    ]
    out = []
    for r in rows:
        if "error" in r:
            out.append([r["export"], "", r["mode"], *([""] * len(batches)), "", "", f"failed: {r['error']}", ""])
            continue
        fid = ""
        if "fid_float32" in r:
            change = 100 * (r["fid_quantized"] - r["fid_float32"]) / r["fid_float32"]
            fid = f"{r['fid_float32']:.2f} → {r['fid_quantized']:.2f} ({change:+.1f}%)"
        acc = (
            f"{r['class_accuracy_float32']:.3f} → {r['class_accuracy_quantized']:.3f}"
            if "class_accuracy_float32" in r
            else ""
        )
        size = f"{r['bytes'][1] / r['bytes'][0]:.2f}x"
        out.append(
            [
                r["export"],
                r["family"],
                r["mode"],
                *(r[f"speedup_b{b}"] for b in batches),
                size,
                _diff(r),
                fid,
                acc,
            ]
        )
    return markdown_table(headers, out, "lll" + "r" * (len(headers) - 3))


if __name__ == "__main__":
    main()
