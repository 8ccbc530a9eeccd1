"""The probe against a loopback fake server: what it accepts, rejects, retries, and keeps."""

from __future__ import annotations

import asyncio
import threading
import time

import dns.message
import dns.rcode
import pytest

from checker.models import Protocol, Resolver, Role
from checker.probe.client import ProbeSettings, ask
from tests.fakedns import Packets, fake_dns, respond

FAST = ProbeSettings(timeout=0.3, retries=1, backoff=0.01)


def resolver(port: int, protocol: Protocol = Protocol.UDP) -> Resolver:
    return Resolver(name="fake", operator="t", host="127.0.0.1", port=port, protocol=protocol, role=Role.SUBJECT)


def run_ask(port: int, qname: str = "site.test", qtype: str = "A", settings: ProbeSettings = FAST,
            protocol: Protocol = Protocol.UDP):
    return asyncio.run(ask(resolver(port, protocol), qname, qtype, settings))


def test_nxdomain_with_soa_is_recorded_with_raw_bytes() -> None:
    with fake_dns(lambda q, t: respond(q, rcode=dns.rcode.NXDOMAIN, soa=True)) as server:
        obs = run_ask(server.port)
    assert obs.rcode == "NXDOMAIN" and obs.error is None
    assert [r.type for r in obs.authority] == ["SOA"]
    assert obs.wire is not None
    parsed = dns.message.from_wire(obs.wire)
    assert parsed.rcode() == dns.rcode.NXDOMAIN
    assert obs.attempts == 1 and obs.transport == "udp" and "qr" in obs.flags


def test_sinkhole_addresses_for_a_and_aaaa() -> None:
    with fake_dns(lambda q, t: respond(q, a=["0.0.0.0"], aaaa=["::"])) as server:
        a = run_ask(server.port)
        aaaa = run_ask(server.port, qtype="AAAA")
    assert [str(x) for x in a.addresses] == ["0.0.0.0"]
    assert [str(x) for x in aaaa.addresses] == ["::"]


def test_silence_is_a_timeout_after_every_attempt() -> None:
    with fake_dns(lambda q, t: None) as server:
        start = time.monotonic()
        obs = run_ask(server.port, settings=ProbeSettings(timeout=0.2, retries=2, backoff=0.01))
        elapsed = time.monotonic() - start
        received = len(server.queries)
    assert obs.rcode is None and obs.error == "timeout" and obs.wire is None
    assert obs.attempts == 3 and received == 3
    assert elapsed < ProbeSettings(timeout=0.2, retries=2, backoff=0.01).worst_case() + 1.0


def test_truncated_answer_is_asked_again_over_tcp() -> None:
    def handler(q: dns.message.Message, transport: str) -> dns.message.Message:
        if transport == "udp":
            return respond(q, tc=True)
        return respond(q, a=["198.51.100.7"])

    with fake_dns(handler) as server:
        obs = run_ask(server.port)
        transports = [t for _, _, t in server.queries]
    assert obs.transport == "tcp" and obs.rcode == "NOERROR"
    assert [str(a) for a in obs.addresses] == ["198.51.100.7"]
    assert transports == ["udp", "tcp"]


def test_wrong_id_is_rejected_and_the_real_answer_accepted() -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        forged = respond(q, rcode=dns.rcode.NXDOMAIN)
        forged.id = (q.id + 1) % 65536
        return Packets([forged.to_wire(), respond(q, a=["198.51.100.8"]).to_wire()])

    with fake_dns(handler) as server:
        obs = run_ask(server.port)
    assert obs.rcode == "NOERROR" and obs.rejected == 1
    assert [str(a) for a in obs.addresses] == ["198.51.100.8"]


def test_answer_to_another_question_is_rejected() -> None:
    def handler(q: dns.message.Message, transport: str) -> bytes:
        other = dns.message.make_query("other.test", "A")
        other.id = q.id
        return respond(other, rcode=dns.rcode.NXDOMAIN).to_wire()

    with fake_dns(handler) as server:
        obs = run_ask(server.port)
    assert obs.rcode is None and obs.error == "timeout" and obs.rejected >= 1


@pytest.mark.parametrize("garbage", [b"", b"\x00", b"\xff" * 40, b"\x12\x34\x81\x80" + b"\xc0\x0c" * 20])
def test_garbage_is_rejected_never_judged(garbage: bytes) -> None:
    with fake_dns(lambda q, t: garbage) as server:
        obs = run_ask(server.port)
    assert obs.rcode is None and obs.error == "timeout"


def test_compression_loop_is_rejected() -> None:
    def handler(q: dns.message.Message, transport: str) -> bytes:
        wire = bytearray(respond(q, a=["198.51.100.1"]).to_wire())
        wire[12:14] = b"\xc0\x0c"  # question name points at itself
        return bytes(wire)

    with fake_dns(handler) as server:
        obs = run_ask(server.port)
    assert obs.rcode is None and obs.error == "timeout"


def test_forged_answer_from_another_port_never_counts() -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        forged = respond(q, rcode=dns.rcode.NXDOMAIN).to_wire()
        return Packets([forged], from_other_port=[True])

    with fake_dns(handler) as server:
        obs = run_ask(server.port)
    assert obs.rcode is None and obs.error == "timeout"


def test_extended_dns_error_is_parsed() -> None:
    with fake_dns(lambda q, t: respond(q, rcode=dns.rcode.REFUSED, ede=16)) as server:
        obs = run_ask(server.port)
    assert obs.rcode == "REFUSED"
    assert [(e.code, e.text) for e in obs.ede] == [(16, "test")]


def test_answer_after_a_lost_first_attempt_counts_both_attempts() -> None:
    seen = {"n": 0}

    def handler(q: dns.message.Message, transport: str) -> dns.message.Message | None:
        seen["n"] += 1
        return None if seen["n"] == 1 else respond(q, a=["198.51.100.9"])

    with fake_dns(handler) as server:
        obs = run_ask(server.port)
    assert obs.attempts == 2 and obs.rcode == "NOERROR"


def test_nobody_listening_is_a_network_error_not_a_block() -> None:
    with fake_dns(lambda q, t: None) as server:
        port = server.port
    obs = run_ask(port)
    assert obs.rcode is None and obs.error is not None


def test_tcp_resolver_is_asked_over_tcp() -> None:
    with fake_dns(lambda q, t: respond(q, a=["198.51.100.3"])) as server:
        obs = run_ask(server.port, protocol=Protocol.TCP)
        transports = [t for _, _, t in server.queries]
    assert obs.transport == "tcp" and transports == ["tcp"]


def test_silent_tcp_resolver_times_out_plainly() -> None:
    """A resolver asked over TCP by configuration that never answers timed out: the error is a
    plain timeout, not the "no answer over TCP after a truncated one" of a UDP question."""
    with fake_dns(lambda q, t: None) as server:
        obs = run_ask(server.port, protocol=Protocol.TCP, settings=ProbeSettings(timeout=0.2, retries=0))
    assert obs.rcode is None and obs.error == "timeout" and obs.transport == "tcp"


def test_late_reply_to_a_first_attempt_is_not_mistaken() -> None:
    """The first attempt's reply arrives after the retry was sent: it is on a closed socket."""
    lock = threading.Lock()
    count = {"n": 0}

    def handler(q: dns.message.Message, transport: str) -> dns.message.Message:
        with lock:
            count["n"] += 1
            first = count["n"] == 1
        if first:
            time.sleep(0.4)
            return respond(q, rcode=dns.rcode.NXDOMAIN)
        return respond(q, a=["198.51.100.4"])

    with fake_dns(handler) as server:
        obs = run_ask(server.port, settings=ProbeSettings(timeout=0.2, retries=2, backoff=0.01))
    assert obs.rcode == "NOERROR"
    assert [str(a) for a in obs.addresses] == ["198.51.100.4"]
