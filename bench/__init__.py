"""augbench: a reproducible benchmark suite for learning from small data."""

__version__ = "0.1.0"
