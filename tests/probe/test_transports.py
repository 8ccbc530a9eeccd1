"""DNS over TLS, DNS over HTTPS and IPv6 against loopback servers started here, with a throwaway CA."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import http.server
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest

from checker.cli import main
from checker.engine import Engine
from checker.errors import ResolverConfigError
from checker.models import Observation, Protocol, Resolver, Role
from checker.probe import https
from checker.probe.client import ProbeSettings, ask
from checker.probe.message import make_query
from checker.resolvers import load_resolvers
from tests.fakedns import fake_dns, respond
from tests.pki import Pki, make_pki

FAST = ProbeSettings(timeout=0.5, retries=1, backoff=0.01)


# --------------------------------------------------------------------------- a throwaway PKI


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# --------------------------------------------------------------------------- servers

Answer = Callable[[dns.message.Message], dns.message.Message]


def site_answer(query: dns.message.Message) -> dns.message.Message:
    return respond(query, a=["192.0.2.80"], aaaa=["2001:db8::80"])


@contextlib.contextmanager
def serving(server: socketserver.TCPServer) -> Iterator[int]:
    """Serve ``server`` from a daemon thread for the length of the block; yields its port."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


@contextlib.contextmanager
def dot_server(pki: Pki, answer: Answer = site_answer, host: str = "127.0.0.1") -> Iterator[int]:
    """DNS over TLS on ``host``: one length-prefixed answer per query, until the client closes."""
    context = pki.server_context()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                with context.wrap_socket(self.request, server_side=True) as conn:
                    while True:
                        header = _read(conn, 2)
                        if header is None:
                            return
                        data = _read(conn, struct.unpack("!H", header)[0])
                        if data is None:
                            return
                        wire = answer(dns.message.from_wire(data)).to_wire()
                        conn.sendall(struct.pack("!H", len(wire)) + wire)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate, or went away

    class Server(socketserver.ThreadingTCPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True
        allow_reuse_address = True

    with Server((host, 0), Handler) as server, serving(server) as port:
        yield port


def _read(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


@contextlib.contextmanager
def silent_tcp() -> Iterator[int]:
    """Accepts TCP connections and never says a word (no TLS handshake, no HTTP response)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@dataclass
class DohServer:
    """What the DoH server does (``mode``) and what it saw."""

    port: int = 0
    mode: str = "good"
    seen: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    """TCP connections accepted (each one TLS handshake)."""
    closed: int = 0
    """Connections that ended."""

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/dns-query"


@contextlib.contextmanager
def doh_server(pki: Pki, mode: str = "good", host: str = "127.0.0.1") -> Iterator[DohServer]:
    """A tiny RFC 8484 server over HTTP/1.1 with keep-alive: POST and GET on /dns-query; ``mode``
    picks a misbehaviour."""
    state = DohServer(mode=mode)
    context = pki.server_context()
    context.set_alpn_protocols(["http/1.1"])

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                state.closed += 1

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._answer(self.rfile.read(length))

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            text = query["dns"][0]
            self._answer(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

        def _answer(self, wire: bytes) -> None:
            query = dns.message.from_wire(wire)
            state.seen.append({
                "method": self.command, "path": self.path, "id": query.id,
                "content_type": self.headers.get("Content-Type"), "accept": self.headers.get("Accept"),
            })
            body, status, media = site_answer(query).to_wire(), 200, "application/dns-message"
            if state.mode == "500":
                body, status, media = b"oops", 500, "text/plain"
            elif state.mode == "html":
                body, media = b"<html>blocked by your provider</html>", "text/html"
            elif state.mode == "garbage":
                body = b"\x00\x01 not a DNS message"
            elif state.mode == "wrong-id":
                response = site_answer(query)
                response.id = 4321
                body = response.to_wire()
            elif state.mode == "slow":
                time.sleep(1.5)
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        daemon_threads = True

        def get_request(self) -> tuple[Any, Any]:
            sock, address = self.socket.accept()
            state.connections += 1
            # The handshake happens in the handler's thread: a client refusing the certificate stalls nothing.
            return _Deferred(sock, context), address

        def handle_error(self, request: Any, client_address: Any) -> None:
            return

    with Server((host, 0), Handler) as server, serving(server) as state.port:
        yield state


@contextlib.contextmanager
def h2_doh_server(pki: Pki) -> Iterator[DohServer]:
    """RFC 8484 over HTTP/2 only (ALPN ``h2`` and nothing else), as Unbound's ``https-port`` serves it;
    a client that does not choose h2 is hung up on after the handshake."""
    state = DohServer()
    context = pki.server_context()
    context.set_alpn_protocols(["h2"])
    lock = threading.Lock()

    def answer(conn: h2.connection.H2Connection, stream_id: int, headers: dict[str, str], body: bytes) -> None:
        path = headers[":path"]
        if headers[":method"] == "GET":
            text = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["dns"][0]
            body = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        query = dns.message.from_wire(body)
        state.seen.append({
            "method": headers[":method"], "path": path, "id": query.id, "stream": stream_id,
            "content_type": headers.get("content-type"), "accept": headers.get("accept"),
        })
        wire = site_answer(query).to_wire()
        conn.send_headers(stream_id, [
            (":status", "200"), ("content-type", "application/dns-message"), ("content-length", str(len(wire))),
        ])
        conn.send_data(stream_id, wire, end_stream=True)

    def serve(tls: ssl.SSLSocket) -> None:
        if tls.selected_alpn_protocol() != "h2":
            return
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        while data := tls.recv(65_535):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    streams[event.stream_id] = ({str(k): str(v) for k, v in event.headers or []}, bytearray())
                elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                    streams[event.stream_id][1].extend(event.data or b"")
                    conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id is not None:
                    headers, body = streams.pop(event.stream_id)
                    answer(conn, event.stream_id, headers, bytes(body))
            tls.sendall(conn.data_to_send())

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with lock:
                state.connections += 1
            try:
                with context.wrap_socket(self.request, server_side=True) as tls:
                    serve(tls)
            except (ssl.SSLError, OSError, h2.exceptions.ProtocolError):
                return
            finally:
                with lock:
                    state.closed += 1

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server, serving(server) as state.port:
        yield state


class _Deferred:
    """A plain accepted socket whose TLS handshake happens when the handler thread first uses it."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        self.sock = sock
        self.context = context
        self.tls: ssl.SSLSocket | None = None

    def _wrapped(self) -> ssl.SSLSocket:
        if self.tls is None:
            self.sock.settimeout(5)
            self.tls = self.context.wrap_socket(self.sock, server_side=True)
        return self.tls

    def makefile(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapped().makefile(*args, **kwargs)

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)

    def sendall(self, data: bytes) -> None:
        self._wrapped().sendall(data)

    def shutdown(self, how: int) -> None:
        with contextlib.suppress(OSError):
            (self.tls or self.sock).shutdown(how)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            (self.tls or self.sock).close()


# --------------------------------------------------------------------------- helpers


def dot(port: int, pki: Pki, *, ca: Path | None = None, tls_name: str | None = "localhost",
        host: str = "127.0.0.1") -> Resolver:
    return Resolver(name="dot", operator="t", host=host, port=port, protocol=Protocol.DOT,
                    role=Role.SUBJECT, tls_name=tls_name, tls_ca=str(ca or pki.ca))


def doh(url: str, pki: Pki, *, ca: Path | None = None, method: str = "post") -> Resolver:
    return Resolver(name="doh", operator="t", host="127.0.0.1", port=443, protocol=Protocol.DOH,
                    role=Role.SUBJECT, url=url, tls_ca=str(ca or pki.ca), doh_method=method)


def run(resolver: Resolver, qtype: str = "A", settings: ProbeSettings = FAST) -> Observation:
    return asyncio.run(ask(resolver, "site.test", qtype, settings))


def assert_rfc8484(seen: dict[str, Any], method: str) -> None:
    """One request as RFC 8484 wants it: ID 0, the media type, the body or ``?dns=`` unpadded."""
    assert (seen["method"], seen["id"], seen["accept"]) == (method.upper(), 0, "application/dns-message")
    if method == "post":
        assert seen["content_type"] == "application/dns-message" and seen["path"] == "/dns-query"
    else:
        assert seen["path"].startswith("/dns-query?dns=") and "=" not in seen["path"].split("dns=")[1]


# --------------------------------------------------------------------------- DNS over TLS


def test_dot_answer_is_recorded(pki: Pki) -> None:
    with dot_server(pki) as port:
        a = run(dot(port, pki))
        aaaa = run(dot(port, pki), "AAAA")
    assert a.error is None and a.rcode == "NOERROR" and a.transport == "dot" and a.attempts == 1
    assert [str(x) for x in a.addresses] == ["192.0.2.80"]
    assert [str(x) for x in aaaa.addresses] == ["2001:db8::80"]
    assert a.wire is not None and dns.message.from_wire(a.wire).rcode() == dns.rcode.NOERROR


def test_dot_without_tls_name_verifies_the_ip_address(pki: Pki) -> None:
    with dot_server(pki) as port:
        obs = run(dot(port, pki, tls_name=None))
    assert obs.error is None and obs.rcode == "NOERROR"


def test_dot_untrusted_certificate_is_a_tls_error_without_retry(pki: Pki) -> None:
    with dot_server(pki) as port:
        obs = run(dot(port, pki, ca=pki.other_ca))
    assert obs.rcode is None and obs.wire is None
    assert obs.error is not None and obs.error.startswith("tls_error: certificate verify failed:")
    assert obs.attempts == 1


def test_dot_wrong_name_is_a_tls_error(pki: Pki) -> None:
    with dot_server(pki) as port:
        obs = run(dot(port, pki, tls_name="dns.isp-a.example"))
    assert obs.error is not None and obs.error.startswith("tls_error: certificate verify failed:")
    assert "dns.isp-a.example" in obs.error or "mismatch" in obs.error.lower()


def test_dot_system_trust_store_refuses_the_test_ca(pki: Pki) -> None:
    with dot_server(pki) as port:
        resolver = Resolver(name="dot", operator="t", host="127.0.0.1", port=port, protocol=Protocol.DOT,
                            role=Role.SUBJECT, tls_name="localhost")
        obs = run(resolver)
    assert obs.error is not None and obs.error.startswith("tls_error: certificate verify failed:")


def test_dot_silent_server_is_a_timeout() -> None:
    with silent_tcp() as port:
        resolver = Resolver(name="dot", operator="t", host="127.0.0.1", port=port, protocol=Protocol.DOT,
                            role=Role.SUBJECT)
        start = time.monotonic()
        obs = run(resolver, settings=ProbeSettings(timeout=0.3, retries=1, backoff=0.01))
    assert obs.error == "timeout" and obs.attempts == 2
    assert time.monotonic() - start < 3


def test_dot_nobody_listening_is_a_network_error() -> None:
    with silent_tcp() as port:
        pass
    resolver = Resolver(name="dot", operator="t", host="127.0.0.1", port=port, protocol=Protocol.DOT,
                        role=Role.SUBJECT)
    obs = run(resolver, settings=ProbeSettings(timeout=0.3, retries=0))
    assert obs.error is not None and obs.error.startswith("network_error")


# --------------------------------------------------------------------------- DNS over HTTPS


@pytest.mark.parametrize("method", ["post", "get"])
def test_doh_answer_is_recorded_with_id_zero(pki: Pki, method: str) -> None:
    with doh_server(pki) as server:
        obs = run(doh(server.url(), pki, method=method))
        seen = list(server.seen)
    assert obs.error is None and obs.rcode == "NOERROR" and obs.transport == "doh"
    assert [str(x) for x in obs.addresses] == ["192.0.2.80"]
    assert len(seen) == 1
    assert_rfc8484(seen[0], method)


def test_doh_by_name_in_the_url(pki: Pki) -> None:
    with doh_server(pki) as server:
        obs = run(doh(server.url("localhost"), pki))
    assert obs.error is None and obs.rcode == "NOERROR"


def test_doh_http_500_is_an_http_error(pki: Pki) -> None:
    with doh_server(pki, "500") as server:
        obs = run(doh(server.url(), pki))
    assert obs.error == "http_error: 500" and obs.rcode is None and obs.attempts == 2


@pytest.mark.parametrize("mode", ["html", "garbage", "wrong-id"])
def test_doh_body_that_is_not_the_answer_is_rejected(pki: Pki, mode: str) -> None:
    with doh_server(pki, mode) as server:
        obs = run(doh(server.url(), pki))
    assert obs.rcode is None and obs.wire is None
    assert obs.error is not None and obs.error.startswith("http_error:")
    assert obs.rejected >= 1


def test_doh_untrusted_certificate_is_a_tls_error(pki: Pki) -> None:
    with doh_server(pki) as server:
        obs = run(doh(server.url(), pki, ca=pki.other_ca))
    assert obs.error is not None and obs.error.startswith("tls_error: certificate verify failed:")
    assert obs.attempts == 1


def test_doh_wrong_name_is_a_tls_error(pki: Pki) -> None:
    # The certificate is for 127.0.0.1 and ::1, not 127.0.0.2 (also loopback on Linux).
    try:
        server_cm = doh_server(pki, host="127.0.0.2")
        server = server_cm.__enter__()
    except OSError:
        pytest.skip("cannot listen on 127.0.0.2 here")
    try:
        obs = run(doh(server.url("127.0.0.2"), pki))
    finally:
        server_cm.__exit__(None, None, None)
    assert obs.error is not None and obs.error.startswith("tls_error: certificate verify failed:")
    assert "127.0.0.2" in obs.error or "mismatch" in obs.error.lower()


def test_doh_server_that_closes_after_the_handshake_is_a_network_error(pki: Pki) -> None:
    # What an HTTP/2-only server (Unbound's https-port) does to a client that does not offer h2.
    context = pki.server_context()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = int(listener.getsockname()[1])

        def serve() -> None:
            for _ in range(2):
                try:
                    sock, _ = listener.accept()
                    with context.wrap_socket(sock, server_side=True) as conn:
                        conn.recv(1)
                except OSError:
                    return

        threading.Thread(target=serve, daemon=True).start()
        obs = run(doh(f"https://127.0.0.1:{port}/dns-query", pki), settings=ProbeSettings(timeout=1, retries=0))
    assert obs.rcode is None and obs.error is not None and obs.error.startswith("network_error:"), obs.error


def test_doh_slow_server_is_a_timeout(pki: Pki) -> None:
    with doh_server(pki, "slow") as server:
        obs = run(doh(server.url(), pki), settings=ProbeSettings(timeout=0.3, retries=0))
    assert obs.error == "timeout"


def test_doh_silent_server_is_a_timeout() -> None:
    with silent_tcp() as port:
        resolver = Resolver(name="doh", operator="t", host="127.0.0.1", port=port, protocol=Protocol.DOH,
                            role=Role.SUBJECT, url=f"https://127.0.0.1:{port}/dns-query")
        obs = run(resolver, settings=ProbeSettings(timeout=0.3, retries=0))
    assert obs.error == "timeout"


def exchange(url: str, pki: Pki, method: str = "post") -> https.HttpsExchange:
    query = make_query("site.test", "A")
    query.id = 0
    return asyncio.run(https.https(query, url, 1.0, ca_file=str(pki.ca), method=method))


def observe_many(resolver: Resolver, count: int) -> dict[tuple[str, str, str], Observation]:
    work = [(resolver, f"q{i}.site.test", "A") for i in range(count)]
    return asyncio.run(Engine([resolver], FAST).observe("names", work))


def wait_for(condition: Callable[[], bool], seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@pytest.mark.parametrize("method", ["post", "get"])
def test_doh_to_a_server_that_speaks_only_http2(pki: Pki, method: str) -> None:
    with h2_doh_server(pki) as server:
        obs = run(doh(server.url(), pki, method=method))
        direct = exchange(server.url(), pki, method)
        seen = list(server.seen)
    assert obs.error is None and obs.rcode == "NOERROR" and obs.transport == "doh"
    assert [str(x) for x in obs.addresses] == ["192.0.2.80"]
    assert direct.error is None and direct.http_version == "HTTP/2"
    assert len(seen) == 2
    for request in seen:
        assert_rfc8484(request, method)


def test_doh_to_an_http1_server_uses_http1(pki: Pki) -> None:
    with doh_server(pki) as server:
        got = exchange(server.url(), pki)
    assert got.error is None and got.http_version == "HTTP/1.1"


def test_doh_http_error_keeps_the_http_version(pki: Pki) -> None:
    with doh_server(pki, "500") as server:
        got = exchange(server.url(), pki)
    assert (got.error, got.http_version) == ("http_error: 500", "HTTP/1.1")


def test_one_engine_pass_reuses_one_http1_connection_and_closes_it(pki: Pki) -> None:
    with doh_server(pki) as server:
        resolver = dataclasses.replace(doh(server.url(), pki), concurrency=1)
        seen = observe_many(resolver, 30)
        assert wait_for(lambda: server.closed == server.connections), "the pass left its connection open"
        connections = server.connections
    assert len(seen) == 30 and all(o.error is None and o.rcode == "NOERROR" for o in seen.values())
    assert connections == 1


def test_one_engine_pass_multiplexes_http2_streams_over_one_connection(pki: Pki) -> None:
    with h2_doh_server(pki) as server:
        resolver = dataclasses.replace(doh(server.url(), pki), concurrency=16)
        seen = observe_many(resolver, 40)
        assert wait_for(lambda: server.closed == server.connections), "the pass left its connection open"
        connections, streams = server.connections, {s["stream"] for s in server.seen}
    assert len(seen) == 40 and all(o.error is None and o.rcode == "NOERROR" for o in seen.values())
    assert connections == 1 and len(streams) == 40


def test_outside_an_engine_pass_every_query_has_its_own_connection(pki: Pki) -> None:
    with doh_server(pki) as server:
        for _ in range(3):
            assert run(doh(server.url(), pki)).error is None
        assert wait_for(lambda: server.closed == 3)
        assert server.connections == 3


# --------------------------------------------------------------------------- IPv6


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) here")


@contextlib.contextmanager
def dns6_server(answer: Answer = site_answer) -> Iterator[int]:
    """UDP and TCP DNS on [::1] and one port."""

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            header = _read(self.request, 2)
            if header is None:
                return
            data = _read(self.request, struct.unpack("!H", header)[0])
            if data is not None:
                wire = answer(dns.message.from_wire(data)).to_wire()
                self.request.sendall(struct.pack("!H", len(wire)) + wire)

    class Server(socketserver.ThreadingTCPServer):
        address_family = socket.AF_INET6
        daemon_threads = True

    with Server(("::1", 0), Tcp) as tcp, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
        port = int(tcp.server_address[1])
        udp.bind(("::1", port))
        udp.settimeout(0.05)
        stop = threading.Event()

        def serve_udp() -> None:
            while not stop.is_set():
                try:
                    data, client = udp.recvfrom(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                udp.sendto(answer(dns.message.from_wire(data)).to_wire(), client)

        threads = [threading.Thread(target=serve_udp, daemon=True),
                   threading.Thread(target=tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)]
        for thread in threads:
            thread.start()
        try:
            yield port
        finally:
            stop.set()
            tcp.shutdown()


@needs_ipv6
@pytest.mark.parametrize("protocol", [Protocol.UDP, Protocol.TCP])
def test_plain_dns_over_ipv6(protocol: Protocol) -> None:
    with dns6_server() as port:
        resolver = Resolver(name="v6", operator="t", host="::1", port=port, protocol=protocol, role=Role.SUBJECT)
        obs = run(resolver)
    assert resolver.address == f"[::1]:{port}"
    assert obs.error is None and obs.rcode == "NOERROR" and obs.transport == protocol.value


@needs_ipv6
def test_dot_over_ipv6_verifies_the_ipv6_address(pki: Pki) -> None:
    with dot_server(pki, host="::1") as port:
        by_ip = run(dot(port, pki, host="::1", tls_name=None))
        by_name = run(dot(port, pki, host="::1", tls_name="dns.test"))
    assert by_ip.error is None and by_ip.rcode == "NOERROR"
    assert by_name.error is None and by_name.rcode == "NOERROR"


@needs_ipv6
def test_doh_over_ipv6_verifies_the_ipv6_address(pki: Pki) -> None:
    with doh_server(pki, host="::1") as server:
        obs = run(doh(server.url("[::1]"), pki))
    assert obs.error is None and obs.rcode == "NOERROR"


# --------------------------------------------------------------------------- the resolver file


def write(folder: Path, body: str) -> Path:
    path = folder / "resolvers.yaml"
    path.write_text("schema: blockaudit/resolvers/1\nresolvers:\n" + body
                    + "  - {name: ctl, address: '127.0.0.1:5301', role: control}\n", encoding="utf-8")
    return path


def test_the_loader_reads_tls_ca_relative_to_the_file_and_doh_method(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(pki.ca.read_bytes())
    path = write(tmp_path, (
        "  - {name: t, address: '127.0.0.1:853', protocol: dot, tls_name: localhost, tls_ca: certs/ca.pem}\n"
        "  - {name: h, address: '127.0.0.1:443', protocol: doh, url: 'https://127.0.0.1/dns-query',"
        f" tls_ca: '{pki.ca}', doh_method: get}}\n"
    ))
    loaded = {r.name: r for r in load_resolvers(path).resolvers}
    assert loaded["t"].tls_ca == str((tmp_path / "certs" / "ca.pem").resolve())
    assert loaded["t"].tls_name == "localhost" and loaded["t"].doh_method == "post"
    assert loaded["h"].tls_ca == str(pki.ca.resolve()) and loaded["h"].doh_method == "get"


def test_a_missing_ca_file_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {name: t, address: '127.0.0.1', protocol: dot,\n     tls_ca: nowhere.pem}\n")
    with pytest.raises(ResolverConfigError) as caught:
        load_resolvers(path)
    assert str(caught.value).startswith(f"{path}:4: ") and "nowhere.pem" in str(caught.value)


def test_an_unknown_doh_method_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {name: h, address: '127.0.0.1', protocol: doh, url: 'https://127.0.0.1/',"
                           " doh_method: put}\n")
    with pytest.raises(ResolverConfigError, match="doh_method"):
        load_resolvers(path)


# --------------------------------------------------------------------------- end to end

ORDER = """\
schema: blockaudit/order/1
id: t-order
title: Transport test order
authority: Test court
jurisdiction: US
order_type: other
issued: 2026-01-01
verification: unverified
targets: [{domain: site.test}]
"""


def test_check_asks_dot_and_doh_and_a_tls_failure_is_never_blocked(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str],
) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(ORDER, encoding="utf-8")

    def nx_for_site(query: dns.message.Message) -> dns.message.Message:
        if query.question[0].name.to_text().startswith("site.test"):
            return respond(query, rcode=dns.rcode.NXDOMAIN, soa=True)
        return site_answer(query)

    with fake_dns(lambda q, t: site_answer(q)) as control, dot_server(pki, nx_for_site) as dot_port, \
            doh_server(pki) as good_doh:
        path = tmp_path / "resolvers.yaml"
        path.write_text(
            "schema: blockaudit/resolvers/1\nresolvers:\n"
            f"  - {{name: dot-ok, operator: ISP, address: '127.0.0.1:{dot_port}', protocol: dot,"
            f" tls_name: localhost, tls_ca: '{pki.ca}'}}\n"
            f"  - {{name: dot-bad, operator: ISP, address: '127.0.0.1:{dot_port}', protocol: dot,"
            f" tls_name: localhost, tls_ca: '{pki.other_ca}'}}\n"
            f"  - {{name: doh-ok, operator: ISP, address: '127.0.0.1:{good_doh.port}', protocol: doh,"
            f" url: '{good_doh.url()}', tls_ca: '{pki.ca}'}}\n"
            f"  - {{name: ctl, address: '127.0.0.1:{control.port}', role: control}}\n"
            "canaries: [canary.test]\n",
            encoding="utf-8",
        )
        code = main(["check", str(order), "--resolvers", str(path), "--no-db", "--report", "json:-", "-q",
                     "--timeout", "0.5", "--retries", "0"])
    report = json.loads(capsys.readouterr().out)
    verdicts = {(r["resolver"], r["query_name"]): r for r in report["results"] if r["kind"] == "ordered"}
    assert verdicts[("dot-ok", "site.test")]["verdict"] == "blocked"
    bad = verdicts[("dot-bad", "site.test")]
    assert bad["verdict"] == "inconclusive"
    # The canaries fail the same way, so the resolver is unhealthy; the detail says why.
    assert "tls_error: certificate verify failed" in bad["detail"] + json.dumps(bad["observations"]), bad
    assert verdicts[("doh-ok", "site.test")]["verdict"] == "accessible"
    assert {r["protocol"] for r in report["resolvers"]} == {"dot", "doh", "udp"}
    assert code == 1
