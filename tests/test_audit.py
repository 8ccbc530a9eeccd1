"""The audit phases against loopback fake servers: health, skipping, recheck, control failure."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable

import dns.message
import dns.rcode

from checker.audit import AuditSettings, audit
from checker.models import (
    Order,
    OrderType,
    Protocol,
    Reason,
    Resolver,
    ResolverSet,
    Role,
    Run,
    Target,
    TargetKind,
    Verdict,
    Verification,
)
from checker.orders.loader import merge
from checker.probe.client import ProbeSettings
from tests.fakedns import fake_dns, respond

ZONE = {
    "canary.test": ("198.51.100.1", "2001:db8::1"),
    "site.test": ("198.51.100.2", "2001:db8::2"),
    "www.site.test": ("198.51.100.2", "2001:db8::2"),
    "ok.test": ("198.51.100.3", "2001:db8::3"),
}
FAST = AuditSettings(probe=ProbeSettings(timeout=0.2, retries=0, backoff=0.01),
                     random_label=lambda: "nx-probe")


def authoritative(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    if name not in ZONE:
        return respond(q, rcode=dns.rcode.NXDOMAIN, soa=True)
    v4, v6 = ZONE[name]
    return respond(q, a=[v4], aaaa=[v6])


def blocking(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    if name.endswith("site.test"):
        return respond(q, rcode=dns.rcode.NXDOMAIN)
    return authoritative(q, transport)


def order() -> Order:
    return Order(
        id="o", title="t", authority="a", jurisdiction="US", order_type=OrderType.OTHER,
        issued=dt.date(2026, 1, 1), verification=Verification.UNVERIFIED, valid_from=dt.date(2026, 1, 1),
        valid_until=None, path="o.yaml",
        targets=(Target(TargetKind.DOMAIN, "site.test", subdomains=True),
                 Target(TargetKind.DOMAIN, "gone.test")),
        exemptions=(Target(TargetKind.DOMAIN, "ok.test"),),
    )


def run_audit(subject: Callable[..., object], control: Callable[..., object] = authoritative) -> Run:
    with fake_dns(subject) as s, fake_dns(control) as c:  # type: ignore[arg-type]
        resolvers = ResolverSet(
            resolvers=(
                Resolver("isp", "ISP", "127.0.0.1", s.port, Protocol.UDP, Role.SUBJECT),
                Resolver("ctl", "Control", "127.0.0.1", c.port, Protocol.UDP, Role.CONTROL),
            ),
            canaries=("canary.test",),
        )
        return asyncio.run(audit(merge([order()], dt.date(2026, 6, 1)), resolvers, FAST))


def verdicts(run: Run) -> dict[str, tuple[str, str | None]]:
    return {r.query.name: (r.verdict.value, (r.method or r.reason or None) and str((r.method or r.reason).value))
            for r in run.results}


def test_blocking_resolver() -> None:
    run = run_audit(blocking)
    assert verdicts(run) == {
        "site.test": ("blocked", "nxdomain"),
        "www.site.test": ("blocked", "nxdomain"),
        "gone.test": ("dead", "not_found"),
        "ok.test": ("accessible", None),
        "canary.test": ("accessible", None),
    }
    health = {h.resolver: h for h in run.health}
    assert health["isp"].healthy and health["isp"].healthy_after and health["isp"].rewrites_nxdomain is False
    assert all(r.observations for r in run.results)
    assert {o.resolver for o in run.controls} == {"ctl"}


def test_silent_resolver_is_unhealthy_and_not_asked_the_names() -> None:
    asked: list[str] = []

    def silent(q: dns.message.Message, transport: str) -> None:
        asked.append(str(q.question[0].name).rstrip("."))

    run = run_audit(silent)
    assert {r.verdict for r in run.results} == {Verdict.INCONCLUSIVE}
    assert {r.reason for r in run.results} == {Reason.RESOLVER_UNHEALTHY}
    assert "site.test" not in asked and "canary.test" in asked


def test_refusing_resolver_is_inconclusive_even_with_blocking_ede() -> None:
    run = run_audit(lambda q, t: respond(q, rcode=dns.rcode.REFUSED, ede=15))
    assert {r.verdict for r in run.results} == {Verdict.INCONCLUSIVE}


def test_nxdomain_rewriting_is_reported() -> None:
    def rewriter(q: dns.message.Message, transport: str) -> dns.message.Message:
        name = str(q.question[0].name).rstrip(".")
        if name.endswith("site.test"):
            return respond(q, rcode=dns.rcode.NXDOMAIN)
        if name not in ZONE:
            return respond(q, a=["198.51.100.200"], aaaa=["2001:db8::200"])
        return authoritative(q, transport)

    run = run_audit(rewriter)
    health = {h.resolver: h for h in run.health}
    assert health["isp"].rewrites_nxdomain is True
    assert "rewrites NXDOMAIN" in health["isp"].detail
    assert verdicts(run)["gone.test"] == ("dead", "not_found")
    assert verdicts(run)["site.test"] == ("blocked", "nxdomain")


def test_failed_controls_make_nxdomain_inconclusive() -> None:
    run = run_audit(blocking, control=lambda q, t: None)
    found = verdicts(run)
    assert found["site.test"] == ("inconclusive", "control_failed")
    assert found["gone.test"] == ("inconclusive", "control_failed")


def test_resolver_that_breaks_mid_run_loses_its_blocks() -> None:
    lock = threading.Lock()
    state = {"canaries": 0}

    def breaks(q: dns.message.Message, transport: str) -> dns.message.Message | None:
        name = str(q.question[0].name).rstrip(".")
        if name == "canary.test" and q.question[0].rdtype == 1:
            with lock:
                state["canaries"] += 1
                if state["canaries"] > 1:
                    return None  # the recheck after the run times out
        return blocking(q, transport)

    run = run_audit(breaks)
    found = verdicts(run)
    assert found["site.test"] == ("inconclusive", "resolver_unhealthy")
    assert found["ok.test"] == ("accessible", None)


class Gathering:
    """An Output that keeps what it is handed, in order."""

    def __init__(self) -> None:
        self.results: list[object] = []
        self.controls: list[object] = []

    def result(self, result: object) -> None:
        self.results.append(result)

    def control(self, observation: object) -> None:
        self.controls.append(observation)


def many_names_order(count: int) -> Order:
    return Order(
        id="o", title="t", authority="a", jurisdiction="US", order_type=OrderType.OTHER,
        issued=dt.date(2026, 1, 1), verification=Verification.UNVERIFIED, valid_from=dt.date(2026, 1, 1),
        valid_until=None, path="o.yaml",
        targets=tuple(Target(TargetKind.DOMAIN, f"n{i:03d}.site.test") for i in range(count)),
    )


def wide_zone(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    if name.endswith(".site.test"):
        return respond(q, a=["198.51.100.9"], aaaa=["2001:db8::9"])
    return authoritative(q, transport)


def test_streamed_results_come_in_batches_and_a_failed_recheck_distrusts_only_its_batch() -> None:
    """40 names, a re-check every 10: the subject fails exactly its second re-check. The blocks of
    the second batch are distrusted; the batches before and after it stand."""
    lock = threading.Lock()
    state = {"canaries": 0}

    def flaky(q: dns.message.Message, transport: str) -> dns.message.Message | None:
        name = str(q.question[0].name).rstrip(".")
        if name == "canary.test" and q.question[0].rdtype == 1:
            with lock:
                state["canaries"] += 1
                if state["canaries"] == 3:  # health, re-check 1, then re-check 2 fails
                    return None
        if name.endswith(".site.test"):
            return respond(q, rcode=dns.rcode.NXDOMAIN)
        return authoritative(q, transport)

    out = Gathering()
    settings = AuditSettings(probe=ProbeSettings(timeout=0.2, retries=0, backoff=0.01),
                             random_label=lambda: "nx-probe", recheck_every=10)
    with fake_dns(flaky) as s, fake_dns(wide_zone) as c:
        resolvers = ResolverSet(
            resolvers=(
                Resolver("isp", "ISP", "127.0.0.1", s.port, Protocol.UDP, Role.SUBJECT, concurrency=1),
                Resolver("ctl", "Control", "127.0.0.1", c.port, Protocol.UDP, Role.CONTROL, concurrency=1),
            ),
            canaries=("canary.test",),
        )
        run = asyncio.run(audit(merge([many_names_order(40)], dt.date(2026, 6, 1)), resolvers, settings,
                                output=out))
    assert run.results == () and run.controls == ()
    results = out.results
    ordered = [r for r in results if r.query.kind.value == "ordered"]  # type: ignore[attr-defined]
    assert len(ordered) == 40 and len({r.query.name for r in ordered}) == 40  # type: ignore[attr-defined]
    distrusted = [r for r in ordered if r.verdict is Verdict.INCONCLUSIVE]  # type: ignore[attr-defined]
    assert 5 <= len(distrusted) <= 15, len(distrusted)  # one batch, about recheck_every names
    assert all(r.reason is Reason.RESOLVER_UNHEALTHY for r in distrusted)  # type: ignore[attr-defined]
    assert sum(1 for r in ordered if r.verdict is Verdict.BLOCKED) == 40 - len(distrusted)  # type: ignore[attr-defined]
    assert run.settings["rechecks"] >= 4
    health = {h.resolver: h for h in run.health}["isp"]
    assert health.healthy_after is True and "canary failed at re-check 2" in health.detail
    assert len(out.controls) == 2 + 2 * 40 + 1  # health canary A/AAAA + names A/AAAA + nx probe


def test_results_are_the_same_streamed_or_kept() -> None:
    settings = AuditSettings(probe=ProbeSettings(timeout=0.2, retries=0, backoff=0.01),
                             random_label=lambda: "nx-probe", recheck_every=7)
    with fake_dns(blocking) as s, fake_dns(wide_zone) as c:
        resolvers = ResolverSet(
            resolvers=(
                Resolver("isp", "ISP", "127.0.0.1", s.port, Protocol.UDP, Role.SUBJECT),
                Resolver("ctl", "Control", "127.0.0.1", c.port, Protocol.UDP, Role.CONTROL),
            ),
            canaries=("canary.test",),
        )
        orders = merge([many_names_order(30)], dt.date(2026, 6, 1))
        kept = asyncio.run(audit(orders, resolvers, settings))
        out = Gathering()
        asyncio.run(audit(orders, resolvers, settings, output=out))

    def key(r: object) -> tuple[str, str, str | None]:
        return (r.query.name, r.verdict.value, r.reason.value if r.reason else None)  # type: ignore[attr-defined]

    assert sorted(map(key, kept.results)) == sorted(map(key, out.results))
    assert len(kept.controls) == len(out.controls)
