"""The sparse_ae family: card.py declares it, model.py trains it."""
