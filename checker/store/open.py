"""Opening the store named by ``--db``: a SQLite path (default) or a ``postgresql://`` URL."""

from __future__ import annotations

import os
from pathlib import Path

from checker.store.base import Store, StoreError


def default_path() -> Path:
    """``$XDG_DATA_HOME/blockaudit/history.sqlite`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "blockaudit" / "history.sqlite"


def open_store(spec: str | None) -> Store:
    """The store at ``spec``: ``postgresql://…`` or a file path; ``None`` is the default path."""
    if spec and spec.startswith(("postgresql://", "postgres://")):
        try:
            from checker.store.postgres import PostgresStore  # noqa: PLC0415 - psycopg is optional
        except ImportError:
            raise StoreError("a PostgreSQL store needs psycopg 3",
                             hint="pip install 'blockaudit[postgres]'") from None
        return PostgresStore(spec)
    from checker.store.sqlite import SQLiteStore  # noqa: PLC0415

    return SQLiteStore(Path(spec) if spec else default_path())
