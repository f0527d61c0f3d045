"""Cercle node: trio + py-libp2p networking, sync, relay mode, local API, CLI."""

__version__ = "0.1.0"
