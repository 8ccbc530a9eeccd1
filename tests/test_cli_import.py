"""The import command and foreign lists in check/validate, through the command line."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.cli import ExitStatus, main
from checker.orders.loader import load_order
from tests.fakedns import fake_dns
from tests.test_audit import authoritative, blocking
from tests.test_cli import FAST, resolver_file

LIST = "# ticket 42\nsite.test\n*.other.test\nbad..name\n"


def test_import_writes_an_order_the_loader_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ticket.txt"
    source.write_text(LIST)
    out = tmp_path / "ticket.yaml"
    assert main(["import", "plain", str(source), "--order-id", "it-42", "--jurisdiction", "IT",
                 "--authority", "AGCOM", "--order-type", "ticket", "-o", str(out)]) == ExitStatus.COMPLIANT
    order = load_order(out)
    assert order.id == "it-42" and order.jurisdiction == "IT"
    assert {(t.value, t.subdomains) for t in order.targets} == {("site.test", False), ("other.test", True)}
    err = capsys.readouterr().err
    assert f"{source}:4: invalid name" in err


def test_import_strict_and_bad_metadata_leave_the_output_untouched(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "ticket.txt"
    source.write_text(LIST)
    out = tmp_path / "ticket.yaml"
    out.write_text("OLD")
    assert main(["import", "plain", str(source), "--jurisdiction", "IT", "--strict", "-o", str(out)]) == 2
    assert main(["import", "plain", str(source), "-o", str(out)]) == 2  # no jurisdiction given
    assert out.read_text() == "OLD"
    assert not list(tmp_path.glob(".ticket.yaml.*"))
    lines = capsys.readouterr().err.splitlines()
    assert any("(--strict)" in line for line in lines)


def test_import_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"||blocked.test^\n")))
    assert main(["import", "adblock", "-", "--jurisdiction", "FR", "--order-id", "fr-1"]) == ExitStatus.COMPLIANT
    assert "- {domain: blocked.test, subdomains: true}" in capsys.readouterr().out


@pytest.fixture
def list_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = LIST.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"v1"')
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ticket.txt"
    server.shutdown()
    server.server_close()


def test_import_from_a_url_records_where_it_came_from(tmp_path: Path, list_server: str) -> None:
    out = tmp_path / "remote.yaml"
    assert main(["import", "plain", list_server, "--allow-http", "--jurisdiction", "IT", "-o", str(out)]) == 0
    order = load_order(out)
    assert order.sources[0].url == list_server and "sha256" in (order.sources[0].note or "")
    assert main(["import", "plain", list_server, "--jurisdiction", "IT", "-o", str(out)]) == 2  # http refused


def test_check_reads_a_hosts_file_directly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = tmp_path / "blocked.hosts"
    hosts.write_text("0.0.0.0 site.test www.site.test\n")
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        code = main(["check", str(hosts), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)),
                     "--no-db", "-q", "--report", "json:-", *FAST])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitStatus.COMPLIANT
    assert {r["query_name"] for r in report["results"] if r["kind"] == "ordered"} == {"site.test", "www.site.test"}
    odd = tmp_path / "list.data"
    odd.write_text("site.test\n")
    assert main(["validate", str(odd), "--input-format", "plain"]) == ExitStatus.COMPLIANT
