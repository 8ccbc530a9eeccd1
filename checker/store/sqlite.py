"""The SQLite store: one file, WAL mode, a busy timeout so concurrent checks wait instead of failing."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from checker.store.base import Store, StoreError

BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another check's transaction before giving up."""


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL, waiting like any writer: on a brand-new file SQLite does not apply the busy
    timeout to this pragma, so two checks creating one store at once would otherwise fail."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SQLiteStore(Store):
    """History in a SQLite file (stdlib ``sqlite3``)."""

    paramstyle = "?"
    blob = "BLOB"
    driver_errors = (sqlite3.OperationalError,)

    def __init__(self, path: Path) -> None:
        self.url = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
            _enable_wal(connection)
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store: {exc}", path=str(path)) from None
        try:
            super().__init__(connection)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise StoreError(f"not a blockaudit store: {exc}", path=str(path)) from None
        except BaseException:
            connection.close()
            raise

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Any]:
        cursor = self._db.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    cursor.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"database error: {exc}", path=self.url) from None
            raise
        finally:
            cursor.close()
