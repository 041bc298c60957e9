"""Differentiable augmentation (DiffAugment) of the images a discriminator or critic judges.

Zhao, Liu, Lin, Zhu & Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020: with few training images the discriminator memorises them, its verdicts stop
generalising and the generator gets useless gradients. Transforming *both* real and
generated images, every time D sees them (its own step and the generator's step), hides the
training set's exact pixels from D without changing the distribution G must match, because
the transforms are differentiable and G's gradient flows back through them.

Two policies fit images of any channel count (the paper's colour policy assumes RGB):

    translation  shift each image by up to ±ratio·size pixels (ratio 1/8), filling with `fill`
    cutout       blank one square of half the image's side at a random place, with `fill`

`fill` is the background the data set has in its range (MNIST in [-1, 1]: -1), so a shifted
or cut digit still looks like a digit on its background.

Example, in a family's train step:

    x_real = diff_augment(x_real, ("translation", "cutout"), noise, fill=-1.0)
    fake = diff_augment(fake, ("translation", "cutout"), noise, fill=-1.0)
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["AUGMENT_POLICIES", "cutout", "diff_augment", "translate"]

AUGMENT_POLICIES = ("translation", "cutout")


def translate(images, noise, fill: float = 0.0, ratio: float = 0.125):
    """Each image of `images` (B, H, W, C) shifted by its own random (dy, dx), |d| <= ratio·side."""
    shape = tf.shape(images)
    b, h, w = shape[0], images.shape[1], images.shape[2]
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _random_ints(noise, b, -sh, sh)  # (B,)
    dx = _random_ints(noise, b, -sw, sw)
    padded = tf.pad(images, [[0, 0], [sh, sh], [sw, sw], [0, 0]], constant_values=fill)
    # Output row i reads padded row i + sh − dy: the image moves down by dy.
    rows = tf.range(h)[None, :] + sh - dy[:, None]  # (B, H)
    cols = tf.range(w)[None, :] + sw - dx[:, None]  # (B, W)
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)  # (B, H, W + 2sw, C)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def cutout(images, noise, fill: float = 0.0, ratio: float = 0.5):
    """Each image with one (ratio·H) × (ratio·W) square, centred at random, set to `fill`."""
    shape = tf.shape(images)
    b, h, w = shape[0], images.shape[1], images.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centres as in the reference code: offset in [0, size + 1 − (cut % 2)), square from offset − cut/2.
    cy = _random_ints(noise, b, 0, h - 1 + (1 - ch % 2))
    cx = _random_ints(noise, b, 0, w - 1 + (1 - cw % 2))
    y = tf.range(h)[None, :] - (cy[:, None] - ch // 2)  # (B, H): row relative to the square's top
    x = tf.range(w)[None, :] - (cx[:, None] - cw // 2)
    inside_y = (y >= 0) & (y < ch)
    inside_x = (x >= 0) & (x < cw)
    inside = tf.logical_and(inside_y[:, :, None], inside_x[:, None, :])[..., None]  # (B, H, W, 1)
    return tf.where(inside, tf.cast(fill, images.dtype), images)


_POLICY = {"translation": translate, "cutout": cutout}


def diff_augment(images, policies, noise, fill: float = 0.0):
    """`images` through each of `policies` (names from AUGMENT_POLICIES) in turn; unchanged for none."""
    for name in policies:
        images = _POLICY[name](images, noise, fill=fill)
    return images


def _random_ints(noise, n, low: int, high: int):
    """n integers uniform in [low, high], from the model's seeded generator `noise`."""
    u = keras.random.uniform((n,), minval=0.0, maxval=1.0, seed=noise)
    return tf.minimum(tf.cast(tf.floor(u * (high - low + 1)), tf.int32) + low, high)
