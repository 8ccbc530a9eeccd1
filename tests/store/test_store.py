"""One store suite for both backends: schema, round trips, history, concurrent writers, open_store."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import random
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from checker.models import ExtendedError, Observation, Record
from checker.store import ResultRow, Store, StoreError, open_store
from checker.store.base import SCHEMA_VERSION
from checker.store.sqlite import SQLiteStore

from .conftest import PgCluster, free_port, need_psycopg

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
INPUTS = {"order": {"path": "order.yaml", "sha256": "ab" * 32}, "qps": 5}


def obs(resolver: str = "isp-a", qname: str = "blocked.example", qtype: str = "A", **fields: Any) -> Observation:
    values: dict[str, Any] = {
        "transport": "udp", "started_at": T0, "elapsed_ms": 12.5, "attempts": 1, "rcode": "NOERROR",
        "flags": ("qr", "rd", "ra"), "answers": (Record(qname, qtype, 300, "192.0.2.1"),), "wire": b"\x12\x34",
    }
    values.update(fields)
    return Observation(resolver=resolver, qname=qname, qtype=qtype, **values)


def result(run_id: str, query_name: str, observed_at: dt.datetime, resolver: str = "isp-a",
           verdict: str = "blocked") -> ResultRow:
    return ResultRow(run_id=run_id, resolver=resolver, query_name=query_name, domain=query_name, kind="apex",
                     verdict=verdict, method="nxdomain" if verdict == "blocked" else None,
                     reason="NXDOMAIN while the controls resolve it", observed_at=observed_at)


def report(status: str = "compliant", **extra: Any) -> dict[str, Any]:
    return {"summary": {"status": status}, **extra}


def begin(store: Store, run_id: str, started_at: dt.datetime = T0) -> None:
    store.begin_run(run_id, started_at, "vantage-1", "1.0.0", INPUTS)


def execute(store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Raw SQL through the store's own connection (``?`` placeholders, as base.py writes them)."""
    with store._transaction(write=True) as cursor:
        cursor.execute(store._sql(sql), params)
        return list(cursor.fetchall()) if cursor.description else []


# -- schema


def test_migrations_create_the_schema_once_and_reopening_changes_nothing(store_url: str) -> None:
    first = open_store(store_url)
    begin(first, "r1")
    first.close()
    again = open_store(store_url)
    try:
        assert_migrated_once(again)
        assert [r.id for r in again.runs()] == ["r1"]
        for table in ("observations", "results"):
            assert execute(again, f"SELECT COUNT(*) FROM {table}") == [(0,)]
    finally:
        again.close()


def test_a_store_with_a_newer_schema_is_refused(store_url: str) -> None:
    newer = open_store(store_url)
    execute(newer, "INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION + 1,))
    url = newer.url
    newer.close()
    with pytest.raises(StoreError, match="newer than this blockaudit knows") as caught:
        open_store(store_url)
    assert caught.value.path == url
    assert caught.value.hint == "upgrade blockaudit"


# -- observations


def test_observations_round_trip_every_field_exactly(store: Store) -> None:
    berlin = dt.timezone(dt.timedelta(hours=2))
    stored = [
        ("subject", obs(wire=bytes(range(256)), started_at=dt.datetime(2024, 5, 1, 14, 0, 0, 1, tzinfo=berlin),
                        elapsed_ms=0.1 + 0.2, attempts=3, rejected=2, transport="tcp",
                        flags=("qr", "aa", "tc", "rd", "ra", "ad", "cd"),
                        authority=(Record("example", "SOA", 0, "ns. host. 1 2 3 4 5"),),
                        ede=(ExtendedError(15, "blocked\x00by court order — Gericht 🚫"), ExtendedError(18)))),
        ("subject", obs(qtype="AAAA", rcode=None, flags=(), answers=(), wire=None,
                        error="network_error: bad\x00packet \u202e ünïcødé \U0001f600")),
        ("subject", obs(resolver="isp-b", wire=b"", answers=(Record("blocked.example", "TXT", 1, '"a\\000b" "ü"'),))),
        ("control", obs(resolver="cloudflare", qname="xn--bcher-kva.example", rcode="NXDOMAIN",
                        answers=(), wire=b"\x00" * 512)),
        ("subject", obs(qname="bücher.example", wire=bytes(range(255, -1, -1)) * 4)),
    ]
    begin(store, "r1")
    store.add_observations("r1", stored)
    store.add_observations("r1", [])

    back = store.observations("r1")

    assert back == {(phase, o.resolver, o.qname, o.qtype): o for phase, o in stored}
    for observation in back.values():
        assert observation.wire is None or type(observation.wire) is bytes
        assert observation.started_at.tzinfo is not None
    assert store.run("r1").observations == len(stored)
    assert store.observations("other") == {}


def test_the_same_observation_twice_keeps_the_first_row(store: Store) -> None:
    begin(store, "r1")
    first = obs(elapsed_ms=1.0)
    store.add_observations("r1", [("subject", first), ("subject", obs(elapsed_ms=2.0))])
    store.add_observations("r1", [("subject", obs(elapsed_ms=3.0)), ("control", obs(elapsed_ms=4.0))])

    back = store.observations("r1")

    assert back[("subject", "isp-a", "blocked.example", "A")] == first
    assert back[("control", "isp-a", "blocked.example", "A")].elapsed_ms == 4.0
    assert len(back) == 2
    assert store.run("r1").observations == 2


# -- runs and reports


def test_finish_run_stores_the_results_and_the_report(store: Store) -> None:
    begin(store, "r1")
    done_at = T0 + dt.timedelta(minutes=3)
    full = report("noncompliant", results=[{"name": "bücher.example", "note": "NUL \x00 and 🚫"}], n=1.5)
    rows = [result("r1", "a.example", T0), result("r1", "b.example", T0, verdict="resolves")]

    store.finish_run("r1", done_at, full, rows)

    assert store.report("r1") == full
    run = store.run("r1")
    assert (run.status, run.summary_status, run.finished_at) == ("complete", "noncompliant", done_at)
    assert (run.vantage, run.tool_version, run.inputs, run.started_at) == ("vantage-1", "1.0.0", INPUTS, T0)
    assert store.history() == rows


def test_finishing_again_replaces_the_results(store: Store) -> None:
    begin(store, "r1")
    store.finish_run("r1", T0, report(), [result("r1", "a.example", T0), result("r1", "b.example", T0)])
    store.finish_run("r1", T0, report("inconclusive"), [result("r1", "b.example", T0, verdict="resolves")])

    assert store.history() == [result("r1", "b.example", T0, verdict="resolves")]
    assert store.report("r1") == report("inconclusive")


def test_the_report_of_an_unfinished_run_is_refused_naming_resume(store: Store) -> None:
    begin(store, "r1")
    with pytest.raises(StoreError, match="r1 is running") as running:
        store.report("r1")
    assert "--resume r1" in str(running.value)

    store.mark_incomplete("r1")
    with pytest.raises(StoreError, match="r1 is incomplete") as incomplete:
        store.report("r1")
    assert "--resume r1" in str(incomplete.value)


def test_mark_incomplete_changes_only_running_runs(store: Store) -> None:
    begin(store, "running")
    begin(store, "complete")
    store.finish_run("complete", T0, report(), [])

    for run_id in ("running", "complete", "unknown"):
        store.mark_incomplete(run_id)
    store.mark_incomplete("running")

    assert store.run("running").status == "incomplete"
    assert store.run("running").finished_at is None
    assert store.run("complete").status == "complete"
    assert store.report("complete") == report()


def test_runs_are_listed_newest_first_with_their_observation_counts(store: Store) -> None:
    for day, run_id in ((2, "b"), (1, "a"), (3, "c")):
        begin(store, run_id, T0 + dt.timedelta(days=day))
    store.add_observations("a", [("subject", obs(qname=f"n{i}.example")) for i in range(3)])
    store.add_observations("c", [("subject", obs())])

    runs = store.runs()

    assert [(r.id, r.observations, r.status) for r in runs] == [("c", 1, "running"), ("b", 0, "running"),
                                                                ("a", 3, "running")]
    assert runs[0].started_at == T0 + dt.timedelta(days=3)
    assert [r.id for r in store.runs(limit=2)] == ["c", "b"]


def test_an_unknown_run_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no run 'nope' in the store"):
        store.run("nope")
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.report("nope")


def test_history_holds_complete_runs_only_oldest_first_filtered_by_name_and_time(store: Store) -> None:
    later, latest = T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=2)
    begin(store, "second", later)
    store.finish_run("second", later, report(), [result("second", "a.example", later),
                                                 result("second", "b.example", later, resolver="isp-b")])
    begin(store, "first", T0)
    store.finish_run("first", T0, report(), [result("first", "b.example", T0),
                                             result("first", "a.example", T0)])
    begin(store, "interrupted", latest)  # results stored, but the run never completed
    execute(store, "INSERT INTO results (run_id, resolver, query_name, domain, kind, verdict, method, reason, "
                   "observed_at) VALUES ('interrupted', 'isp-a', 'a.example', 'a.example', 'apex', 'blocked', "
                   "NULL, NULL, ?)", ("2024-05-03T12:00:00.123456Z",))
    store.mark_incomplete("interrupted")

    everything = store.history()

    assert [(r.run_id, r.query_name, r.resolver) for r in everything] == [
        ("first", "a.example", "isp-a"), ("first", "b.example", "isp-a"),
        ("second", "a.example", "isp-a"), ("second", "b.example", "isp-b"),
    ]
    assert [r.run_id for r in store.history(["a.example"])] == ["first", "second"]
    assert store.history(["nothing.example"]) == []
    assert store.history([]) == []
    assert [r.run_id for r in store.history(before=later - dt.timedelta(microseconds=1))] == ["first", "first"]
    assert store.history(["b.example"], before=later) == [result("first", "b.example", T0),
                                                          result("second", "b.example", later, resolver="isp-b")]
    assert store.history(before=T0 - dt.timedelta(seconds=1)) == []


# -- two processes writing at once

WRITER_OBSERVATIONS = 2000
WRITER_BATCH = 50


def writer_observations(run_id: str) -> list[tuple[str, Observation]]:
    return [("subject", obs(resolver=f"res-{i % 7}", qname=f"{run_id}-{i}.example", qtype="A",
                            elapsed_ms=float(i), wire=i.to_bytes(2, "big") * 40))
            for i in range(WRITER_OBSERVATIONS)]


def concurrent_writer(spec: str, start: Any, run_id: str) -> None:
    """One check, in its own process: writes a whole run in batches once every writer is ready."""
    store = open_store(spec)
    try:
        start.wait(timeout=60)
        begin(store, run_id)
        items = writer_observations(run_id)
        for offset in range(0, len(items), WRITER_BATCH):
            store.add_observations(run_id, items[offset:offset + WRITER_BATCH])
        store.finish_run(run_id, T0, report(), [result(run_id, f"{run_id}-0.example", T0)])
    finally:
        store.close()


def concurrent_opener(spec: str, start: Any, _: str) -> None:
    """Checks in one process: each thread opens (creating and migrating) the store once every opener is ready."""
    threads = 3
    ready = threading.Barrier(threads)

    def open_and_close() -> None:
        ready.wait(timeout=60)
        open_store(spec).close()

    start.wait(timeout=60)
    with ThreadPoolExecutor(threads) as pool:
        for opened in [pool.submit(open_and_close) for _ in range(threads)]:
            opened.result(timeout=60)  # re-raises what the opener raised


def run_processes(target: Callable[[str, Any, str], None], spec: str, names: list[str]) -> None:
    """``target(spec, barrier, name)`` in one spawned process per name; every one must exit 0."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(names))
    processes = [context.Process(target=target, args=(spec, start, name)) for name in names]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(timeout=120)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
    assert [p.exitcode for p in processes] == [0] * len(processes)


def assert_migrated_once(store: Store) -> None:
    versions = execute(store, "SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.slow
def test_two_checks_writing_to_one_store_at_once_lose_nothing(store_url: str) -> None:
    open_store(store_url).close()  # created first: two checks creating a new store is the next test

    run_processes(concurrent_writer, store_url, ["left", "right"])

    store = open_store(store_url)
    try:
        for run_id in ("left", "right"):
            run = store.run(run_id)
            assert (run.status, run.observations) == ("complete", WRITER_OBSERVATIONS)
            expected = writer_observations(run_id)
            assert store.observations(run_id) == {(p, o.resolver, o.qname, o.qtype): o for p, o in expected}
        assert [r.run_id for r in store.history()] == ["left", "right"]
    finally:
        store.close()


@pytest.mark.slow
def test_checks_opening_a_new_store_at_once_migrate_it_once(store_url: str) -> None:
    run_processes(concurrent_opener, store_url, [str(n) for n in range(4)])

    store = open_store(store_url)
    try:
        assert_migrated_once(store)
    finally:
        store.close()


# -- open_store


def test_a_path_gets_its_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "history.sqlite"
    store = open_store(str(path))
    try:
        assert isinstance(store, SQLiteStore)
        assert store.url == str(path)
        assert path.is_file()
    finally:
        store.close()


def test_no_spec_opens_the_default_path_under_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    store = open_store(None)
    store.close()
    assert (tmp_path / "data" / "blockaudit" / "history.sqlite").is_file()


def test_a_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    path.write_bytes(random.Random(4).randbytes(8192))
    with pytest.raises(StoreError) as caught:
        open_store(str(path))
    assert caught.value.path == str(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("where", ["directory", "under_a_file"])
def test_an_unusable_path_is_a_store_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("x")
    path = tmp_path if where == "directory" else tmp_path / "file" / "history.sqlite"
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store(str(path))


def test_a_postgresql_url_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now raises ImportError
    monkeypatch.delitem(sys.modules, "checker.store.postgres", raising=False)
    with pytest.raises(StoreError, match="needs psycopg 3") as caught:
        open_store("postgresql://blockaudit:secret@db.example/blockaudit")
    assert caught.value.hint is not None
    assert "blockaudit[postgres]" in caught.value.hint


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_opens_a_postgres_store(pg_url: str, scheme: str) -> None:
    from checker.store.postgres import PostgresStore

    url = pg_url.replace("postgresql://postgres@", f"{scheme}://postgres:hunter2@", 1) + "?sslmode=disable"
    store = open_store(url)
    try:
        assert isinstance(store, PostgresStore)
        assert store.url == pg_url.replace("postgresql://", f"{scheme}://", 1) + "?sslmode=disable"
        assert store.runs() == []
    finally:
        store.close()


def test_a_postgresql_server_that_does_not_answer_is_a_store_error() -> None:
    need_psycopg()
    port = free_port()
    url = f"postgresql://blockaudit:s3cret@127.0.0.1:{port}/blockaudit?password=s3cret"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    assert caught.value.message.startswith("cannot connect: ")
    assert caught.value.path == f"postgresql://blockaudit@127.0.0.1:{port}/blockaudit"
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_postgresql_database_the_user_may_not_write_is_a_store_error(pg_cluster: PgCluster, pg_url: str) -> None:
    pg_cluster.admin("DO $$ BEGIN CREATE ROLE reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    url = pg_url.replace("//postgres@", "//reader@", 1)
    with pytest.raises(StoreError, match=r"not a usable blockaudit store: .*permission denied") as caught:
        open_store(url)
    assert caught.value.path == url


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:p%40ss@[::1]:5432/db?password=x&sslmode=require", "postgresql://u@[::1]:5432/db?sslmode=require"),
    ("postgres://u@h/db", "postgres://u@h/db"),
    ("postgresql://:pw@h/db", "postgresql://h/db"),
    ("postgresql:///db?host=/run/pg&PassWord=zz", "postgresql:///db?host=/run/pg"),
    ("postgresql://u:a@b@h1:1,h2:2/db", "postgresql://u@h1:1,h2:2/db"),
    ("postgresql://u:pw@[::1/db", "postgresql://…"),
])
def test_the_url_shown_never_holds_the_password(url: str, shown: str) -> None:
    need_psycopg()
    from checker.store.postgres import redact

    assert redact(url) == shown
