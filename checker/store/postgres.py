"""The PostgreSQL store: a ``postgresql://`` URL, psycopg 3, an advisory lock around migrations."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg

from checker.store.base import Store, StoreError

CONNECT_TIMEOUT_S = 10
"""How long to wait for the server when the URL does not set ``connect_timeout`` itself."""

MIGRATION_LOCK = 0x626C6F636B617564
"""Advisory lock key held while migrating (the bytes of ``blockaud``): one migration at a time."""


def redact(url: str) -> str:
    """The URL without its password (in the user part or a ``password=`` query parameter)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: keep the scheme only, never the secret
        return re.sub(r"://.*", "://…", url, flags=re.DOTALL)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{hostport}" if at and user else hostport
    query = "&".join(pair for pair in parts.query.split("&")
                     if pair and unquote(pair.partition("=")[0]).strip().lower() != "password")
    # Rebuilt by hand: urlunsplit would turn ``postgresql:///db`` (no host) into ``postgresql:/db``.
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


def _passwords(url: str) -> list[str]:
    """Every password the URL carries, to scrub from error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key).strip().lower() == "password":
            found.append(value)
    return [secret for text in found for secret in {text, unquote(text)} if secret]


def _one_line(exc: BaseException, url: str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return text


class PostgresStore(Store):
    """History in a PostgreSQL database (psycopg 3); the schema goes in the URL's database."""

    paramstyle = "%s"
    blob = "BYTEA"
    key = 'TEXT COLLATE "C"'
    driver_errors = (psycopg.OperationalError,)

    def _has_table(self, cursor: Any, name: str) -> bool:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        row = cursor.fetchone()
        return bool(row and row[0])

    def __init__(self, url: str) -> None:
        self.url = redact(url)
        options: dict[str, Any] = {"application_name": "blockaudit"}
        try:
            if "connect_timeout" not in psycopg.conninfo.conninfo_to_dict(url):
                options["connect_timeout"] = CONNECT_TIMEOUT_S
            connection = psycopg.connect(url, **options)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect: {_one_line(exc, url)}", path=self.url) from None
        # Each statement sees what committed before it: after waiting for the migration lock,
        # the schema another process just created is visible whatever the server's default is.
        connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        try:
            super().__init__(connection)
        except psycopg.Error as exc:
            connection.close()
            raise StoreError(f"not a usable blockaudit store: {_one_line(exc, url)}", path=self.url) from None
        except BaseException:
            connection.close()
            raise

    def _lock_for_migration(self, cursor: Any) -> None:
        # Held until the migration transaction ends, so a second process blocks here and then
        # finds the schema (and ``schema_version``, made by CREATE TABLE IF NOT EXISTS) committed.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
