"""Many UDP questions in flight to one resolver over one connected socket.

Opening a socket per question costs more than the question itself at tens of thousands of
questions a second. A ``UdpMux`` keeps one connected UDP socket per resolver (the kernel drops
datagrams from any other address or port), gives every question in flight its own message ID,
and hands each datagram to the question it answers:

* the ID must be one in flight, and the question section must echo the question asked (name
  case-insensitively, type and class); anything else is counted and dropped, never delivered;
* an ID is not reused until ``quarantine`` seconds after its question finished, so a late reply
  to an earlier question can never be taken for the answer to a new one;
* the receive buffer is sized before the first send, and the kernel's count of datagrams it
  dropped because the buffer was full (``SO_RXQ_OVFL``) is read with every datagram, so an answer
  lost to a full buffer is counted rather than silently read as a timeout.

The mux only moves bytes; the caller parses accepted responses (``checker.probe.fastwire``,
with dnspython as the reference) and decides about retries.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RCVBUF = 8 * 1024 * 1024
"""Receive buffer asked for (the kernel may grant less: ``net.core.rmem_max``)."""
DATAGRAM_COST = 2304
"""Bytes of receive buffer one queued datagram of up to 1232 octets takes (its kernel bookkeeping included)."""
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
"""Linux: ask for the count of datagrams dropped for a full receive buffer with every datagram."""
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
"""Linux: set the receive buffer past ``net.core.rmem_max`` (needs CAP_NET_ADMIN)."""
_CMSG_SPACE = socket.CMSG_SPACE(4)
_MAX_DATAGRAM = 65535


@dataclass(slots=True)
class MuxStats:
    """What one mux saw; counters only grow."""

    sent: int = 0
    """Datagrams sent."""
    accepted: int = 0
    """Datagrams delivered to the question they answer."""
    stray: int = 0
    """Datagrams whose ID is not in flight (a late reply after a timeout, or a forgery)."""
    rejected: int = 0
    """Datagrams with an ID in flight but the wrong question, or too short to be DNS."""
    dropped: int = 0
    """Datagrams the kernel dropped because the receive buffer was full."""
    rcvbuf: int = 0
    """Receive buffer the kernel granted, in bytes."""
    window: int = 0
    """Questions allowed in flight at once, from the buffer size."""


def question_key(wire: bytes) -> bytes | None:
    """The question section of a DNS message (from offset 12), the name lower-cased; None when
    the message has no single plain question (compressed names do not occur in a question
    section written first)."""
    if len(wire) < 12 or wire[4:6] != b"\x00\x01":
        return None
    at = 12
    end = len(wire)
    while True:
        if at >= end:
            return None
        length = wire[at]
        if length == 0:
            at += 1
            break
        if length > 63:
            return None
        at += 1 + length
    if at + 4 > end:
        return None
    return wire[12:at + 4].lower()


def echoes(data: bytes, key: bytes) -> bool:
    """``data`` holds exactly one question, and it is ``key`` (names compared case-insensitively)."""
    return data[4:6] == b"\x00\x01" and data[12:12 + len(key)].lower() == key


class Limit:
    """At most ``size`` holders at once, first come first served, O(1) to take and give back.

    (``asyncio.Semaphore`` of Python 3.11 checks every waiter on each ``acquire``: with hundreds
    of workers waiting on one resolver that cost more than the questions.)
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the slot as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next in line
                return
        self._free += 1


class _Pending:
    __slots__ = ("accept", "future", "key", "rejected")

    def __init__(self, future: asyncio.Future[tuple[bytes, Any]], key: bytes, accept: Callable[[bytes], Any]) -> None:
        self.future = future
        self.key = key
        self.accept = accept
        self.rejected = 0


@dataclass(frozen=True, slots=True)
class Reply:
    """The outcome of one exchange: the accepted datagram and what ``accept`` made of it, or why none came."""

    wire: bytes | None
    """The accepted response (with the ID that was sent)."""
    parsed: Any
    """What ``accept`` returned for it."""
    error: str | None
    """``timeout`` or ``network_error: …`` when nothing was accepted."""
    rejected: int
    """Datagrams with this question's ID that were rejected (wrong question, unparseable)."""


def _expire(future: asyncio.Future[tuple[bytes, Any]]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class UdpMux:
    """One connected UDP socket to ``host:port`` carrying up to ``window`` questions at once."""

    def __init__(self, host: str, port: int, *, rcvbuf: int = RCVBUF, quarantine: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.quarantine = quarantine
        self.stats = MuxStats()
        self._want_rcvbuf = rcvbuf
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, _Pending] = {}
        self._resting: collections.deque[tuple[float, int]] = collections.deque()
        self._resting_ids: set[int] = set()
        self._slots: Limit | None = None
        self._error: str | None = None

    # ----------------------------------------------------------------- life cycle

    def open(self) -> None:
        """Create, size and connect the socket, and start reading (in the running loop)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, self._want_rcvbuf)
                    if option == SO_RCVBUFFORCE:
                        break
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.stats.rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.stats.window = max(16, self.stats.rcvbuf // DATAGRAM_COST)
        self._slots = Limit(self.stats.window)
        self._sock = sock
        self._loop = loop
        loop.add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        """Stop reading and close the socket; questions still in flight fail."""
        if self._sock is None:
            return
        assert self._loop is not None
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionError("network_error: the socket was closed"))
        self._pending.clear()

    # ----------------------------------------------------------------- IDs

    def _free_id(self) -> int:
        now = time.monotonic()
        while self._resting and self._resting[0][0] <= now:
            self._resting_ids.discard(self._resting.popleft()[1])
        for _ in range(64):
            qid = random.getrandbits(16)
            if qid not in self._pending and qid not in self._resting_ids:
                return qid
        for qid in range(65536):  # nearly every ID busy: take the first free one
            if qid not in self._pending and qid not in self._resting_ids:
                return qid
        raise RuntimeError("no free DNS message ID")  # cannot happen: the window is far below 65536

    def _rest(self, qid: int) -> None:
        self._pending.pop(qid, None)
        self._resting.append((time.monotonic() + self.quarantine, qid))
        self._resting_ids.add(qid)

    # ----------------------------------------------------------------- exchange

    async def exchange(self, wire: bytes, timeout: float, accept: Callable[[bytes], Any]) -> Reply:
        """Send ``wire`` (its ID replaced by a free one) and wait up to ``timeout`` seconds for a
        datagram that answers it.

        A datagram with the ID in flight and the question echoed is passed to ``accept`` (which
        parses it); ``None`` from ``accept`` rejects it and the wait goes on.
        """
        if self._sock is None:
            self.open()
        assert self._slots is not None and self._loop is not None and self._sock is not None
        key = question_key(wire)
        if key is None:
            raise ValueError("the query has no single question")
        async with self._slots:
            qid = self._free_id()
            future: asyncio.Future[tuple[bytes, Any]] = self._loop.create_future()
            pending = _Pending(future, key, accept)
            self._pending[qid] = pending
            data = struct.pack("!H", qid) + wire[2:]
            try:
                try:
                    self._sock.send(data)
                except BlockingIOError:
                    await self._send_when_writable(data)
                except OSError as exc:
                    return Reply(None, None, f"network_error: {exc.strerror or exc}", 0)
                self.stats.sent += 1
                timer = self._loop.call_later(timeout, _expire, future)
                try:
                    got, parsed = await future
                except TimeoutError:
                    return Reply(None, None, "timeout", pending.rejected)
                except ConnectionError as exc:
                    return Reply(None, None, str(exc), pending.rejected)
                finally:
                    timer.cancel()
                return Reply(got, parsed, None, pending.rejected)
            finally:
                self._rest(qid)

    async def _send_when_writable(self, data: bytes) -> None:
        assert self._loop is not None and self._sock is not None
        while True:
            ready: asyncio.Future[None] = self._loop.create_future()
            fd = self._sock.fileno()
            self._loop.add_writer(fd, _wake, ready)
            try:
                await ready
            finally:
                self._loop.remove_writer(fd)
            try:
                self._sock.send(data)
                return
            except BlockingIOError:
                continue

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(256):  # bounded, so one busy resolver cannot starve the loop
            try:
                data, ancillary, _, _ = sock.recvmsg(_MAX_DATAGRAM, _CMSG_SPACE)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                self._fail_all("network_error: Connection refused")
                return
            except OSError as exc:
                if exc.errno in (errno.EINTR,):
                    continue
                self._fail_all(f"network_error: {exc.strerror or exc}")
                return
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                    self.stats.dropped = struct.unpack("=I", value[:4])[0]
            self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        if len(data) < 12:
            self.stats.rejected += 1
            return
        pending = self._pending.get(struct.unpack_from("!H", data)[0])
        if pending is None or pending.future.done():
            self.stats.stray += 1
            return
        parsed = pending.accept(data) if data[2] & 0x80 and echoes(data, pending.key) else None
        if parsed is None:
            self.stats.rejected += 1
            pending.rejected += 1
            return
        self.stats.accepted += 1
        pending.future.set_result((data, parsed))

    def _fail_all(self, error: str) -> None:
        """ICMP unreachable on the connected socket: nobody listens there; every question fails now."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(ConnectionError(error))
