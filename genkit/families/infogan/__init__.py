"""The infogan family: card.py declares it, model.py trains it."""
