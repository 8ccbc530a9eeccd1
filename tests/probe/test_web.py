"""The HTTP/TLS evidence probe against loopback web servers started here, with throwaway CAs."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import http.server
import ipaddress
import os
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from checker.models import Fetch
from checker.probe.web import WebSettings, fetch, fetch_all, page_title
from tests.pki import Authority, Leaf, Pki, authority, make_pki
from tests.probe.test_transports import serving

SITE = "real-site.test"
BLOCKED = "annas-archive.org"
BLOCK_PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8>\n<title>\n  Blocked  by court order &amp; ISP\n</title>"
    b"</head><body>This site is blocked.</body></html>"
)


def settings(http: int = 1, https: int = 1, **kwargs: Any) -> WebSettings:
    fast: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, "deadline": 5.0}
    return WebSettings(http_port=http, https_port=https, **(fast | kwargs))


@dataclass(frozen=True)
class Certs:
    ca: Authority
    site: Leaf  # real-site.test and *.real-site.test, from ca
    expired: Leaf  # real-site.test, expired, from ca
    pki: Pki  # test_transports' CA: its server certificate is for localhost, dns.test, 127.0.0.1, ::1

    @property
    def localhost(self) -> Leaf:
        return self.pki.server


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("web-pki")
    ca = authority(folder, "blockaudit web test CA", "site-ca")
    return Certs(
        ca=ca,
        site=ca.issue(folder, "site", (SITE, f"*.{SITE}")),
        expired=ca.issue(folder, "expired", (SITE,), expired=True),
        pki=make_pki(folder / "transports"),
    )


# --------------------------------------------------------------------------- loopback web servers

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class Loopback:
    """A web server on loopback and what it saw."""

    host: str
    port: int = 0
    connections: int = 0
    seen: list[dict[str, str | None]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


def page(status: int = 200, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()) -> Route:
    def route(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for key, value in headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return route


def redirect(location: str, status: int = 302) -> Route:
    return page(status, b"moved", (("Location", location),))


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


@contextlib.contextmanager
def web(
    routes: dict[str, Route], *, host: str = "127.0.0.1", tls: tuple[Leaf, ...] = (),
) -> Iterator[Loopback]:
    """HTTP/1.1 (or HTTPS with the leaves' certificates, one per connection in turn) on ``host``."""
    loop = Loopback(host)
    lock = threading.Lock()
    contexts = [leaf.context() for leaf in tls]

    def remember_sni(sslsock: Any, server_name: str | None, _context: ssl.SSLContext) -> None:
        loop.sni.append(server_name)
        sslsock.sni = server_name

    for context in contexts:
        context.sni_callback = remember_sni

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "isp-block/1.0"
        sys_version = ""

        def setup(self) -> None:
            with lock:
                number = loop.connections
                loop.connections += 1
            if contexts:
                self.request = contexts[number % len(contexts)].wrap_socket(self.request, server_side=True)
            super().setup()

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                self.request.close()  # the TLS socket; the server closes only the plain one it accepted

        def do_GET(self) -> None:
            loop.seen.append({
                "host": self.headers["Host"], "path": self.path, "ua": self.headers["User-Agent"],
                "sni": getattr(self.request, "sni", None),
            })
            routes.get(self.path, page(404, b"not here"))(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(socketserver.ThreadingTCPServer):
        address_family = _family(host)
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a capture handshake that hangs up, a client that refused the certificate

    with Server((host, 0), Handler) as server, serving(server) as loop.port:
        yield loop


@contextlib.contextmanager
def raw(handle: Callable[[socket.socket], None], host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP server whose every connection is handed to ``handle``."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError):
                handle(self.request)

    class Server(socketserver.ThreadingTCPServer):
        address_family = _family(host)
        daemon_threads = True
        allow_reuse_address = True

    with Server((host, 0), Handler) as server, serving(server) as port:
        yield port


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True)
def _no_name_lookups(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail any name lookup: the probe may only ever connect to IP literals."""
    real = socket.getaddrinfo
    asked: list[object] = []

    def only_literals(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        text = host.decode() if isinstance(host, bytes) else str(host)
        ipaddress.ip_address(text)  # raises for a name: the test fails with it
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", only_literals)
    return asked


# --------------------------------------------------------------------------- http


def test_block_page_over_http_records_status_title_body_and_a_few_headers() -> None:
    routes = {"/": page(200, BLOCK_PAGE, (
        ("Content-Type", "text/html; charset=utf-8"), ("Set-Cookie", "isp=1"), ("X-Other", "no"),
    ))}
    before = dt.datetime.now(dt.UTC)
    with web(routes) as server:
        got = fetch(BLOCKED, "127.0.0.1", "http", settings(http=server.port))
    assert got.error is None
    assert (got.name, got.address, got.port, got.scheme) == (BLOCKED, "127.0.0.1", server.port, "http")
    assert got.status == 200
    assert got.title == "Blocked by court order & ISP"
    assert got.body == BLOCK_PAGE
    assert not got.body_truncated
    assert got.headers == (
        ("Server", "isp-block/1.0"), ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(BLOCK_PAGE))),
    )
    assert got.certificate is None
    assert got.redirects == ()
    assert got.redirect_elsewhere is None
    assert got.started_at.tzinfo is not None
    assert before <= got.started_at <= dt.datetime.now(dt.UTC)
    assert 0 < got.elapsed_ms < 5000
    [seen] = server.seen
    assert seen["host"] == f"{BLOCKED}:{server.port}"
    assert seen["path"] == "/"
    assert str(seen["ua"]).startswith("blockaudit/")


def test_clock_gives_started_at() -> None:
    at = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    with web({"/": page(204)}) as server:
        got = fetch(BLOCKED, "127.0.0.1", "http", settings(http=server.port), clock=lambda: at)
    assert got.started_at == at
    assert got.status == 204
    assert got.title is None


# --------------------------------------------------------------------------- https and certificates


def test_real_site_over_https_with_a_certificate_valid_for_the_name(certs: Certs) -> None:
    with web({"/": page(200, b"<title>Real site</title>")}, tls=(certs.site,)) as server:
        got = fetch(SITE, "127.0.0.1", "https", settings(https=server.port, ca_bundle=str(certs.ca.pem)))
    assert got.error is None
    assert got.status == 200
    assert got.title == "Real site"
    cert = got.certificate
    assert cert is not None
    assert cert.valid
    assert cert.error is None
    assert cert.subject == f"CN={SITE}"
    assert cert.issuer == "CN=blockaudit web test CA"
    assert cert.names == (SITE, f"*.{SITE}")
    assert cert.sha256 == certs.site.sha256
    assert cert.not_before == certs.site.certificate.not_valid_before_utc
    assert cert.not_after == certs.site.certificate.not_valid_after_utc
    # The capture handshake, then the page: both with SNI and Host set to the name.
    assert server.sni == [SITE, SITE]
    [seen] = server.seen
    assert (seen["host"], seen["sni"]) == (f"{SITE}:{server.port}", SITE)


def test_wildcard_certificate_is_valid_for_a_name_below(certs: Certs) -> None:
    with web({"/": page(200, b"ok")}, tls=(certs.site,)) as server:
        got = fetch(f"www.{SITE}", "127.0.0.1", "https", settings(https=server.port, ca_bundle=str(certs.ca.pem)))
    assert got.certificate is not None
    assert got.certificate.valid, got.certificate.error


def test_certificate_from_an_unknown_ca_is_recorded_but_not_valid(certs: Certs) -> None:
    with web({"/": page(200, BLOCK_PAGE)}, tls=(certs.site,)) as server:
        got = fetch(SITE, "127.0.0.1", "https", settings(https=server.port))  # certifi: our CA is unknown
    cert = got.certificate
    assert cert is not None
    assert not cert.valid
    assert cert.error is not None
    assert cert.error.startswith("untrusted issuer (CN=blockaudit web test CA)")
    assert "not valid for" not in cert.error
    assert cert.sha256 == certs.site.sha256
    assert cert.subject == f"CN={SITE}"
    # The page is still fetched, over a connection pinned to that same certificate.
    assert got.error is None
    assert (got.status, got.body) == (200, BLOCK_PAGE)
    assert server.sni == [SITE, SITE, SITE]  # verifying handshake, capturing handshake, page


def test_certificate_for_another_name_is_not_valid_for_the_name(certs: Certs) -> None:
    with web({"/": page(200, BLOCK_PAGE)}, tls=(certs.localhost,)) as server:
        trusted = fetch(SITE, "127.0.0.1", "https", settings(https=server.port, ca_bundle=str(certs.pki.ca)))
        untrusted = fetch(SITE, "127.0.0.1", "https", settings(https=server.port, ca_bundle=str(certs.ca.pem)))
    assert trusted.certificate is not None
    assert not trusted.certificate.valid
    assert trusted.certificate.error == f"not valid for {SITE}"
    assert trusted.certificate.names == ("localhost", "dns.test", "127.0.0.1", "::1")
    assert (trusted.status, trusted.body, trusted.error) == (200, BLOCK_PAGE, None)
    assert untrusted.certificate is not None
    assert untrusted.certificate.error is not None
    assert untrusted.certificate.error.startswith("untrusted issuer")
    assert untrusted.certificate.error.endswith(f"; not valid for {SITE}")


def test_expired_certificate(certs: Certs) -> None:
    with web({"/": page(200, b"old")}, tls=(certs.expired,)) as server:
        got = fetch(SITE, "127.0.0.1", "https", settings(https=server.port, ca_bundle=str(certs.ca.pem)))
    assert got.certificate is not None
    assert not got.certificate.valid
    assert got.certificate.error == "expired"
    assert got.status == 200


def test_a_different_certificate_on_the_page_connection_is_refused(certs: Certs) -> None:
    # One certificate for the capture handshake, another for the page: the page is not taken.
    with web({"/": page(200, b"swapped")}, tls=(certs.site, certs.localhost)) as server:
        got = fetch(SITE, "127.0.0.1", "https", settings(https=server.port, ca_bundle=str(certs.ca.pem)))
    assert got.certificate is not None
    assert got.certificate.sha256 == certs.site.sha256
    assert got.error == "the server presented a different certificate on the second connection"
    assert got.status is None
    assert server.seen == []


def test_https_to_a_plain_http_server_is_a_failed_handshake() -> None:
    with web({"/": page(200, b"plain")}) as server:
        got = fetch(SITE, "127.0.0.1", "https", settings(https=server.port))
    assert got.error is not None
    assert got.error.startswith("TLS handshake failed: ")
    assert (got.certificate, got.status) == (None, None)


def test_missing_ca_bundle_is_an_error_not_an_exception(tmp_path: Path) -> None:
    got = fetch(SITE, "127.0.0.1", "https", settings(https=free_port(), ca_bundle=str(tmp_path / "nope.pem")))
    assert got.error is not None
    assert got.error.startswith("cannot read the CA bundle")


# --------------------------------------------------------------------------- redirects


def test_redirects_to_the_same_name_are_followed_to_the_same_address() -> None:
    routes: dict[str, Route] = {"/": redirect("/b?x=1"), "/c": page(200, b"<title>final</title>")}
    with web(routes) as server:
        # Routes are looked up at request time: the absolute one can name the port once it is known.
        routes["/b?x=1"] = redirect(f"HTTP://Real-Site.TEST.:{server.port}/c#frag", 301)
        got = fetch(SITE, "127.0.0.1", "http", settings(http=server.port))
    assert got.error is None
    assert got.redirects == (f"http://{SITE}:{server.port}/b?x=1", f"http://{SITE}:{server.port}/c")
    assert (got.status, got.title) == (200, "final")
    assert [s["path"] for s in server.seen] == ["/", "/b?x=1", "/c"]
    assert {s["host"] for s in server.seen} == {f"{SITE}:{server.port}"}


def test_http_to_https_on_the_same_name_switches_to_the_https_port(certs: Certs) -> None:
    routes = {"/": redirect(f"https://{SITE}/secure")}  # the default port counts as the https port
    with (
        web({"/secure": page(200, b"<title>secure</title>")}, tls=(certs.site,)) as tls_server,
        web(routes) as server,
    ):
        got = fetch(SITE, "127.0.0.1", "http", settings(
            http=server.port, https=tls_server.port, ca_bundle=str(certs.ca.pem),
        ))
    assert got.error is None
    assert got.redirects == (f"https://{SITE}:{tls_server.port}/secure",)
    assert (got.scheme, got.port) == ("http", server.port)
    assert (got.status, got.title) == (200, "secure")
    assert got.certificate is not None
    assert got.certificate.valid
    assert [s["sni"] for s in tls_server.seen] == [SITE]


def test_a_redirect_loop_stops_at_max_redirects() -> None:
    with web({"/": redirect("/")}) as server:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=server.port, max_redirects=3))
    assert got.error == "stopped after 3 redirects"
    assert got.redirects == (f"http://{SITE}:{server.port}/",) * 3
    assert got.status == 302
    assert ("Location", "/") in got.headers
    assert len(server.seen) == 4


@pytest.mark.parametrize("target", [
    "http://other.test:{port}/x",
    "http://127.0.0.1:{port}/",  # the same address, but not the name
    "http://real-site.test:{port}/",  # the name, but a port that is neither the default nor configured
])
def test_a_redirect_elsewhere_is_recorded_not_followed(target: str) -> None:
    with web({"/": page(200, b"other")}) as other:
        location = target.format(port=other.port)
        with web({"/": redirect(location)}) as server:
            got = fetch(SITE, "127.0.0.1", "http", settings(http=server.port))
    assert got.redirect_elsewhere == location
    assert got.redirects == ()
    assert got.error is None
    assert got.status == 302
    assert other.connections == 0


# --------------------------------------------------------------------------- bodies and deadlines


def test_body_longer_than_the_cap_is_truncated() -> None:
    big = b"x" * (300 * 1024)
    with web({"/": page(200, big), "/exact": page(200, big[:65536])}) as server:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=server.port, max_body=65536))
    assert got.body_truncated
    assert got.body == big[:65536]
    assert got.error is None


def test_body_exactly_the_cap_is_not_truncated() -> None:
    with web({"/": page(200, b"y" * 4096)}) as server:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=server.port, max_body=4096))
    assert not got.body_truncated
    assert got.body == b"y" * 4096


def test_a_compressed_body_is_decoded_despite_asking_for_identity() -> None:
    packed = gzip.compress(BLOCK_PAGE)
    with web({"/": page(200, packed, (("Content-Encoding", "gzip"), ("Content-Type", "text/html")))}) as server:
        got = fetch(BLOCKED, "127.0.0.1", "http", settings(http=server.port))
    assert got.error is None
    assert got.body == BLOCK_PAGE
    assert got.title == "Blocked by court order & ISP"


def test_a_body_cut_short_keeps_what_came() -> None:
    def short(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<title>cut</title>")

    with raw(short) as port:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=port))
    assert got.status == 200
    assert got.body == b"<title>cut</title>"
    assert got.title == "cut"
    assert got.error == "the body was cut short: the server closed the connection early"


def _drip(first: bytes, then: bytes) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(first)
        for _ in range(2000):
            conn.sendall(then)
            time.sleep(0.02)
    return handle


@pytest.mark.parametrize(("first", "then", "status"), [
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>", b".", 200),  # a slow body
    (b"HTTP/1.1 200 OK\r\n", b"X", None),  # a header that never ends
])
def test_a_slow_drip_server_is_cut_off_at_the_deadline(first: bytes, then: bytes, status: int | None) -> None:
    with raw(_drip(first, then)) as port:
        start = time.monotonic()
        got = fetch(SITE, "127.0.0.1", "http", settings(http=port, read_timeout=5.0, deadline=0.8))
        took = time.monotonic() - start
    assert 0.7 < took < 1.5
    assert got.error is not None
    assert got.error.startswith("timed out: the whole fetch took longer than 0.8 s")
    assert got.status == status
    if status is not None:
        assert got.body.startswith(b"<html>.")


def test_a_slow_tls_handshake_is_cut_off_at_the_deadline() -> None:
    # A TLS record header announcing 16 KiB, then one byte at a time: the handshake never ends.
    with raw(_drip(b"\x16\x03\x03\x40\x00", b"\x00")) as port:
        start = time.monotonic()
        got = fetch(SITE, "127.0.0.1", "https", settings(https=port, read_timeout=5.0, deadline=0.8))
        took = time.monotonic() - start
    assert took < 1.5
    assert got.error == "timed out: the whole fetch took longer than 0.8 s"


def test_a_silent_server_times_out_on_read() -> None:
    with raw(lambda conn: (conn.recv(65536), time.sleep(2))) as port:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=port, read_timeout=0.3))
    assert got.error == "timed out after 0.3 s"
    assert got.status is None


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_connection_refused(scheme: str) -> None:
    port = free_port()
    got = fetch(SITE, "127.0.0.1", scheme, settings(http=port, https=port))
    assert got.error == "connection refused"
    assert (got.status, got.certificate, got.body) == (None, None, b"")


def test_a_non_http_answer_is_an_error() -> None:
    def ssh(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    with raw(ssh) as port:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=port))
    assert got.error is not None
    assert got.error.startswith("not an HTTP response: ")
    assert "SSH-2.0" in got.error
    assert got.status is None


def test_a_server_that_hangs_up_without_answering() -> None:
    with raw(lambda conn: conn.recv(65536)) as port:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=port))
    assert got.error == "the server closed the connection without a response"


# --------------------------------------------------------------------------- IPv6, fetch_all, input


needs_ipv6 = pytest.mark.skipif(
    not ipv6_loopback() and os.environ.get("CI") != "true", reason="no IPv6 loopback (::1) here",
)


@needs_ipv6
def test_ipv6_loopback_over_http_and_https(certs: Certs) -> None:
    with (
        web({"/": page(200, BLOCK_PAGE)}, host="::1") as plain,
        web({"/": page(200, b"v6")}, host="::1", tls=(certs.site,)) as secure,
    ):
        options = settings(http=plain.port, https=secure.port, ca_bundle=str(certs.ca.pem))
        over_http = fetch(BLOCKED, "0:0::1", "http", options)
        over_https = fetch(SITE, "::1", "https", options)
    assert over_http.address == "::1"
    assert (over_http.status, over_http.error) == (200, None)
    assert plain.seen[0]["host"] == f"{BLOCKED}:{plain.port}"
    assert (over_https.status, over_https.body, over_https.error) == (200, b"v6", None)
    assert over_https.certificate is not None
    assert over_https.certificate.valid


def test_fetch_all_takes_distinct_addresses_up_to_the_limit_each_over_each_scheme(certs: Certs) -> None:
    with (
        web({"/": page(200, b"plain")}) as plain,
        web({"/": page(200, b"secure")}, tls=(certs.site,)) as secure,
    ):
        got = fetch_all(
            SITE, ["127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.3"],
            settings(http=plain.port, https=secure.port, ca_bundle=str(certs.ca.pem)), limit=2,
        )
    assert [(f.address, f.scheme) for f in got] == [
        ("127.0.0.1", "https"), ("127.0.0.1", "http"), ("127.0.0.2", "https"), ("127.0.0.2", "http"),
    ]
    assert [f.body for f in got[:2]] == [b"secure", b"plain"]
    assert all(isinstance(f, Fetch) and f.error == "connection refused" for f in got[2:])


def test_a_trailing_dot_is_left_out_of_host_and_sni(certs: Certs) -> None:
    with web({"/": page(200, b"ok")}, tls=(certs.site,)) as server:
        got = fetch(f"{SITE}.", "127.0.0.1", "https", settings(https=server.port, ca_bundle=str(certs.ca.pem)))
    assert got.name == f"{SITE}."
    assert got.certificate is not None
    assert got.certificate.valid
    assert server.seen[0]["host"] == f"{SITE}:{server.port}"
    assert set(server.sni) == {SITE}


def test_an_unreadable_location_is_an_error() -> None:
    with web({"/": redirect("http://[broken/")}) as server:
        got = fetch(SITE, "127.0.0.1", "http", settings(http=server.port))
    assert got.status == 302
    assert got.error == "the redirect's Location cannot be read: 'http://[broken/'"
    assert (got.redirects, got.redirect_elsewhere) == ((), None)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        fetch(SITE, "real-site.test", "http", settings())
    with pytest.raises(ValueError, match="scheme"):
        fetch(SITE, "127.0.0.1", "ftp", settings())
    with pytest.raises(ValueError, match="A-label"):
        fetch("b\u00fccher.test", "127.0.0.1", "http", settings())


def test_no_name_was_ever_looked_up(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    asked: list[object] = []

    def record(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", record)
    with (
        web({"/": page(200, b"secure")}, tls=(certs.site,)) as secure,
        web({"/": redirect(f"https://{SITE}/")}) as plain,
    ):
        fetch(SITE, "127.0.0.1", "http", settings(http=plain.port, https=secure.port))
    assert asked
    assert {str(host) for host in asked} == {"127.0.0.1"}


def test_default_settings_name_the_tool() -> None:
    defaults = WebSettings()
    assert defaults.user_agent.startswith("blockaudit/")
    assert (defaults.http_port, defaults.https_port, defaults.max_redirects) == (80, 443, 3)
    assert (defaults.connect_timeout, defaults.read_timeout, defaults.deadline) == (3.0, 5.0, 15.0)


# --------------------------------------------------------------------------- titles


@pytest.mark.parametrize(("body", "content_type", "title"), [
    (b"<html><TITLE lang=en>  A\n\t b &eacute; </TITLE>", None, "A b \u00e9"),
    (b"<title></title>", None, None),
    (b"<p>no title</p>", None, None),
    (b"<title>" + "\u0417\u0430\u0431\u043b\u043e\u043a".encode("cp1251") + b"</title>",
     "text/html; charset=windows-1251", "\u0417\u0430\u0431\u043b\u043e\u043a"),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><title>\xe2\xcc\xcf\xcb</title>',
     None, "\u0411\u043b\u043e\u043a"),
    (b"<title>" + b"t" * 500 + b"</title>", None, "t" * 200),
    (b"x" * (64 * 1024) + b"<title>too far</title>", None, None),
])
def test_page_title(body: bytes, content_type: str | None, title: str | None) -> None:
    assert page_title(body, content_type) == title
