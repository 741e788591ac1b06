"""suite: run and compare experiments with pair-comparison (Siamese) networks."""

__version__ = "0.1.0"
