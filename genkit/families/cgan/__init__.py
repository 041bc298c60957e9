"""The cgan family: card.py declares it; the gan family's model (genkit/families/gan/model.py) trains it."""
