"""The SQLite store: one file, WAL mode, a busy timeout so concurrent checks wait instead of failing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from checker.store.base import Store, StoreError

BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another check's transaction before giving up."""


class SQLiteStore(Store):
    """History in a SQLite file (stdlib ``sqlite3``)."""

    paramstyle = "?"
    blob = "BLOB"

    def __init__(self, path: Path) -> None:
        self.url = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store: {exc}", path=str(path)) from None
        try:
            super().__init__(connection)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise StoreError(f"not a blockaudit store: {exc}", path=str(path)) from None

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Any]:
        cursor = self._db.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()
