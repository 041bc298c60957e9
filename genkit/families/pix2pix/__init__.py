"""The pix2pix family: card.py declares it, model.py trains it."""
