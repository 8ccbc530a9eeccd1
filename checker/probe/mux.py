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
import os
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
SWEEP = 0.02
"""Seconds between two looks for questions that timed out (a timeout fires at most this late)."""


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
    sockets: int = 1
    """Sockets used (a ``UdpPool`` opens more as its rate needs IDs)."""

    def add(self, other: MuxStats) -> None:
        """Count ``other``'s traffic and sockets in (the buffer and window stay this one's)."""
        self.sent += other.sent
        self.accepted += other.accepted
        self.stray += other.stray
        self.rejected += other.rejected
        self.dropped += other.dropped
        self.sockets += other.sockets


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
        await self.acquire()

    async def acquire(self) -> None:
        """Take a slot, waiting in line for one when none is free."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the slot as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Give a slot back: straight to the next in line, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next in line
                return
        self._free += 1


Done = Callable[["Reply"], None]
"""Called once per question sent with ``send``: with the answer, or why none came."""


class _Pending:
    __slots__ = ("accept", "done", "key", "qid", "rejected")

    def __init__(self, qid: int, key: bytes, accept: Callable[[bytes], Any], done: Done) -> None:
        self.qid = qid
        self.key = key
        self.accept = accept
        self.done = done
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


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class UdpMux:
    """One connected UDP socket to ``host:port`` carrying many questions at once.

    ``stats.window`` is how many answers the receive buffer holds; the caller keeps no more
    questions than that in flight (the engine caps a resolver's concurrency at it).
    """

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
        self._expiry: dict[float, collections.deque[tuple[float, _Pending]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
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
        self._sock = sock
        self._loop = loop
        loop.add_reader(sock.fileno(), self._readable)

    def count_drops(self) -> None:
        """Bring ``stats.dropped`` up to date from the kernel's table of UDP sockets (Linux): the
        count that comes with each datagram misses drops after the last one read."""
        if self._sock is None:
            return
        try:
            inode = os.fstat(self._sock.fileno()).st_ino
            table = "/proc/net/udp6" if self._sock.family == socket.AF_INET6 else "/proc/net/udp"
            with open(table, encoding="ascii") as handle:
                for line in handle:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == str(inode):
                        self.stats.dropped = max(self.stats.dropped, int(fields[12]))
                        return
        except (OSError, ValueError):
            return

    def close(self) -> None:
        """Stop reading and close the socket; questions still in flight fail, and so does any sent later."""
        self.count_drops()
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._expiry.clear()
        if self._sock is None:
            return
        assert self._loop is not None
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        for pending in list(self._pending.values()):
            self._finish(pending, Reply(None, None, "network_error: the socket was closed", pending.rejected))
        self._pending.clear()

    # ----------------------------------------------------------------- IDs

    @property
    def busy(self) -> int:
        """IDs in flight or resting (resting ones whose quarantine ended count until the next send)."""
        return len(self._pending) + len(self._resting_ids)

    def wake_ids(self) -> None:
        """Free the IDs whose quarantine has ended."""
        now = time.monotonic()
        while self._resting and self._resting[0][0] <= now:
            self._resting_ids.discard(self._resting.popleft()[1])

    def _free_id(self) -> int:
        self.wake_ids()
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
        assert self._loop is not None
        future: asyncio.Future[Reply] = self._loop.create_future()

        def done(reply: Reply) -> None:
            if not future.done():
                future.set_result(reply)

        qid = self.send(wire, timeout, accept, done)
        if qid is None:
            await self.writable()
            qid = self.send(wire, timeout, accept, done)
            if qid is None:
                return Reply(None, None, "network_error: the socket stays full", 0)
        try:
            return await future
        except asyncio.CancelledError:
            if qid in self._pending:
                self._rest(qid)
            raise

    def send(self, wire: bytes, timeout: float, accept: Callable[[bytes], Any], done: Done) -> int | None:
        """Send ``wire`` with a free ID (returned); ``done`` gets the ``Reply`` later (never before
        this returns). None when the socket's send buffer is full: nothing was sent, try again
        once it is writable (``writable()``)."""
        if self._closed:
            asyncio.get_running_loop().call_soon(done, Reply(None, None, "network_error: the socket was closed", 0))
            return 0
        if self._sock is None:
            self.open()
        assert self._loop is not None and self._sock is not None
        key = question_key(wire)
        if key is None:
            raise ValueError("the query has no single question")
        qid = self._free_id()
        pending = _Pending(qid, key, accept, done)
        data = struct.pack("!H", qid) + wire[2:]
        try:
            self._sock.send(data)
        except BlockingIOError:
            return None
        except OSError as exc:
            self._loop.call_soon(done, Reply(None, None, f"network_error: {exc.strerror or exc}", 0))
            self._rest(qid)
            return qid
        self._pending[qid] = pending
        self.stats.sent += 1
        queue = self._expiry.get(timeout)
        if queue is None:
            queue = self._expiry[timeout] = collections.deque()
        queue.append((self._loop.time() + timeout, pending))
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(SWEEP, self._sweep)
        return qid

    def _finish(self, pending: _Pending, reply: Reply) -> None:
        if self._pending.get(pending.qid) is pending:
            self._rest(pending.qid)
            pending.done(reply)

    def _sweep(self) -> None:
        assert self._loop is not None
        self._sweeper = None
        now = self._loop.time()
        waiting = False
        for queue in self._expiry.values():
            while queue and queue[0][0] <= now:
                pending = queue.popleft()[1]
                self._finish(pending, Reply(None, None, "timeout", pending.rejected))
            waiting = waiting or bool(queue)
        if waiting:
            self._sweeper = self._loop.call_later(SWEEP, self._sweep)

    async def writable(self) -> None:
        """Wait until the socket can send again."""
        assert self._loop is not None and self._sock is not None
        ready: asyncio.Future[None] = self._loop.create_future()
        fd = self._sock.fileno()
        self._loop.add_writer(fd, _wake, ready)
        try:
            await ready
        finally:
            self._loop.remove_writer(fd)

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
                self._rearm()
                return
            except OSError as exc:
                if exc.errno in (errno.EINTR,):
                    continue
                self._fail_all(f"network_error: {exc.strerror or exc}")
                self._rearm()
                return
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                    self.stats.dropped = struct.unpack("=I", value[:4])[0]
            self._deliver(data)

    def _rearm(self) -> None:
        """Watch the socket again after an error on it. uvloop stops watching a socket for good
        once a read fails (ICMP port unreachable while the resolver restarts, say), so without
        this no later answer would ever be read: the resolver would look dead for the rest of
        the run."""
        if self._sock is None or self._loop is None:
            return
        fd = self._sock.fileno()
        self._loop.remove_reader(fd)
        self._loop.add_reader(fd, self._readable)

    def _deliver(self, data: bytes) -> None:
        if len(data) < 12:
            self.stats.rejected += 1
            return
        pending = self._pending.get(struct.unpack_from("!H", data)[0])
        if pending is None:
            self.stats.stray += 1
            return
        try:
            parsed = pending.accept(data) if data[2] & 0x80 and echoes(data, pending.key) else None
        except Exception:  # noqa: BLE001 - a datagram the parser chokes on is rejected, never fatal
            parsed = None
        if parsed is None:
            self.stats.rejected += 1
            pending.rejected += 1
            return
        self.stats.accepted += 1
        self._finish(pending, Reply(data, parsed, None, pending.rejected))

    def _fail_all(self, error: str) -> None:
        """ICMP unreachable on the connected socket: nobody listens there; every question fails now."""
        for pending in list(self._pending.values()):
            self._finish(pending, Reply(None, None, error, pending.rejected))


HALF_IDS = 32768
"""A socket with this many IDs busy (in flight or resting) gets no new questions while another has
room: random IDs are then found in a draw or two."""


class UdpPool:
    """All the UDP sockets to one resolver: as many ``UdpMux`` as its rate needs.

    Every ID rests for ``quarantine`` seconds after its question ends (so a late reply can never
    be taken for a new question's answer), so one socket has IDs for 65,536 questions per
    quarantine: 6,500 a second with the default 10 s. A busy resolver gets more sockets, each with
    its own source port and so its own ID space: once the socket in use has half its IDs busy,
    new questions go to one with room, a new one when none has (at most ``most``).

    It has the mux's interface (``open``, ``send``, ``exchange``, ``stats``, ``count_drops``,
    ``close``); ``stats`` adds the sockets' counters up.
    """

    def __init__(self, host: str, port: int, *, rcvbuf: int = RCVBUF, quarantine: float = 10.0,
                 most: int = 64) -> None:
        self.host = host
        self.port = port
        self.most = most
        self._rcvbuf = rcvbuf
        self._quarantine = quarantine
        self._muxes: list[UdpMux] = []
        self._current: UdpMux | None = None

    def open(self) -> None:
        """Open the first socket (in the running loop)."""
        if self._current is None:
            self._current = self._new()

    def _new(self) -> UdpMux:
        mux = UdpMux(self.host, self.port, rcvbuf=self._rcvbuf, quarantine=self._quarantine)
        mux.open()
        self._muxes.append(mux)
        return mux

    def _roomy(self) -> UdpMux:
        """A socket with room for another question: an open one whose IDs have rested, or a new one."""
        for mux in self._muxes:
            mux.wake_ids()
            if mux.busy < HALF_IDS:
                return mux
        if len(self._muxes) < self.most:
            try:
                return self._new()
            except OSError:
                pass
        return min(self._muxes, key=lambda m: m.busy)

    def send(self, wire: bytes, timeout: float, accept: Callable[[bytes], Any], done: Done) -> int | None:
        """``UdpMux.send`` on a socket with IDs to spare."""
        mux = self._current
        if mux is None:
            mux = self._current = self._new()
        elif mux.busy >= HALF_IDS:
            mux = self._current = self._roomy()
        return mux.send(wire, timeout, accept, done)

    async def exchange(self, wire: bytes, timeout: float, accept: Callable[[bytes], Any]) -> Reply:
        """``UdpMux.exchange`` on a socket with IDs to spare."""
        mux = self._current
        if mux is None or mux.busy >= HALF_IDS:
            mux = self._current = self._roomy() if self._muxes else self._new()
        return await mux.exchange(wire, timeout, accept)

    @property
    def stats(self) -> MuxStats:
        """The counters of every socket, added up (buffer and window: those of one socket)."""
        if not self._muxes:
            return MuxStats(sockets=0)
        first = self._muxes[0].stats
        total = MuxStats(rcvbuf=first.rcvbuf, window=first.window, sockets=0)
        for mux in self._muxes:
            total.add(mux.stats)
        return total

    def count_drops(self) -> None:
        for mux in self._muxes:
            mux.count_drops()

    def close(self) -> None:
        """Close every socket; questions still in flight fail."""
        for mux in self._muxes:
            mux.close()
