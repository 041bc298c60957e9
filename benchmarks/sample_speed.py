"""How fast do exports sample with onnxruntime, compared with Keras, and how fast do they start?

    python benchmarks/sample_speed.py                      # a CVAE-like decoder, random weights
    python benchmarks/sample_speed.py --export exports/cvae_mnist \\
        --keras runs/cvae_mnist/<time>/networks/decoder.keras
    python benchmarks/sample_speed.py --export exports/smoke/*/   # every decoder/generator export

Prints one table row per export and batch size (1 and 256): images/s of onnxruntime's
session vs the exported network's Keras model called eagerly, in `tf.function`, and in
`tf.function` with XLA (`jit_compile=True`), in interleaved rounds (the order alternates;
each measurement is the median of repeats filling `--seconds`), and onnxruntime over the
best TensorFlow path beside issue 18's targets (>= 5x at batch 1, >= 1x at batch 256). The
Keras model is `--keras`, else the `.keras` file of the export's run (manifest
`genkit_export.run`); exports without a latent-sampling network (diffusion, translation)
are skipped. Then the start-up of fresh processes: `genkit sample` of 16 images from the
first export to a PNG, the first time (an empty cache) and again, vs one that only imports
TensorFlow (wall time and peak RSS, median of 3; target <= 0.5 s for `genkit sample` again).

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
child = subprocess.Popen(json.loads(sys.argv[1]), env=os.environ, stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"seconds": time.perf_counter() - start, "maxrss_kb": usage.ru_maxrss, "status": status}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, nargs="+", help="export folders (default: export a random CVAE decoder)")
    parser.add_argument("--keras", type=Path, help="the Keras network of a single --export (default: from its run)")
    parser.add_argument("--seconds", type=float, default=0.3, help="time budget per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per batch size")
    args = parser.parse_args()

    print(f"load average at start (1/5/15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        rows, notes = [], []
        if args.export is None:
            model = build_cvae_decoder()
            export_dir = Path(tmp) / "cvae_bench"
            export_random_decoder(model, export_dir)
            exports = [(export_dir, model)]
        else:
            exports = [(folder, args.keras) for folder in args.export]
        for folder, keras_model in exports:
            try:
                rows += measure_throughput(folder, keras_model, args.seconds, args.rounds)
            except Skip as why:
                notes.append(f"{folder}: skipped ({why})")
        startup = measure_startup(exports[0][0])
    print_report(rows, notes, startup)


class Skip(Exception):
    """An export this benchmark does not time (no latent-sampling network, no Keras model)."""


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
    """Wall time and peak RSS of fresh processes: `genkit sample` of 16 images to a PNG (its
    first run in an empty cache validates the manifest with pydantic; the later ones read the
    validated copy, see `genkit.manifest.load`) and `import tensorflow`, medians of 3."""
    with tempfile.TemporaryDirectory() as tmp:
        genkit_cli = Path(sys.executable).with_name("genkit")  # the console script pip installs
        command = [str(genkit_cli)] if genkit_cli.is_file() else [sys.executable, "-m", "genkit.cli"]
        sample = [*command, "sample", str(export_dir), "--n", "16", "--out", str(Path(tmp) / "cold.png")]
        env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "GENKIT_CACHE": tmp}
        first = _time_processes(sample, env, 1)
        return {
            "genkit sample --n 16, first (validates the manifest)": first,
            "genkit sample --n 16, again": _time_processes(sample, env, 3),
            "import tensorflow": _time_processes([sys.executable, "-c", "import tensorflow"], env, 3),
        }


def _time_processes(argv: list[str], env: dict, repeats: int) -> dict:
    """Median wall seconds and peak RSS (MB) of `repeats` processes running `argv` (see LAUNCHER)."""
    runs = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", LAUNCHER, json.dumps(argv)], env=env, capture_output=True, text=True, check=True)
        run = json.loads(done.stdout.strip().splitlines()[-1])
        if run["status"] != 0:
            raise SystemExit(f"{' '.join(argv)} failed in the subprocess")
        runs.append(run)
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "rss_mb": statistics.median(r["maxrss_kb"] for r in runs) / 1024,
    }


def keras_network(export_dir: Path, manifest: dict, given):
    """The Keras model of the export's sampling network: `given` (a model or a .keras path) or its run's file."""
    import keras

    import genkit.nets  # noqa: F401  (registers genkit's blocks so the .keras file loads)

    if given is not None and not isinstance(given, (str, Path)):
        return given
    run = (manifest.get("genkit_export") or {}).get("run")
    path = (
        Path(given)
        if given
        else (REPO / run / "networks" / f"{manifest['sampling']['network']}.keras" if run else None)
    )
    if path is None or not path.is_file():
        raise Skip(f"no Keras model: {path or 'the manifest names no run'}; pass --keras")
    return keras.saving.load_model(path)


def measure_throughput(export_dir: Path, given, budget: float, rounds: int) -> list:
    """Rows {export, batch, rates {path: images/s}, ratio, ratio_median, diff} at batch 1 and 256."""
    import keras
    import numpy as np
    import tensorflow as tf

    from genkit.manifest import load_manifest
    from genkit.runtime import make_session

    manifest = load_manifest(export_dir)
    spec = manifest.get("sampling") or {}
    if not spec.get("latent_input"):
        raise Skip(f"{manifest['family']}: no latent-sampling network")
    model = keras_network(export_dir, manifest, given)
    entry = manifest["networks"][spec["network"]]
    session, provider = make_session(export_dir / entry["file"], provider="cpu")
    names = [t.name for t in model.inputs]
    if sorted(names) != sorted(i["name"] for i in entry["inputs"]):
        raise Skip(f"Keras inputs {names} are not the export's")
    fn = {
        jit: tf.function(lambda *a: model(list(a) if len(a) > 1 else a[0], training=False), jit_compile=jit)
        for jit in (False, True)
    }
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 256):
        feeds = {}
        for i in entry["inputs"]:
            shape = (batch, *i["shape"][1:])
            if i["dtype"].startswith("int"):
                feeds[i["name"]] = (np.arange(batch) % manifest["data"].get("num_classes", 1)).astype(i["dtype"])
            else:
                feeds[i["name"]] = rng.standard_normal(shape).astype(i["dtype"])
        args = [feeds[n] for n in names]
        out = spec["output"]
        candidates = {
            "onnxruntime": lambda f=feeds, o=out: session.run([o], f)[0],
            "Keras call": lambda a=args: np.asarray(
                keras.tree.flatten(model(a if len(a) > 1 else a[0], training=False))[0]
            ),
            "tf.function": lambda a=args: np.asarray(keras.tree.flatten(fn[False](*a))[0]),
            "tf.function + XLA": lambda a=args: np.asarray(keras.tree.flatten(fn[True](*a))[0]),
        }
        want = candidates["tf.function"]()
        got = candidates["onnxruntime"]()
        diff = float(np.max(np.abs(want - got))) if want.shape == got.shape else float("inf")
        times = {name: [] for name in candidates}
        for r in range(rounds):
            for name in list(candidates) if r % 2 == 0 else list(candidates)[::-1]:
                times[name].append(timed(candidates[name], budget))
        rates = {name: batch / min(t) for name, t in times.items()}
        best = max(("tf.function", "tf.function + XLA"), key=rates.get)
        per_round = [b / a for a, b in zip(times["onnxruntime"], times[best])]
        rows.append(
            {
                "export": export_dir.name or str(export_dir),
                "batch": batch,
                "rates": rates,
                "best": best,
                "ratio": rates["onnxruntime"] / rates[best],
                "ratio_median": statistics.median(per_round),
                "diff": diff,
                "provider": provider,
            }
        )
    return rows


def timed(fn, budget: float) -> float:
    """Seconds per call: warm up (traces and XLA compiles on the first call), then the median of
    repeats filling `budget` seconds (at least 5)."""
    for _ in range(3):
        fn()
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 1000):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


TARGETS = {1: 5.0, 256: 1.0}  # batch -> onnxruntime / best TensorFlow, issue 18


def print_report(rows, notes, startup) -> None:
    import keras
    import onnxruntime
    import tensorflow as tf

    print(
        f"onnxruntime {onnxruntime.__version__} on CPU; TF {tf.__version__}, Keras {keras.__version__}; "
        f"{os.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.2f}"
    )
    print()
    print(
        "| export | batch | ORT img/s | Keras call img/s | tf.function img/s | tf.function + XLA img/s "
        "| ORT / best TF (median per round) | target | max abs diff |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        rate = r["rates"]
        ok = "yes" if r["ratio"] >= TARGETS[r["batch"]] else "NO"
        print(
            f"| {r['export']} | {r['batch']} | {rate['onnxruntime']:,.0f} | {rate['Keras call']:,.0f} "
            f"| {rate['tf.function']:,.0f} | {rate['tf.function + XLA']:,.0f} "
            f"| {r['ratio']:.2f}x ({r['ratio_median']:.2f}x) | {TARGETS[r['batch']]:.0f}x {ok} | {r['diff']:.1e} |"
        )
    for note in notes:
        print(f"- {note}")
    print()
    print("| fresh process (median of 3) | wall s | peak RSS MB |")
    print("| --- | ---: | ---: |")
    for label, r in startup.items():
        print(f"| {label} | {r['seconds']:.2f} | {r['rss_mb']:.0f} |")
    _, ort_run, tf_run = startup.values()
    print(
        f"| ratio import tensorflow / genkit sample | {tf_run['seconds'] / ort_run['seconds']:.1f}x "
        f"| {tf_run['rss_mb'] / ort_run['rss_mb']:.1f}x |"
    )
    print(f"genkit sample cold start target <= 0.5 s: {'met' if ort_run['seconds'] <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
