"""Helper functions a family's `train_step` calls: batches, one update, loss scaling, logging.

They are plain functions of tensors and networks, so a family's step reads top to bottom:

    with tf.GradientTape() as tape:
        loss = ...
        scaled = scaled_loss(loss, self.generator_optimizer)
    norm = apply_update(self.generator_optimizer, tape, scaled, self.generator)
    return track(self.trackers, {"loss": loss, "g_grad_norm": norm})
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = [
    "apply_update",
    "compile_per_role",
    "gradient_norm",
    "judge_as_one_batch",
    "optimizer_variables",
    "scaled_loss",
    "split_batch",
    "track",
    "unpack",
]


def unpack(data):
    """Keras hands over `x` or `(x, y)`; return (x, y or None)."""
    if isinstance(data, (tuple, list)):
        return data[0], (data[1] if len(data) > 1 else None)
    return data, None


def split_batch(x, y, k: int):
    """k sub-batches [(x_i, y_i)] of ceil(B/k) examples; example j goes to sub-batch j mod k.

    Batches whose size is a multiple of k (a rule checks data.batch_size) split exactly; a
    short last batch of an epoch reuses a few examples rather than leave a sub-batch empty.
    """
    if k == 1:
        return [(x, y)]
    n = tf.shape(x)[0]
    m = (n + k - 1) // k
    parts = []
    for i in range(k):
        index = (tf.range(m) * k + i) % n  # (m,)
        parts.append((tf.gather(x, index), None if y is None else tf.gather(y, index)))
    return parts


def judge_as_one_batch(score, real, fake):
    """`score` (images -> the opponent's outputs) on real and generated images as one batch.

    Returns [(real half, fake half)] per output. One batch, so batch normalisation normalises
    both halves with the same statistics in training and, through its moving averages of that
    mixture, at inference; scored apart, a batch-normed discriminator tells the halves apart by
    their batch statistics and its held-out scores mean little.
    """
    n = tf.shape(real)[0]
    outputs = score(tf.concat([tf.cast(real, fake.dtype), fake], axis=0))  # (2n, ...)
    return [(out[:n], out[n:]) for out in tf.nest.flatten(outputs)]


def scaled_loss(loss, optimizer):
    """The loss to differentiate, inside the tape: divided over replicas (Keras sums their
    gradients) and multiplied by the loss scale under mixed precision.

    A replica's batch mean over the replica count is its share of the global batch mean only
    when the replicas take equal shares, which the trainer makes sure of (`genkit.train.distribute`).
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return optimizer.scale_loss(loss / replicas if replicas > 1 else loss)


def gradient_norm(grads, optimizer):
    """Global L2 norm of the gradients of a network's batch-mean loss.

    The mixed-precision loss scale and the division over replicas (`scaled_loss`) are taken
    out; under a tf.distribute strategy it is each replica's norm, before Keras sums the
    replicas' gradients, averaged over the replicas.
    """
    norm = tf.linalg.global_norm([g for g in grads if g is not None])
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return norm * replicas / tf.cast(optimizer.scale_loss(tf.constant(1.0)), norm.dtype)


def apply_update(optimizer, tape, scaled, network):
    """One update of `network` down the gradient of `scaled` (from `scaled_loss`, inside the
    tape); returns the gradients' norm."""
    variables = network.trainable_variables
    grads = tape.gradient(scaled, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return gradient_norm(grads, optimizer)


def compile_per_role(model, networks: dict, optimizers: dict) -> None:
    """Give each network its own optimizer, as the attribute `<role>_optimizer` of `model`.

    Called from the family's `compile` after `keras.Model.compile(optimizer=None)`: Keras's own
    optimizer stays None, since `fit` would otherwise build it over every network's weights.
    Each optimizer is built here on its own network's weights, so a checkpoint restores all of
    them (iterations and moments) into matching variables. Under mixed_float16 each gets its
    own dynamic loss scale.
    """
    mixed = keras.mixed_precision.global_policy().name == "mixed_float16"
    for role, network in networks.items():
        optimizer = optimizers[role]
        if mixed:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{role}_loss_scale")
        optimizer.build(network.trainable_variables)
        setattr(model, f"{role}_optimizer", optimizer)


def optimizer_variables(model, card) -> list:
    """[(optimizer, the variables it updates)]: what a checkpoint's optimizer state belongs to."""
    if card.optimizers == "one":
        return [(model.optimizer, model.trainable_variables)]
    nets = model.networks()
    return [(getattr(model, f"{role}_optimizer"), nets[role].trainable_variables) for role in card.roles]


def track(trackers, values: dict, batch=None, current: dict | None = None) -> dict:
    """Update the `keras.metrics.Mean` trackers named in `values`; return their results as the step's logs.

    `current`: values logged as they are, not averaged (a schedule's value at this step).

    `batch`: the number of examples the values are means over. Weighted by it, a tracker holds
    the mean over examples whatever the batch sizes; under a tf.distribute strategy Keras sums
    the replicas' totals and counts, so it is the global mean. A replica's share of a short
    last evaluation batch can be empty: its means are NaN (0 / 0) and weigh nothing.

    Under a multi-worker strategy each log is returned with shape (1,): Keras 3 reduces
    multi-worker logs with `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars
    (tensorflow/tensorflow#72388).
    """
    for tracker in trackers:
        if tracker.name not in values:
            continue
        value = values[tracker.name]
        if batch is None:
            tracker.update_state(value)
        else:
            weight = tf.cast(batch, "float32")
            tracker.update_state(tf.where(weight > 0, tf.cast(value, "float32"), 0.0), sample_weight=weight)
    logs = {**{t.name: t.result() for t in trackers if t.name in values}, **(current or {})}
    if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        return {key: tf.reshape(value, (1,)) for key, value in logs.items()}
    return logs
