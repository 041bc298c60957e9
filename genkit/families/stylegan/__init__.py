"""The stylegan family: card.py declares it, model.py trains it, synthesis.py builds its synthesis network."""
