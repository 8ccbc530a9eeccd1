"""A programmable loopback DNS server for unit tests (UDP and TCP on one port).

A test gives it a handler: ``handler(query, transport) -> reply``, where the reply is a
``dns.message.Message``, raw ``bytes``, ``None`` (stay silent), or a ``Packets`` list to send
several datagrams (for example a forged one before the real one), and over TCP ``RawStream``
octets that break the stream's framing.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class Packets:
    """Several UDP datagrams to send in order; ``from_other_port`` sends from another socket."""

    items: Sequence[bytes]
    from_other_port: Sequence[bool] = ()
    from_address: Sequence[str | None] = ()
    """Per datagram: send it from this other local address (``127.0.0.2``), on the server's own
    port when that is free there; ``None`` or absent: the usual source."""
    delays: Sequence[float] = ()
    """Per datagram: seconds to wait before sending it (absent: none)."""


class RawStream(bytes):
    """Over TCP: octets written to the stream as they are (no length prefix), after which the
    server closes the connection; over UDP: one datagram like any ``bytes``."""


Reply = dns.message.Message | bytes | Packets | None
Handler = Callable[[dns.message.Message, str], Reply]


def respond(
    query: dns.message.Message,
    *,
    rcode: int = dns.rcode.NOERROR,
    a: Sequence[str] = (),
    aaaa: Sequence[str] = (),
    cname: str | None = None,
    soa: bool = False,
    ede: int | None = None,
    tc: bool = False,
    ttl: int = 60,
    txt: Sequence[str] = (),
) -> dns.message.Message:
    """A response to ``query``: addresses (A/AAAA by the query type), TXT strings (in the question's
    class, so ``id.server CH TXT`` works too), CNAME, SOA, EDE, TC."""
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    response.flags |= dns.flags.RA
    if tc:
        response.flags |= dns.flags.TC
    question = query.question[0]
    owner = question.name
    if cname is not None:
        target = dns.name.from_text(cname)
        response.answer.append(dns.rrset.from_text(owner, ttl, "IN", "CNAME", target.to_text()))
        owner = target
    qtype = question.rdtype
    values = a if qtype == dns.rdatatype.A else aaaa if qtype == dns.rdatatype.AAAA else ()
    if values:
        response.answer.append(dns.rrset.from_text_list(owner, ttl, "IN", qtype, list(values)))
    if txt and qtype == dns.rdatatype.TXT:
        quoted = ['"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in txt]
        response.answer.append(dns.rrset.from_text_list(owner, ttl, question.rdclass, qtype, quoted))
    if soa:
        zone = dns.name.from_text(".".join(str(question.name).rstrip(".").split(".")[-2:]))
        response.authority.append(dns.rrset.from_text(
            zone, ttl, "IN", "SOA", f"ns.{zone} host.{zone} 1 3600 600 86400 60",
        ))
    if ede is not None:
        response.use_edns(0, 0, 1232, options=[dns.edns.EDEOption(ede, "test")])
    return response


@dataclass
class FakeDNSServer:
    """UDP and TCP on 127.0.0.1 at one ephemeral port; run in threads until ``close()``."""

    handler: Handler
    queries: list[tuple[str, str, str]] = field(default_factory=list)
    _closed: bool = False

    def __post_init__(self) -> None:
        server = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                server._serve_udp(data, sock, self.client_address)

        class TCPHandler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError):
                    while True:
                        header = self.rfile.read(2)
                        if len(header) < 2:
                            return
                        data = self.rfile.read(struct.unpack("!H", header)[0])
                        reply = server._reply(data, "tcp")
                        for wire in reply:
                            if isinstance(wire, RawStream):
                                self.wfile.write(wire)
                                return  # and the connection closes
                            self.wfile.write(struct.pack("!H", len(wire)) + wire)

        for _ in range(20):
            self._udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), UDPHandler)
            port = self._udp.server_address[1]
            try:
                self._tcp = socketserver.ThreadingTCPServer(("127.0.0.1", port), TCPHandler)
                break
            except OSError:
                self._udp.server_close()
        else:
            raise RuntimeError("no free port for the fake DNS server")
        self._udp.daemon_threads = True
        self._tcp.daemon_threads = True
        self.port = port
        self._threads = [
            threading.Thread(target=s.serve_forever, args=(0.02,), daemon=True) for s in (self._udp, self._tcp)
        ]
        for thread in self._threads:
            thread.start()

    def _handle(self, data: bytes, transport: str) -> Reply:
        """Parse the query, record it, and ask the handler; unparseable queries get silence."""
        try:
            query = dns.message.from_wire(data)
        except Exception:  # noqa: BLE001
            return None
        question = query.question[0]
        self.queries.append(
            (str(question.name).rstrip("."), dns.rdatatype.to_text(question.rdtype), transport),
        )
        return self.handler(query, transport)

    def _reply(self, data: bytes, transport: str) -> list[bytes]:
        reply = self._handle(data, transport)
        if reply is None:
            return []
        if isinstance(reply, dns.message.Message):
            return [reply.to_wire()]
        if isinstance(reply, Packets):
            return list(reply.items)
        return [reply]

    def _serve_udp(self, data: bytes, sock: socket.socket, client: tuple[str, int]) -> None:
        try:
            self._send_udp(data, sock, client)
        except OSError:
            if not self._closed:  # a reply racing close() has nowhere to go; anything else is a bug
                raise

    def _send_udp(self, data: bytes, sock: socket.socket, client: tuple[str, int]) -> None:
        reply = self._handle(data, "udp")
        if reply is None:
            return
        if isinstance(reply, dns.message.Message):
            sock.sendto(reply.to_wire(), client)
            return
        if isinstance(reply, bytes):
            sock.sendto(reply, client)
            return
        other = list(reply.from_other_port) + [False] * (len(reply.items) - len(reply.from_other_port))
        sources = list(reply.from_address) + [None] * (len(reply.items) - len(reply.from_address))
        delays = list(reply.delays) + [0.0] * (len(reply.items) - len(reply.delays))
        for wire, elsewhere, source, delay in zip(reply.items, other, sources, delays, strict=True):
            if delay > 0:
                time.sleep(delay)
            if source is not None:
                self._send_from(source, wire, client)
            elif elsewhere:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray:
                    stray.bind(("127.0.0.1", 0))
                    stray.sendto(wire, client)
            else:
                sock.sendto(wire, client)

    def _send_from(self, source: str, wire: bytes, client: tuple[str, int]) -> None:
        """One datagram from another local address: a reply from the wrong host."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray:
            try:
                stray.bind((source, self.port))
            except OSError:
                stray.bind((source, 0))
            stray.sendto(wire, client)

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` as a resolver file writes it."""
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop both servers."""
        self._closed = True
        for srv in (self._udp, self._tcp):
            srv.shutdown()
            srv.server_close()


@contextlib.contextmanager
def fake_dns(handler: Handler) -> Iterator[FakeDNSServer]:
    """A running fake server for the duration of a ``with`` block."""
    server = FakeDNSServer(handler)
    try:
        yield server
    finally:
        server.close()
