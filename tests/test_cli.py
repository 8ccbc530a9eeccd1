"""The command line in-process: default resolvers, stdout carries only the report, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from checker import resolvers as resolvers_module
from checker.cli import ExitStatus, main
from checker.models import Protocol, Resolver, Role
from tests.fakedns import fake_dns, respond
from tests.test_audit import authoritative, blocking

ORDER = """\
schema: blockaudit/order/1
id: cli-order
title: CLI test order
authority: Test court
jurisdiction: US
order_type: other
issued: 2026-01-01
verification: unverified
targets: [{domain: site.test, subdomains: true}]
exemptions: [ok.test]
"""
FAST = ["--timeout", "0.2", "--retries", "0"]


def resolver_file(tmp_path: Path, subject_port: int, control_port: int) -> Path:
    path = tmp_path / "resolvers.yaml"
    path.write_text(
        "schema: blockaudit/resolvers/1\nresolvers:\n"
        f"  - {{name: isp, operator: ISP, address: '127.0.0.1:{subject_port}', role: subject}}\n"
        f"  - {{name: ctl, address: '127.0.0.1:{control_port}', role: control}}\n"
        "canaries: [canary.test]\n"
    )
    return path


@pytest.fixture
def order(tmp_path: Path) -> Path:
    path = tmp_path / "order.yaml"
    path.write_text(ORDER)
    return path


def leaking(q: dns.message.Message, transport: str) -> dns.message.Message:
    return authoritative(q, transport)


def silent_for_site(q: dns.message.Message, transport: str) -> dns.message.Message | None:
    name = str(q.question[0].name).rstrip(".")
    return None if name.endswith("site.test") else authoritative(q, transport)


@pytest.mark.parametrize(
    ("subject", "status"),
    [(blocking, ExitStatus.COMPLIANT), (leaking, ExitStatus.VIOLATION), (silent_for_site, ExitStatus.INCONCLUSIVE)],
    ids=["compliant", "violation", "inconclusive"],
)
def test_exit_status(tmp_path: Path, order: Path, subject, status: ExitStatus, capsys) -> None:
    with fake_dns(subject) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), *FAST])
    assert code == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "resolver isp" in captured.err and "operator ISP" in captured.err


def test_report_on_stdout_is_only_json(tmp_path: Path, order: Path, capsys) -> None:
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)),
                     "--report", "json:-", "-q", *FAST])
    captured = capsys.readouterr()
    assert code == ExitStatus.COMPLIANT
    assert json.loads(captured.out)["summary"]["status"] == "compliant"
    assert captured.err == ""


def test_report_files_are_written(tmp_path: Path, order: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("OLD")
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)),
              "--report", f"json:{out}", "-q", *FAST])
    assert json.loads(out.read_text())["schema"] == "blockaudit/report/1"
    assert not list(tmp_path.glob(".out.json.*"))


def test_default_resolvers_come_from_resolv_conf(tmp_path: Path, order: Path, monkeypatch, capsys) -> None:
    """Without --resolvers: nameservers of the (fake) resolv.conf are subjects, built-ins are controls."""
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        control = Resolver("test-control", "Test", "127.0.0.1", c.port, Protocol.UDP, Role.CONTROL)
        monkeypatch.setattr(resolvers_module, "BUILTIN_CONTROLS", (control,))
        monkeypatch.setattr(resolvers_module, "BUILTIN_CANARIES", ("canary.test",))
        conf = tmp_path / "resolv.conf"
        conf.write_text(f"# fake\nsearch example\nnameserver 127.0.0.1:{s.port}\noptions edns0\n")
        code = main(["check", str(order), "--resolv-conf", str(conf), "--report", "json:-", "-q", *FAST])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitStatus.COMPLIANT
    roles = {r["name"]: r["role"] for r in report["resolvers"]}
    assert roles == {"system-1": "subject", "test-control": "control"}


def test_resolv_conf_from_environment(tmp_path: Path, order: Path, monkeypatch, capsys) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# no nameserver here\n")
    monkeypatch.setenv("BLOCKAUDIT_RESOLV_CONF", str(conf))
    assert main(["check", str(order)]) == ExitStatus.ERROR
    assert str(conf) in capsys.readouterr().err


def test_python_dash_m_entry_point_exists() -> None:
    import importlib.util

    assert importlib.util.find_spec("checker.__main__") is not None


def test_refused_everywhere_is_never_blocked(tmp_path: Path, order: Path, capsys) -> None:
    refuse = lambda q, t: respond(q, rcode=dns.rcode.REFUSED)  # noqa: E731
    with fake_dns(refuse) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)),
                     "--report", "json:-", "-q", *FAST])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitStatus.INCONCLUSIVE
    assert {r["verdict"] for r in report["results"]} == {"inconclusive"}


def test_one_check_writes_every_format_at_once(tmp_path: Path, order: Path) -> None:
    from checker.report import Format, pdf_available, sha256

    formats = [f for f in Format if f is not Format.PDF or pdf_available()]
    specs = [arg for f in formats for arg in ("--report", f"{f.value}:{tmp_path / ('out.' + f.value)}")]
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), "-q",
                     *FAST, *specs])
    assert code == ExitStatus.COMPLIANT
    for fmt in formats:
        assert (tmp_path / f"out.{fmt.value}").stat().st_size > 0, fmt
    json_bytes = (tmp_path / "out.json").read_bytes()
    if (tmp_path / "out.court").exists():
        assert sha256(json_bytes.decode()) in (tmp_path / "out.court").read_text()


def test_write_atomic_keeps_symlinks_devices_and_modes(tmp_path: Path) -> None:
    import os
    import stat

    from checker.cli import write_atomic

    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o644)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_text() == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomic(fifo, b"through")
        assert os.read(reader, 100) == b"through"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    fresh = tmp_path / "fresh.json"
    old = os.umask(0o022)
    try:
        write_atomic(fresh, b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644


def test_probe_labels_are_validated(tmp_path: Path, order: Path, capsys) -> None:
    for bad in ("", "a b", "x" * 64, "-www"):
        assert main(["check", str(order), "--subdomain-probe", bad]) == ExitStatus.ERROR
    assert "--subdomain-probe" in capsys.readouterr().err


def test_upper_case_probe_label_is_normalised(tmp_path: Path, order: Path, capsys) -> None:
    def apex_only(q: dns.message.Message, transport: str) -> dns.message.Message:
        name = str(q.question[0].name).rstrip(".").lower()
        return respond(q, rcode=dns.rcode.NXDOMAIN) if name == "site.test" else authoritative(q, transport)

    with fake_dns(apex_only) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)),
                     "--subdomain-probe", "WWW", "-q", *FAST])
    assert code == ExitStatus.VIOLATION


def test_canary_that_an_order_blocks_is_refused(tmp_path: Path, order: Path, capsys) -> None:
    path = tmp_path / "resolvers.yaml"
    path.write_text(
        "schema: blockaudit/resolvers/1\nresolvers:\n"
        "  - {name: isp, address: '127.0.0.1:5300', role: subject}\n"
        "  - {name: ctl, address: '127.0.0.1:5301', role: control}\n"
        "canaries: [www.site.test]\n"
    )
    assert main(["check", str(order), "--resolvers", str(path)]) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:5: field 'canaries': www.site.test is ordered blocked (site.test)")


def test_an_order_with_nothing_dns_can_check_is_inconclusive(tmp_path: Path, capsys) -> None:
    order = tmp_path / "ip-only.yaml"
    order.write_text(ORDER.replace("targets: [{domain: site.test, subdomains: true}]", "targets: [{ip: 192.0.2.10}]")
                     .replace("exemptions: [ok.test]\n", ""))
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)),
                     "--report", "json:-", "-q", *FAST])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitStatus.INCONCLUSIVE
    assert report["orders"][0]["status"] == "inconclusive"
    assert report["not_checkable"] == [{"order": "cli-order", "kind": "ip", "value": "192.0.2.10",
                                        "reason": "DNS cannot check an IP or URL target"}]


def test_progress_on_a_terminal_shows_rate_eta_and_verdicts() -> None:
    import io

    from checker.cli import _Progress
    from checker.engine import ProgressEvent

    stream = io.StringIO()
    progress = _Progress(stream, tty=True, verdicts=lambda: {"blocked": 7, "accessible": 1, "dead": 0})
    progress(ProgressEvent("names", 0, 100))
    progress.last = 0.0
    progress(ProgressEvent("names", 40, 100))
    progress(ProgressEvent("names", 100, 100))
    text = stream.getvalue()
    assert "\r\x1b[Knames: 40/100 questions" in text and "ETA " in text
    assert "blocked 7 accessible 1" in text and "dead" not in text
    assert text.endswith("\n")


def test_progress_in_a_log_is_a_plain_line_now_and_then() -> None:
    import io

    from checker.cli import _Progress
    from checker.engine import ProgressEvent

    stream = io.StringIO()
    progress = _Progress(stream, tty=False, interval=0.0)
    progress(ProgressEvent("names", 0, 10))
    progress(ProgressEvent("names", 5, 10))
    progress(ProgressEvent("names", 10, 10))
    lines = stream.getvalue().splitlines()
    assert lines == [line for line in lines if line.startswith("blockaudit: names: ")]
    assert len(lines) == 1 and "\r" not in stream.getvalue()


def test_progress_rate_holds_while_phases_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The canary re-checks report progress while the names phase runs: the names' rate and
    ETA stay those of the names phase (a 1M-name run once printed 100,000/s for 3,000/s)."""
    import io

    from checker import cli
    from checker.engine import ProgressEvent

    clock = [1000.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    progress = cli._Progress(stream, tty=False, interval=10.0)
    progress(ProgressEvent("names", 0, 40_000))
    for second in range(1, 31):
        clock[0] = 1000.0 + second
        progress(ProgressEvent("recheck", 0, 2))
        progress(ProgressEvent("recheck", 2, 2))
        progress(ProgressEvent("names", 1000 * second, 40_000))
    lines = stream.getvalue().splitlines()
    assert lines, "a 30 s phase gets lines in a log"
    assert all("1,000/s" in line for line in lines), lines
    assert lines[-1].startswith("blockaudit: names: 30,000/40,000 questions, 1,000/s, ETA 0:10")


def test_a_failing_user_template_is_one_line_and_writes_nothing(tmp_path: Path, order: Path, capsys) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "report.md").write_text("{{ report.summary.status }} {{ 1 // 0 }}\n")
    out = tmp_path / "r.md"
    out.write_text("OLD")
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        code = main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)),
                     "--templates", str(templates), "--report", f"md:{out}", "-q", *FAST])
    err = capsys.readouterr().err
    assert code == ExitStatus.ERROR
    assert err.startswith(f"{templates}: a report template failed: ZeroDivisionError") and err.count("\n") == 1
    assert "Traceback" not in err and out.read_text() == "OLD"



def test_a_spooled_report_is_copied_whole_to_a_file_or_a_stream(tmp_path: Path) -> None:
    import io

    from checker.cli import _copy_file

    source = tmp_path / "spooled.json"
    source.write_bytes(bytes(range(256)) * 5000)
    with (tmp_path / "copy.json").open("wb") as handle:  # sendfile, in the kernel
        handle.write(b"[")
        _copy_file(source, handle)
    assert (tmp_path / "copy.json").read_bytes() == b"[" + source.read_bytes()
    stream = io.BytesIO()  # no file descriptor: the plain copy
    _copy_file(source, stream)
    assert stream.getvalue() == source.read_bytes()
