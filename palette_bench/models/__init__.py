"""Palette's networks and diffusion maths."""
