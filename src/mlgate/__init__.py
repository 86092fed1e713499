"""mlgate: govern, serve and recover ML models in production."""

__all__ = ["__version__"]

__version__ = "0.1.0"
