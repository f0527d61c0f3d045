"""Reusable widgets of the Cercle TUI."""
