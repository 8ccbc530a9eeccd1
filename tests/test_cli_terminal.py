"""What the command line prints is inert on a terminal and in a CI log, whatever the files and the network say.

The summary, the progress line, warnings, error lines (``file:line: ...`` quoting the file), the
import report and the history listings may carry text from order files, resolver files, file
names, the store or DNS answers. None of it may move the cursor, recolour or retitle the
terminal, start a line of its own, reverse the text around it, or be taken by GitHub's runner
as a workflow command (``::cmd::`` at the start of a line, ``##[cmd]`` anywhere in one).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from pathlib import Path

import pytest

from checker.cli import ExitStatus, _Progress, main
from checker.engine import ProgressEvent
from checker.report import summary
from checker.report.escape import terminal_safe
from checker.store import ResultRow, open_store
from tests import hostile
from tests.fakedns import fake_dns

SUMMARY_STARTS = ("blockaudit ", "resolver ", "operator ", "control ", "warning: control ", "  ", "overall ")


def assert_inert(text: str, *, lines: bool = True) -> None:
    """Every line free of control, bidi and surrogate characters and of runner commands
    (``lines=False``: a field inside a line, which may start with ``::``)."""
    for line in text.split("\n"):
        found = hostile.TERMINAL_CONTROLS_RE.search(line)
        assert found is None, f"U+{ord(found.group()):04X} in {line[:200]!r}"
        assert "##[" not in line, line[:200]
        assert not (lines and line.lstrip().startswith("::")), line[:200]


def test_terminal_safe_shows_every_unsafe_character() -> None:
    assert terminal_safe("a\x1b[31mb\x07\u202e") == "a\\x1b[31mb\\x07\\u202e"
    assert terminal_safe("one\ntwo\tthree\r") == "one\\x0atwo\\x09three\\x0d"
    assert terminal_safe("\x9b2J\x85\u2028\u2066\ufeff\u061c") == "\\x9b2J\\x85\\u2028\\u2066\\ufeff\\u061c"
    assert terminal_safe("lone \ud800") == "lone \\ud800"
    assert terminal_safe("##[add-mask]x and ##[stop-commands]y") == "##\\[add-mask]x and ##\\[stop-commands]y"
    assert terminal_safe("plain names, 2001:db8::1 and ünïcode") == "plain names, 2001:db8::1 and ünïcode"
    for text in hostile.STRINGS:
        assert_inert(terminal_safe(text), lines=False)


def test_summary_of_a_hostile_report_keeps_its_lines() -> None:
    text = summary(hostile.hostile_view())
    twin = summary(hostile.hostile_view(plain=True))
    assert_inert(text)
    lines, plain = text.split("\n"), twin.split("\n")
    assert len(lines) == len(plain)
    assert Counter(line.split(" ", 1)[0] for line in lines) == Counter(line.split(" ", 1)[0] for line in plain)
    assert any(line.startswith("warning: control ") for line in lines), "the interception warning is shown"
    assert all(line.startswith(SUMMARY_STARTS) for line in lines if line)


def test_check_prints_an_inert_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(hostile.ORDER_YAML, encoding="utf-8")
    resolvers = tmp_path / "resolvers.yaml"
    with fake_dns(hostile.hostile_resolver) as s, fake_dns(hostile.hostile_control) as c, \
            fake_dns(hostile.hostile_control) as h:
        resolvers.write_text(hostile.resolvers_yaml(s.address, c.address, h.address), encoding="utf-8")
        code = main(["check", str(order), "--resolvers", str(resolvers), "--no-db", "--timeout", "0.5",
                     "--retries", "0"])
    assert code == ExitStatus.VIOLATION
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert_inert(err)
    lines = [line for line in err.split("\n") if line]
    assert all(line.startswith(SUMMARY_STARTS) for line in lines), lines
    warning = next(line for line in lines if line.startswith("warning: control ctl"))
    # What the resolver said is all there, shown: the CR LF, the escapes, the runner command.
    assert "\\x0d\\x0aFAKE line" in warning and "\\x1b]0;pwned\\x07" in warning and "##\\[add-mask]x" in warning
    assert "operator ISP \\x1b[31mRED" in err


@pytest.mark.parametrize("case", ["content", "file name", "relative name", "os error"])
def test_an_error_line_quoting_a_hostile_file_is_one_inert_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str,
) -> None:
    if case == "content":  # the name checker quotes a label as it is
        order = tmp_path / "order.yaml"
        order.write_text(hostile.ORDER_YAML.replace("{domain: site.test,", '{domain: "a\\e[2J\\e]0;t\\a.test",'))
        argv = ["validate", str(order)]
    elif case == "file name":
        order = tmp_path / "o\x1b]0;pwned\x07\r\n##[add-mask]x\u202e.yaml"
        order.write_text("schema: blockaudit/order/1\nid: BAD\n")
        argv = ["validate", str(order)]
    elif case == "relative name":  # a relative path first on the line: no "::command::" line
        monkeypatch.chdir(tmp_path)
        Path("::error::forged\x1b[2J.yaml").write_text("schema: blockaudit/order/1\nid: BAD\n")
        argv = ["validate", "::error::forged\x1b[2J.yaml"]
    else:  # an OSError names the file: a folder where a JSON report should be
        folder = tmp_path / "r\x1b[2J\n::error::x.json"
        folder.mkdir()
        argv = ["render", str(folder), "--report", f"md:{tmp_path / 'out.md'}"]
    assert main(argv) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert_inert(err)
    assert "\\x1b" in err


def test_import_reports_hostile_lines_inertly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "list\x1b[2J.txt"
    source.write_bytes("site.test\nbad\x1b]0;t\x07..name ##[add-mask]x\n\u202eevil\x9b2J.test\nx\ry.test\n".encode())
    out = tmp_path / "order.yaml"
    assert main(["import", "plain", str(source), "--jurisdiction", "IT", "--order-id", "it-1",
                 "-o", str(out)]) == ExitStatus.COMPLIANT
    err = capsys.readouterr().err
    assert_inert(err)
    assert err.count("\n") >= 3, "a summary line and one line per skipped line"


def test_history_listings_are_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "history.sqlite")
    store = open_store(db)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    name, resolver = "www.site.test" + hostile.ANSI, "isp" + hostile.CURSOR
    for number, verdict in ((1, "blocked"), (2, "accessible")):
        run_id, when = f"r{number}", t0 + dt.timedelta(hours=number)
        store.begin_run(run_id, when, "host" + hostile.OSC8 + hostile.BIDI, "1.0", {"orders": []})
        store.add_results([ResultRow(run_id, resolver, name, "site.test", "ordered", verdict,
                                     "nxdomain" if verdict == "blocked" else None, None, when)])
        store.finish_run(run_id, when, {"summary": {"status": "compliant"}})
    store.close()
    assert main(["runs", "--db", db]) == ExitStatus.COMPLIANT
    assert main(["diff", "r1", "r2", "--db", db]) == ExitStatus.VIOLATION
    captured = capsys.readouterr()
    assert_inert(captured.out)
    assert_inert(captured.err)
    assert "host\\x1b]8;;" in captured.out and "www.site.test\\x1b[31mRED" in captured.out


def test_the_progress_line_writes_only_its_own_redraw() -> None:
    stream = io.StringIO()
    progress = _Progress(stream, tty=True, verdicts=lambda: {"blocked": 3, "inconclusive": 1})
    progress(ProgressEvent("names", 1, 4))
    progress.last = 0.0
    progress(ProgressEvent("names", 4, 4))
    text = stream.getvalue()
    assert_inert(text.replace("\r\x1b[K", ""))
