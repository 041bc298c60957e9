"""Watch an adversarial run for its two classic failures and say, once each, what to try.

1. The discriminator wins outright: mean D(G(z)) stays near 0 for many steps, so the
   minimax generator loss saturates and the generator learns little (Goodfellow et al.
   2014, section 3; Arjovsky & Bottou 2017).
2. Mode collapse: the samples of the fixed preview latents look alike — their mean
   pairwise distance is small next to that of real images (total collapse), or many of
   them have a near-copy among the others (a few modes; Salimans et al. 2016, 3.2).

Both are warnings, not errors: a run can recover, and the user decides.
"""

from __future__ import annotations

import sys

import keras
import numpy as np

__all__ = ["DISCRIMINATOR_REMEDIES", "AdversarialMonitor", "discriminator_remedies", "mean_pairwise_distance", "nearest_neighbour_distances"]

# What helps a generator against a discriminator that wins: (the loss field it needs, or None; the advice).
DISCRIMINATOR_REMEDIES = (
    (None, "a lower discriminator learning rate (train.optimizers.discriminator)"),
    ("label_smoothing", "loss.label_smoothing: 0.1"),
    ("discriminator_steps", "loss.discriminator_steps: 1"),
    ("generator_loss", "loss.generator_loss: non_saturating"),
    (None, "a smaller discriminator"),
)
DISCRIMINATOR_WINS = (
    "warning: the discriminator is winning outright (mean D(G(z)) below {floor} for {steps} steps); the generator "
    "gets little signal. Try: {remedies}."
)
COLLAPSE = (
    "warning: samples may be collapsing at epoch {epoch}: the preview images are {ratio:.0%} as spread out as "
    "real images (mean pairwise distance {fake:.3g} vs {real:.3g}) and {copies:.0%} of them have a near-copy among "
    "the others. Try: {remedies}."
)


def discriminator_remedies(loss) -> str:
    """The DISCRIMINATOR_REMEDIES that a family whose loss section is `loss` can follow, as one phrase."""
    return "; ".join(text for field, text in DISCRIMINATOR_REMEDIES if field is None or hasattr(loss, field))


def _distances(images) -> np.ndarray:
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    squared = np.sum(flat**2, axis=1)
    return np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * flat @ flat.T, 0.0))  # (N, N)


def mean_pairwise_distance(images) -> float:
    """Mean Euclidean distance between the distinct pairs of a batch of images (N >= 2)."""
    n = len(images)
    return float(np.sum(_distances(images)) / (n * (n - 1)))


def nearest_neighbour_distances(images) -> np.ndarray:
    """(N,): each image's Euclidean distance to the closest other image of the batch."""
    d = _distances(images)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


class AdversarialMonitor(keras.callbacks.Callback):
    """Prints a warning, at most once each, when the discriminator wins or samples collapse.

    Args:
        real_images: a fixed batch of real images (the preview's), the diversity reference.
        watch_d_fake: watch the logged `d_fake` (mean D(G(z))); critics have no probability.
        floor: `d_fake` below this counts as the discriminator winning.
        patience: for this many consecutive steps.
        diversity_ratio: warn when the preview's mean pairwise distance falls below this
            share of the real images' (total collapse: ~0.1; healthy runs: ~1).
        copy_share: or when this share of the previews has a near-copy: another preview
            closer than a quarter of the real images' mean nearest-neighbour distance.
        start_step: judge previews only after this many train steps; the first hundreds
            of steps draw blurs of the mean image.
        remedies: what the collapse warning suggests trying.
        discriminator_remedies: what the discriminator warning suggests (default: every
            DISCRIMINATOR_REMEDIES entry; `discriminator_remedies(spec.loss)` keeps the family's).
        stream: where warnings go (default stderr).
    """

    def __init__(
        self,
        real_images,
        remedies: str,
        watch_d_fake=True,
        floor=0.01,
        patience=200,
        diversity_ratio=0.3,
        copy_share=0.25,
        start_step=1000,
        stream=None,
        discriminator_remedies=None,
    ):
        super().__init__()
        enough = len(real_images) > 1
        self.real_spread = mean_pairwise_distance(real_images) if enough else 0.0
        self.copy_distance = 0.25 * float(np.mean(nearest_neighbour_distances(real_images))) if enough else 0.0
        self.real_images = real_images
        self.copy_share = copy_share
        self.watch_d_fake = watch_d_fake
        self.floor, self.patience = floor, patience
        self.diversity_ratio, self.start_step = diversity_ratio, start_step
        self.remedies, self.stream = remedies, stream
        self.discriminator_remedies = discriminator_remedies or "; ".join(text for _, text in DISCRIMINATOR_REMEDIES)
        self.steps = 0  # train steps seen by this monitor
        self.low_steps = 0
        self.warned = set()

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self.warned:
            self.warned.add(kind)
            print("\n" + message, file=self.stream or sys.stderr, flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if not self.watch_d_fake or not logs or "d_fake" not in logs:
            return
        # Keras logs the running mean since the epoch began, so a streak here means the
        # recent steps, not one unlucky batch.
        self.low_steps = self.low_steps + 1 if float(logs["d_fake"]) < self.floor else 0
        if self.low_steps >= self.patience:
            message = DISCRIMINATOR_WINS.format(floor=self.floor, steps=self.low_steps, remedies=self.discriminator_remedies)
            self._warn("discriminator", message)

    def on_epoch_end(self, epoch, logs=None):
        if self.steps < self.start_step or not self.real_spread:
            return
        images, _, _ = self.model.preview(self.real_images)
        spread = mean_pairwise_distance(images)
        ratio = spread / self.real_spread
        copies = float(np.mean(nearest_neighbour_distances(images) < self.copy_distance))
        if ratio < self.diversity_ratio or copies >= self.copy_share:
            message = COLLAPSE.format(ratio=ratio, fake=spread, real=self.real_spread, copies=copies, epoch=epoch + 1, remedies=self.remedies)
            self._warn("collapse", message)
