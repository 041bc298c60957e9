"""Input corruptions of the denoising autoencoder: functions of tensors, no state.

A denoising autoencoder reconstructs the clean `x` from a corrupted copy x~ ~ q(x~ | x).

Reference: Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked Denoising
Autoencoders", JMLR 11 (2010), section 4.2 — masking noise (MN) and additive isotropic
Gaussian noise (GS).

Both take a `keras.random.SeedGenerator` as `seed`: its state advances on every call,
so each training step draws new noise, also inside a compiled `train_step`, and a run
is reproducible from the generator's seed. An int seed would draw the same noise every
step; None uses Keras's global generator (not reproducible).

Example, in a train_step:

    x_noisy = mask_noise(x, rate=0.3, seed=self.noise_seed, low=0.0)
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["gaussian_noise", "mask_noise"]


def mask_noise(x, rate: float, seed=None, low: float = 0.0):
    """Masking noise: each value, independently with probability `rate`, becomes `low`.

    `low` is the range's "off" value — 0.0 for [0, 1] data, -1.0 for [-1, 1] — so a
    masked pixel is black in either range. The paper masks an exact fraction of each
    input; an independent draw per value masks `rate` of them on average, which is the
    same for inputs of hundreds of values and needs no sort.
    """
    keep = keras.random.uniform(ops.shape(x), seed=seed) >= rate  # uniform on [0, 1): P(keep) = 1 - rate
    return ops.where(keep, x, ops.full_like(x, low))


def gaussian_noise(x, stddev: float, low: float = 0.0, high: float = 1.0, seed=None):
    """Additive Gaussian noise: x + N(0, stddev^2) per value, clipped back into [low, high].

    Clipping keeps the corrupted input inside the value range the encoder sees on clean data.
    """
    noise = keras.random.normal(ops.shape(x), stddev=stddev, seed=seed)  # float32 draw, cast below
    return ops.clip(x + ops.cast(noise, x.dtype), low, high)
