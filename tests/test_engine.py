"""The fan-out: per-resolver concurrency cap and qps pacing, checked at the server side."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import dns.message
import pytest

from checker.engine import GC_YOUNG, Engine, ProgressEvent, lean_gc
from checker.models import Protocol, Resolver, Role
from checker.probe.client import ProbeSettings
from tests.fakedns import fake_dns, respond

SETTINGS = ProbeSettings(timeout=2.0, retries=0)


def test_concurrency_cap_is_honoured() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow(q: dns.message.Message, transport: str) -> dns.message.Message:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return respond(q, a=["198.51.100.1"])

    with fake_dns(slow) as server:
        resolver = Resolver("r", "o", "127.0.0.1", server.port, Protocol.UDP, Role.SUBJECT, concurrency=3)
        engine = Engine([resolver], SETTINGS)
        work = [(resolver, f"n{i}.test", "A") for i in range(12)]
        seen = asyncio.run(engine.observe("names", work))
    assert len(seen) == 12 and all(o.rcode == "NOERROR" for o in seen.values())
    assert state["peak"] <= 3


def test_qps_pacing_spaces_the_queries() -> None:
    arrivals: list[float] = []

    def record(q: dns.message.Message, transport: str) -> dns.message.Message:
        arrivals.append(time.monotonic())
        return respond(q, a=["198.51.100.1"])

    with fake_dns(record) as server:
        resolver = Resolver("r", "o", "127.0.0.1", server.port, Protocol.UDP, Role.SUBJECT, qps=50)
        engine = Engine([resolver], SETTINGS)
        asyncio.run(engine.observe("names", [(resolver, f"n{i}.test", "A") for i in range(10)]))
    span = max(arrivals) - min(arrivals)
    # 10 queries at 50/s need at least 9 intervals of 20 ms between the first and the last.
    assert span >= 9 * 0.02 * 0.8


def test_progress_events_count_up_to_the_total() -> None:
    events: list[ProgressEvent] = []
    with fake_dns(lambda q, t: respond(q, a=["198.51.100.1"])) as server:
        resolver = Resolver("r", "o", "127.0.0.1", server.port, Protocol.UDP, Role.SUBJECT)
        engine = Engine([resolver], SETTINGS, events.append)
        asyncio.run(engine.observe("names", [(resolver, f"n{i}.test", "A") for i in range(5)]))
    assert events[0] == ProgressEvent("names", 0, 5)
    assert events[-1] == ProgressEvent("names", 5, 5)
    assert [e.done for e in events] == sorted(e.done for e in events)


def test_qps_holds_for_retries_too() -> None:
    arrivals: list[float] = []

    def silent(q: dns.message.Message, transport: str) -> None:
        arrivals.append(time.monotonic())

    with fake_dns(silent) as server:
        resolver = Resolver("r", "o", "127.0.0.1", server.port, Protocol.UDP, Role.SUBJECT, qps=20)
        engine = Engine([resolver], ProbeSettings(timeout=0.05, retries=3, backoff=0.001))
        asyncio.run(engine.observe("names", [(resolver, f"n{i}.test", "A") for i in range(2)]))
    assert len(arrivals) == 8
    gaps = [b - a for a, b in zip(sorted(arrivals), sorted(arrivals)[1:], strict=False)]
    assert min(gaps) >= 0.05 * 0.8


def test_pacer_cuts_for_losses_among_answers_but_only_once_for_silence() -> None:
    """A rate limit loses some answers and lets others through: each loss after an answer halves
    the rate. A resolver gone silent loses every answer: one cut, not a spiral down to the floor
    that would make the rest of the run take hours."""
    from checker.engine import Pacer

    limited = Pacer(qps=1000)
    for _ in range(4):
        limited.answered()
        limited.timed_out()
    assert limited.rate is not None and limited.rate < 1000 / 8

    silent = Pacer(qps=1000)
    for _ in range(100):
        silent.timed_out()
    assert silent.rate == 500 and silent.lost == 100
    silent.answered()
    silent.timed_out()
    assert silent.rate is not None and silent.rate < 500  # answering again: losses count again


def test_pacer_without_a_cap_cuts_from_the_answers_of_the_last_second_not_a_burst() -> None:
    """A per-second rate limit lets ten answers through within a millisecond and drops the rest:
    the first loss cuts the rate to half of ten a second (the floor), not to half of the burst's
    thousands a second (the CI flake of the rate-limit lab, where one cut left 788 a second)."""
    from checker.engine import Pacer

    burst = Pacer(None)
    for _ in range(10):
        burst.answered()
    burst.timed_out()
    assert burst.rate == burst.floor and burst.slowest == burst.floor

    steady = Pacer(None)
    for _ in range(4000):
        steady.answered()
    steady.timed_out()
    assert steady.rate == 2000  # a fast resolver that loses one answer is slowed to half, not stopped


def test_a_run_collects_garbage_less_often_and_undoes_it_after() -> None:
    before = gc.get_threshold()
    with lean_gc():
        assert gc.get_threshold()[0] == GC_YOUNG
        assert gc.get_freeze_count() > 0  # what was alive at the start is out of the collector's way
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(KeyError), lean_gc():
        raise KeyError("a run that fails")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
