"""One trained diffusion export scored at several sampler settings, by benchmarks/quality.py's protocol.

    python benchmarks/sampler_sweep.py exports/ddpm_cond_mnist ddim:50:g1.5 dpmpp_2m_sde:15:g1.5
    python benchmarks/sampler_sweep.py exports/ddpm_cond_mnist --n 2000 ddim:50:g2 ddim:50:g2:i0-600

A setting is `sampler:steps`, then optional `:gW` (guidance scale), `:iLOW-HIGH` (guidance
interval) and `:eETA` (DDIM's eta); what it leaves out is the export's default. Each row is
`quality.score` of the export through onnxruntime (what `genkit sample` draws): N samples for
the test split's labels against all its images (offline: 1,000), FID/KID/precision/recall in
genkit's MNIST feature space, mode coverage and class accuracy, and the seconds sampling took.
quality.py trains a spec and scores it at its default sampler; this prints the numbers a
spec's `sample:` defaults are chosen from, without training again.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import fid_floor, score  # noqa: E402  (the same protocol, one function)

from genkit.data import load_data  # noqa: E402
from genkit.evaluate.export_eval import ExportedModel  # noqa: E402
from genkit.evaluate.sample_quality import labelled_data  # noqa: E402
from genkit.runtime import Sampler  # noqa: E402
from genkit.spec import validate_dict  # noqa: E402


def parse_setting(text: str) -> dict:
    """`dpmpp_2m_sde:15:g1.5:i0-600:e1` -> the sampler options it names."""
    parts = text.split(":")
    if len(parts) < 2 or not parts[1].isdigit():
        raise SystemExit(f"setting {text!r}: expected sampler:steps[:gW][:iLOW-HIGH][:eETA], e.g. ddim:50:g1.5")
    options = {"sampler": parts[0], "steps": int(parts[1])}
    for part in parts[2:]:
        key, value = part[:1], part[1:]
        if key == "g":
            options["guidance_scale"] = float(value)
        elif key == "i":
            low, high = value.split("-")
            options["guidance_interval"] = (int(low), int(high))
        elif key == "e":
            options["eta"] = float(value)
        else:
            raise SystemExit(f"setting {text!r}: unknown part {part!r} (g: guidance, i: interval, e: eta)")
    return options


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a diffusion export folder")
    parser.add_argument("settings", nargs="+", help="sampler:steps[:gW][:iLOW-HIGH][:eETA]")
    parser.add_argument("--n", type=int, default=2000, help="samples per setting (default 2,000)")
    args = parser.parse_args(argv)
    settings = [(text, parse_setting(text)) for text in args.settings]  # all checked before any sampling
    sampler = Sampler(args.export)
    spec = validate_dict(sampler.manifest["spec"])
    data = labelled_data(spec, load_data(spec.data, spec.seed))
    print(f"{args.export}: N = {args.n:,} vs {len(data.x_test):,} test images; FID floor {fid_floor(data, spec, args.n):.1f}")
    print("| setting | FID | KID | precision | recall | modes | class acc | sample s | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for text, options in settings:
        start = time.monotonic()
        s = score(ExportedModel(sampler, **options), data, spec, args.n, spec.seed)
        accuracy = s.get("class_accuracy")
        print(
            f"| {text} | {s['fid']:.1f} | {s['kid']:.4f} | {s['precision']:.3f} | {s['recall']:.3f} | "
            f"{s['mode_coverage']:.2f} | {'-' if accuracy is None else f'{accuracy:.3f}'} | "
            f"{time.monotonic() - start:.0f} | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )
        rows.append({"setting": text, **options, **s})
    return rows


if __name__ == "__main__":
    main()
