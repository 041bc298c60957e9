"""How fast do diffusion exports sample, per sampler, and what does each sampler cost in quality?

    python benchmarks/diffusion.py                                   # exports/ddpm_mnist
    python benchmarks/diffusion.py --export exports/ddpm_cond_mnist --quality 500
    python benchmarks/diffusion.py --export exports/ddpm_cond_mnist --quality 500 --quality-only
    python benchmarks/diffusion.py --export exports/smoke/ddpm_cond --ratio-only

Prints, in one run:
1. images/s of ancestral (every timestep: 1000), DDIM-50 and DDIM-20 through onnxruntime
   (`genkit.runtime.Sampler`);
   with `--quality N`, a table of sample quality vs steps for every sampler (DDIM, and the
   few-step solvers DPM-Solver++(2M), its SDE form, Euler, Heun of `genkit.solvers`): FID of N samples against N
   test images in the domain feature space (`genkit.evaluate.features`), class accuracy for a
   conditional export, network calls (NFE: Heun calls twice a step) and seconds per image,
   beside issue 18's target (a solver within 10% of DDIM-50's FID in <= 15 steps);
   `--quality-only` prints only this table;
2. the onnxruntime vs TensorFlow ratio of the same DDIM-50 loop (`genkit.schedules.sample_loop`
   around the run's `networks/denoiser_ema.keras` in `tf.function`, without and with XLA; the
   faster is "best TF") at batch 1 and 32, fastest of interleaved rounds, beside issue 18's
   targets (`--ratio-only` prints only this);
3. one step as the exported denoiser + the NumPy update vs one ONNX graph holding the
   denoiser and the update ("fused"), ms per step: which `genkit.runtime.diffusion` keeps.

Timings on a shared 2-core CPU vary by ±20% from run to run; compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLERS = [("ancestral", None), ("ddim", 50), ("ddim", 20)]  # None: every timestep (1000 as shipped)
COEFFICIENTS = ("x0_from_xt", "x0_from_output", "coef_x0", "coef_xt", "sigma")
ROUNDS = 3
RATIO_BATCHES = {1: 3.0, 32: 1.5}  # batch -> the onnxruntime / best TensorFlow ratio issue 18 asks for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=REPO / "exports" / "ddpm_mnist")
    parser.add_argument(
        "--keras", type=Path, help="the run's denoiser .keras (default: newest run of the export's name)"
    )
    parser.add_argument("--n", type=int, default=32, help="images per timed sampling run")
    parser.add_argument("--quality", type=int, default=0, help="samples per sampler for FID / class accuracy (0: skip)")
    parser.add_argument("--ratio-only", action="store_true", help="only the onnxruntime vs TensorFlow DDIM-50 ratios")
    parser.add_argument("--quality-only", action="store_true", help="only the --quality table of samplers vs steps")
    args = parser.parse_args()

    from genkit.runtime import Sampler

    sampler = Sampler(args.export, provider="cpu")
    labels = np.arange(args.n, dtype=np.int32) % sampler.num_classes if sampler.conditional else None
    print(
        f"{sampler.name}: {'conditional ' if sampler.conditional else ''}DDPM export, {args.n} images per run, onnxruntime on CPU\n"
    )

    print(
        f"load average at start (1/5/15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} CPUs\n"
    )
    if args.ratio_only:
        keras_path = args.keras or newest_keras(sampler.name)
        print(onnxruntime_vs_tensorflow(keras_path, sampler, RATIO_BATCHES))
        return
    if args.quality:
        print(quality_table(Quality(sampler, args.quality)) + "\n", flush=True)
        if args.quality_only:
            return
    print("| sampler | steps | images/s (onnxruntime) | s per image |")
    print("|---|---|---|---|")
    speeds = {}
    for name, steps in SAMPLERS:
        steps = steps or sampler._diffusion.timesteps
        seconds = timed(partial(sampler.sample, args.n, labels=labels, seed=0, sampler=name, steps=steps))
        speeds[(name, steps)] = args.n / seconds
        print(f"| {name} | {steps} | {args.n / seconds:.2f} | {seconds / args.n:.3f} |", flush=True)

    keras_path = args.keras or newest_keras(sampler.name)
    if keras_path is not None:
        print("\n" + onnxruntime_vs_tensorflow(keras_path, sampler, RATIO_BATCHES))
    else:
        print("\n(no run folder with networks/denoiser*.keras found: TensorFlow comparison skipped; pass --keras)")

    print("\n" + fused_vs_numpy(args.export, sampler, args.n))


def timed(fn, repeats: int = 1) -> float:
    """Seconds of the fastest of `repeats` calls (after a warm-up call for short runs)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def newest_keras(name: str):
    runs = sorted((REPO / "runs" / name).glob("*/networks"))
    for folder in reversed(runs):
        for candidate in ("denoiser_ema.keras", "denoiser.keras"):
            if (folder / candidate).is_file():
                return folder / candidate
    return None


class Quality:
    """FID (and class accuracy) of N samples per sampler, in genkit's domain feature space."""

    def __init__(self, sampler, n: int):
        from genkit.data import load_data
        from genkit.evaluate.features import get_extractor
        from genkit.spec import load_spec

        spec = load_spec(REPO / "specs" / f"{sampler.name}.yaml").spec
        data = load_data(spec.data.model_copy(update={"labels": True}), spec.seed)
        self.sampler, self.n = sampler, min(n, len(data.x_test))
        self.extractor = get_extractor(data)
        self.x_ref, self.y_ref = data.x_test[: self.n], data.y_test[: self.n]
        self.f_ref = self.extractor.features(self.x_ref)

    def score(self, name: str, steps: int, **options):
        """(FID, class accuracy or None) of N samples; one seed, so every sampler starts from the same x_T."""
        from genkit.evaluate.distribution import frechet_distance

        labels = self.y_ref.astype(np.int32) if self.sampler.conditional else None
        x, _ = self.sampler.sample(self.n, labels=labels, seed=1, sampler=name, steps=steps, **options)
        fid = frechet_distance(self.f_ref, self.extractor.features(x))
        accuracy = float(np.mean(self.extractor.predict(x) == labels)) if labels is not None else None
        return fid, accuracy


# ------------------------------------------------------------------ quality vs steps, per sampler
# (sampler, steps, eta): eta None is the export's default; DDIM-50 at the export's eta is the reference.
# Ordered by what the few-step verdict needs first: each row takes minutes at N = 500 on a CPU.
QUALITY_GRID = [
    ("ddim", 50, None),
    ("dpmpp_2m_sde", 15, None),
    ("dpmpp_2m", 15, None),
    ("heun", 8, None),
    ("euler", 15, None),
    ("ddim", 15, None),
    ("dpmpp_2m", 10, None),
    ("ddim", 10, None),
    ("dpmpp_2m", 20, None),
    ("dpmpp_2m_sde", 10, None),
    ("dpmpp_2m_sde", 20, None),
    ("ddim", 20, None),
    ("ddim", 50, 0.0),
    ("euler", 10, None),
    ("heun", 5, None),
]
FEW_STEPS, FID_MARGIN = 15, 0.10  # issue 18: a solver within 10% of DDIM-50's FID in <= 15 steps


def quality_table(quality: Quality) -> str:
    """FID, class accuracy, NFE and time of QUALITY_GRID's samplers, and the few-step verdict."""
    from genkit.solvers import network_calls

    defaults = quality.sampler._diffusion.defaults
    guided = quality.sampler.conditional and defaults["guidance_scale"] != 1.0
    interval = defaults.get("guidance_interval") if guided else None
    scale = defaults["guidance_scale"] if quality.sampler.conditional else "-"
    if interval:
        scale = f"{scale} at timesteps {interval[0]}-{interval[1]}"
    lines = [
        (
            f"Sample quality vs steps: {quality.n} samples per row (labels of the first {quality.n} test images, "
            f"seed 1, guidance {scale}) vs those test images; {quality.extractor.describe()}"
        ),
        "",
        "| sampler | steps | NFE | FID | class accuracy | s per image |",
        "|---|---|---|---|---|---|",
    ]
    scores = {}
    for name, steps, eta in QUALITY_GRID:
        options = {} if eta is None else {"eta": eta}
        start = time.perf_counter()
        fid, accuracy = scores[(name, steps, eta)] = quality.score(name, steps, **options)
        seconds = (time.perf_counter() - start) / quality.n
        label = f"ddim, eta {defaults['eta'] if eta is None else eta:g}" if name == "ddim" else name
        calls = network_calls(name, steps) * (2 if guided else 1)  # guidance: [x, x] in one batch, counted twice
        guided_note = "" if not guided else f" (at most {calls} guided)" if interval else f" ({calls} guided)"
        lines.append(
            f"| {label} | {steps} | {network_calls(name, steps)}{guided_note} | {fid:.2f} | "
            f"{'-' if accuracy is None else f'{accuracy:.3f}'} | {seconds:.3f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)  # progress: each row takes minutes
    few = {
        key: value for key, value in scores.items() if key[0] != "ddim" and network_calls(key[0], key[1]) <= FEW_STEPS
    }
    best = min(few, key=lambda key: few[key][0])
    lines.append(f"\nBest solver in <= {FEW_STEPS} network calls: {best[0]} {best[1]} steps, FID {few[best][0]:.2f}")
    # Two references: the export's own DDIM-50 (stochastic when its eta > 0), and deterministic DDIM-50,
    # a discretisation of the same probability-flow ODE the solvers integrate.
    for eta in (None, 0.0):
        reference = scores[("ddim", 50, eta)][0]
        verdict = "met" if few[best][0] <= (1 + FID_MARGIN) * reference else "not met"
        lines.append(
            f"- vs DDIM-50 at eta {defaults['eta'] if eta is None else eta:g} (FID {reference:.2f}): "
            f"{few[best][0] / reference:.2f}x (target <= {1 + FID_MARGIN:.2f}x): {verdict}"
        )
    return "\n".join(lines)


def onnxruntime_vs_tensorflow(keras_path: Path, sampler, batches: dict) -> str:
    """The same DDIM-50 loop (η = 0) through onnxruntime and through the run's Keras denoiser,
    in `tf.function` without and with XLA (`jit_compile=True`); interleaved rounds, fastest of each.

    A single timing of each, minutes apart, would measure the machine's load more than the
    runtimes; the ratio compares onnxruntime with the faster TensorFlow path.
    """
    import keras

    import genkit.nets  # noqa: F401  (registers genkit's blocks so the .keras file loads)

    net = keras.saving.load_model(keras_path)
    rows = []
    for n, target in batches.items():
        labels = np.arange(n, dtype=np.int32) % sampler.num_classes if sampler.conditional else None
        loops = {
            "onnxruntime": partial(sampler.sample, n, labels=labels, seed=0, sampler="ddim", steps=50, eta=0.0),
            "tf.function": keras_loop(net, sampler, n, labels, jit=False),
            "tf.function + XLA": keras_loop(net, sampler, n, labels, jit=True),
        }
        loops["onnxruntime"]()  # warm-up, as the Keras loops had their tracing run
        rounds = ROUNDS if n > 1 else 3 * ROUNDS
        times = {name: [] for name in loops}
        for r in range(rounds):
            for name in list(loops) if r % 2 == 0 else list(loops)[::-1]:
                times[name].append(timed(loops[name]))
        rate = {name: n / min(t) for name, t in times.items()}
        best_tf = max(("tf.function", "tf.function + XLA"), key=rate.get)
        median_ratio = statistics.median(a / b for a, b in zip(times[best_tf], times["onnxruntime"]))
        rows.append(
            f"| {n} | {rate['onnxruntime']:.2f} | {rate['tf.function']:.2f} | {rate['tf.function + XLA']:.2f} "
            f"| **{rate['onnxruntime'] / rate[best_tf]:.2f}** ({median_ratio:.2f}) | {target:.1f} |"
        )
    head = [
        (
            f"DDIM-50 loop, onnxruntime vs TensorFlow ({keras_path}), images/s, fastest of interleaved rounds "
            f"({ROUNDS} at batch > 1, {3 * ROUNDS} at batch 1); load average now {os.getloadavg()[0]:.2f}"
        ),
        "",
        "| batch | onnxruntime | tf.function | tf.function + XLA | onnxruntime / best TF (median of per-round ratios) | target |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    return "\n".join(head + rows)


def keras_loop(net, sampler, n: int, labels, *, jit: bool):
    """The DDIM-50 loop around the Keras denoiser in a `tf.function` (XLA with `jit`), traced once; the callable."""
    import tensorflow as tf

    from genkit.schedules import sample_loop, timestep_sequence

    signature = [tf.TensorSpec((None, *sampler.image_shape), tf.float32), tf.TensorSpec((None,), tf.float32)]
    if sampler.conditional:
        signature.append(tf.TensorSpec((None,), tf.int32))
    fn = tf.function(lambda *a: net(list(a), training=False), input_signature=signature, jit_compile=jit)

    def predict(x, t, y):
        return np.asarray(fn(x, t) if y is None else fn(x, t, y))

    loop = sampler._diffusion
    o = loop.options(sampler="ddim", steps=50)

    def run():
        sample_loop(
            loop.schedule,
            predict,
            (n, *sampler.image_shape),
            sequence=timestep_sequence(loop.timesteps, 50),
            sampler="ddim",
            prediction=loop.prediction,
            eta=0.0,
            variance=o["variance"],
            clip=o["clip_denoised"],
            rng=np.random.default_rng(0),
            labels=labels,
            null_class=loop.null_class,
            guidance_scale=float(o["guidance_scale"]) if labels is not None else 1.0,
            guidance_interval=o["guidance_interval"] if labels is not None else None,  # the same calls as the export's loop
        )

    run()  # trace (and compile, with XLA)
    return run


def fused_step_graph(proto, s, clip: bool):
    """The denoiser with the update appended: x_prev = a·x̂₀ + b·x_t + σ·z, x̂₀ = clip(p·x_t + q·out)."""
    import onnx
    from onnx import TensorProto, helper

    graph = proto.graph
    x, out = s["image_input"], s["output"]
    image_type = next(i for i in graph.input if i.name == x).type
    for name in COEFFICIENTS:
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1]))
    noise = onnx.ValueInfoProto(name="noise")
    noise.type.CopyFrom(image_type)
    graph.input.append(noise)
    graph.initializer.extend(
        [
            helper.make_tensor("low", TensorProto.FLOAT, [], [-1.0]),
            helper.make_tensor("high", TensorProto.FLOAT, [], [1.0]),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Mul", ["x0_from_xt", x], ["f_a"]),
            helper.make_node("Mul", ["x0_from_output", out], ["f_b"]),
            helper.make_node("Add", ["f_a", "f_b"], ["f_x0_raw"]),
            helper.make_node("Clip", ["f_x0_raw", "low", "high"], ["f_x0"])
            if clip
            else helper.make_node("Identity", ["f_x0_raw"], ["f_x0"]),
            helper.make_node("Mul", ["coef_x0", "f_x0"], ["f_c"]),
            helper.make_node("Mul", ["coef_xt", x], ["f_d"]),
            helper.make_node("Mul", ["sigma", "noise"], ["f_e"]),
            helper.make_node("Add", ["f_c", "f_d"], ["f_cd"]),
            helper.make_node("Add", ["f_cd", "f_e"], ["x_prev"]),
        ]
    )
    x_prev = onnx.ValueInfoProto(name="x_prev")
    x_prev.type.CopyFrom(image_type)
    del graph.output[:]
    graph.output.append(x_prev)
    return proto


def fused_vs_numpy(export_dir: Path, sampler, n: int) -> str:
    import onnx

    from genkit.runtime.providers import make_session

    loop, s = sampler._diffusion, sampler.manifest["sampling"]
    clip = bool(loop.options()["clip_denoised"])
    proto = onnx.load(export_dir / sampler.manifest["networks"][s["network"]]["file"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fused.onnx"
        onnx.save(fused_step_graph(proto, s, clip), path)
        fused, _ = make_session(path, provider="cpu")
        plain, _ = sampler._sessions[s["network"]]
        results: dict = {}
        for name, steps in (("ddim", 50), ("ancestral", loop.timesteps)):
            loops = step_loops(loop, s, plain, fused, sampler, n, name, steps, clip)
            # Interleaved rounds, fastest of each: load from other processes hits all variants alike.
            best = dict.fromkeys(loops, float("inf"))
            for _ in range(ROUNDS):
                for label, fn in loops.items():
                    best[label] = min(best[label], timed(fn))
            for label, seconds in best.items():
                results.setdefault(label, []).append(1000 * seconds / min(steps, 100))
    rows = [f"| one step, batch {n} | ddim-50 ms/step | ancestral ms/step (100 of {loop.timesteps}) |", "|---|---|---|"]
    rows += [f"| {label} | {a:.2f} | {b:.2f} |" for label, (a, b) in results.items()]
    return "\n".join(rows)


def step_loops(loop, s, plain, fused, sampler, n: int, name: str, steps: int, clip: bool) -> dict:
    """The same denoising steps three ways: denoiser + NumPy update, the fused graph, the denoiser alone."""
    from genkit.schedules import apply_step, step_coefficients, timestep_sequence

    # Every step costs the same: 100 ancestral steps measure it as well as 1,000.
    sequence = timestep_sequence(loop.timesteps, steps)[:100]
    variance = loop.options()["variance"]
    coefs = [
        step_coefficients(
            loop.schedule,
            int(t),
            int(sequence[i + 1]) if i + 1 < len(sequence) else -1,
            sampler=name,
            prediction=loop.prediction,
            eta=0.0,
            variance=variance,
        )
        for i, t in enumerate(sequence)
    ]
    shape = (n, *sampler.image_shape)
    rng = np.random.default_rng(0)
    labels = np.arange(n, dtype=np.int32) % sampler.num_classes if s.get("label_input") else None

    def feeds(x, t):
        f = {s["image_input"]: x, s["time_input"]: np.full(n, t, np.float32)}
        if labels is not None:
            f[s["label_input"]] = labels
        return f

    def numpy_update():
        x = rng.standard_normal(shape).astype(np.float32)
        for t, c in zip(sequence, coefs):
            out = plain.run([s["output"]], feeds(x, t))[0]
            x = apply_step(c, x, out, rng.standard_normal(shape) if c.sigma > 0 else None, clip=clip)

    def fused_graph():
        x = rng.standard_normal(shape).astype(np.float32)
        zeros = np.zeros(shape, np.float32)
        for t, c in zip(sequence, coefs):
            f = feeds(x, t)
            f.update({k: np.array([getattr(c, k)], np.float32) for k in COEFFICIENTS})
            f["noise"] = rng.standard_normal(shape).astype(np.float32) if c.sigma > 0 else zeros
            x = fused.run(["x_prev"], f)[0]

    def denoiser_alone():
        x = rng.standard_normal(shape).astype(np.float32)
        for t in sequence:
            plain.run([s["output"]], feeds(x, t))

    def update_alone():
        x, out = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
        for c in coefs:
            x = apply_step(c, x, out, rng.standard_normal(shape) if c.sigma > 0 else None, clip=clip)

    return {
        "denoiser + NumPy update": numpy_update,
        "fused graph": fused_graph,
        "(denoiser alone)": denoiser_alone,
        "(NumPy update alone, with its noise draw)": update_alone,
    }


if __name__ == "__main__":
    main()
