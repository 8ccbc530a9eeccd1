"""One question to one resolver (UDP, TCP, DoT or DoH), with timeouts, retries with backoff and TCP after truncation."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import dns.flags
import dns.message

from checker.models import Observation, Protocol, Resolver
from checker.probe import https, tls, udp
from checker.probe.message import describe, make_query, parse_response, split_question_type
from checker.probe.mux import UdpMux


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


def _accept_for(query: dns.message.Message) -> Callable[[bytes], dns.message.Message | None]:
    """The mux's check of a datagram that carries one of our IDs: it parses and answers ``query``
    (the mux chose the ID, so the query takes the datagram's before the comparison)."""

    def accept(data: bytes) -> dns.message.Message | None:
        query.id = int.from_bytes(data[:2], "big")
        return parse_response(query, data)

    return accept


async def _attempt(
    resolver: Resolver, query: dns.message.Message, tcp: bool, timeout: float, mux: UdpMux | None = None,
) -> udp.Exchange:
    if resolver.protocol is Protocol.DOT:
        return await tls.tls(
            query, resolver.host, resolver.port, timeout,
            server_name=resolver.tls_name, ca_file=resolver.tls_ca,
        )
    if resolver.protocol is Protocol.DOH:
        if resolver.url is None:
            return udp.Exchange(None, None, "unsupported_protocol: doh without a url")
        return await https.https(query, resolver.url, timeout, ca_file=resolver.tls_ca, method=resolver.doh_method)
    if resolver.protocol is Protocol.UDP and not tcp:
        if mux is not None:
            reply = await mux.exchange(query.to_wire(), timeout, _accept_for(query))
            return udp.Exchange(reply.wire, reply.parsed, reply.error, reply.rejected)
        return await udp.udp(query, resolver.host, resolver.port, timeout)
    return await udp.tcp(query, resolver.host, resolver.port, timeout)  # TCP, or UDP after truncation


_FINAL_ERRORS = ("unsupported_protocol", "tls_error: certificate verify failed", "tls_error: cannot load")
"""Errors another attempt cannot cure: no retry after them."""


async def _no_pacing() -> None:
    return None


async def ask(
    resolver: Resolver, qname: str, qtype: str, settings: ProbeSettings,
    pace: Callable[[], Awaitable[None]] = _no_pacing, mux: UdpMux | None = None,
) -> Observation:
    """Ask ``resolver`` for ``qname``/``qtype`` and record what came back, byte for byte.

    ``qtype`` is a record type (class IN) or a class and a type (``CH TXT``); the observation
    keeps it as given. ``pace`` is awaited before every packet sent (retries and the TCP retry
    included), so a resolver's rate limit holds for all the traffic it gets. ``mux``, when given,
    carries the UDP attempts over the resolver's shared socket instead of a socket of their own.
    """
    rdtype, rdclass = split_question_type(qtype)
    query = make_query(qname, rdtype, rdclass)
    if resolver.protocol is Protocol.DOH:
        query.id = 0  # RFC 8484 section 4.1: DoH clients should use ID 0
    started_at = dt.datetime.now(dt.UTC)
    start = time.monotonic()
    attempts = 0
    rejected = 0
    tcp = resolver.protocol is not Protocol.UDP
    exchange = udp.Exchange(None, None, "timeout")
    while attempts <= settings.retries:
        if attempts:
            await asyncio.sleep(settings.wait(attempts) * random.uniform(1.0, 1.25))
        attempts += 1
        await pace()
        exchange = await _attempt(resolver, query, tcp, settings.timeout, mux)
        rejected += exchange.rejected
        if exchange.response is not None and exchange.response.flags & dns.flags.TC and not tcp:
            # Truncated: the full answer is only on TCP. This does not count as a retry.
            tcp = True
            await pace()
            exchange = await _attempt(resolver, query, tcp, settings.timeout)
            rejected += exchange.rejected
        if exchange.response is not None:
            break
        if exchange.error and exchange.error.startswith(_FINAL_ERRORS):
            break
    elapsed_ms = round((time.monotonic() - start) * 1000, 3)
    transport = "tcp" if tcp and resolver.protocol is Protocol.UDP else resolver.protocol.value
    if exchange.response is None:
        return Observation(
            resolver=resolver.name, qname=qname, qtype=qtype, transport=transport,
            started_at=started_at, elapsed_ms=elapsed_ms, attempts=attempts,
            error=exchange.error or "timeout", rejected=rejected,
        )
    fields = describe(exchange.response)
    return Observation(
        resolver=resolver.name, qname=qname, qtype=qtype, transport=transport,
        started_at=started_at, elapsed_ms=elapsed_ms, attempts=attempts,
        wire=exchange.wire, rejected=rejected, rcode=fields.rcode, flags=fields.flags,
        answers=fields.answers, authority=fields.authority, ede=fields.ede,
    )
