"""Run history through the command line: runs, report, diff, timeline, deadlines, kill -9 and --resume."""

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
import dns.rcode
import pytest

from checker.cli import ExitStatus, main
from tests.fakedns import fake_dns, respond
from tests.test_audit import authoritative, blocking
from tests.test_cli import FAST, ORDER, resolver_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def order(tmp_path: Path) -> Path:
    path = tmp_path / "order.yaml"
    path.write_text(ORDER)
    return path


def leaking_www(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    return respond(q, rcode=dns.rcode.NXDOMAIN) if name == "site.test" else authoritative(q, transport)


def check(tmp_path: Path, order: Path, subject: object, db: Path, *extra: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "out.json"
    with fake_dns(subject) as s, fake_dns(authoritative) as c:  # type: ignore[arg-type]
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), "-q",
                     "--db", str(db), "--report", f"json:{out}", *FAST, *extra])
    return code, json.loads(out.read_text())


def test_two_runs_runs_report_diff_timeline(tmp_path: Path, order: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "history.sqlite"
    code_a, first = check(tmp_path, order, blocking, db)
    code_b, second = check(tmp_path, order, leaking_www, db)  # the regression planted between the runs
    assert (code_a, code_b) == (ExitStatus.COMPLIANT, ExitStatus.VIOLATION)
    run_a, run_b = first["run"]["id"], second["run"]["id"]  # type: ignore[index]
    capsys.readouterr()

    assert main(["runs", "--db", str(db)]) == ExitStatus.COMPLIANT
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].startswith(run_b) and listing[2].startswith(run_a)
    assert "complete" in listing[1] and "noncompliant" in listing[1]

    assert main(["report", run_a, "--db", str(db), "--report", "json:-"]) == ExitStatus.COMPLIANT
    assert json.loads(capsys.readouterr().out) == first

    assert main(["diff", run_a, run_b, "--db", str(db), "--json"]) == ExitStatus.VIOLATION
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["query_name"], c["change"], c["before"], c["after"]) for c in changes] == [
        ("www.site.test", "regression", "blocked/nxdomain", "accessible")]
    assert main(["diff", run_b, run_a, "--db", str(db)]) == ExitStatus.COMPLIANT
    assert "newly_blocked   www.site.test @ isp: accessible -> blocked/nxdomain" in capsys.readouterr().out

    assert main(["timeline", "WWW.Site.Test.", "--db", str(db)]) == ExitStatus.COMPLIANT
    text = capsys.readouterr().out
    assert "www.site.test @ isp: 2 checks" in text and "blocked/nxdomain -> accessible" in text
    assert main(["timeline", "never.test", "--db", str(db)]) == ExitStatus.ERROR


def test_history_gives_blocked_since(tmp_path: Path, order: Path) -> None:
    db = tmp_path / "history.sqlite"
    order.write_text(ORDER.replace("verification: unverified\n",
                                   "verification: unverified\ndeadline: {within: P5D, from: issued}\n"))
    _, first = check(tmp_path, order, blocking, db)
    _, second = check(tmp_path, order, blocking, db)
    result = next(r for r in second["results"] if r["query_name"] == "site.test")  # type: ignore[union-attr]
    first_seen = next(r for r in first["results"] if r["query_name"] == "site.test")  # type: ignore[union-attr]
    assert result["deadline"]["status"] == "met"
    assert result["deadline"]["blocked_since"] == first_seen["observations"][0]["started_at"]


def test_thirty_minute_deadline_pending_then_overdue(tmp_path: Path, order: Path) -> None:
    order.write_text(ORDER.replace("verification: unverified\n", "verification: unverified\n"
                                   "notified: 2026-06-01T12:00:00Z\ndeadline: {within: PT30M, from: notified}\n"))
    code, early = check(tmp_path, order, leaking_www, tmp_path / "h.sqlite", "--now", "2026-06-01T12:10:00Z")
    leak = next(r for r in early["results"] if r["query_name"] == "www.site.test")  # type: ignore[union-attr]
    assert code == ExitStatus.COMPLIANT
    assert leak["verdict"] == "accessible"
    assert leak["deadline"] == {"due_at": "2026-06-01T12:30:00.000Z", "status": "pending", "seconds_left": 1200,
                                "blocked_since": None, "on_time": None, "basis": leak["deadline"]["basis"],
                                "order": "cli-order"}
    assert early["summary"]["deadlines"] == {"pending": 1, "overdue": 0}  # type: ignore[index]
    code, late = check(tmp_path, order, leaking_www, tmp_path / "h.sqlite", "--now", "2026-06-01T12:31:00Z")
    leak = next(r for r in late["results"] if r["query_name"] == "www.site.test")  # type: ignore[union-attr]
    assert code == ExitStatus.VIOLATION and leak["deadline"]["status"] == "overdue"


def test_no_db_keeps_no_history(tmp_path: Path, order: Path) -> None:
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), "-q", "--no-db",
              *FAST])
    assert not any(Path(os.environ["XDG_DATA_HOME"]).rglob("*.sqlite"))


def test_default_store_is_in_xdg_data_home(tmp_path: Path, order: Path) -> None:
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), "-q", *FAST])
    assert (Path(os.environ["XDG_DATA_HOME"]) / "blockaudit" / "history.sqlite").is_file()


def _count(db: Path, sql: str) -> int:
    """The count, or 0 while the child has created the file but not yet its tables."""
    with sqlite3.connect(db, timeout=10) as connection:
        try:
            return int(connection.execute(sql).fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise


@pytest.mark.slow
def test_kill_9_then_resume_gives_complete_results_without_duplicates(tmp_path: Path) -> None:
    names = [f"site{i}.test" for i in range(40)]
    order = tmp_path / "order.yaml"
    order.write_text(ORDER.replace("targets: [{domain: site.test, subdomains: true}]",
                                   "targets: [" + ", ".join(f"{{domain: {n}}}" for n in names) + "]"))
    asked: list[str] = []

    def slow_blocking(q: dns.message.Message, transport: str) -> dns.message.Message:
        asked.append(str(q.question[0].name))
        time.sleep(0.03)
        return blocking(q, transport)

    def real(q: dns.message.Message, transport: str) -> dns.message.Message:
        name = str(q.question[0].name).rstrip(".")
        return respond(q, a=["198.51.100.5"], aaaa=["2001:db8::5"]) if name.startswith("site") else \
            authoritative(q, transport)

    db = tmp_path / "history.sqlite"
    with fake_dns(slow_blocking) as s, fake_dns(real) as c:
        resolvers = resolver_file(tmp_path, s.port, c.port)
        resolvers.write_text(resolvers.read_text().replace("role: subject}", "role: subject, concurrency: 1}"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, "-m", "checker", "check", str(order), "--resolvers",
                                  str(resolvers), "--db", str(db), "-q", *FAST], env=env, cwd=tmp_path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if db.exists() and _count(db, "SELECT COUNT(*) FROM observations WHERE phase = 'names'") >= 20:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        run_id = sqlite3.connect(db).execute("SELECT id FROM runs").fetchone()[0]
        kept = _count(db, "SELECT COUNT(*) FROM observations")
        assert 0 < kept < 2 * 41 * 2 + 10, "the kill must land in the middle of the run"
        assert _count(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'") == 1
        asked.clear()
        out = tmp_path / "resumed.json"
        code = main(["check", "--resume", run_id, "--db", str(db), "--report", f"json:{out}", "-q"])
    assert code == ExitStatus.COMPLIANT
    report = json.loads(out.read_text())
    assert report["run"]["id"] == run_id
    ordered = [r for r in report["results"] if r["kind"] == "ordered"]
    assert len(ordered) == len(names) and all(r["verdict"] == "blocked" for r in ordered)
    total = _count(db, "SELECT COUNT(*) FROM observations")
    distinct = _count(db, "SELECT COUNT(*) FROM (SELECT DISTINCT run_id, phase, resolver, qname, qtype "
                          "FROM observations)")
    assert total == distinct
    assert _count(db, "SELECT COUNT(*) FROM results") == len(report["results"])
    assert _count(db, "SELECT COUNT(*) FROM runs WHERE status = 'complete'") == 1
    # Questions recorded before the kill were not asked again.
    names_phase_kept = kept - 2 * 2 * 2 - 2
    assert len(asked) <= 2 * len(names) * 2 + 10 - max(names_phase_kept, 0) // 2


def test_resume_refuses_changed_files_and_complete_runs(tmp_path: Path, order: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite"
    _, report = check(tmp_path, order, blocking, db)
    run_id = report["run"]["id"]  # type: ignore[index]
    assert main(["check", "--resume", run_id, "--db", str(db)]) == ExitStatus.ERROR
    assert "already complete" in capsys.readouterr().err
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE runs SET status = 'incomplete'")
    order.write_text(ORDER + "# edited\n")
    assert main(["check", "--resume", run_id, "--db", str(db)]) == ExitStatus.ERROR
    assert "changed since run" in capsys.readouterr().err
    assert main(["check", str(order), "--resume", run_id, "--db", str(db)]) == ExitStatus.ERROR


def test_ctrl_c_keeps_what_was_observed_and_marks_the_run_incomplete(
    tmp_path: Path, order: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from checker import cli
    from checker.store import open_store
    from tests.test_classify import obs

    async def interrupted(*args: object) -> None:
        sink = args[5]
        sink("names", obs(qname="site.test"))  # type: ignore[operator]
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "audit", interrupted)
    db = tmp_path / "h.sqlite"
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), "-q",
                     "--db", str(db), *FAST])
    assert code == ExitStatus.INTERRUPTED
    assert "check --resume" in capsys.readouterr().err
    store = open_store(str(db))
    (run,) = store.runs()
    assert run.status == "incomplete" and run.observations == 1
    assert [k[2] for k in store.observations(run.id)] == ["site.test"]
