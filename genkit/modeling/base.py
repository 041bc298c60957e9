"""`GenerativeModel`: what every family model keeps beside Keras's own state. No hooks.

A family's model subclasses it for three things only: its loss trackers (one
`keras.metrics.Mean` per name the card logs), the facts every stage reads (data shape, class
count, value range, seed, the user's trunks), and saving the random generators' states with
the weights, which Keras does not do. Everything a family *does* is written in its own model
file, calling the functions of `genkit.modeling.steps`, `.networks` and `.prior`.
"""

from __future__ import annotations

import keras

__all__ = ["GenerativeModel"]

_RNG = "rng_"  # weights-file key prefix of the random generators' states


class GenerativeModel(keras.Model):
    """Trackers, data facts and random-state saving of a family model (not a family itself).

    Args:
        spec: the validated spec.
        card: the family's FamilyCard (its `logs` name the trackers).
        data_shape: shape of one image, (H, W, C).
        num_classes: classes of the data's labels, or None.
    """

    def __init__(self, spec, card, data_shape, num_classes=None, **kwargs):
        # The spec's family, not the card's: one model class may serve two cards (vae and cvae).
        super().__init__(name=spec.model.family, **kwargs)
        self.family = spec.model.family
        self.data_shape = tuple(data_shape)
        self.num_classes = num_classes
        self.conditional = spec.model.condition is not None  # the networks also take a class label
        self.value_range = tuple(spec.data.range)
        self.seed = spec.seed
        self.trackers = [keras.metrics.Mean(name=name) for name in card.logs]
        self.trunks: dict = {}  # role -> the user's network, for `genkit inspect`

    @property
    def metrics(self):
        return list(self.trackers)

    def random_generators(self) -> list:
        """Every `keras.random.SeedGenerator` of the model and its networks, in a fixed order."""
        return [g for layer in self._flatten_layers(include_self=True) for g in layer._seed_generators]

    def save_own_variables(self, store):
        # Keras saves no SeedGenerator state. Saved with the weights, a resumed run draws the
        # noise an uninterrupted one would (VAE ε, GAN z, DDPM t and ε, dropout masks).
        super().save_own_variables(store)
        for i, generator in enumerate(self.random_generators()):
            store[f"{_RNG}{i}"] = generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        super().load_own_variables({k: store[k] for k in keys if not k.startswith(_RNG)})
        # Weights files written before random states were saved have none: keep the fresh ones.
        for i, generator in enumerate(self.random_generators()):
            if f"{_RNG}{i}" in keys:
                generator.state.assign(store[f"{_RNG}{i}"])
