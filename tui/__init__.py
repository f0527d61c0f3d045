"""Cercle tui package."""
