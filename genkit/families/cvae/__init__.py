"""The cvae family: card.py declares it; the VAE's model (genkit/families/vae/model.py) trains it."""
