"""How fast do exports sample with onnxruntime, compared with Keras, and how fast do they start?

    python benchmarks/sample_speed.py                      # a CVAE-like decoder, random weights
    python benchmarks/sample_speed.py --export exports/cvae_mnist \\
        --keras runs/cvae_mnist/<time>/networks/decoder.keras

Prints one table: images/s of onnxruntime vs Keras `model.predict` and vs a direct
`model(x, training=False)` call at batch 1 and 256 (warm-up, then the median of timed
repeats), and the start-up of a fresh process that samples 16 images with `genkit.runtime`
vs one that only imports TensorFlow (wall time and peak RSS, median of 3).

Peak RSS is read with `os.wait4` from a tiny launcher process: Linux carries a process's
RSS high-water mark across fork/exec, so a child spawned straight from this (TensorFlow-
sized) process would report this process's peak, not its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LATENT, CLASSES = 16, 10
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], env=os.environ)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"seconds": time.perf_counter() - start, "maxrss_kb": usage.ru_maxrss, "status": status}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help="a real export folder (default: export a random CVAE decoder)")
    parser.add_argument("--keras", type=Path, help="the Keras decoder of --export (.keras), for the Keras columns")
    parser.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        export_dir = args.export or Path(tmp) / "cvae_bench"
        model = None
        if args.export is None:
            model = build_cvae_decoder()
            export_random_decoder(model, export_dir)
        elif args.keras:
            import keras

            import genkit.nets  # noqa: F401  (registers genkit's blocks so the .keras file loads)

            model = keras.saving.load_model(args.keras)
        startup = measure_startup(export_dir)
        rows, provider, parity = measure_throughput(export_dir, model, args.seconds)
    print_report(rows, startup, provider, parity, export_dir if args.export else None)


def build_cvae_decoder():
    """The decoder of specs/cvae_mnist.yaml with its label input, random weights."""
    import keras

    z = keras.Input((LATENT,), name="z")
    y = keras.Input((), dtype="int32", name="y")
    onehot = keras.layers.Lambda(lambda t: keras.ops.one_hot(t, CLASSES), output_shape=(CLASSES,))(y)
    h = keras.layers.Concatenate()([z, onehot])
    h = keras.layers.Dense(49, activation="relu")(h)
    h = keras.layers.Reshape((7, 7, 1))(h)  # (B, 7, 7, 1)
    h = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Conv2DTranspose(32, 3, padding="same", activation="relu")(h)
    x = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="x")(h)  # (B, 28, 28, 1)
    return keras.Model([z, y], x, name="decoder")


def export_random_decoder(model, export_dir: Path) -> None:
    from genkit.export import export_networks

    manifest = {
        "format": 1,
        "name": "cvae_bench",
        "family": "cvae",
        "data": {"shape": [28, 28, 1], "range": [0.0, 1.0], "num_classes": CLASSES},
        "latent_dim": LATENT,
        "prior": {"kind": "standard_normal"},
        "sampling": {"network": "decoder", "latent_input": "z", "label_input": "y", "output": "x"},
        "encoding": None,
    }
    export_networks({"decoder": model}, export_dir, manifest, input_ranges={"decoder": {"y": (0, CLASSES)}})


def measure_startup(export_dir: Path) -> dict:
    sample = (
        "from genkit.runtime import Sampler; "
        f"x, _ = Sampler({str(export_dir)!r}).sample(16, seed=0); assert x.shape[0] == 16"
    )
    cases = {"genkit.runtime: import + 16 samples": sample, "import tensorflow": "import tensorflow"}
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    results = {}
    for label, code in cases.items():
        runs = []
        for _ in range(3):
            done = subprocess.run(
                [sys.executable, "-c", LAUNCHER, code], env=env, capture_output=True, text=True, check=True
            )
            run = json.loads(done.stdout.strip().splitlines()[-1])
            if run["status"] != 0:
                raise SystemExit(f"{label} failed in the subprocess")
            runs.append(run)
        results[label] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "rss_mb": statistics.median(r["maxrss_kb"] for r in runs) / 1024,
        }
    return results


def measure_throughput(export_dir: Path, model, budget: float):
    import numpy as np

    from genkit.runtime import make_session
    from genkit.manifest import load_manifest

    manifest = load_manifest(export_dir)
    spec = manifest["sampling"]
    entry = manifest["networks"][spec["network"]]
    session, provider = make_session(export_dir / entry["file"])
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 256):
        z = rng.standard_normal((batch, manifest["latent_dim"])).astype(np.float32)
        feeds = {spec["latent_input"]: z}
        keras_inputs = [z]
        if spec.get("label_input"):
            y = (np.arange(batch) % manifest["data"]["num_classes"]).astype(np.int32)
            feeds[spec["label_input"]] = y
            keras_inputs.append(y)
        row = {"batch": batch, "ort": timed(lambda f=feeds: session.run([spec["output"]], f), batch, budget)}
        if model is not None:
            row["predict"] = timed(
                lambda k=keras_inputs, b=batch: model.predict(k, batch_size=b, verbose=0), batch, budget
            )
            row["call"] = timed(lambda k=keras_inputs: model(k, training=False), batch, budget)
        rows.append(row)
    return rows, provider, entry["parity_max_abs_diff"]


def timed(fn, batch: int, budget: float) -> float:
    """Images per second: warm up, then the median of repeats filling `budget` seconds."""
    for _ in range(3):
        fn()
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 1000):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def print_report(rows, startup, provider, parity, export_dir) -> None:
    import keras
    import onnxruntime
    import tensorflow as tf

    source = f"export {export_dir}" if export_dir else "CVAE decoder (z 16 + label -> 28x28x1), random weights"
    print(
        f"{source}; onnxruntime {onnxruntime.__version__} on {provider}; TF {tf.__version__}, "
        f"Keras {keras.__version__}; {os.cpu_count()} CPUs; parity {parity:.1e}"
    )
    print()
    print("| batch | ORT img/s | Keras predict img/s | Keras call img/s | ORT/predict | ORT/call |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "predict" in r:
            print(
                f"| {r['batch']} | {r['ort']:,.0f} | {r['predict']:,.0f} | {r['call']:,.0f} "
                f"| {r['ort'] / r['predict']:.1f}x | {r['ort'] / r['call']:.1f}x |"
            )
        else:
            print(f"| {r['batch']} | {r['ort']:,.0f} | n/a | n/a | n/a | n/a |")
    print()
    print("| fresh process (median of 3) | wall s | peak RSS MB |")
    print("| --- | ---: | ---: |")
    for label, r in startup.items():
        print(f"| {label} | {r['seconds']:.2f} | {r['rss_mb']:.0f} |")
    ort_run, tf_run = startup.values()
    print(
        f"| ratio import tensorflow / genkit.runtime | {tf_run['seconds'] / ort_run['seconds']:.1f}x "
        f"| {tf_run['rss_mb'] / ort_run['rss_mb']:.1f}x |"
    )


if __name__ == "__main__":
    main()
