"""Baselines that palette-bench runs next to Palette under the same protocol: regression, GAN, classical, external outputs."""
