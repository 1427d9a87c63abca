"""Data sets, protocols on disk, and evaluation sets."""
