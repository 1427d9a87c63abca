"""palette-bench: Palette (Saharia et al., SIGGRAPH 2022) and its baselines under one evaluation protocol."""

__version__ = "0.1.0"
