"""The latent_diffusion family: card.py declares it, model.py trains it."""
