"""What the families that train each network with its own optimizer share (schema.SEPARATE_OPTIMIZERS).

Adversarial families (gan, cgan, wgan) and the translation families (pix2pix, cyclegan) update
their networks one at a time, each down the gradient of its own loss with its own optimizer
(`train.optimizers[role]`, two time-scale updates: Heusel et al. 2017). This module holds
only that plumbing — building the optimizers, loss scaling, one update, logging — so each
family's `train_step` reads on its own.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkit.families.base import GenerativeModel, update_tracker

__all__ = ["SeparateOptimizers", "gradient_norm"]


def gradient_norm(grads, optimizer):
    """Global L2 norm of the gradients of a network's batch-mean loss.

    The mixed-precision loss scale and the division over replicas (`scaled`) are taken out;
    under a tf.distribute strategy it is each replica's norm, before Keras sums the replicas'
    gradients, averaged over the replicas.
    """
    norm = tf.linalg.global_norm([g for g in grads if g is not None])
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return norm * replicas / tf.cast(optimizer.scale_loss(tf.constant(1.0)), norm.dtype)


class SeparateOptimizers(GenerativeModel):
    """Shared plumbing of the families with one optimizer per network (not a family itself).

    A subclass returns its networks by role from `players()`; after `compile` each has its
    optimizer as the attribute `<role>_optimizer`.
    """

    def players(self) -> dict:
        """role -> the network that role's optimizer updates (the roles of schema.FAMILY_NETWORKS)."""
        return {}

    def compile(self, optimizers: dict, jit_compile=False):
        """`optimizers`: role -> Keras optimizer, one for each of `players()`.

        Keras's own `optimizer` stays None: `fit` would otherwise build it over every
        network's weights. Each optimizer is built here on its own network's weights, so a
        checkpoint restores all of them (iterations and moments) into matching variables.
        """
        super().compile(optimizer=None, jit_compile=jit_compile)
        mixed = keras.mixed_precision.global_policy().name == "mixed_float16"
        for role, network in self.players().items():
            optimizer = optimizers[role]
            if mixed:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{role}_loss_scale")
            optimizer.build(network.trainable_variables)
            setattr(self, f"{role}_optimizer", optimizer)

    def optimizer_variables(self) -> list:
        return [(getattr(self, f"{role}_optimizer"), network.trainable_variables) for role, network in self.players().items()]

    def updates_per_step(self, role: str) -> int:
        """Optimizer updates of `role` per train step (for learning-rate schedules)."""
        return 1

    def scaled(self, loss, optimizer):
        """The loss to differentiate: divided over replicas, times the mixed-precision loss scale."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return optimizer.scale_loss(loss / replicas if replicas > 1 else loss)

    def apply(self, optimizer, tape, scaled_loss, network):
        """One update of `network` down the gradient of `scaled_loss` (from `scaled`, inside the
        tape); returns the gradients' norm."""
        variables = network.trainable_variables
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return gradient_norm(grads, optimizer)

    def record(self, values: dict, batch=None) -> dict:
        """Like `GenerativeModel.record`, for the named values this step has (test steps log fewer)."""
        for tracker in self.trackers:
            if tracker.name in values:
                update_tracker(tracker, values[tracker.name], batch)
        return {t.name: t.result() for t in self.trackers if t.name in values}
