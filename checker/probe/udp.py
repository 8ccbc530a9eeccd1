"""DNS over UDP and TCP to one server: accept only the server's own answer to our question."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

import dns.message

from checker.probe.message import parse_response


@dataclass(frozen=True, slots=True)
class Exchange:
    """The outcome of one attempt: an accepted response, or why none came."""

    wire: bytes | None
    """The accepted response bytes."""
    response: dns.message.Message | None
    """The accepted response, parsed."""
    error: str | None
    """``timeout`` or ``network_error: ...`` when nothing was accepted."""
    rejected: int = 0
    """Packets received and rejected (wrong source, ID, question, or unparseable)."""


def _same_host(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", maxsplit=1)[0]) == ipaddress.ip_address(b.split("%", maxsplit=1)[0])
    except ValueError:
        return False


class _Listener(asyncio.DatagramProtocol):
    """Waits for the first datagram from the server that answers the query."""

    def __init__(self, host: str, port: int, accept: Callable[[bytes], dns.message.Message | None]):
        self.host = host
        self.port = port
        self.accept = accept
        self.done: asyncio.Future[tuple[bytes, dns.message.Message]] = (
            asyncio.get_running_loop().create_future()
        )
        self.rejected = 0
        self.network_error: str | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.done.done():
            return
        if not (_same_host(str(addr[0]), self.host) and addr[1] == self.port):
            self.rejected += 1
            return
        response = self.accept(data)
        if response is None:
            self.rejected += 1
            return
        self.done.set_result((data, response))

    def error_received(self, exc: Exception) -> None:
        # ICMP port/host unreachable on the connected socket: no server there. Record it and let
        # the attempt end early instead of waiting for the timeout.
        self.network_error = f"network_error: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
        if not self.done.done():
            self.done.set_exception(ConnectionError(self.network_error))


async def udp(query: dns.message.Message, host: str, port: int, timeout: float) -> Exchange:
    """One UDP attempt on a connected socket (the kernel drops datagrams from other peers)."""
    loop = asyncio.get_running_loop()
    wire = query.to_wire()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = _Listener(host, port, lambda data: parse_response(query, data))
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: listener, remote_addr=(host, port), family=family,
        )
    except OSError as exc:
        return Exchange(None, None, f"network_error: {exc.strerror or exc}")
    try:
        transport.sendto(wire)
        try:
            data, response = await asyncio.wait_for(asyncio.shield(listener.done), timeout)
        except TimeoutError:
            return Exchange(None, None, "timeout", listener.rejected)
        except ConnectionError as exc:
            return Exchange(None, None, str(exc), listener.rejected)
        return Exchange(data, response, None, listener.rejected)
    finally:
        if not listener.done.done():
            listener.done.cancel()
        transport.close()


async def tcp(query: dns.message.Message, host: str, port: int, timeout: float) -> Exchange:
    """One attempt over TCP (RFC 7766 two-octet length prefix)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                return await stream_exchange(query, reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        return Exchange(None, None, "timeout")
    except OSError as exc:
        return Exchange(None, None, f"network_error: {exc.strerror or exc}")


async def stream_exchange(
    query: dns.message.Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
) -> Exchange:
    """Send one length-prefixed query on an open stream and read the matching response."""
    wire = query.to_wire()
    writer.write(struct.pack("!H", len(wire)) + wire)
    await writer.drain()
    rejected = 0
    while True:
        try:
            header = await reader.readexactly(2)
            data = await reader.readexactly(struct.unpack("!H", header)[0])
        except asyncio.IncompleteReadError:
            return Exchange(None, None, "network_error: connection closed before an answer", rejected)
        response = parse_response(query, data)
        if response is not None:
            return Exchange(data, response, None, rejected)
        rejected += 1
        if rejected >= 8:
            return Exchange(None, None, "network_error: no matching answer on the stream", rejected)
