"""genkit: declarative deep generative models from YAML specs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
