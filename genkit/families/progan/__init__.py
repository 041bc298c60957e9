"""The progan family: card.py declares it, model.py trains it."""
