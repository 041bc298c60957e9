"""Families: one sub-package each, `<name>/card.py` (the declaration) and `<name>/model.py`.

This package imports nothing: `genkit.spec.card.cards()` finds the cards by looking for
sub-packages, and a card names its model by import path, so reading the cards never imports
TensorFlow. See docs/adding-a-family.md.
"""

__all__: list = []
