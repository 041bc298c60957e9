"""A history of generated images for discriminator updates (Shrivastava et al. 2017, section 2.3).

A discriminator that only ever sees the generator's latest images forgets the earlier ones,
and the generator can reintroduce old artefacts it then no longer punishes. CycleGAN (Zhu et
al. 2017, section 4) therefore updates its discriminators on a buffer of the last 50 images
generated: until the buffer is full every new image is stored and shown; afterwards each new
image is, with probability 1/2, shown as it is, or else stored in place of a random old
image, which is shown instead.

The buffer lives in non-trainable variables of a Keras layer, so it works inside a compiled
`train_step` and is saved with the family's weights: a resumed run continues its history.

Example, in a train_step:

    self.pool_b = ImagePool(50, (28, 28, 1), seed=spec.seed)     # in __init__
    shown = self.pool_b.query(tf.stop_gradient(fake_b))           # what D_B judges as fake
"""

from __future__ import annotations

import keras
import tensorflow as tf

from genkit.replica_seed import ReplicaSeedGenerator

__all__ = ["ImagePool"]


class ImagePool(keras.layers.Layer):
    """The last `size` generated images of one domain, swapped in and out at random.

    Args:
        size: images remembered; 0 makes `query` return its input unchanged.
        image_shape: (H, W, C) of one image.
        seed: seeds the coin flips and the choice of stored image.
    """

    def __init__(self, size: int, image_shape, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.image_shape = tuple(image_shape)
        self.seed = int(seed)
        self.noise = ReplicaSeedGenerator(seed)  # under a strategy, replicas must not all pick the same images
        # float32 whatever the compute precision: stored images are data, not activations.
        self.images = self.add_weight(
            shape=(max(self.size, 1), *self.image_shape), initializer="zeros", dtype="float32", trainable=False, name="images"
        )
        self.count = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False, name="count")

    def query(self, images):
        """The images the discriminator sees instead of `images` (B, H, W, C); updates the pool."""
        if self.size == 0:
            return images
        n = tf.shape(images)[0]
        new = tf.cast(images, "float32")
        position = tf.range(n)
        # 1. While the pool fills, the first free slots take the batch's first images, shown as they are.
        filling = position < self.size - self.count  # (B,)
        # 2. Afterwards a coin decides: show the new image, or swap it with a random stored one.
        swap = tf.logical_and(~filling, keras.random.uniform((n,), seed=self.noise) < 0.5)
        random_slot = keras.random.randint((n,), 0, self.size, seed=self.noise)
        slot = tf.where(filling, self.count + position, random_slot)  # (B,)
        stored = tf.gather(self.images, tf.minimum(slot, self.size - 1))  # read before the write below
        shown = tf.where(swap[:, None, None, None], stored, new)
        # Two swaps drawing the same slot in one batch both show the old image; the later write wins,
        # as if the batch had been taken one image at a time with the first write overwritten.
        write = tf.logical_or(filling, swap)
        self.images.value.scatter_nd_update(tf.boolean_mask(slot, write)[:, None], tf.boolean_mask(new, write))
        self.count.assign(tf.minimum(self.count + n, self.size))
        return tf.cast(shown, images.dtype)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "image_shape": list(self.image_shape), "seed": self.seed}
