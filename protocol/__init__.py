"""Cercle protocol package."""
