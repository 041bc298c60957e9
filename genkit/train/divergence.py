"""Stop at the first batch whose logged losses are NaN or Inf, and say which network diverged.

Replaces Keras's TerminateOnNaN, which stops at the end of the batch too but names nothing,
lets the epoch's callbacks run on NaN weights and leaves them as the run's last state.
"""

from __future__ import annotations

import math

import keras

from genkit.spec.card import card

__all__ = ["Diverged", "StopOnNonFinite"]


class Diverged(Exception):
    """The losses of one batch were not finite.

    Attributes:
        epoch: 1-based epoch; batch: 1-based batch in it;
        losses: log key -> its value; networks: log key -> the network it trains.
    """

    def __init__(self, epoch: int, batch: int, losses: dict, networks: dict):
        self.epoch, self.batch, self.losses, self.networks = epoch, batch, losses, networks
        super().__init__(self.describe())

    def describe(self) -> str:
        named = ", ".join(f"{key} is {value} ({self.networks[key]})" for key, value in self.losses.items())
        return f"training diverged at epoch {self.epoch}, batch {self.batch}: {named}"


class StopOnNonFinite(keras.callbacks.Callback):
    """Raise `Diverged` after the first batch whose logs hold a NaN or Inf.

    Keras logs running means over the epoch, so the first non-finite loss shows at once.
    The family card's `loss_networks` (log key -> network) names the network; other keys train
    all networks.
    """

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = {key: float(value) for key, value in (logs or {}).items() if not math.isfinite(float(value))}
        if bad:
            named = card(self.model.family).loss_networks
            networks = {key: named.get(key, "all networks") for key in bad}
            raise Diverged(self.epoch + 1, batch + 1, bad, networks)
