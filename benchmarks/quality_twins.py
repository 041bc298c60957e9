"""Hand-written Keras 3 twins of genkit's shipped MNIST specs, for benchmarks/quality.py.

Plain Keras in keras.io style (a `keras.Model` subclass with `train_step`, the networks in
Keras code) and no genkit import, so the comparison is with what a Keras user writes from
the keras.io examples:

- `CVAE`: "Variational AutoEncoder" (fchollet) with the one-hot label tiled over the image
  for the encoder and joined to z for the decoder;
- `CGAN`: "Conditional GAN" (Sayak Paul);
- `DCGAN`: "DCGAN to generate face images" (fchollet), at 28x28: two conv layers each side,
  LeakyReLU 0.2, the non-saturating loss, Adam 2e-4 / beta_1 0.5 (the DCGAN paper's), batch 64;
- `WGANGP`: "WGAN-GP overriding Model.train_step" (A_K_Nain), its blocks at 28x28;
- `ConditionalDDPM`: "Denoising Diffusion Probabilistic Model" (A_K_Nain) made class-conditional:
  a label embedding added to the time embedding, 10% label dropout to a null class,
  classifier-free guidance and DDIM sampling.

Each twin takes images in its `value_range` and has the interface the harness needs:

    twin = build("dcgan", image_shape=(28, 28, 1), num_classes=10, seed=0)
    twin.fit_for(x, y, seconds=120)        # trains until the wall-clock budget is spent
    images = twin.sample(n, labels, seed)  # (n, H, W, C) in twin.value_range

Where a twin departs from its keras.io example it says why in a comment (the data are 3,600
28x28 digits on a CPU, not 60,000 or 64x64 faces on a GPU).
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

__all__ = ["FAMILIES", "build"]


class Deadline(keras.callbacks.Callback):
    """Stops `fit` at the first batch end after `seconds` of wall time (compilation included).

    With `snapshot_every`, keeps (seconds trained, steps, weights) at that interval, so the
    harness can go back to the weights of an earlier time (`Twin.match`).
    """

    def __init__(self, seconds: float, snapshot_every: float | None = None, offset: tuple = (0.0, 0)):
        super().__init__()
        self.seconds, self.snapshot_every, self.offset = seconds, snapshot_every, offset
        self.start, self.steps, self.snapshots = time.monotonic(), 0, []
        self.next_snapshot = snapshot_every or math.inf

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        elapsed = time.monotonic() - self.start
        if elapsed >= self.next_snapshot:
            self.snapshots.append((self.offset[0] + elapsed, self.offset[1] + self.steps, self.model.get_weights()))
            self.next_snapshot += self.snapshot_every
        if elapsed >= self.seconds:
            self.model.stop_training = True


class Twin(keras.Model):
    """What the harness calls: fit_for(x, y, seconds), match(seconds, ...) and sample(n, labels, seed)."""

    value_range = (0.0, 1.0)
    conditional = False
    batch_size = 64
    # genkit's default too. Keras's "auto" compiles with XLA, which on this CPU (one thread)
    # spent 50 s of a WGAN-GP's budget before its first step and gave fewer steps in 30-70 s.
    jit_compile = False

    def __init__(self, image_shape, num_classes, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.num_classes = tuple(image_shape), num_classes
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trained, self.snapshots = (0.0, 0), []

    def fit_for(self, x, y, seconds: float, snapshot_every: float | None = None) -> dict:
        """Train on (x, y) for `seconds` more; the seconds and steps trained so far."""
        inputs = (x, keras.utils.to_categorical(y, self.num_classes)) if self.conditional else x
        dataset = tf.data.Dataset.from_tensor_slices(inputs).shuffle(len(x)).batch(self.batch_size, drop_remainder=True)
        if not self.compiled:
            self.compile_twin()
            self.jit_compile = type(self).jit_compile
        deadline = Deadline(seconds, snapshot_every, self.trained)
        self.fit(dataset.prefetch(2), epochs=1_000_000, callbacks=[deadline], shuffle=False, verbose=0)
        self.trained = (self.trained[0] + time.monotonic() - deadline.start, self.trained[1] + deadline.steps)
        self.snapshots += deadline.snapshots
        return {"train_seconds": self.trained[0], "steps": self.trained[1]}

    def match(self, seconds: float, train_more) -> dict:
        """The weights after `seconds` of training: the last snapshot not later, or `train_more(missing seconds)`."""
        if seconds >= self.trained[0]:
            return train_more(seconds - self.trained[0])
        earlier = [s for s in self.snapshots if s[0] <= seconds] or self.snapshots[:1]
        at, steps, weights = earlier[-1]
        self.set_weights(weights)
        return {"train_seconds": at, "steps": steps}

    def sample(self, n: int, labels=None, seed: int = 0) -> np.ndarray:
        """n images in `value_range`; a conditional twin draws them for `labels` (int, (n,))."""
        rng, chunks = np.random.default_rng(seed), []
        for start in range(0, n, 500):
            m = min(500, n - start)
            chunks.append(self.generate(rng, None if labels is None else np.asarray(labels)[start : start + m], m))
        return np.clip(np.concatenate(chunks), *self.value_range)

    def generate(self, rng, labels, n):
        """n images of an unconditional generator on z ~ N(0, I) (conditional twins override it)."""
        z = rng.standard_normal((n, self.latent_dim)).astype("float32")
        return ops.convert_to_numpy(self.generator(z, training=False))

    def one_hot(self, labels):
        return np.eye(self.num_classes, dtype="float32")[np.asarray(labels, dtype="int64")]


# -- cvae: keras.io "Variational AutoEncoder", conditioned on the label


class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * epsilon."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class CVAE(Twin):
    conditional = True
    batch_size = 128  # keras.io
    latent_dim = 2  # keras.io's; the label carries the class, z the style

    def __init__(self, image_shape, num_classes, seed=0, **kwargs):
        super().__init__(image_shape, num_classes, seed, **kwargs)
        h, w, c = self.image_shape
        image, label = keras.Input(self.image_shape), keras.Input((num_classes,))
        tiled = layers.Lambda(lambda v: ops.tile(v[:, None, None, :], (1, h, w, 1)))(label)
        x = layers.Concatenate()([image, tiled])
        x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Flatten()(x)
        x = layers.Dense(16, activation="relu")(x)
        z_mean = layers.Dense(self.latent_dim, name="z_mean")(x)
        z_log_var = layers.Dense(self.latent_dim, name="z_log_var")(x)
        z = Sampling(seed)([z_mean, z_log_var])
        self.encoder = keras.Model([image, label], [z_mean, z_log_var, z], name="encoder")

        latent, label = keras.Input((self.latent_dim,)), keras.Input((num_classes,))
        x = layers.Concatenate()([latent, label])
        x = layers.Dense((h // 4) * (w // 4) * 64, activation="relu")(x)
        x = layers.Reshape((h // 4, w // 4, 64))(x)
        x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
        x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
        out = layers.Conv2DTranspose(c, 3, activation="sigmoid", padding="same")(x)
        self.decoder = keras.Model([latent, label], out, name="decoder")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def compile_twin(self):
        self.compile(optimizer=keras.optimizers.Adam())

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        images, labels = data
        with tf.GradientTape() as tape:
            z_mean, z_log_var, z = self.encoder([images, labels])
            reconstruction = self.decoder([z, labels])
            reconstruction_loss = ops.mean(
                ops.sum(keras.losses.binary_crossentropy(images, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            loss = reconstruction_loss + ops.mean(ops.sum(kl_loss, axis=1))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def generate(self, rng, labels, n):
        z = rng.standard_normal((n, self.latent_dim)).astype("float32")
        return ops.convert_to_numpy(self.decoder([z, self.one_hot(labels)], training=False))


# -- cgan: keras.io "Conditional GAN"


class CGAN(Twin):
    conditional = True
    latent_dim = 128

    def __init__(self, image_shape, num_classes, seed=0, **kwargs):
        super().__init__(image_shape, num_classes, seed, **kwargs)
        h, w, c = self.image_shape
        g_channels = self.latent_dim + num_classes
        self.discriminator = keras.Sequential(
            [
                keras.Input((h, w, c + num_classes)),
                layers.Conv2D(64, 3, strides=2, padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Conv2D(128, 3, strides=2, padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.GlobalMaxPooling2D(),
                layers.Dense(1),
            ],
            name="discriminator",
        )
        self.generator = keras.Sequential(
            [
                keras.Input((g_channels,)),
                layers.Dense((h // 4) * (w // 4) * g_channels),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Reshape((h // 4, w // 4, g_channels)),
                layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Conv2DTranspose(128, 4, strides=2, padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Conv2D(c, 7, padding="same", activation="sigmoid"),
            ],
            name="generator",
        )
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile_twin(self):
        super().compile()
        self.d_optimizer = keras.optimizers.Adam(learning_rate=3e-4)
        self.g_optimizer = keras.optimizers.Adam(learning_rate=3e-4)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def train_step(self, data):
        real_images, one_hot_labels = data
        h, w = self.image_shape[:2]
        image_one_hot = ops.tile(one_hot_labels[:, None, None, :], (1, h, w, 1))
        batch_size = ops.shape(real_images)[0]
        latents = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        generated = self.generator(ops.concatenate([latents, one_hot_labels], axis=1))
        fake_and_labels = ops.concatenate([generated, image_one_hot], -1)
        real_and_labels = ops.concatenate([real_images, image_one_hot], -1)
        combined = ops.concatenate([fake_and_labels, real_and_labels], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)  # 1: fake
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        latents = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        misleading = ops.zeros((batch_size, 1))  # "all real"
        with tf.GradientTape() as tape:
            fake = self.generator(ops.concatenate([latents, one_hot_labels], axis=1))
            predictions = self.discriminator(ops.concatenate([fake, image_one_hot], -1))
            g_loss = self.loss_fn(misleading, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    def generate(self, rng, labels, n):
        z = rng.standard_normal((n, self.latent_dim)).astype("float32")
        return ops.convert_to_numpy(self.generator(np.concatenate([z, self.one_hot(labels)], 1), training=False))


# -- dcgan: keras.io "DCGAN", at 28x28


class DCGAN(Twin):
    latent_dim = 128

    def __init__(self, image_shape, num_classes, seed=0, **kwargs):
        super().__init__(image_shape, num_classes, seed, **kwargs)
        h, w, c = self.image_shape
        # keras.io's three stride-2 convolutions each side take 64x64 faces to 8x8; two take
        # 28x28 digits to 7x7, the last one of the generator making the image (keras.io adds
        # a 5x5 conv at full size: with its widths, 0.5 steps/s here; with widths 128, 64 and
        # that conv, 1.2 steps/s against genkit's 2.9 in one run, FID 440 against 265).
        self.discriminator = keras.Sequential(
            [
                keras.Input(self.image_shape),
                layers.Conv2D(64, 4, strides=2, padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Conv2D(128, 4, strides=2, padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Flatten(),
                layers.Dropout(0.2),
                layers.Dense(1, activation="sigmoid"),
            ],
            name="discriminator",
        )
        self.generator = keras.Sequential(
            [
                keras.Input((self.latent_dim,)),
                layers.Dense((h // 4) * (w // 4) * 128),
                layers.Reshape((h // 4, w // 4, 128)),
                layers.Conv2DTranspose(64, 4, strides=2, padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="sigmoid"),
            ],
            name="generator",
        )
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    def compile_twin(self):
        super().compile()
        # The DCGAN paper's Adam (keras.io's face example uses 1e-4 and the default beta_1).
        self.d_optimizer = keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)
        self.g_optimizer = keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)
        self.loss_fn = keras.losses.BinaryCrossentropy()

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0]
        latents = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        generated_images = self.generator(latents)
        combined_images = ops.concatenate([generated_images, real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)  # 1: fake
        # keras.io: "Add random noise to the labels - important trick!"
        labels += 0.05 * keras.random.uniform(ops.shape(labels), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined_images))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        latents = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        misleading_labels = ops.zeros((batch_size, 1))  # non-saturating: "these are real"
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(misleading_labels, self.discriminator(self.generator(latents)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


# -- wgan_gp: keras.io "WGAN-GP", its blocks at 28x28


def conv_block(x, filters, activation, kernel_size=5, strides=2, use_bn=False, use_dropout=False, drop_value=0.3):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=not use_bn)(x)
    if use_bn:
        x = layers.BatchNormalization()(x)
    x = activation(x)
    return layers.Dropout(drop_value)(x) if use_dropout else x


def upsample_block(x, filters, activation, use_bn=True, use_bias=False):
    x = layers.UpSampling2D(2)(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias)(x)
    if use_bn:
        x = layers.BatchNormalization()(x)
    return activation(x)


class WGANGP(Twin):
    value_range = (-1.0, 1.0)
    latent_dim = 128
    discriminator_extra_steps = 3  # keras.io
    gp_weight = 10.0
    # keras.io trains on 60,000 images in batches of 512 on a GPU; on 3,600 digits on a CPU
    # that is 7 updates an epoch, so the DCGAN batch.
    batch_size = 64

    def __init__(self, image_shape, num_classes, seed=0, **kwargs):
        super().__init__(image_shape, num_classes, seed, **kwargs)
        h, w, c = self.image_shape
        # keras.io pads 28x28 to 32x32 and uses four critic blocks (to 2x2) and three
        # generator blocks (from 4x4); at 28x28, three critic blocks (to 4x4) and two
        # generator blocks (from 7x7).
        image = keras.Input(self.image_shape)
        x = conv_block(image, 64, layers.LeakyReLU(0.2))
        x = conv_block(x, 128, layers.LeakyReLU(0.2), use_dropout=True)
        x = conv_block(x, 256, layers.LeakyReLU(0.2), use_dropout=True)
        x = layers.Dropout(0.2)(layers.Flatten()(x))
        self.critic = keras.Model(image, layers.Dense(1)(x), name="critic")

        noise = keras.Input((self.latent_dim,))
        x = layers.Dense((h // 4) * (w // 4) * 256, use_bias=False)(noise)
        x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
        x = layers.Reshape((h // 4, w // 4, 256))(x)
        x = upsample_block(x, 128, layers.LeakyReLU(0.2))
        x = upsample_block(x, 64, layers.LeakyReLU(0.2))
        out = layers.Conv2D(c, 3, padding="same", activation="tanh")(x)
        self.generator = keras.Model(noise, out, name="generator")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile_twin(self):
        super().compile()
        self.d_optimizer = keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.9)
        self.g_optimizer = keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, beta_2=0.9)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def gradient_penalty(self, batch_size, real_images, fake_images):
        alpha = tf.random.uniform([batch_size, 1, 1, 1], 0.0, 1.0)
        interpolated = real_images + alpha * (fake_images - real_images)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.critic(interpolated, training=True)
        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        return tf.reduce_mean((norm - 1.0) ** 2)

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        for _ in range(self.discriminator_extra_steps):
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake_images = self.generator(random_latent_vectors, training=True)
                fake_logits = self.critic(fake_images, training=True)
                real_logits = self.critic(real_images, training=True)
                d_cost = tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)
                d_loss = d_cost + self.gp_weight * self.gradient_penalty(batch_size, real_images, fake_images)
            d_gradient = tape.gradient(d_loss, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_gradient, self.critic.trainable_variables))
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            generated_images = self.generator(random_latent_vectors, training=True)
            g_loss = -tf.reduce_mean(self.critic(generated_images, training=True))
        gen_gradient = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gen_gradient, self.generator.trainable_variables))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


# -- ddpm_cond: keras.io "DDPM", class-conditional with classifier-free guidance


class TimeEmbedding(layers.Layer):
    """keras.io's sinusoidal embedding of the timestep."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        half = dim // 2
        self.frequencies = np.exp(-math.log(10000.0) * np.arange(half) / (half - 1)).astype("float32")

    def call(self, t):
        angles = ops.cast(t, "float32")[:, None] * self.frequencies[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)


class AttentionBlock(layers.Layer):
    """keras.io's single-head self-attention over the H*W positions."""

    def __init__(self, units, groups=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.norm = layers.GroupNormalization(groups)
        self.query, self.key, self.value = layers.Dense(units), layers.Dense(units), layers.Dense(units)
        self.proj = layers.Dense(units)

    def call(self, inputs):
        _, height, width, channels = inputs.shape
        x = self.norm(inputs)
        q, k, v = (ops.reshape(f(x), (-1, height * width, channels)) for f in (self.query, self.key, self.value))
        attn = ops.softmax(ops.einsum("bnc,bmc->bnm", q, k) * channels**-0.5, axis=-1)
        out = ops.reshape(ops.einsum("bnm,bmc->bnc", attn, v), (-1, height, width, channels))
        return inputs + self.proj(out)


def residual_block(x, emb, width, groups=8):
    """keras.io's ResidualBlock: GroupNorm, swish, conv, plus the (time + label) embedding."""
    residual = x if x.shape[-1] == width else layers.Conv2D(width, 1)(x)
    h = layers.Conv2D(width, 3, padding="same")(layers.Activation("swish")(layers.GroupNormalization(groups)(x)))
    h = h + layers.Dense(width)(layers.Activation("swish")(emb))[:, None, None, :]
    h = layers.Conv2D(width, 3, padding="same")(layers.Activation("swish")(layers.GroupNormalization(groups)(h)))
    return layers.Add()([residual, h])


def conditional_unet(image_shape, num_classes, widths=(32, 64, 128), has_attention=(False, False, True), blocks=2):
    """keras.io's U-Net at 28x28 (28 -> 14 -> 7), the label embedded and added to the time embedding."""
    image = keras.Input(image_shape, name="image")
    time_input = keras.Input((), dtype="int32", name="time")
    label = keras.Input((), dtype="int32", name="label")  # num_classes is the null label
    emb_dim = widths[0] * 4
    emb = layers.Dense(emb_dim, activation="swish")(TimeEmbedding(widths[0])(time_input))
    emb = layers.Dense(emb_dim)(emb) + layers.Embedding(num_classes + 1, emb_dim)(label)
    x = layers.Conv2D(widths[0], 3, padding="same")(image)
    skips = [x]
    for i, width in enumerate(widths):
        for _ in range(blocks):
            x = residual_block(x, emb, width)
            x = AttentionBlock(width)(x) if has_attention[i] else x
            skips.append(x)
        if i < len(widths) - 1:
            x = layers.AveragePooling2D(2)(x)  # keras.io: a stride-2 conv; 7 stays 7 here
            skips.append(x)
    x = residual_block(x, emb, widths[-1])
    x = AttentionBlock(widths[-1])(x)
    x = residual_block(x, emb, widths[-1])
    for i in reversed(range(len(widths))):
        for _ in range(blocks + 1):
            x = residual_block(layers.Concatenate()([x, skips.pop()]), emb, widths[i])
            x = AttentionBlock(widths[i])(x) if has_attention[i] else x
        if i > 0:
            x = layers.UpSampling2D(2)(x)
    x = layers.Activation("swish")(layers.GroupNormalization(8)(x))
    out = layers.Conv2D(image_shape[-1], 3, padding="same", kernel_initializer="zeros")(x)
    return keras.Model([image, time_input, label], out, name="unet")


class ConditionalDDPM(Twin):
    value_range = (-1.0, 1.0)
    conditional = True
    timesteps = 1000  # keras.io: linear betas 1e-4 .. 0.02 over 1,000 steps
    # keras.io: 0.999 from the first step, which after the ~800 steps a CPU has still holds
    # 0.999^800 ≈ 45% of the initial weights (every sample came out one class). The warm-up of
    # tf.train.ExponentialMovingAverage(num_updates) — genkit's too — keeps the twin a fair DDPM.
    ema = 0.999
    label_dropout = 0.1
    guidance_scale = 2.0
    sampling_steps = 50
    # keras.io: batch 32, learning rate 2e-4 for hours on a GPU; 1e-3 and batch 64 learn in the
    # minutes a CPU has (the EMA smooths the noisier weights).
    batch_size = 64
    learning_rate = 1e-3

    def __init__(self, image_shape, num_classes, seed=0, **kwargs):
        super().__init__(image_shape, num_classes, seed, **kwargs)
        # One residual block per level (keras.io: two) keeps a CPU step near genkit's small U-Net's.
        self.network = conditional_unet(self.image_shape, num_classes, blocks=1)
        self.ema_network = keras.models.clone_model(self.network)
        self.ema_network.set_weights(self.network.get_weights())
        betas = np.linspace(1e-4, 0.02, self.timesteps, dtype=np.float64)
        self.alphas_cumprod = np.cumprod(1.0 - betas)
        self.sqrt_ac = tf.constant(np.sqrt(self.alphas_cumprod), tf.float32)
        self.sqrt_1m_ac = tf.constant(np.sqrt(1.0 - self.alphas_cumprod), tf.float32)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.denoise = tf.function(lambda x, t, y: self.ema_network([x, t, y], training=False))  # traced once

    def compile_twin(self):
        self.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate), loss=keras.losses.MeanSquaredError()
        )

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        images, one_hot = data
        batch_size = ops.shape(images)[0]
        labels = ops.cast(ops.argmax(one_hot, axis=-1), "int32")
        dropped = keras.random.uniform((batch_size,), seed=self.seed_generator) < self.label_dropout
        labels = ops.where(dropped, self.num_classes, labels)  # the null label, for guidance
        t = keras.random.randint((batch_size,), 0, self.timesteps, seed=self.seed_generator)
        noise = keras.random.normal(ops.shape(images), seed=self.seed_generator)
        noisy = (
            ops.take(self.sqrt_ac, t)[:, None, None, None] * images
            + ops.take(self.sqrt_1m_ac, t)[:, None, None, None] * noise
        )
        with tf.GradientTape() as tape:
            loss = self.loss(noise, self.network([noisy, t, labels], training=True))
        grads = tape.gradient(loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_weights))
        updates = ops.cast(self.optimizer.iterations, "float32")  # already counts this step
        decay = ops.minimum(self.ema, (1.0 + updates) / (10.0 + updates))
        for ema_weight, weight in zip(self.ema_network.weights, self.network.weights):
            ema_weight.assign(decay * ema_weight + (1 - decay) * weight)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def generate(self, rng, labels, n):
        """DDIM (eta 0) over `sampling_steps` evenly spaced timesteps, with classifier-free guidance."""
        labels = np.asarray(labels, dtype="int32")
        null = np.full_like(labels, self.num_classes)
        x = rng.standard_normal((n, *self.image_shape)).astype("float32")
        times = np.linspace(self.timesteps - 1, 0, self.sampling_steps).round().astype("int32")
        for i, t in enumerate(times):
            both = self.denoise(np.concatenate([x, x]), np.full(2 * n, t, "int32"), np.concatenate([labels, null]))
            eps_label, eps_null = np.split(both.numpy(), 2)
            eps = eps_null + self.guidance_scale * (eps_label - eps_null)
            a_t = self.alphas_cumprod[t]
            a_prev = self.alphas_cumprod[times[i + 1]] if i + 1 < len(times) else 1.0
            x0 = np.clip((x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t), -1.0, 1.0)  # keras.io clips x0
            eps = (x - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
            x = (np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps).astype("float32")
        return x


FAMILIES = {"cvae": CVAE, "cgan": CGAN, "dcgan": DCGAN, "wgan_gp": WGANGP, "ddpm_cond": ConditionalDDPM}


def build(family: str, image_shape, num_classes: int, seed: int = 0) -> Twin:
    """The twin of `family` for images of `image_shape` and `num_classes` labels."""
    keras.utils.set_random_seed(seed)
    return FAMILIES[family](image_shape, num_classes, seed)
