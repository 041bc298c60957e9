"""`ReplicaSeedGenerator`: seeded noise that differs between the replicas of a tf.distribute strategy.

A `keras.random.SeedGenerator` created under a strategy is a mirrored variable, so every
replica reads the same state and draws the same numbers: two GPUs would generate the same
fakes from the same latents, corrupt their shares with the same noise and pick the same
diffusion timesteps, halving the variety a batch is meant to have. This generator folds
the replica's index into the seed it hands out; replica 0 (and any run without a strategy)
draws exactly what a plain `SeedGenerator` would.

Example:

    self.noise = ReplicaSeedGenerator(spec.seed)
    z = keras.random.normal((n, latent_dim), seed=self.noise)
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["ReplicaSeedGenerator"]

# Replica r counts its draws from r · 2³²: its stream never meets another's in a run's
# lifetime (2³² draws), and every replica's state still advances in step.
_REPLICA_STRIDE = 2**32


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A `keras.random.SeedGenerator` whose seeds also depend on the replica drawing them."""

    def next(self, ordered=True):
        import tensorflow as tf

        seed = super().next(ordered=ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        offset = ops.cast(context.replica_id_in_sync_group, seed.dtype) * _REPLICA_STRIDE
        return seed + ops.stack([ops.zeros((), seed.dtype), offset])
