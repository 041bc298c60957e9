"""genkit's version, recorded in run folders and exports (its own module: those stages read it
without importing the package's API)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
