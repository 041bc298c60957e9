"""How much of this machine's arithmetic does a genkit train step use?

    python benchmarks/flops.py                        # cvae and dcgan, XLA off and on
    python benchmarks/flops.py --only cvae --repeats 9 --seconds 2

For each model (the CVAE of specs/cvae_mnist.yaml, and the DCGAN of specs/dcgan_mnist.yaml
when it exists) built by `genkit.train.prepare` exactly as `genkit train` builds it:

- FLOPs per train step, counted from the step's graph: the family's `train_step` traced
  with the spec's batch size (`tf.function(...).get_concrete_function(...)`), then every
  matrix-multiply-type op that runs — Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter,
  MatMul, BatchMatMul — counted as 2·MACs from its static shapes. Ops that no output or
  state update depends on (gradients nobody asked for) are skipped, as TensorFlow's
  runtime skips them. Element-wise ops, reductions and the optimizer are not counted
  (a few % here), so the achieved rate is slightly understated.
  (TensorFlow's own float-op profiler, `tf.compat.v1.profiler` with `float_operation()`,
  is not used: on a TF 2.21 function graph it finds only the ops whose node defs carry
  shapes and, on the CVAE step, reports Conv2DBackpropFilter alone.)
- a cross-check, analytic: the forward FLOPs of the Conv2D / Conv2DTranspose / Dense
  layers of the networks from their output shapes, times the passes the step makes (VAE:
  3 × (encoder + decoder); GAN: 4 × G + 10 × D — see `analytic_flops`).
- achieved GFLOP/s = counted FLOPs / wall time of a step (cached in-memory batches, the
  compiled Keras train function called as `fit` does), XLA off and on;
- against the GFLOP/s of a large float32 matmul (2·n³ per `tf.matmul` of n×n, n = 2048)
  measured in the same run, in blocks interleaved with the train-step blocks.

Both the median and the best block are shown, and their ratios to the matmul's: on a
machine shared with other jobs the median says what training got, the best what the
hardware gives when the other jobs leave it alone (a long single op like the 17-GFLOP
matmul suffers more from sharing than many short ones: one delayed thread holds it up).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from _ratio import (
    REPO,
    cached_dataset,
    interleave,
    machine_facts,
    markdown_table,
    step_flops,
    step_timer,
    steps_for,
    tensorflow,
    xla_overrides,
)

SPECS = {"cvae": "cvae_mnist.yaml", "dcgan": "dcgan_mnist.yaml"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(SPECS), help="models to measure (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per measurement (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed block (default 1.0 s)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the n×n float32 matmul (default 2048)")
    args = parser.parse_args()

    tf = tensorflow()
    print(machine_facts())
    print(f"{args.repeats} interleaved blocks of ~{args.seconds:g} s per measurement")
    print()
    models, notes = {}, []
    for name in args.only or SPECS:
        path = REPO / "specs" / SPECS[name]
        if not path.is_file():
            notes.append(f"{name}: skipped, specs/{path.name} does not exist")
            continue
        for jit in (False, True):
            models[(name, jit)] = build(path, jit)
    candidates = {"matmul": matmul_block(tf, args.matmul_size, args.seconds)}
    for key, m in models.items():
        steps = steps_for(m["run"], args.seconds)
        candidates[key] = lambda run=m["run"], steps=steps: [run(steps)[0]]
    times = interleave(candidates, args.repeats)  # name -> [[seconds per call or step, ...] per block]

    n = args.matmul_size
    work = {"matmul": 2 * n**3}
    work.update({key: m["flops"] for key, m in models.items()})
    rate = {}  # name -> (median, best) GFLOP/s
    for key, blocks in times.items():
        samples = [t for block in blocks for t in block]
        median = statistics.median(samples)
        rate[key] = (work[key] / median / 1e9, work[key] / min(samples) / 1e9, median)
    peak, best_peak, peak_seconds = rate["matmul"]
    rows = [[f"tf.matmul {n}×{n} float32", "–", f"{work['matmul'] / 1e9:.2f}", "–", f"{peak_seconds * 1e3:.1f}",
             f"{peak:.1f}", f"{best_peak:.1f}", "1.00", "1.00"]]  # fmt: skip
    for (name, jit), m in models.items():
        median, best, seconds = rate[(name, jit)]
        rows.append(
            [
                f"{name} train step ({m['spec']}, batch {m['batch']})",
                "on" if jit else "off",
                f"{m['flops'] / 1e9:.2f}",
                f"{m['analytic'] / 1e9:.2f}",
                f"{seconds * 1e3:.1f}",
                f"{median:.1f}",
                f"{best:.1f}",
                f"{median / peak:.2f}",
                f"{best / best_peak:.2f}",
            ]
        )
    columns = [
        "work",
        "XLA",
        "GFLOP (graph count)",
        "GFLOP (analytic)",
        "ms (median)",
        "GFLOP/s (median)",
        "GFLOP/s (best)",
        "of matmul (medians)",
        "of matmul (bests)",
    ]
    print(markdown_table(columns, rows))
    print()
    for name in dict.fromkeys(name for name, _ in models):
        m = models[(name, False)]
        parts = ", ".join(f"{op} {flops / 1e9:.2f}" for op, flops in sorted(m["by_op"].items(), key=lambda kv: -kv[1]))
        print(f"{name}: counted GFLOP per step by op type: {parts}")
    for note in notes:
        print(note)


def build(path, jit: bool) -> dict:
    """The genkit model of the spec at `path`, fitted once; its FLOP counts and a step timer."""
    from genkit.spec import load_spec
    from genkit.train import prepare

    spec = load_spec(path, xla_overrides(jit)).spec
    prep = prepare(spec, quiet=True)
    data, batch = prep.data, spec.data.batch_size
    dataset = cached_dataset(data.x_train, data.y_train if spec.data.labels else None, batch)
    prep.model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
    by_op = step_flops(prep.model, dataset.element_spec)
    return {
        "spec": path.name,
        "batch": batch,
        "by_op": by_op,
        "flops": sum(by_op.values()),
        "analytic": analytic_flops(prep.model, batch),
        "run": step_timer(prep.model, dataset),
        "model": prep.model,
    }


def layer_forward_flops(network, batch: int) -> int:
    """Forward FLOPs (2·MACs) of the Conv2D, Conv2DTranspose and Dense layers of `network`."""
    import keras

    total = 0
    for layer in network._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kh, kw, cout, cin = layer.kernel.shape  # a transposed conv's kernel is (kh, kw, Cout, Cin)
            total += 2 * math.prod(layer.input.shape[1:3]) * cin * kh * kw * cout
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            total += 2 * math.prod(layer.output.shape[1:3]) * cout * kh * kw * cin
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * math.prod(layer.kernel.shape)
    return total * batch


def analytic_flops(model, batch: int) -> int:
    """Forward FLOPs × passes: a backward pass costs two forwards (input and weight gradients).

    VAE: encoder and decoder forward and backward, 3 × (E + D). GAN (k = 1, D and G per
    batch of real images): the discriminator step runs G forward and D forward and
    backward on real and generated images (G + 6·D); the generator step runs G forward and
    backward, and D forward and input-backward on generated images scored next to real
    ones, as genkit's `judge` does (3·G + 4·D): 4·G + 10·D. The first layer's input
    gradient, which nobody needs, is included, so this slightly overestimates.
    """
    nets = model.networks()
    if "generator" in nets:
        g = layer_forward_flops(nets["generator"], batch)
        d = layer_forward_flops(nets["discriminator"], batch)
        return 4 * g + 10 * d
    return 3 * (layer_forward_flops(nets["encoder"], batch) + layer_forward_flops(nets["decoder"], batch))


def matmul_block(tf, n: int, seconds: float):
    """A function timing n×n float32 `tf.matmul`s for `seconds` (at least 3): their times."""
    a = tf.random.normal((n, n), seed=0)
    b = tf.random.normal((n, n), seed=1)
    tf.matmul(a, b)[0, 0].numpy()  # warm-up

    def run():
        times = []
        deadline = time.perf_counter() + seconds
        while len(times) < 3 or time.perf_counter() < deadline:
            start = time.perf_counter()
            tf.matmul(a, b)[0, 0].numpy()  # eager CPU ops run synchronously; reading one value copies little
            times.append(time.perf_counter() - start)
        return times

    return run


if __name__ == "__main__":
    main()
