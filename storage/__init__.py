"""Cercle storage: records, indexes and aggregates in one LMDB environment."""

from .store import Outcome, ProductAggregate, ScopeStats, Status, StorageFull, Store, StoreError

__all__ = [
    "Outcome",
    "ProductAggregate",
    "ScopeStats",
    "Status",
    "StorageFull",
    "Store",
    "StoreError",
]
