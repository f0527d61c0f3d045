"""Cercle storage package."""
