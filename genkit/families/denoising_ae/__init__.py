"""The denoising_ae family: card.py declares it, model.py trains it."""
