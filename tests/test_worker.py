"""The names phase asked by a worker process: the same results as in one process, nothing lost or
doubled, the worker's traffic counted, and a worker that dies ends the run with an error, never a hang."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal

import dns.message
import dns.rcode
import pytest

from checker.audit import AuditSettings, audit
from checker.engine import ProgressEvent
from checker.models import (
    ExtendedError,
    Observation,
    Order,
    OrderSet,
    OrderType,
    Protocol,
    Record,
    Resolver,
    ResolverSet,
    Role,
    Run,
    Target,
    TargetKind,
    Verification,
)
from checker.orders.loader import merge
from checker.probe.client import ProbeSettings
from checker.worker import WorkerEngine, WorkerError, _fields, _observation, eligible
from tests.fakedns import fake_dns, respond

SETTINGS = AuditSettings(probe=ProbeSettings(timeout=0.5, retries=1, backoff=0.01), random_label=lambda: "nx-probe")
NAMES = [f"n{i}.site.test" for i in range(300)]


def address_of(name: str) -> str:
    n = int(name.split(".", maxsplit=1)[0][1:])
    return f"198.51.{n // 256}.{n % 256}"


def control(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    if name == "canary.test":
        return respond(q, a=["198.51.100.1"], aaaa=["2001:db8::1"])
    if name.endswith(".site.test"):
        return respond(q, a=[address_of(name)], aaaa=["2001:db8::2"])
    return respond(q, rcode=dns.rcode.NXDOMAIN, soa=True)


def subject(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    if name.endswith(".site.test") and int(name.split(".")[0][1:]) % 3 == 0:
        return respond(q, rcode=dns.rcode.NXDOMAIN)  # every third name blocked
    return control(q, transport)


def orders() -> OrderSet:
    order = Order(
        id="o", title="t", authority="a", jurisdiction="US", order_type=OrderType.OTHER,
        issued=dt.date(2026, 1, 1), verification=Verification.UNVERIFIED, valid_from=dt.date(2026, 1, 1),
        valid_until=None, path="o.yaml", targets=tuple(Target(TargetKind.DOMAIN, n) for n in NAMES),
    )
    return merge([order], dt.date(2026, 6, 1))


def resolver_set(subject_port: int, control_port: int) -> ResolverSet:
    return ResolverSet(
        resolvers=(Resolver("isp", "ISP", "127.0.0.1", subject_port, Protocol.UDP, Role.SUBJECT),
                   Resolver("ctl", "Control", "127.0.0.1", control_port, Protocol.UDP, Role.CONTROL)),
        canaries=("canary.test",),
    )


def check(worker_from: int | None, events: list[ProgressEvent] | None = None, workers: int = 2) -> Run:
    settings = dataclasses.replace(SETTINGS, worker_from=worker_from, workers=workers)
    with fake_dns(subject) as s, fake_dns(control) as c:
        return asyncio.run(audit(orders(), resolver_set(s.port, c.port), settings,
                                 observer=events.append if events is not None else None))


def summary(run: Run) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [(r.query.name, r.resolver, r.verdict.value, tuple(sorted(str(a) for o in r.observations
                                                                    for a in o.addresses)))
            for r in run.results]


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_same_results_as_one_process(workers: int) -> None:
    events: list[ProgressEvent] = []
    alone, split = check(None), check(0, events, workers)
    assert summary(split) == summary(alone)
    assert [r.verdict.value for r in split.results if r.query.name in NAMES].count("blocked") == 100
    for result in split.results:  # every answer is its own name's, A and AAAA each once
        assert sorted(o.qtype for o in result.observations) == ["A", "AAAA"]
        assert all(o.qname == result.query.name for o in result.observations)
        if result.verdict.value == "accessible" and result.query.name in NAMES:
            assert address_of(result.query.name) in {str(a) for o in result.observations for a in o.addresses}
    assert len(split.controls) == len(alone.controls)
    names = [e for e in events if e.phase == "names"]
    assert names[-1].done == names[-1].total == len(NAMES) * 4  # A and AAAA at the subject and the control
    traffic = split.settings["traffic"]
    assert isinstance(traffic, dict)
    for name in ("isp", "ctl"):  # the worker's names and the main process's health and re-checks
        assert traffic[name]["sent"] == traffic[name]["accepted"] >= len(NAMES) * 2
        assert traffic[name]["sockets"] == 2 and traffic[name]["lost_answers"] == 0  # a worker's and ours
    usage = split.settings["worker"]
    assert isinstance(usage, dict) and usage["peak_rss_mib"] > 0 and usage["cpu_s"] > 0
    assert alone.settings["worker"] is None


def test_no_worker_below_its_threshold_when_told_so_or_for_resolvers_it_cannot_ask() -> None:
    for run in (check(10_000), check(0, workers=0)):
        traffic = run.settings["traffic"]
        assert isinstance(traffic, dict) and traffic["isp"]["sockets"] == 1 and run.settings["worker"] is None
    plain = Resolver("a", "A", "127.0.0.1", 53, Protocol.UDP, Role.SUBJECT)
    assert eligible([plain])
    assert not eligible([plain, dataclasses.replace(plain, qps=100.0)])
    assert not eligible([dataclasses.replace(plain, protocol=Protocol.DOT)])


def test_observations_cross_to_the_main_process_whole() -> None:
    obs = Observation(
        resolver="isp", qname="a.test", qtype="A", transport="udp", started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        elapsed_ms=1.5, attempts=2, rcode="NOERROR", flags=("qr", "rd"),
        answers=(Record("a.test", "A", 60, "192.0.2.1"),), authority=(Record("test", "SOA", 60, "x"),),
        ede=(ExtendedError(15, "Blocked"),), error=None, wire=b"\x00\x01", rejected=1,
    )
    assert _observation(_fields(obs)) == obs
    bare = Observation(resolver="isp", qname="a.test", qtype="AAAA", transport="udp",
                       started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), elapsed_ms=2.0, attempts=3, error="timeout")
    assert _observation(_fields(bare)) == bare


def test_a_worker_that_dies_ends_the_stream_with_an_error() -> None:
    async def run(port: int) -> None:
        resolver = Resolver("isp", "ISP", "127.0.0.1", port, Protocol.UDP, Role.SUBJECT)
        async with WorkerEngine([resolver], SETTINGS.probe, window=64) as engine:
            pid = engine._children[0].process.pid

            def questions():  # the worker is killed while questions are still being fed
                for i in range(5000):
                    if i == 200:
                        os.kill(pid, signal.SIGKILL)
                    yield resolver, f"n{i}.site.test", "A"

            await asyncio.wait_for(engine.stream("names", questions(), lambda o: None), 30)

    def slow(q: dns.message.Message, transport: str) -> dns.message.Message:
        return control(q, transport)

    with fake_dns(slow) as server, pytest.raises(WorkerError, match="stopped"):
        asyncio.run(run(server.port))


@pytest.mark.parametrize("value", ["-1", "x", "65", "1.5"])
def test_a_bad_worker_count_is_refused_with_exit_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from checker.cli import main

    assert main(["check", "--workers", value]) == 2
    err = capsys.readouterr().err
    assert "argument --workers:" in err and "whole number from 0 to 64" in err and "Traceback" not in err


def test_the_worker_reports_its_own_peak_not_the_one_it_was_forked_from() -> None:
    """``VmHWM`` counts from ``exec``; ``ru_maxrss`` would carry the main process's size over."""
    import resource

    from checker.worker import peak_rss_kib

    used = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/status", encoding="ascii") as status:
        hwm = next(float(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    assert 0 < peak_rss_kib(used) <= hwm * 1.1 + 1024
