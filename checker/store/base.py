"""The store's schema, migrations and queries, written once for SQLite and PostgreSQL alike.

A backend supplies a DB-API connection, its parameter style, its binary type and how it takes
the migration lock; everything else is here, so both pass the same test suite.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from checker.errors import BlockauditError
from checker.models import Observation
from checker.store import codec

Key = tuple[str, str, str, str]
"""(phase, resolver, query name, record type): one observation of a run."""


class StoreError(BlockauditError):
    """The store cannot be opened, migrated or read (a bad path, a newer schema, a missing run)."""


# Each migration is a list of statements; {blob} is the backend's binary column type.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE runs (
            id {key} PRIMARY KEY,
            started_at {key} NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            vantage TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            inputs TEXT NOT NULL,
            summary_status TEXT,
            report TEXT
        )""",
        """CREATE TABLE observations (
            run_id {key} NOT NULL REFERENCES runs (id),
            phase {key} NOT NULL,
            resolver {key} NOT NULL,
            qname {key} NOT NULL,
            qtype {key} NOT NULL,
            started_at {key} NOT NULL,
            data TEXT NOT NULL,
            wire {blob},
            PRIMARY KEY (run_id, phase, resolver, qname, qtype)
        )""",
        """CREATE TABLE results (
            run_id {key} NOT NULL REFERENCES runs (id),
            resolver {key} NOT NULL,
            query_name {key} NOT NULL,
            domain TEXT NOT NULL,
            kind TEXT NOT NULL,
            verdict TEXT NOT NULL,
            method TEXT,
            reason TEXT,
            observed_at {key} NOT NULL,
            PRIMARY KEY (run_id, resolver, query_name)
        )""",
        "CREATE INDEX results_by_name ON results (query_name, resolver, observed_at)",
        "CREATE INDEX runs_by_start ON runs (started_at)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)
HISTORY_CHUNK = 5000
"""Names asked about in one history query (SQLite limits the parameters of one statement)."""


@dataclass(frozen=True, slots=True)
class RunRow:
    """One stored run."""

    id: str
    """Run id."""
    started_at: dt.datetime
    """When it started (UTC)."""
    finished_at: dt.datetime | None
    """When it finished; ``None`` while running or when it was interrupted."""
    status: str
    """``running``, ``complete`` or ``incomplete`` (interrupted; ``check --resume`` finishes it)."""
    vantage: str
    """Host it ran from."""
    tool_version: str
    """blockaudit version."""
    inputs: dict[str, Any]
    """What it checked: order and resolver files with their SHA-256, settings."""
    summary_status: str | None
    """compliant, noncompliant or inconclusive, once complete."""
    observations: int = 0
    """Observations stored so far."""


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One stored verdict: enough to answer "since when" and "what changed"."""

    run_id: str
    resolver: str
    query_name: str
    domain: str
    kind: str
    verdict: str
    method: str | None
    reason: str | None
    observed_at: dt.datetime


class Store:
    """Run history in a SQL database; subclasses connect."""

    paramstyle = "?"
    blob = "BLOB"
    key = "TEXT"
    url = ""
    driver_errors: tuple[type[Exception], ...] = ()
    """The driver's operational errors (lost connection, lock timeout, full disk): one-line StoreErrors."""

    def __init__(self, connection: Any) -> None:
        self._db = connection
        self.migrate()

    # -- backend hooks

    def _lock_for_migration(self, cursor: Any) -> None:
        """Serialise concurrent migrations (inside the migration transaction)."""

    def _has_table(self, cursor: Any, name: str) -> bool:
        """Whether a table exists (checked before any DDL, so read-only users can open a store)."""
        cursor.execute(self._sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"), (name,))
        return cursor.fetchone() is not None

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Any]:
        """One transaction; ``write`` ones take the write lock up front where the backend needs it."""
        cursor = self._db.cursor()
        try:
            yield cursor
            self._db.commit()
        except BaseException as exc:
            with contextlib.suppress(*self.driver_errors):
                self._db.rollback()
            if isinstance(exc, self.driver_errors):
                raise StoreError(f"database error: {' '.join(str(exc).split())}", path=self.url) from None
            raise
        finally:
            with contextlib.suppress(*self.driver_errors):
                cursor.close()

    def _sql(self, text: str) -> str:
        return text if self.paramstyle == "?" else text.replace("?", "%s")

    # -- schema

    def _version(self, cursor: Any) -> int:
        if not self._has_table(cursor, "schema_version"):
            cursor.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        cursor.execute("SELECT MAX(version) FROM schema_version")
        row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def migrate(self) -> None:
        """Bring the schema to ``SCHEMA_VERSION``; refuse a store written by a newer version."""
        with self._transaction(write=True) as cursor:
            self._lock_for_migration(cursor)
            version = self._version(cursor)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store schema version {version} is newer than this blockaudit knows ({SCHEMA_VERSION})",
                    path=self.url, hint="upgrade blockaudit",
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number]:
                    cursor.execute(statement.format(blob=self.blob, key=self.key))
                cursor.execute(self._sql("INSERT INTO schema_version (version) VALUES (?)"), (number + 1,))

    # -- writing

    def begin_run(self, run_id: str, started_at: dt.datetime, vantage: str, tool_version: str,
                  inputs: dict[str, Any]) -> None:
        """Record a run as started (``running``) before its first observation."""
        with self._transaction(write=True) as cursor:
            cursor.execute(
                self._sql("INSERT INTO runs (id, started_at, status, vantage, tool_version, inputs) "
                          "VALUES (?, ?, 'running', ?, ?, ?)"),
                (run_id, codec.time_text(started_at), vantage, tool_version, json.dumps(inputs, sort_keys=True)),
            )

    def add_observations(self, run_id: str, items: Sequence[tuple[str, Observation]]) -> None:
        """Store (phase, observation) pairs in one transaction; ones already stored are kept as they are."""
        if not items:
            return
        rows = []
        for phase, obs in items:
            data, wire = codec.encode(obs)
            rows.append((run_id, phase, obs.resolver, obs.qname, obs.qtype,
                         codec.time_text(obs.started_at), data, wire))
        with self._transaction(write=True) as cursor:
            cursor.executemany(
                self._sql("INSERT INTO observations (run_id, phase, resolver, qname, qtype, started_at, data, wire) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                rows,
            )

    def add_results(self, rows: Iterable[ResultRow]) -> None:
        """Store verdicts as they are judged (a streamed run); a verdict stored again replaces the old."""
        data = [(r.run_id, r.resolver, r.query_name, r.domain, r.kind, r.verdict, r.method, r.reason,
                 codec.time_text(r.observed_at)) for r in rows]
        if not data:
            return
        with self._transaction(write=True) as cursor:
            cursor.executemany(
                self._sql("DELETE FROM results WHERE run_id = ? AND resolver = ? AND query_name = ?"),
                [(d[0], d[1], d[2]) for d in data],
            )
            cursor.executemany(
                self._sql("INSERT INTO results (run_id, resolver, query_name, domain, kind, verdict, method, "
                          "reason, observed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                data,
            )

    def finish_run(self, run_id: str, finished_at: dt.datetime, report: dict[str, Any],
                   results: Iterable[ResultRow] | None = None) -> None:
        """Mark the run complete with its report (and its verdicts, when given rather than streamed
        with ``add_results``), in one transaction."""
        with self._transaction(write=True) as cursor:
            if results is not None:
                rows = ((r.run_id, r.resolver, r.query_name, r.domain, r.kind, r.verdict, r.method, r.reason,
                         codec.time_text(r.observed_at)) for r in results)
                cursor.execute(self._sql("DELETE FROM results WHERE run_id = ?"), (run_id,))
                cursor.executemany(
                    self._sql("INSERT INTO results (run_id, resolver, query_name, domain, kind, verdict, method, "
                              "reason, observed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    rows,
                )
            cursor.execute(
                self._sql("UPDATE runs SET finished_at = ?, status = 'complete', summary_status = ?, report = ? "
                          "WHERE id = ?"),
                (codec.time_text(finished_at), report["summary"]["status"],
                 json.dumps(report, ensure_ascii=False), run_id),
            )

    def mark_incomplete(self, run_id: str) -> None:
        """Mark a run that stopped before its verdicts (interrupted) so ``--resume`` can finish it."""
        with self._transaction(write=True) as cursor:
            cursor.execute(self._sql("UPDATE runs SET status = 'incomplete' WHERE id = ? AND status = 'running'"),
                           (run_id,))

    # -- reading

    def _run_row(self, row: Sequence[Any]) -> RunRow:
        return RunRow(
            id=row[0], started_at=codec.parse_time(row[1]),
            finished_at=codec.parse_time(row[2]) if row[2] else None, status=row[3], vantage=row[4],
            tool_version=row[5], inputs=json.loads(row[6]), summary_status=row[7], observations=int(row[8]),
        )

    _RUN_COLUMNS = ("SELECT r.id, r.started_at, r.finished_at, r.status, r.vantage, r.tool_version, r.inputs, "
                    "r.summary_status, (SELECT COUNT(*) FROM observations o WHERE o.run_id = r.id) FROM runs r")

    def runs(self, limit: int = 50) -> list[RunRow]:
        """The most recent runs, newest first."""
        with self._transaction() as cursor:
            cursor.execute(self._sql(self._RUN_COLUMNS + " ORDER BY r.started_at DESC, r.id DESC LIMIT ?"), (limit,))
            return [self._run_row(row) for row in cursor.fetchall()]

    def run(self, run_id: str) -> RunRow:
        """One run; an unknown id is a ``StoreError``."""
        with self._transaction() as cursor:
            cursor.execute(self._sql(self._RUN_COLUMNS + " WHERE r.id = ?"), (run_id,))
            row = cursor.fetchone()
        if row is None:
            raise StoreError(f"no run {run_id!r} in the store", path=self.url, hint="blockaudit runs lists them")
        return self._run_row(row)

    def report(self, run_id: str) -> dict[str, Any]:
        """The JSON report of a complete run."""
        run = self.run(run_id)
        with self._transaction() as cursor:
            cursor.execute(self._sql("SELECT report FROM runs WHERE id = ?"), (run_id,))
            row = cursor.fetchone()
        if run.status != "complete" or row is None or row[0] is None:
            raise StoreError(f"run {run_id} is {run.status}: it has no report yet", path=self.url,
                             hint=f"finish it with: blockaudit check --resume {run_id}")
        report: dict[str, Any] = json.loads(row[0])
        return report

    def observations(self, run_id: str) -> dict[Key, Observation]:
        """Every observation stored for a run, by (phase, resolver, name, type)."""
        with self._transaction() as cursor:
            cursor.execute(self._sql("SELECT phase, data, wire FROM observations WHERE run_id = ?"), (run_id,))
            out: dict[Key, Observation] = {}
            for phase, data, wire in cursor.fetchall():
                obs = codec.decode(data, wire)
                out[(phase, obs.resolver, obs.qname, obs.qtype)] = obs
            return out

    def history(self, query_names: Sequence[str] | None = None, before: dt.datetime | None = None) -> list[ResultRow]:
        """Stored verdicts of complete runs, oldest first; for some names only, or up to a time."""
        if query_names is not None and len(query_names) > HISTORY_CHUNK:
            rows = [row for start in range(0, len(query_names), HISTORY_CHUNK)
                    for row in self.history(query_names[start:start + HISTORY_CHUNK], before)]
            return sorted(rows, key=lambda r: (r.observed_at, r.run_id, r.resolver, r.query_name))
        sql = ("SELECT s.run_id, s.resolver, s.query_name, s.domain, s.kind, s.verdict, s.method, s.reason, "
               "s.observed_at FROM results s JOIN runs r ON r.id = s.run_id WHERE r.status = 'complete'")
        params: list[Any] = []
        if query_names is not None:
            if not query_names:
                return []
            sql += " AND s.query_name IN (" + ", ".join("?" for _ in query_names) + ")"
            params.extend(query_names)
        if before is not None:
            sql += " AND s.observed_at <= ?"
            params.append(codec.time_text(before))
        sql += " ORDER BY s.observed_at, s.run_id, s.resolver, s.query_name"
        with self._transaction() as cursor:
            cursor.execute(self._sql(sql), params)
            return [ResultRow(run_id=row[0], resolver=row[1], query_name=row[2], domain=row[3], kind=row[4],
                              verdict=row[5], method=row[6], reason=row[7], observed_at=codec.parse_time(row[8]))
                    for row in cursor.fetchall()]

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
