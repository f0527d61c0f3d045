"""Cercle node package."""
