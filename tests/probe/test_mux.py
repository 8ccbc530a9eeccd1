"""Shared UDP sockets per resolver: IDs, question checks, late replies, full buffers, pools."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import dns.message
import dns.rcode
import pytest

from checker.models import Protocol, Resolver, Role
from checker.probe import mux as mux_module
from checker.probe.client import ProbeSettings, ask
from checker.probe.message import make_query
from checker.probe.mux import UdpMux, UdpPool, question_key
from tests.fakedns import Packets, fake_dns, respond

FAST = ProbeSettings(timeout=0.5, retries=1, backoff=0.01)


def resolver(port: int) -> Resolver:
    return Resolver(name="fake", operator="t", host="127.0.0.1", port=port, protocol=Protocol.UDP, role=Role.SUBJECT)


def address_of(name: str) -> str:
    """A distinct address per name, so a mix-up shows."""
    n = int(name.split(".", maxsplit=1)[0][1:])
    return f"198.51.{n // 256}.{n % 256}"


def per_name(q: dns.message.Message, transport: str) -> dns.message.Message:
    return respond(q, a=[address_of(str(q.question[0].name))])


async def ask_many(port: int, names: list[str], handler_settings: ProbeSettings = FAST) -> tuple[list[Any], UdpMux]:
    mux = UdpMux("127.0.0.1", port)
    mux.open()
    try:
        results = await asyncio.gather(*(ask(resolver(port), n, "A", handler_settings, mux=mux) for n in names))
    finally:
        mux.close()
    return results, mux


def test_question_key_lowercases_the_name_and_keeps_type_and_class() -> None:
    upper = make_query("WwW.Site.TEST", "AAAA").to_wire()
    lower = make_query("www.site.test", "AAAA").to_wire()
    assert question_key(upper) == question_key(lower)
    assert question_key(lower) != question_key(make_query("www.site.test", "A").to_wire())
    assert question_key(b"\x00" * 11) is None
    assert question_key(b"\x00\x01\x00\x00\x00\x02" + b"\x00" * 6) is None  # two questions


def test_five_hundred_questions_in_flight_on_one_socket_each_get_their_own_answer() -> None:
    names = [f"n{i}.test" for i in range(500)]
    with fake_dns(per_name) as server:
        # The threaded fake server may drop part of a 500-query burst itself: retries cover that.
        results, mux = asyncio.run(ask_many(server.port, names, ProbeSettings(timeout=1.0, retries=4, backoff=0.05)))
    for name, obs in zip(names, results, strict=True):
        assert obs.error is None, (name, obs.error)
        assert [str(a) for a in obs.addresses] == [address_of(name)]
    assert mux.stats.sent >= 500 and mux.stats.accepted == 500
    assert mux.stats.rejected == mux.stats.dropped == 0
    assert mux.stats.rcvbuf >= 200_000 and mux.stats.window >= 16


def test_a_reply_to_another_question_with_our_id_is_rejected_and_the_real_one_accepted() -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        wrong = dns.message.make_query("other.test", "A")
        wrong.id = q.id
        forged = respond(wrong, a=["203.0.113.66"])
        return Packets([forged.to_wire(), respond(q, a=["198.51.100.1"]).to_wire()])

    with fake_dns(handler) as server:
        results, mux = asyncio.run(ask_many(server.port, ["n1.test"]))
    assert [str(a) for a in results[0].addresses] == ["198.51.100.1"]
    assert results[0].rejected == 1 and mux.stats.rejected == 1


def test_garbage_with_our_id_is_rejected_then_timeout_is_never_a_block() -> None:
    def handler(q: dns.message.Message, transport: str) -> bytes:
        return struct.pack("!H", q.id) + b"\x81\x80" + b"\xff" * 30

    with fake_dns(handler) as server:
        results, mux = asyncio.run(ask_many(server.port, ["n1.test"], ProbeSettings(timeout=0.2, retries=1)))
    assert results[0].error == "timeout" and results[0].rcode is None
    assert results[0].rejected == 2 and mux.stats.rejected == 2


def test_a_late_reply_after_the_timeout_is_stray_and_its_id_is_not_reused() -> None:
    seen_ids: list[int] = []
    lock = threading.Lock()

    def slow_first(q: dns.message.Message, transport: str) -> dns.message.Message:
        with lock:
            seen_ids.append(q.id)
            first = len(seen_ids) == 1
        if first:
            time.sleep(0.4)  # answers after the first attempt gave up
        return respond(q, a=["198.51.100.1"])

    with fake_dns(slow_first) as server:
        results, mux = asyncio.run(ask_many(server.port, ["n1.test"], ProbeSettings(timeout=0.2, retries=2,
                                                                                      backoff=0.3)))
    assert results[0].error is None and results[0].attempts == 2
    assert len(seen_ids) == 2 and seen_ids[0] != seen_ids[1]
    assert mux.stats.stray == 1  # the first attempt's answer, arriving while the retry waited


def test_ids_rest_after_use() -> None:
    async def run() -> set[int]:
        mux = UdpMux("127.0.0.1", 9, quarantine=60)
        ids = set()
        for _ in range(2000):
            qid = mux._free_id()
            assert qid not in ids
            ids.add(qid)
            mux._rest(qid)
        return ids

    assert len(asyncio.run(run())) == 2000


def test_a_pool_opens_sockets_as_ids_run_out_and_every_answer_finds_its_question(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """IDs rest after use, so one socket runs out of them at 65536/quarantine questions a second
    (at 10 s, the engine ran out near 6,500 a second and spent its time looking for a free ID).
    With half its IDs busy a socket takes no new questions: another one, with its own source port
    and ID space, does."""
    monkeypatch.setattr(mux_module, "HALF_IDS", 8)
    names = [f"n{i}.test" for i in range(60)]

    async def run(port: int) -> tuple[list[Any], UdpPool]:
        pool = UdpPool("127.0.0.1", port, quarantine=60)
        pool.open()
        try:
            found = []
            for start in range(0, len(names), 6):  # a few at a time, as the IDs rest
                found += await asyncio.gather(*(ask(resolver(port), n, "A", FAST, mux=pool)
                                                for n in names[start:start + 6]))
        finally:
            pool.close()
        return found, pool

    with fake_dns(per_name) as server:
        results, pool = asyncio.run(run(server.port))
    for name, obs in zip(names, results, strict=True):
        assert obs.error is None and [str(a) for a in obs.addresses] == [address_of(name)]
    stats = pool.stats
    assert stats.sockets == 8  # 60 questions, 8 busy IDs a socket: a new socket every 8 (6 + 2 of the next 6)
    assert (stats.sent, stats.accepted, stats.stray, stats.rejected) == (60, 60, 0, 0)
    assert stats.window > 0 and stats.rcvbuf > 0


def test_a_pool_goes_back_to_a_socket_whose_ids_have_rested(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mux_module, "HALF_IDS", 4)

    async def run(port: int) -> UdpPool:
        pool = UdpPool("127.0.0.1", port, quarantine=0.05)
        pool.open()
        try:
            for round_ in range(5):
                await asyncio.gather(*(ask(resolver(port), f"n{round_ * 4 + i}.test", "A", FAST, mux=pool)
                                       for i in range(4)))
                await asyncio.sleep(0.1)
        finally:
            pool.close()
        return pool

    with fake_dns(per_name) as server:
        pool = asyncio.run(run(server.port))
    assert pool.stats.accepted == 20 and pool.stats.sockets <= 2


def test_a_full_receive_buffer_is_counted_and_its_answers_are_timeouts_not_blocks() -> None:
    """The loop is blocked while a server blasts 200 answers into a tiny buffer: the kernel drops
    most of them, the mux reads the kernel's drop count, and those questions end as timeouts."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]
    blast = threading.Event()
    sent = threading.Event()

    def serve() -> None:
        queries = []
        for _ in range(200):
            data, peer = server.recvfrom(2048)
            queries.append((dns.message.from_wire(data), peer))
        blast.wait(5)
        for query, peer in queries:
            server.sendto(per_name(query, "udp").to_wire(), peer)
        sent.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def run() -> tuple[list[tuple[bytes | None, str | None]], UdpMux]:
        mux = UdpMux("127.0.0.1", port, rcvbuf=4096)
        mux.open()
        wires = [make_query(f"n{i}.test", "A").to_wire() for i in range(200)]
        accept: Callable[[bytes], object] = lambda data: data  # noqa: E731
        tasks = [asyncio.ensure_future(mux.exchange(w, 3.0, accept)) for w in wires]
        await asyncio.sleep(0.05)  # every query sent
        blast.set()
        sent.wait(5)  # the loop does not read while the answers arrive: they overflow the buffer
        replies = await asyncio.gather(*tasks)
        mux.close()
        return [(r.wire, r.error) for r in replies], mux

    try:
        replies, mux = asyncio.run(run())
    finally:
        server.close()
    lost = [r for r in replies if r[0] is None]
    if mux.stats.window >= 200:
        pytest.skip("the kernel granted a buffer too large to overflow here")
    assert lost and all(error == "timeout" for _, error in lost)
    assert 1 <= mux.stats.dropped <= len(lost)  # every drop the kernel counted is a timeout here
    assert mux.stats.accepted + len(lost) == 200


def test_nobody_listening_fails_fast_with_a_network_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    results, _ = asyncio.run(ask_many(port, ["n1.test"], ProbeSettings(timeout=2.0, retries=0)))
    assert results[0].error is not None and results[0].error.startswith("network_error")
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_resolver_that_comes_back_is_heard_again(loop: str) -> None:
    """The first question meets a closed port (ICMP port unreachable: a resolver restarting); the
    second, once a server listens there, is answered. uvloop stops watching a socket whose read
    failed, so the mux watches it again after an error."""
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> tuple[str | None, str | None]:
        mux = UdpMux("127.0.0.1", port)
        mux.open()
        try:
            first = await ask(resolver(port), "n1.test", "A", ProbeSettings(timeout=1.0, retries=0), mux=mux)
            server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            server.bind(("127.0.0.1", port))

            def serve() -> None:
                data, client = server.recvfrom(4096)
                server.sendto(respond(dns.message.from_wire(data), a=["198.51.100.7"]).to_wire(), client)

            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            try:
                second = await ask(resolver(port), "n2.test", "A", ProbeSettings(timeout=1.0, retries=0), mux=mux)
            finally:
                thread.join(2)
                server.close()
            return first.error, second.rcode
        finally:
            mux.close()

    if loop == "uvloop":
        import uvloop

        error, rcode = uvloop.run(scenario())
    else:
        error, rcode = asyncio.run(scenario())
    assert error is not None and error.startswith("network_error")
    assert rcode == "NOERROR"


def test_nxdomain_through_the_mux_keeps_the_raw_bytes() -> None:
    with fake_dns(lambda q, t: respond(q, rcode=dns.rcode.NXDOMAIN, soa=True)) as server:
        results, _ = asyncio.run(ask_many(server.port, ["n1.test"]))
    obs = results[0]
    assert obs.rcode == "NXDOMAIN" and obs.wire is not None
    assert dns.message.from_wire(obs.wire).rcode() == dns.rcode.NXDOMAIN


def test_limit_holds_at_most_its_size_first_come_first_served_and_survives_cancellation() -> None:
    from checker.probe.mux import Limit

    async def run() -> tuple[int, list[int]]:
        limit = Limit(2)
        inside = peak = 0
        order: list[int] = []

        async def worker(n: int, hold: float) -> None:
            nonlocal inside, peak
            async with limit:
                inside += 1
                peak = max(peak, inside)
                order.append(n)
                await asyncio.sleep(hold)
                inside -= 1

        tasks = [asyncio.ensure_future(worker(n, 0.02)) for n in range(6)]
        await asyncio.sleep(0)
        tasks[3].cancel()  # waiting in line: its turn must pass on, not be lost
        await asyncio.gather(*tasks, return_exceptions=True)
        async with limit, limit:  # every slot came back
            pass
        return peak, order

    peak, order = asyncio.run(run())
    assert peak == 2
    assert order == [0, 1, 2, 4, 5]
