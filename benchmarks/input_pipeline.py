"""Does genkit's tf.data input pipeline slow training down?

    python benchmarks/input_pipeline.py                       # cvae and autoencoder specs
    python benchmarks/input_pipeline.py --xla on --repeats 9 --seconds 2

For each spec, one genkit model (`genkit.train.prepare`, as `genkit train` builds it) is
trained from two inputs, in interleaved blocks of about `--seconds` (A B B A ...):

- pipeline: `prep.data.train_dataset(batch_size, shuffle=..., seed=...)`, repeated when
  the spec sets `train.steps_per_epoch` — exactly what `genkit.train.runner` hands to
  `fit` (shuffled indices, batched, each batch gathered from the in-memory arrays,
  prefetched);
- cached: the first full batches of that same pipeline, cached in memory and repeated, so
  reading a batch costs nothing and the step runs the same traced function.

The table shows the median step time of each, their ratio (pipeline / cached: the
target is within 5%, ≤ 1.05), the spread of the ratios of adjacent blocks and the ratio
of CPU time per step. The pipeline's batches are not all full: it ends each epoch with
the remainder (3,600 offline training digits = 56 batches of 64 and one of 16), so the
"per image" column divides each side's step time by its mean images per step. The last
column is the pipeline alone: the time to produce one batch, without training.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from _ratio import REPO, interleave, machine_facts, markdown_table, ratio_range, step_timer, steps_for, tensorflow, xla_overrides

SPECS = ("cvae_mnist.yaml", "autoencoder_mnist.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", default=list(SPECS), help="files under specs/ (default: %(default)s)")
    parser.add_argument("--xla", choices=["spec", "off", "on"], default="spec", help="jit_compile (default: spec's)")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per input (default 5)")
    parser.add_argument("--seconds", type=float, default=1.5, help="length of one timed block (default 1.5 s)")
    args = parser.parse_args()

    tensorflow()
    print(machine_facts())
    print(f"{args.repeats} interleaved blocks of ~{args.seconds:g} s per input")
    print()
    rows = [measure(REPO / "specs" / name, args.xla, args.repeats, args.seconds) for name in args.specs]
    print(
        markdown_table(
            [
                "spec",
                "XLA",
                "batch",
                "steps/block",
                "pipeline ms/step",
                "cached ms/step",
                "pipeline/cached",
                "per-pair ratio: median (range)",
                "per image",
                "CPU-time ratio",
                "pipeline alone ms/batch",
            ],
            rows,
        )
    )


def measure(path, xla: str, repeats: int, seconds: float) -> list:
    import keras

    from genkit.spec import load_spec
    from genkit.train import prepare

    overrides = [] if xla == "spec" else xla_overrides(xla == "on")
    spec = load_spec(path, overrides).spec
    prep = prepare(spec, quiet=True)
    data, batch = prep.data, spec.data.batch_size
    # As genkit.train.runner builds it.
    train_ds = data.train_dataset(batch, shuffle=spec.data.shuffle, seed=spec.seed)
    # runner repeats it when train.steps_per_epoch is set (both shipped specs); without it, fit
    # starts one iterator per epoch, whose start-up is not timed here.
    pipeline = train_ds.repeat()
    n_train, full = len(data.x_train), len(data.x_train) // batch
    cached = train_ds.take(full).cache().repeat()
    for _ in cached.take(full):  # fill the cache
        pass
    prep.model.fit(pipeline, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # trace outside the timing
    timers = {"pipeline": step_timer(prep.model, pipeline), "cached": step_timer(prep.model, cached)}
    steps = steps_for(timers["cached"], seconds)
    results = interleave({name: (lambda run=run: run(steps)) for name, run in timers.items()}, repeats)
    wall = {name: [w for w, _ in r] for name, r in results.items()}
    cpu = {name: statistics.median(c for _, c in r) for name, r in results.items()}
    ms = {name: statistics.median(w) * 1e3 for name, w in wall.items()}
    mean_images = n_train / math.ceil(n_train / batch)  # per step of the pipeline, over whole epochs
    per_image = (ms["pipeline"] / mean_images) / (ms["cached"] / batch)
    alone = pipeline_alone(train_ds.repeat(), steps * 4)
    jit = prep.model.jit_compile
    del prep
    keras.backend.clear_session()
    return [
        path.name,
        "on" if jit else "off",
        batch,
        steps,
        f"{ms['pipeline']:.1f}",
        f"{ms['cached']:.1f}",
        f"{ms['pipeline'] / ms['cached']:.3f}",
        ratio_range(wall["pipeline"], wall["cached"]),
        f"{per_image:.3f}",
        f"{cpu['pipeline'] / cpu['cached']:.3f}",
        f"{alone:.2f}",
    ]


def pipeline_alone(dataset, batches: int) -> float:
    """Milliseconds per batch of iterating `dataset` with no training (median of 3 runs)."""
    iterator = iter(dataset)
    next(iterator)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        times.append((time.perf_counter() - start) / batches * 1e3)
    return statistics.median(times)


if __name__ == "__main__":
    main()
