"""One question to one resolver (UDP, TCP, DoT or DoH), with timeouts, retries with backoff and TCP after truncation."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass

import dns.message

from checker.models import Observation, Protocol, Resolver
from checker.probe import fastwire, https, tls, udp
from checker.probe.message import Described, describe, make_query, parse_response, split_question_type
from checker.probe.mux import Reply, UdpMux, UdpPool


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """How patiently to ask."""

    timeout: float = 2.0
    """Seconds to wait for each attempt."""
    retries: int = 2
    """Further attempts after a timeout or network error (not after an answer)."""
    backoff: float = 0.25
    """Seconds before the first retry; doubled for each further one (at most ``max_backoff``), with jitter."""
    max_backoff: float = 5.0
    """Longest wait between two attempts."""

    def wait(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1-based), before jitter."""
        return min(self.backoff * float(2 ** (retry - 1)), self.max_backoff)

    def worst_case(self) -> float:
        """Upper bound in seconds for one question: every attempt times out."""
        waits = sum(self.wait(i) * 1.25 for i in range(1, self.retries + 1))
        return self.timeout * (self.retries + 1) + waits


class _Query:
    """One question in the forms the transports need, each made only when first wanted: the
    fast-path wire template and question (UDP), and dnspython's message (the other transports,
    and the reference parser for whatever the fast decoder leaves to it)."""

    __slots__ = ("_message", "qname", "rdclass", "rdtype")

    def __init__(self, qname: str, rdtype: str, rdclass: str) -> None:
        self.qname = qname
        self.rdtype = rdtype
        self.rdclass = rdclass
        self._message: dns.message.QueryMessage | None = None

    def message(self) -> dns.message.QueryMessage:
        if self._message is None:
            self._message = make_query(self.qname, self.rdtype, self.rdclass)
        return self._message

    def wire(self) -> bytes:
        """The query in wire form (its ID is the mux's to set)."""
        try:
            return fastwire.query_wire(self.qname, self.rdtype, self.rdclass, qid=0)
        except ValueError:  # a name the template cannot write: dnspython can
            return self.message().to_wire()

    def accept(self, data: bytes) -> Described | None:
        """The fields of ``data`` if it answers this question (the mux has matched its ID); None to reject it."""
        qid = int.from_bytes(data[:2], "big")
        try:
            got = fastwire.decode(fastwire.template(self.rdtype, self.rdclass).question(self.qname, qid), data)
        except ValueError:
            got = None
        if isinstance(got, fastwire.Decoded):
            return got.described
        if isinstance(got, fastwire.Rejected):
            return None
        query = self.message()
        query.id = qid
        response = parse_response(query, data)
        return describe(response) if response is not None else None


@dataclass(frozen=True, slots=True)
class _Got:
    """One attempt's outcome, whatever the transport."""

    wire: bytes | None
    fields: Described | None
    error: str | None
    rejected: int


async def _attempt(
    resolver: Resolver, query: _Query, tcp: bool, timeout: float, mux: UdpMux | UdpPool | None = None,
) -> _Got:
    if resolver.protocol is Protocol.UDP and not tcp and mux is not None:
        reply = await mux.exchange(query.wire(), timeout, query.accept)
        return _Got(reply.wire, reply.parsed, reply.error, reply.rejected)
    message = query.message()
    exchange: udp.Exchange
    if resolver.protocol is Protocol.DOT:
        exchange = await tls.tls(message, resolver.host, resolver.port, timeout,
                                 server_name=resolver.tls_name, ca_file=resolver.tls_ca)
    elif resolver.protocol is Protocol.DOH:
        if resolver.url is None:
            return _Got(None, None, "unsupported_protocol: doh without a url", 0)
        exchange = await https.https(message, resolver.url, timeout, ca_file=resolver.tls_ca,
                                     method=resolver.doh_method)
    elif resolver.protocol is Protocol.UDP and not tcp:
        exchange = await udp.udp(message, resolver.host, resolver.port, timeout)
    else:
        exchange = await udp.tcp(message, resolver.host, resolver.port, timeout)  # TCP, or UDP after truncation
    fields = describe(exchange.response) if exchange.response is not None else None
    return _Got(exchange.wire, fields, exchange.error, exchange.rejected)


_FINAL_ERRORS = ("unsupported_protocol", "tls_error: certificate verify failed", "tls_error: cannot load")
"""Errors another attempt cannot cure: no retry after them."""


class Pace(typing.Protocol):
    """Paces the packets to one resolver, told of every answer and every loss."""

    async def tick(self) -> None:
        """Wait until the next packet may go."""

    def answered(self) -> None:
        """An attempt was answered."""

    def timed_out(self) -> None:
        """An attempt got no answer in time."""


class _NoPacing:
    async def tick(self) -> None:
        return None

    def answered(self) -> None:
        return None

    def timed_out(self) -> None:
        return None


_NO_PACING = _NoPacing()


async def ask(
    resolver: Resolver, qname: str, qtype: str, settings: ProbeSettings,
    pace: Pace = _NO_PACING, mux: UdpMux | UdpPool | None = None,
) -> Observation:
    """Ask ``resolver`` for ``qname``/``qtype`` and record what came back, byte for byte.

    ``qtype`` is a record type (class IN) or a class and a type (``CH TXT``); the observation
    keeps it as given. ``pace.tick()`` is awaited before every packet sent (retries and the TCP
    retry included), so a resolver's rate limit holds for all the traffic it gets; ``pace`` hears
    of every answer and every timeout, to slow down while answers are being lost. ``mux``, when given,
    carries the UDP attempts over the resolver's shared socket instead of a socket of their own.
    """
    rdtype, rdclass = split_question_type(qtype)
    query = _Query(qname, rdtype, rdclass)
    if resolver.protocol is Protocol.DOH:
        query.message().id = 0  # RFC 8484 section 4.1: DoH clients should use ID 0
    started_at = dt.datetime.now(dt.UTC)
    start = time.monotonic()
    attempts = 0
    rejected = 0
    tcp = resolver.protocol is not Protocol.UDP
    got = _Got(None, None, "timeout", 0)
    while attempts <= settings.retries:
        if attempts:
            await asyncio.sleep(settings.wait(attempts) * random.uniform(1.0, 1.25))
        attempts += 1
        await pace.tick()
        got = await _attempt(resolver, query, tcp, settings.timeout, mux)
        rejected += got.rejected
        if got.fields is not None:
            pace.answered()
        elif got.error == "timeout":
            pace.timed_out()
        if got.fields is not None and "tc" in got.fields.flags and not tcp:
            # Truncated: the full answer is only on TCP. This does not count as a retry.
            tcp = True
            await pace.tick()
            got = await _attempt(resolver, query, tcp, settings.timeout)
            rejected += got.rejected
        if got.fields is not None:
            break
        if got.error and got.error.startswith(_FINAL_ERRORS):
            break
    elapsed_ms = round((time.monotonic() - start) * 1000, 3)
    after_tc = tcp and resolver.protocol is Protocol.UDP
    transport = "tcp" if after_tc else resolver.protocol.value
    error = _after_truncation(got.error) if after_tc and got.fields is None else got.error
    return _observation(resolver.name, qname, qtype, transport, started_at, elapsed_ms, attempts, rejected,
                        got.wire, got.fields, error)


def _after_truncation(error: str | None) -> str:
    """Why a UDP question whose answer came truncated ends with none over TCP: never a plain
    ``timeout``, which a resolver that drops blocked names would have its block read from."""
    return f"network_error: no answer over TCP after a truncated one ({error or 'timeout'})"


def _observation(resolver: str, qname: str, qtype: str, transport: str, started_at: dt.datetime,
                 elapsed_ms: float, attempts: int, rejected: int, wire: bytes | None, fields: Described | None,
                 error: str | None) -> Observation:
    """What came back for one question: the answer's fields and bytes, or why there was none."""
    if fields is None:
        return Observation(
            resolver=resolver, qname=qname, qtype=qtype, transport=transport, started_at=started_at,
            elapsed_ms=elapsed_ms, attempts=attempts, error=error or "timeout", rejected=rejected,
        )
    return Observation(
        resolver=resolver, qname=qname, qtype=qtype, transport=transport, started_at=started_at,
        elapsed_ms=elapsed_ms, attempts=attempts, wire=wire, rejected=rejected, rcode=fields.rcode,
        flags=fields.flags, answers=fields.answers, authority=fields.authority, ede=fields.ede,
    )


class Booking(Pace, typing.Protocol):
    """A pace that can also book a slot without awaiting (for retries scheduled by callbacks)."""

    def reserve(self) -> float:
        """Book the next sending slot; seconds until it comes."""


class Flight:
    """One question over a resolver's shared UDP socket, driven by callbacks, not a coroutine.

    The same protocol as ``ask`` over UDP: retries after a timeout or network error with capped
    exponential backoff (and the pace's booking), a truncated answer asked again over TCP (as a
    task: the one part that needs a stream), the observation built the same way. ``done`` gets
    the observation once. At tens of thousands of questions a second, a coroutine per question
    costs more than the question.
    """

    __slots__ = ("_elapsed_start", "_query", "_wire", "attempts", "done", "mux", "pace", "qtype", "rejected",
                 "resolver", "settings", "started_at", "task")

    def __init__(self, resolver: Resolver, qname: str, qtype: str, settings: ProbeSettings, pace: Booking,
                 mux: UdpMux | UdpPool, done: Callable[[Observation], None]) -> None:
        rdtype, rdclass = split_question_type(qtype)
        self._query = _Query(qname, rdtype, rdclass)
        self._wire = self._query.wire()
        self.resolver = resolver
        self.qtype = qtype
        self.settings = settings
        self.pace = pace
        self.mux = mux
        self.done = done
        self.attempts = 0
        self.rejected = 0
        self.started_at = dt.datetime.now(dt.UTC)
        self._elapsed_start = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Send the first attempt (the caller has paced it); the question's clock starts now."""
        self.started_at = dt.datetime.now(dt.UTC)
        self._elapsed_start = time.monotonic()
        self._send()

    def _send(self) -> None:
        self.attempts += 1
        if self.mux.send(self._wire, self.settings.timeout, self._query.accept, self._reply) is None:
            self.attempts -= 1  # the socket's send buffer is full: try again in a moment
            asyncio.get_running_loop().call_later(0.001, self._send)

    def _reply(self, reply: Reply) -> None:
        try:
            self._judge_reply(reply)
        except Exception as exc:  # noqa: BLE001 - a flight must always land, or its run never ends
            self._finish("udp", None, None, f"network_error: {type(exc).__name__}: {exc}")

    def _judge_reply(self, reply: Reply) -> None:
        self.rejected += reply.rejected
        fields = reply.parsed
        if fields is not None:
            self.pace.answered()
            if "tc" in fields.flags:
                self.task = asyncio.get_running_loop().create_task(self._over_tcp())
                return
            self._finish("udp", reply.wire, fields, None)
            return
        if reply.error == "timeout":
            self.pace.timed_out()
        final = reply.error is not None and reply.error.startswith(_FINAL_ERRORS)
        if self.attempts <= self.settings.retries and not final:
            backoff = self.settings.wait(self.attempts) * random.uniform(1.0, 1.25)
            asyncio.get_running_loop().call_later(max(backoff, self.pace.reserve()), self._send)
            return
        self._finish("udp", None, None, reply.error or "timeout")

    async def _over_tcp(self) -> None:
        await self.pace.tick()
        got = await _attempt(self.resolver, self._query, True, self.settings.timeout)
        self.rejected += got.rejected
        self._finish("tcp", got.wire, got.fields, got.error if got.fields is not None else _after_truncation(got.error))

    def _finish(self, transport: str, wire: bytes | None, fields: Described | None, error: str | None) -> None:
        elapsed_ms = round((time.monotonic() - self._elapsed_start) * 1000, 3)
        self.done(_observation(self.resolver.name, self._query.qname, self.qtype, transport, self.started_at,
                               elapsed_ms, self.attempts, self.rejected, wire, fields, error))
