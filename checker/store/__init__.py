"""Run history: every run, observation (raw bytes included) and result, in SQLite or PostgreSQL."""

from checker.store.base import ResultRow, RunRow, Store, StoreError
from checker.store.open import default_path, open_store

__all__ = ["ResultRow", "RunRow", "Store", "StoreError", "default_path", "open_store"]
