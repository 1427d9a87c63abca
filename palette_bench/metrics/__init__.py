"""Metrics of the Palette protocol: pure maths on features, feature extractors apart."""
