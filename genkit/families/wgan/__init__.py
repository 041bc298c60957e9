"""The wgan family: card.py declares it, model.py trains it."""
