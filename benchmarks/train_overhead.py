"""Does genkit's train step cost more than the same model written by hand in plain Keras?

    python benchmarks/train_overhead.py                    # every family whose spec exists
    python benchmarks/train_overhead.py --only cvae dcgan --repeats 9 --seconds 2 --control cvae
    python benchmarks/train_overhead.py --only wgan_gp --xla off --profile

For each family, the genkit model built from its shipped spec (`genkit.spec.load_spec` +
`genkit.train.prepare`: what `genkit train` fits) is timed against a plain Keras model of
the SAME networks and loss, written at the end of this file in keras.io style: a
`keras.Model` subclass with `train_step`, networks in Keras code, after keras.io's
"Variational AutoEncoder", "DCGAN", "WGAN-GP" and "Denoising Diffusion Probabilistic
Model" examples. Both sides get the same optimizer settings (read from the spec), the
same cached in-memory batches of the spec's batch size and the same `jit_compile` (XLA
off, then on); the script refuses to compare models whose trainable parameter counts
differ.

Timing: after a warm-up `fit` (trace, XLA compile), each side's compiled Keras train
function is called on its iterator as `fit` calls it per step, in blocks of about
`--seconds`, the sides alternating block by block (A B B A ...). Columns:

- genkit and plain steps/s: medians over the blocks; genkit/plain: their ratio (above 1:
  genkit is faster);
- per-pair ratio: the median and range of the ratios of adjacent blocks (the same load);
- CPU-time ratio: plain / genkit CPU seconds per step (medians), less sensitive to other
  jobs on the machine than wall time;
- GFLOP/step: the work each step does, counted from its graph (conv and matmul FLOPs of
  the ops that run, `_ratio.step_flops`). Equal work and a ratio below 1 would be
  overhead around the maths; unequal work means the steps compute different things.

`--control FAMILY` adds a row timing that genkit model against a second copy of itself:
the spread noise alone gives at that time. `--profile` traces alternating blocks of both
sides (XLA off) with the TensorFlow profiler and prints the op types whose time differs
most, with the number of op executions per step.

Where the plain version departs from keras.io it is to compute what genkit computes: the
DCGAN's generator step scores its images in one batch with real ones (with BatchNorm in
the discriminator, part of the objective), the KL weight ramps up over the spec's warm-up,
the WGAN critic takes a fresh sub-batch per critic step, generators and the denoiser keep
the moving average of their weights the spec asks for (`train.ema`, with genkit's
warm-up), and the DDPM uses genkit's noise schedule and time embedding, with the U-Net's
widths read from the spec. The WGAN-GP critic has no BatchNorm, so scoring generated
images alone in the generator step (keras.io) is the same objective as genkit's scoring
them next to real ones.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import tempfile
from pathlib import Path

from _ratio import (
    REPO,
    cached_dataset,
    interleave,
    machine_facts,
    markdown_table,
    ratio_range,
    step_flops,
    step_timer,
    steps_for,
    tensorflow,
    xla_overrides,
)

tensorflow()  # first, so TensorFlow's start-up chatter is filtered

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

FAMILIES = {
    # family: its shipped spec; the plain counterpart is PLAIN[family] below
    "autoencoder": "autoencoder_mnist.yaml",
    "vae": "vae_mnist.yaml",
    "cvae": "cvae_mnist.yaml",
    "dcgan": "dcgan_mnist.yaml",
    "wgan_gp": "wgan_gp_mnist.yaml",
    "ddpm": "ddpm_mnist.yaml",
}
COLUMNS = [
    "family (spec)",
    "XLA",
    "trainable params",
    "batch",
    "steps/block",
    "genkit steps/s",
    "plain steps/s",
    "genkit/plain",
    "per-pair ratio: median (range)",
    "CPU-time ratio",
    "GFLOP/step genkit / plain",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(FAMILIES), help="families to measure (default: all)")
    parser.add_argument("--xla", choices=["both", "off", "on"], default="both", help="jit_compile (default: both)")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per side (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed block (default 1.0 s)")
    parser.add_argument(
        "--spec", action="append", default=[], metavar="FAMILY=PATH", help="time FAMILY on another spec file"
    )
    parser.add_argument("--profile", action="store_true", help="trace both sides (XLA off): where op time differs")
    parser.add_argument(
        "--control", nargs="*", default=[], choices=list(FAMILIES), metavar="FAMILY", help="add an A/A row per FAMILY"
    )
    args = parser.parse_args()
    paths = {family: REPO / "specs" / name for family, name in FAMILIES.items()}
    for item in args.spec:
        family, _, path = item.partition("=")
        if family not in FAMILIES or not path:
            parser.error(f"--spec {item!r}: expected FAMILY=PATH with FAMILY one of {', '.join(FAMILIES)}")
        paths[family] = Path(path)

    print(machine_facts())
    print(f"{args.repeats} interleaved blocks of ~{args.seconds:g} s per side; cached in-memory batches")
    print()
    modes = {"both": (False, True), "off": (False,), "on": (True,)}[args.xla]
    notes, profiles = [], []
    print(markdown_table(COLUMNS, []), flush=True)  # rows follow as they are measured
    for family in args.only or FAMILIES:
        spec_path = paths[family]
        if not spec_path.is_file():
            notes.append(f"{family}: skipped, {spec_path} does not exist")
            continue
        for jit in modes:
            try:
                profile = args.profile and not jit
                row, profile = measure(family, spec_path, jit, args.repeats, args.seconds, profile=profile)
            except NotTheSameModel as err:
                notes.append(f"{family}: skipped, {err}")
                break
            rows = [row]
            if family in args.control:
                rows.append(measure(family, spec_path, jit, args.repeats, args.seconds, control=True)[0])
            print("\n".join(markdown_table(COLUMNS, rows).splitlines()[2:]), flush=True)
            profiles += [profile] if profile else []
    for text in notes + profiles:
        print(f"\n{text}")


class NotTheSameModel(Exception):
    """The plain model's trainable parameters differ from genkit's: comparing them is meaningless."""


def measure(family, spec_path, jit, repeats, seconds, *, profile=False, control=False):
    """(table row, profile table or None): genkit against the plain model, or, with
    `control`, against a second genkit copy."""
    from genkit.spec import load_spec
    from genkit.train import prepare

    spec = load_spec(spec_path, xla_overrides(jit)).spec
    prep = prepare(spec, quiet=True)
    if control:
        plain = prepare(spec, quiet=True).model
    else:
        keras.utils.set_random_seed(spec.seed)
        plain = PLAIN[family](spec, prep)
        plain.compile_for(spec, prep, jit)
    ours, theirs = count(prep.model.trainable_variables), count(plain.trainable_variables)
    if ours != theirs:
        raise NotTheSameModel(
            f"{ours:,} trainable parameters in genkit's model, {theirs:,} in the plain one: the spec's networks "
            "changed; update the plain model at the end of this file"
        )
    data = prep.data
    dataset = cached_dataset(data.x_train, data.y_train if spec.data.labels else None, spec.data.batch_size)
    timers, flops = {}, {}
    for name, model in (("genkit", prep.model), ("plain", plain)):
        model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # trace and compile before timing
        timers[name] = step_timer(model, dataset)
        flops[name] = sum(step_flops(model, dataset.element_spec).values())
    steps = steps_for(lambda n: min(timers["genkit"](n), timers["plain"](n)), seconds)
    per_step = interleave({name: (lambda run=run: run(steps)) for name, run in timers.items()}, repeats)
    rate = {name: [1.0 / wall for wall, _ in values] for name, values in per_step.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in per_step.items()}
    genkit_rate, plain_rate = statistics.median(rate["genkit"]), statistics.median(rate["plain"])
    breakdown = op_time_difference(family, timers, steps) if profile else None
    del prep, plain
    keras.backend.clear_session()
    gc.collect()
    row = [
        f"A/A control: {family}, genkit vs a 2nd genkit copy" if control else f"{family} ({spec_path.name})",
        "on" if jit else "off",
        f"{ours:,}",
        spec.data.batch_size,
        steps,
        f"{genkit_rate:.1f}",
        f"{plain_rate:.1f}",
        f"{genkit_rate / plain_rate:.2f}x",
        ratio_range(rate["genkit"], rate["plain"]),
        f"{cpu['plain'] / cpu['genkit']:.2f}x",
        f"{flops['genkit'] / 1e9:.2f} / {flops['plain'] / 1e9:.2f}",
    ]
    return row, breakdown


def op_time_difference(family: str, timers: dict, steps: int, traces: int = 3, top: int = 12) -> str:
    """Profile `traces` alternating blocks of `steps` steps per side; table the op types whose
    median time per step (op durations summed over TensorFlow's compute threads) differs most."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    def trace(run) -> tuple:
        with tempfile.TemporaryDirectory() as logdir:
            tf.profiler.experimental.start(logdir)
            run(steps)
            tf.profiler.experimental.stop()
            space = xplane_pb2.XSpace()
            space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
        totals, counts = {}, {}
        for plane in space.planes:
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue
                for event in line.events:
                    kind = plane.event_metadata[event.metadata_id].display_name  # the op type; bookkeeping has none
                    if kind:
                        totals[kind] = totals.get(kind, 0.0) + event.duration_ps / 1e9 / steps  # ms per step
                        counts[kind] = counts.get(kind, 0) + 1 / steps
        return totals, counts

    runs = interleave({name: (lambda run=run: trace(run)) for name, run in timers.items()}, traces)
    time = {name: _median_by_key([t for t, _ in r]) for name, r in runs.items()}
    calls = {name: r[0][1] for name, r in runs.items()}
    total = {name: statistics.median(sum(t.values()) for t, _ in r) for name, r in runs.items()}
    g, p, cg, cp = time["genkit"], time["plain"], calls["genkit"], calls["plain"]
    kinds = sorted(set(g) | set(p), key=lambda k: -abs(g.get(k, 0.0) - p.get(k, 0.0)))[:top]
    rows = [[k, g.get(k, 0.0), p.get(k, 0.0), cg.get(k, 0), cp.get(k, 0)] for k in kinds]
    rows.append(["all ops", total["genkit"], total["plain"], sum(cg.values()), sum(cp.values())])
    rows = [[k, f"{a:.2f}", f"{b:.2f}", f"{a - b:+.2f}", f"{n:.0f}", f"{m:.0f}"] for k, a, b, n, m in rows]
    head = (
        f"{family}, XLA off: op time per step, median of {traces} alternating profiler traces of {steps} steps "
        "per side (largest differences first; ops: op executions per step)"
    )
    table = markdown_table(["op type", "genkit ms", "plain ms", "difference ms", "genkit ops", "plain ops"], rows)
    return f"{head}\n\n{table}"


def _median_by_key(dicts: list) -> dict:
    keys = set().union(*dicts)
    return {k: statistics.median(d.get(k, 0.0) for d in dicts) for k in keys}


def count(variables) -> int:
    return sum(math.prod(v.shape) for v in variables)


# =============================================================================================
# Plain Keras, keras.io style. Nothing below imports genkit: networks, losses and steps are
# written out by hand. Hyperparameters (learning rates, KL weight, k critic steps, ...) are
# read from the spec so that both sides train the same way.
# =============================================================================================


def adam(options, steps_per_epoch: int, epochs: int, updates_per_step: int = 1):
    """Adam with the spec's learning rate and schedule (constant, cosine or exponential decay,
    optionally after a linear warm-up), over `updates_per_step` updates per train step."""
    steps = steps_per_epoch * updates_per_step
    warmup = options.warmup_epochs * steps
    lr = options.learning_rate
    if options.schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(lr, steps, options.decay_rate)
    elif options.schedule == "cosine" or warmup:
        decay_steps, alpha = max(epochs * steps - warmup, 1), 0.0 if options.schedule == "cosine" else 1.0
        if warmup:
            lr = keras.optimizers.schedules.CosineDecay(0.0, decay_steps, alpha, warmup_target=lr, warmup_steps=warmup)
        else:
            lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps, alpha)
    kwargs = {k: getattr(options, k) for k in ("beta_1", "beta_2") if getattr(options, k) is not None}
    return keras.optimizers.Adam(learning_rate=lr, **kwargs)


def average_copy(network):
    """A frozen copy of `network` to hold the moving average of its weights."""
    average = keras.models.clone_model(network)
    average.set_weights(network.get_weights())
    average.trainable = False
    return average


def update_average(average, network, decay, iterations):
    """average ← d·average + (1 − d)·weights, d warmed up as min(decay, (1 + n) / (10 + n))."""
    step = ops.cast(iterations, "float32")
    d = ops.minimum(decay, (1.0 + step) / (10.0 + step))
    for average_weight, weight in zip(average.weights, network.weights):
        average_weight.assign(d * average_weight + (1 - d) * weight)


class PlainModel(keras.Model):
    """A plain model compiled with one Adam, like `model.compile(optimizer="adam")`."""

    def compile_for(self, spec, prep, jit):
        self.compile(optimizer=adam(spec.train.optimizer, prep.steps_per_epoch, spec.train.epochs), jit_compile=jit)


# -- autoencoder (specs/autoencoder_mnist.yaml): the classic Keras convolutional autoencoder


def autoencoder_networks():
    encoder = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(49, activation="relu"),
        ],
        name="encoder",
    )
    decoder = keras.Sequential(
        [
            keras.Input((49,)),
            layers.Reshape((7, 7, 1)),
            layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(momentum=0.9),
            layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(momentum=0.9),
            layers.Conv2DTranspose(32, 3, padding="same", activation="relu"),
            layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
        ],
        name="decoder",
    )
    return encoder, decoder


class Autoencoder(PlainModel):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            reconstruction = self.decoder(self.encoder(data, training=True), training=True)
            loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


# -- vae / cvae (specs/vae_mnist.yaml, specs/cvae_mnist.yaml): keras.io's VAE, conditional variant


class Sampling(layers.Layer):
    """z = z_mean + exp(0.5 * z_log_var) * epsilon."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


def vae_networks(latent_dim, seed):
    encoder_inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling(seed)([z_mean, z_log_var])
    encoder = keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = keras.Input((latent_dim,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    return encoder, keras.Model(latent_inputs, decoder_outputs, name="decoder")


def cvae_networks(latent_dim, num_classes, seed):
    images, labels = keras.Input((28, 28, 1)), keras.Input((), dtype="int32")
    label_maps = ops.tile(ops.one_hot(labels, num_classes)[:, None, None, :], (1, 28, 28, 1))  # (B, 28, 28, K)
    x = layers.Concatenate()([images, label_maps])
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling(seed)([z_mean, z_log_var])
    encoder = keras.Model([images, labels], [z_mean, z_log_var, z], name="encoder")

    latents, labels = keras.Input((latent_dim,)), keras.Input((), dtype="int32")
    x = layers.Concatenate()([latents, ops.one_hot(labels, num_classes)])
    x = layers.Dense(7 * 7 * 64, activation="relu")(x)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    return encoder, keras.Model([latents, labels], outputs, name="decoder")


class VAE(PlainModel):
    def __init__(self, encoder, decoder, kl_weight, kl_warmup_steps, conditional=False, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.kl_weight, self.kl_warmup_steps, self.conditional = kl_weight, kl_warmup_steps, conditional
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        images, labels = data if self.conditional else (data, None)
        # The KL weight ramps linearly from 0 over the warm-up steps (as the spec asks).
        step = ops.cast(self.optimizer.iterations, "float32")
        beta = self.kl_weight * ops.minimum(1.0, step / max(self.kl_warmup_steps, 1))
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder([images, labels] if self.conditional else images, training=True)
            reconstruction = self.decoder([z, labels] if self.conditional else z, training=True)
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(images, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + beta * kl_loss
        grads = tape.gradient(total_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {m.name: m.result() for m in self.metrics}


# -- dcgan (specs/dcgan_mnist.yaml): keras.io's DCGAN


def dcgan_networks(latent_dim):
    generator = keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(7 * 7 * 128, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"),
        ],
        name="generator",
    )
    discriminator = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(64, 4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, 4, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Flatten(),
            layers.Dense(1),
        ],
        name="discriminator",
    )
    return generator, discriminator


class GAN(keras.Model):
    def __init__(self, generator, discriminator, latent_dim, seed, ema=None, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.latent_dim = generator, discriminator, latent_dim
        self.ema = ema
        self.generator_ema = average_copy(generator) if ema else None  # samples come from the averaged weights
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile_for(self, spec, prep, jit):
        opts, steps, epochs = spec.train.optimizers, prep.steps_per_epoch, spec.train.epochs
        super().compile(jit_compile=jit)
        self.d_optimizer = adam(opts.get("discriminator", spec.train.optimizer), steps, epochs)
        self.g_optimizer = adam(opts.get("generator", spec.train.optimizer), steps, epochs)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0]
        # Train the discriminator on real images (target 1) and generated ones (target 0), one batch.
        latents = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        generated = self.generator(latents, training=True)
        combined = ops.concatenate([real_images, generated], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined, training=True))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        # Train the generator (without touching the discriminator's weights). Its images are
        # scored in one batch with the real ones, so BatchNorm normalises them as in the
        # discriminator step (genkit's objective; keras.io scores them alone).
        latents = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            generated = self.generator(latents, training=True)
            logits = self.discriminator(ops.concatenate([real_images, generated], axis=0), training=True)
            fake_logits = logits[batch_size:]
            g_loss = self.loss_fn(ops.ones_like(fake_logits), fake_logits)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        if self.generator_ema is not None:
            update_average(self.generator_ema, self.generator, self.ema, self.g_optimizer.iterations)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


# -- wgan_gp (specs/wgan_gp_mnist.yaml): keras.io's WGAN-GP, a fresh sub-batch per critic step


def wgan_gp_networks(latent_dim):
    generator = keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(7 * 7 * 64, use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Reshape((7, 7, 64)),
            layers.Conv2DTranspose(32, 4, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh"),
        ],
        name="generator",
    )
    critic = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(64, 4, strides=2, padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Flatten(),
            layers.Dense(1),
        ],
        name="critic",
    )
    return generator, critic


class WGANGP(keras.Model):
    def __init__(self, generator, critic, latent_dim, critic_steps, gp_weight, ema=None, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.critic, self.latent_dim = generator, critic, latent_dim
        self.critic_steps, self.gp_weight = critic_steps, gp_weight
        self.ema = ema
        self.generator_ema = average_copy(generator) if ema else None  # samples come from the averaged weights
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile_for(self, spec, prep, jit):
        opts = spec.train.optimizers
        super().compile(jit_compile=jit)
        steps, epochs = prep.steps_per_epoch, spec.train.epochs
        self.d_optimizer = adam(opts.get("critic", spec.train.optimizer), steps, epochs, self.critic_steps)
        self.g_optimizer = adam(opts.get("generator", spec.train.optimizer), steps, epochs)
        self.d_optimizer.build(self.critic.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def gradient_penalty(self, real_images, fake_images):
        batch_size = tf.shape(real_images)[0]
        alpha = tf.random.uniform([batch_size, 1, 1, 1], 0.0, 1.0)
        interpolated = real_images + alpha * (fake_images - real_images)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    def train_step(self, real_images):
        for real in tf.split(real_images, self.critic_steps):
            batch_size = tf.shape(real)[0]
            latents = tf.random.normal((batch_size, self.latent_dim))
            fake = self.generator(latents, training=True)
            with tf.GradientTape() as tape:
                fake_logits = self.critic(fake, training=True)
                real_logits = self.critic(real, training=True)
                d_cost = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                d_loss = d_cost + self.gp_weight * self.gradient_penalty(real, fake)
            d_gradient = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_gradient, self.critic.trainable_variables))
        latents = tf.random.normal((batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            g_loss = -tf.reduce_mean(self.critic(self.generator(latents, training=True), training=True))
        gen_gradient = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gen_gradient, self.generator.trainable_variables))
        if self.generator_ema is not None:
            update_average(self.generator_ema, self.generator, self.ema, self.g_optimizer.iterations)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


# -- ddpm (specs/ddpm_mnist.yaml): keras.io's DDPM with the spec's small U-Net


class TimeEmbedding(layers.Layer):
    """[sin(t·w_k), cos(t·w_k)] with w_k = 10000^(-k / (dim/2))."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        half = dim // 2
        self.frequencies = np.exp(-math.log(10000.0) * np.arange(half) / half).astype("float32")

    def call(self, t):
        angles = t[:, None] * self.frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)


def residual_block(x, t_emb, filters, groups=8):
    skip = x if x.shape[-1] == filters else layers.Conv2D(filters, 1)(x)
    h = layers.Activation("swish")(layers.GroupNormalization(groups, epsilon=1e-5)(x))
    h = layers.Conv2D(filters, 3, padding="same")(h)
    h = h + layers.Dense(filters)(layers.Activation("swish")(t_emb))[:, None, None, :]
    h = layers.Activation("swish")(layers.GroupNormalization(groups, epsilon=1e-5)(h))
    h = layers.Conv2D(filters, 3, padding="same", kernel_initializer="zeros")(h)
    return layers.Add()([skip, h])


class AttentionBlock(layers.Layer):
    """x + proj(softmax(q kᵀ / √d) v), multi-head, over the H·W positions."""

    def __init__(self, units, heads, groups=8, **kwargs):
        super().__init__(**kwargs)
        self.units, self.heads = units, heads
        self.norm = layers.GroupNormalization(groups, epsilon=1e-5)
        self.query, self.key, self.value = layers.Dense(units), layers.Dense(units), layers.Dense(units)
        self.proj = layers.Dense(units, kernel_initializer="zeros")

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        n, d = height * width, channels // self.heads
        x = self.norm(inputs)

        def split(t):  # (B, H, W, C) -> (B, heads, N, d)
            return ops.transpose(ops.reshape(t, (-1, n, self.heads, d)), (0, 2, 1, 3))

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        attn = ops.softmax(ops.einsum("bhnd,bhmd->bhnm", q, k) * d**-0.5, axis=-1)
        out = ops.transpose(ops.einsum("bhnm,bhmd->bhnd", attn, v), (0, 2, 1, 3))  # (B, N, heads, d)
        out = ops.reshape(out, (-1, height, width, channels))
        return inputs + self.proj(out)


def ddpm_unet(widths=(32, 64, 64), time_dim=64, embedding_dim=128, heads=4):
    """The spec's small U-Net: ResBlocks at 28x28, 14x14 and 7x7 (`widths`), attention at 7x7."""
    w1, w2, w3 = widths
    x, t = keras.Input((28, 28, 1), name="x"), keras.Input((), name="t")
    t_emb = layers.Dense(embedding_dim, activation="swish")(TimeEmbedding(time_dim)(t))
    h0 = layers.Conv2D(w1, 3, padding="same")(x)
    d1 = residual_block(h0, t_emb, w1)  # 28x28
    d2 = residual_block(layers.AveragePooling2D(2)(d1), t_emb, w2)  # 14x14
    mid = residual_block(layers.AveragePooling2D(2)(d2), t_emb, w3)  # 7x7
    mid = residual_block(AttentionBlock(w3, heads=heads)(mid), t_emb, w3)
    e2 = residual_block(layers.Concatenate()([layers.UpSampling2D()(mid), d2]), t_emb, w2)
    e1 = residual_block(layers.Concatenate()([layers.UpSampling2D()(e2), d1]), t_emb, w1)
    return keras.Model([x, t], layers.Conv2D(1, 3, padding="same")(e1), name="unet")


class DiffusionModel(PlainModel):
    def __init__(self, network, ema_network, timesteps, beta_start, beta_end, ema, seed, **kwargs):
        super().__init__(**kwargs)
        self.network, self.ema_network, self.timesteps, self.ema = network, ema_network, timesteps, ema
        alphas_cumprod = np.cumprod(1.0 - np.linspace(beta_start, beta_end, timesteps, dtype=np.float64))
        self.sqrt_alphas_cumprod = tf.constant(np.sqrt(alphas_cumprod), tf.float32)
        self.sqrt_one_minus_alphas_cumprod = tf.constant(np.sqrt(1.0 - alphas_cumprod), tf.float32)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, images):
        batch_size = ops.shape(images)[0]
        t = keras.random.randint((batch_size,), 0, self.timesteps, seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        images_t = (
            ops.take(self.sqrt_alphas_cumprod, t)[:, None, None, None] * images
            + ops.take(self.sqrt_one_minus_alphas_cumprod, t)[:, None, None, None] * noise
        )
        with tf.GradientTape() as tape:
            pred_noise = self.network([images_t, ops.cast(t, "float32")], training=True)
            loss = ops.mean(ops.square(noise - pred_noise))
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        update_average(self.ema_network, self.network, self.ema, self.optimizer.iterations)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


# -- one builder per family: (spec, prepared genkit run) -> the plain model


def _autoencoder(spec, prep):
    return Autoencoder(*autoencoder_networks())


def _vae(spec, prep, conditional=False):
    m = spec.model
    if conditional:
        nets = cvae_networks(m.latent_dim, m.condition.num_classes, spec.seed)
    else:
        nets = vae_networks(m.latent_dim, spec.seed)
    warmup = spec.loss.kl_warmup_epochs * prep.steps_per_epoch
    return VAE(*nets, kl_weight=float(spec.loss.kl_weight), kl_warmup_steps=warmup, conditional=conditional)


def _dcgan(spec, prep):
    latent_dim = spec.model.latent_dim
    return GAN(*dcgan_networks(latent_dim), latent_dim=latent_dim, seed=spec.seed, ema=spec.train.ema)


def _wgan_gp(spec, prep):
    loss = spec.loss
    latent_dim = spec.model.latent_dim
    networks = wgan_gp_networks(latent_dim)
    return WGANGP(*networks, latent_dim, loss.critic_steps, float(loss.gp_weight), ema=spec.train.ema)


def _ddpm(spec, prep):
    d = spec.model.diffusion
    # The widths and sizes are read from the spec's graph; its shape is the one written above.
    nodes = {node["id"]: node for node in spec.model.networks["denoiser"].graph}
    widths = tuple(nodes[i]["filters"] for i in ("d1", "d2", "mid"))
    network = ddpm_unet(widths, nodes["tsin"]["dim"], nodes["temb"]["units"], nodes["att"]["heads"])
    ema_network = average_copy(network)
    return DiffusionModel(network, ema_network, d.timesteps, d.beta_start, d.beta_end, spec.train.ema, spec.seed)


PLAIN = {
    "autoencoder": _autoencoder,
    "vae": _vae,
    "cvae": lambda spec, prep: _vae(spec, prep, conditional=True),
    "dcgan": _dcgan,
    "wgan_gp": _wgan_gp,
    "ddpm": _ddpm,
}


if __name__ == "__main__":
    main()
