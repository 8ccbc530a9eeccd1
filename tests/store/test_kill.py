"""The store survives kill -9 of a check in the middle of its run, on SQLite and on PostgreSQL.

A first run completes. A second ``python -m checker check --db ...`` is started as its own
process against a slow loopback resolver, and SIGKILLed once it has committed some observations
(and before it could finish). Then: the store opens cleanly (SQLite: ``PRAGMA integrity_check``
is ok, no foreign key is broken), the first run and its report are exactly as they were, the killed
run is listed as unfinished (``running``, no end, no status, no report) and counts nowhere a
complete run counts (history, diff, report), and a new run completes normally.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import pytest

from checker.cli import ExitStatus, main
from checker.store import StoreError, open_store
from tests.fakedns import fake_dns, respond
from tests.test_audit import authoritative, blocking
from tests.test_cli import ORDER, resolver_file

ROOT = Path(__file__).resolve().parents[2]
NAMES = [f"site{i}.test" for i in range(60)]
FAST = ["--timeout", "1", "--retries", "0"]


def committed(url: str, exclude: str) -> int:
    """Observations other runs than ``exclude`` have committed, read without taking any lock."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            row = connection.execute("SELECT COUNT(*) FROM observations WHERE run_id <> %s", (exclude,)).fetchone()
            return int(row[0]) if row else 0
    with sqlite3.connect(f"file:{url}?mode=ro", uri=True, timeout=10) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM observations WHERE run_id <> ?", (exclude,)).fetchone()[0])


def real(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    if name.startswith("site") and name.endswith(".test") and name != "site.test":
        return respond(q, a=["198.51.100.5"], aaaa=["2001:db8::5"])
    return authoritative(q, transport)


def test_kill_9_mid_run_leaves_a_clean_store(store_url: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(ORDER.replace("targets: [{domain: site.test, subdomains: true}]",
                                   "targets: [" + ", ".join(f"{{domain: {n}}}" for n in NAMES) + "]"))
    first_json = tmp_path / "first.json"

    def slow_blocking(q: dns.message.Message, transport: str) -> dns.message.Message:
        time.sleep(0.02)
        return blocking(q, transport)

    with fake_dns(blocking) as s, fake_dns(real) as c:
        resolvers = resolver_file(tmp_path, s.port, c.port)
        assert main(["check", str(order), "--resolvers", str(resolvers), "-q", "--db", store_url, *FAST,
                     "--report", f"json:{first_json}"]) == ExitStatus.COMPLIANT
    first = json.loads(first_json.read_text())
    first_id = first["run"]["id"]

    with fake_dns(slow_blocking) as s, fake_dns(real) as c:
        resolvers = resolver_file(tmp_path, s.port, c.port)
        resolvers.write_text(resolvers.read_text().replace("role: subject}", "role: subject, concurrency: 1}"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, "-m", "checker", "check", str(order), "--resolvers",
                                  str(resolvers), "--db", store_url, "-q", *FAST], env=env, cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and child.poll() is None:
                if committed(store_url, first_id) >= 30:  # health and identity done, names under way
                    break
                time.sleep(0.02)
            assert child.poll() is None, f"the check ended before the kill: {child.stderr.read()!r}"  # type: ignore[union-attr]
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
            assert child.stderr is not None
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    if not store_url.startswith("postgresql://"):
        with sqlite3.connect(store_url) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []

    store = open_store(store_url)
    try:
        runs = {r.id: r for r in store.runs()}
        assert len(runs) == 2
        killed = next(r for r in runs.values() if r.id != first_id)
        done = runs[first_id]
        assert (done.status, done.summary_status) == ("complete", "compliant")
        assert store.report(first_id) == first, "the earlier run's report is intact"
        assert (killed.status, killed.finished_at, killed.summary_status) == ("running", None, None)
        assert 0 < killed.observations < 2 * 2 * (len(NAMES) + 2), "the kill landed in the middle of the run"
        with pytest.raises(StoreError, match="has no report yet"):
            store.report(killed.id)
        assert {row.run_id for row in store.history()} == {first_id}, "only complete runs are history"
    finally:
        store.close()

    capsys.readouterr()
    assert main(["runs", "--db", store_url]) == ExitStatus.COMPLIANT
    listing = capsys.readouterr().out.splitlines()
    assert any(line.startswith(killed.id) and " running " in line and " - " in line for line in listing)
    assert main(["report", killed.id, "--db", store_url, "--report", "json:-"]) == ExitStatus.ERROR
    assert main(["diff", first_id, killed.id, "--db", store_url]) == ExitStatus.ERROR
    assert "is not complete" in capsys.readouterr().err

    again = tmp_path / "again.json"
    with fake_dns(blocking) as s, fake_dns(real) as c:
        resolvers = resolver_file(tmp_path, s.port, c.port)
        assert main(["check", str(order), "--resolvers", str(resolvers), "-q", "--db", store_url, *FAST,
                     "--report", f"json:{again}"]) == ExitStatus.COMPLIANT
    store = open_store(store_url)
    try:
        statuses = sorted(r.status for r in store.runs())
        assert statuses == ["complete", "complete", "running"]
        new_id = json.loads(again.read_text())["run"]["id"]
        assert store.report(new_id)["summary"]["status"] == "compliant"
        assert {row.run_id for row in store.history()} == {first_id, new_id}
    finally:
        store.close()
    if not store_url.startswith("postgresql://"):
        with sqlite3.connect(store_url) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
