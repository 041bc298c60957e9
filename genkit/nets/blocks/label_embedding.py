"""`LabelEmbedding`: integer class labels to vectors a network can take in."""

from __future__ import annotations

import keras
from keras import ops

from genkit.nets.registry import register_block

__all__ = ["LabelEmbedding"]

ENCODINGS = ("onehot", "embedding")


@register_block
@keras.saving.register_keras_serializable(package="genkit")
class LabelEmbedding(keras.layers.Layer):
    """Turns integer labels of shape (B,) or (B, 1) into vectors of shape (B, D).

    Use it wherever a conditional model feeds a class label to a network (a conditional
    VAE's encoder and decoder, a conditional GAN). `"onehot"` has no weights and D is
    `num_classes`; `"embedding"` learns a table of `num_classes` vectors of size
    `embedding_dim`, which helps when there are many classes.

    Labels outside [0, num_classes) give a zero vector with `"onehot"` and an error with
    `"embedding"`. Float labels holding whole numbers are accepted (they are cast), so a
    label input may keep the default float dtype.

    Args:
        num_classes: number of classes, at least 2.
        encoding: `"onehot"` or `"embedding"`.
        embedding_dim: size of the learned vectors; required with `"embedding"` and
            ignored with `"onehot"`.

    Inputs:
        y: labels (B,) or (B, 1).

    Returns:
        (B, num_classes) with `"onehot"`, (B, embedding_dim) with `"embedding"`.

    Example:

    ```yaml
    input: []
    layers:
      - LabelEmbedding: {num_classes: 10, encoding: embedding, embedding_dim: 8}     # (B, 8)
    ```
    """

    FITS = ()  # the conditional families turn labels into vectors themselves

    def __init__(self, num_classes, encoding="onehot", embedding_dim=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2; got {num_classes!r}.")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}.")
        if encoding == "embedding" and (
            isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1
        ):
            raise ValueError(f"embedding_dim must be an integer >= 1 with encoding 'embedding'; got {embedding_dim!r}.")
        self.num_classes = num_classes
        self.encoding = encoding
        self.embedding_dim = embedding_dim

    @property
    def output_dim(self) -> int:
        """D, the size of each output vector."""
        return self.num_classes if self.encoding == "onehot" else self.embedding_dim

    def build(self, input_shape):
        _check_label_shape(input_shape)
        if self.encoding == "embedding":
            # The same initialiser as keras.layers.Embedding.
            self.embeddings = self.add_weight(
                shape=(self.num_classes, self.embedding_dim), initializer="uniform", name="embeddings"
            )

    def call(self, labels):
        if len(labels.shape) == 2:
            labels = ops.squeeze(labels, axis=-1)  # (B, 1) -> (B,)
        labels = ops.cast(labels, "int32")
        if self.encoding == "onehot":
            return ops.one_hot(labels, self.num_classes, dtype=self.compute_dtype)
        return ops.take(self.embeddings, labels, axis=0)  # (B, D)

    def compute_output_shape(self, input_shape):
        _check_label_shape(input_shape)
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "encoding": self.encoding,
            "embedding_dim": self.embedding_dim,
        }


def _check_label_shape(shape):
    shape = tuple(shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ValueError(f"LabelEmbedding expects labels of shape (B,) or (B, 1); got {shape}.")
