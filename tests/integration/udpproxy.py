"""A delaying, lossy, switchable UDP (and TCP) proxy on loopback that fault tests put in front of a real resolver.

Why a proxy and not ``tc qdisc ... netem``: netem inside a network namespace the test creates
would be the more faithful fault, but the kernel of the reference machine has no ``sch_netem``
(``unshare --net sh -c 'ip link set lo up; tc qdisc add dev lo root netem delay 100ms'`` fails
with "Specified qdisc kind is unknown"), and a test that needs a kernel module cannot run on
every developer's box or CI runner anyway. So the faults are made in user space, here.

``Proxy(upstream_port)`` listens on 127.0.0.1 (UDP and TCP on the same port) and forwards to
127.0.0.1:``upstream_port``. What happens to each datagram is set by ``Conditions`` (swap them
at any time, from any thread, with ``proxy.conditions = ...``):

* ``delay`` seconds, plus or minus ``jitter`` (uniform), before it is passed on;
* with probability ``slow`` it waits ``slow_delay`` instead (a resolver that answers some
  questions late);
* with probability ``loss`` it is dropped;
* ``blackhole``: everything is dropped (TCP: connections are accepted, nothing is passed on);
* ``direction`` says which datagrams delay and loss apply to: the queries, the answers or both;
  ``spare`` lets datagrams holding some bytes (a name in wire form) through untouched.

Every random choice comes from one ``random.Random(seed)`` used by the proxy's one thread, so a
given sequence of datagrams meets the same fate in every run. The proxy counts what it did with
every datagram (``proxy.counts()``) so a test can hold blockaudit's own traffic counters
against it. ``stop()`` (or leaving the ``with`` block) stops the thread and closes every
socket; datagrams still waiting out their delay are dropped then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import functools
import heapq
import itertools
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

LOOPBACK = "127.0.0.1"
MAX_DATAGRAM = 65535
BIND_ATTEMPTS = 20
TICK = 0.05
"""Longest the proxy thread sleeps when nothing is due (it is woken up for anything else)."""


class Direction(enum.StrEnum):
    """Which datagrams the conditions apply to."""

    QUERIES = "queries"
    """Client to resolver only."""
    ANSWERS = "answers"
    """Resolver to client only."""
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Conditions:
    """What the network between client and resolver does to each datagram (or TCP chunk)."""

    delay: float = 0.0
    """Seconds every datagram waits before it is passed on."""
    jitter: float = 0.0
    """Up to this many seconds more or less (uniform), never below zero."""
    slow: float = 0.0
    """Probability that a datagram waits ``slow_delay`` (plus jitter) instead of ``delay``."""
    slow_delay: float = 0.0
    """The wait of a slow datagram."""
    loss: float = 0.0
    """Probability that a datagram is dropped (UDP only: a TCP stream cannot lose a chunk)."""
    blackhole: bool = False
    """Drop everything."""
    direction: Direction = Direction.BOTH
    """The datagrams delay and loss apply to; the others pass at once (the blackhole takes both ways)."""
    spare: bytes = b""
    """Datagrams holding these bytes pass at once, whatever else is set (say, a name in wire form:
    its questions and their answers are never delayed or lost, the blackhole included)."""

    def spares(self, data: bytes) -> bool:
        """Whether ``data`` passes untouched, whatever else is set."""
        return bool(self.spare) and self.spare in data

    def applies(self, upstream: bool) -> bool:
        """Whether delay and loss apply to a datagram going to the resolver (``upstream``) or back."""
        return self.direction is Direction.BOTH or (self.direction is Direction.QUERIES) == upstream


@dataclass(slots=True)
class Counts:
    """What the proxy did with the datagrams of one direction; counters only grow."""

    received: int = 0
    """Datagrams (or TCP chunks) that reached the proxy."""
    forwarded: int = 0
    """Passed on (right away or after their delay)."""
    lost: int = 0
    """Dropped by the ``loss`` draw."""
    blackholed: int = 0
    """Dropped because the blackhole switch was on."""
    slow: int = 0
    """Passed on after ``slow_delay``."""
    waiting: int = 0
    """Still waiting out their delay (neither forwarded nor dropped yet)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Both directions' counts at one moment."""

    queries: Counts
    """Client to resolver."""
    answers: Counts
    """Resolver to client."""
    tcp_connections: int
    """TCP connections accepted."""


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    action: Callable[[], object] = dataclasses.field(compare=False)
    counts: Counts | None = dataclasses.field(compare=False, default=None)


class _Stream:
    """One proxied TCP connection: the client's socket, the resolver's, and when each direction last sends."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.last_due = {True: 0.0, False: 0.0}
        self.closed = False


class Proxy:
    """Forwards 127.0.0.1:``port`` (UDP and TCP) to 127.0.0.1:``upstream_port`` under ``conditions``."""

    def __init__(self, upstream_port: int, conditions: Conditions | None = None, *, seed: int = 0,
                 port: int = 0, tcp: bool = True) -> None:
        self._udp, self._tcp = self._bind(port, tcp)
        self.port = int(self._udp.getsockname()[1])
        self.upstream = (LOOPBACK, upstream_port)
        self.conditions = conditions or Conditions()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._queries = Counts()
        self._answers = Counts()
        self._tcp_connections = 0
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._clients: dict[tuple[str, int], socket.socket] = {}
        self._streams: set[_Stream] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"udpproxy-{self.port}", daemon=True)

    # ----------------------------------------------------------------- life cycle

    @staticmethod
    def _bind(port: int, tcp: bool) -> tuple[socket.socket, socket.socket | None]:
        """A UDP socket on ``port`` (any free one when 0) and, with ``tcp``, a listening TCP socket on the same port."""
        for _ in range(BIND_ATTEMPTS):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stream: socket.socket | None = None
            try:
                udp.bind((LOOPBACK, port))
                if tcp:
                    stream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    stream.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    stream.bind((LOOPBACK, udp.getsockname()[1]))
                    stream.listen(16)
            except OSError as exc:
                udp.close()
                if stream is not None:
                    stream.close()
                if port or exc.errno != errno.EADDRINUSE:
                    raise
                continue  # the free UDP port is taken for TCP: another one
            return udp, stream
        raise OSError(errno.EADDRINUSE, f"no loopback port free for both UDP and TCP in {BIND_ATTEMPTS} tries")

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, as a resolver file names it."""
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> Proxy:
        """Start forwarding (in a thread of its own)."""
        self._udp.setblocking(False)
        self._selector.register(self._udp, selectors.EVENT_READ, self._from_client)
        if self._tcp is not None:
            self._tcp.setblocking(False)
            self._selector.register(self._tcp, selectors.EVENT_READ, self._accept)
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close every socket; safe to call more than once."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._close_sockets()

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def blackhole(self) -> bool:
        """Whether everything is being dropped."""
        return self.conditions.blackhole

    @blackhole.setter
    def blackhole(self, on: bool) -> None:
        self.conditions = dataclasses.replace(self.conditions, blackhole=on)

    def counts(self) -> Snapshot:
        """A copy of the counters, consistent at one moment."""
        with self._lock:
            return Snapshot(dataclasses.replace(self._queries), dataclasses.replace(self._answers),
                            self._tcp_connections)

    def settle(self, timeout: float = 10.0) -> Snapshot:
        """Wait until no datagram is waiting out a delay (and no new one came for a moment); the counts then."""
        deadline = time.monotonic() + timeout
        last = self.counts()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.counts()
            if now == last and not now.queries.waiting and not now.answers.waiting:
                return now
            last = now
        return self.counts()

    def _close_sockets(self) -> None:
        for sock in (self._udp, self._tcp, self._wake_r, self._wake_w, *self._clients.values()):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        for stream in list(self._streams):
            self._close_stream(stream)
        self._clients.clear()
        with contextlib.suppress(Exception):
            self._selector.close()

    # ----------------------------------------------------------------- the thread

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = TICK
            if self._due:
                wait = min(TICK, max(0.0, self._due[0].at - time.monotonic()))
            for key, _ in self._selector.select(wait):
                handler: Callable[[socket.socket], None] = key.data
                handler(key.fileobj)  # type: ignore[arg-type]
            now = time.monotonic()
            while self._due and self._due[0].at <= now:
                due = heapq.heappop(self._due)
                if due.counts is not None:
                    with self._lock:
                        due.counts.waiting -= 1
                        due.counts.forwarded += 1
                with contextlib.suppress(OSError):
                    due.action()

    def _drain_wake(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.recv(64)

    def _fate(self, counts: Counts, upstream: bool, data: bytes, *, lossy: bool = True) -> float | None:
        """Count a datagram in and draw its fate: seconds to wait before passing it on, or None to drop it
        (``lossy`` False: only the blackhole drops it)."""
        conditions = self.conditions
        with self._lock:
            counts.received += 1
            if conditions.spares(data):
                return 0.0
            if conditions.blackhole:
                counts.blackholed += 1
                return None
            if not conditions.applies(upstream):
                return 0.0
            if lossy and conditions.loss and self._rng.random() < conditions.loss:
                counts.lost += 1
                return None
            wait = conditions.delay
            if conditions.slow and self._rng.random() < conditions.slow:
                counts.slow += 1
                wait = conditions.slow_delay
            if conditions.jitter:
                wait += self._rng.uniform(-conditions.jitter, conditions.jitter)
            return max(0.0, wait)

    def _schedule(self, wait: float, action: Callable[[], object], counts: Counts | None,
                  at: float | None = None) -> None:
        if counts is not None:
            with self._lock:
                counts.waiting += 1
        heapq.heappush(self._due, _Due(at if at is not None else time.monotonic() + wait, next(self._seq), action,
                                       counts))

    # ----------------------------------------------------------------- UDP

    def _from_client(self, sock: socket.socket) -> None:
        for _ in range(256):
            try:
                data, client = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error from a client that went away: nothing to forward
            wait = self._fate(self._queries, True, data)
            if wait is None:
                continue
            upstream = self._upstream_for(client)
            self._schedule(wait, functools.partial(upstream.send, data), self._queries)

    def _upstream_for(self, client: tuple[str, int]) -> socket.socket:
        sock = self._clients.get(client)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(self.upstream)
            self._clients[client] = sock
            self._selector.register(sock, selectors.EVENT_READ, functools.partial(self._from_upstream, client=client))
        return sock

    def _from_upstream(self, sock: socket.socket, *, client: tuple[str, int]) -> None:
        for _ in range(256):
            try:
                data = sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # the resolver is not listening (ICMP port unreachable): the client hears nothing
            wait = self._fate(self._answers, False, data)
            if wait is None:
                continue
            self._schedule(wait, functools.partial(self._udp.sendto, data, client), self._answers)

    # ----------------------------------------------------------------- TCP

    def _accept(self, sock: socket.socket) -> None:
        try:
            client, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=2)
        except OSError:
            client.close()
            return
        with self._lock:
            self._tcp_connections += 1
        stream = _Stream(client, upstream)
        self._streams.add(stream)
        self._selector.register(client, selectors.EVENT_READ, lambda s: self._pump(stream, s, True))
        self._selector.register(upstream, selectors.EVENT_READ, lambda s: self._pump(stream, s, False))

    def _pump(self, stream: _Stream, sock: socket.socket, upstream: bool) -> None:
        try:
            data = sock.recv(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        target = stream.upstream if upstream else stream.client
        if not data:  # one side closed: close both once what is on its way has been passed on
            for side in (stream.client, stream.upstream):
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(side)
            at = max(time.monotonic(), stream.last_due[upstream])
            self._schedule(0.0, lambda: self._close_stream(stream), None, at=at)
            return
        counts = self._queries if upstream else self._answers
        wait = self._fate(counts, upstream, data, lossy=False)  # a stream never loses a chunk
        if wait is None:
            return
        # Chunks of one stream keep their order, whatever the jitter.
        at = max(time.monotonic() + wait, stream.last_due[upstream])
        stream.last_due[upstream] = at
        self._schedule(0.0, lambda: target.sendall(data), counts, at=at)

    def _close_stream(self, stream: _Stream) -> None:
        if stream.closed:
            return
        stream.closed = True
        self._streams.discard(stream)
        for side in (stream.client, stream.upstream):
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(side)
            with contextlib.suppress(OSError):
                side.close()
