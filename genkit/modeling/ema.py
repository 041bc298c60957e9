"""An exponential moving average (EMA) of a network's weights, for sampling and export.

Generators and denoisers sample better from averaged weights than from the last step's
(Karras et al. 2018; Ho et al. 2020 use decay 0.9999; Yazıcı et al. 2019 for GANs). The
average is a second copy of the network, so it is saved with the family's weights (a
resumed run continues the average) and exports like any other network.

Example, in a family:

    self.ema = WeightAverage(self.generator, spec.train.ema)       # in __init__
    self.ema_network = self.ema.network                            # an attribute: saved with the weights
    self.ema.update(self.generator_optimizer.iterations)          # after apply_gradients
    self.ema_network                                               # sample / export this
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["WeightAverage"]


class WeightAverage:
    """θ̄ ← d·θ̄ + (1 − d)·θ after every update, with d warmed up as min(decay, (1 + n) / (10 + n)).

    The warm-up (as in `tf.train.ExponentialMovingAverage` with `num_updates`) keeps the
    average of a short run from being dominated by the random initial weights: with
    decay 0.999 and no warm-up, 500 steps would leave 61% of the initialisation in it.
    Every weight is averaged, including BatchNorm's moving statistics.

    Args:
        network: the functional Keras network being trained.
        decay: d, in (0, 1); e.g. 0.999.
    """

    def __init__(self, network: keras.Model, decay: float):
        self.decay = float(decay)
        self.source = network
        self.network = keras.models.clone_model(network)
        self.network.set_weights(network.get_weights())
        self.network.trainable = False

    def update(self, step) -> None:
        """Move the average toward the current weights; `step` counts updates made so far (a tensor)."""
        n = tf.cast(step, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
        for average, current in zip(self.network.weights, self.source.weights):
            average.assign(decay * average + (1.0 - decay) * tf.cast(current, average.dtype))
