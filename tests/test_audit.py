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
