"""Table tests of the pure classifier: every rule, both kinds of name, health overrides, roll-ups."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest

from checker import classify
from checker.models import (
    BlockSignals,
    ExtendedError,
    Fingerprint,
    Health,
    Method,
    Observation,
    Query,
    QueryKind,
    Reason,
    Record,
    Result,
    Source,
    Status,
    Verdict,
)

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NAME = "site.test"


def obs(
    qtype: str = "A",
    rcode: str | None = "NOERROR",
    addrs: tuple[str, ...] = (),
    *,
    cname: str | None = None,
    ede: tuple[int, ...] = (),
    error: str | None = None,
    qname: str = NAME,
    resolver: str = "isp",
) -> Observation:
    answers: list[Record] = []
    owner = qname
    if cname:
        answers.append(Record(owner, "CNAME", 60, cname + "."))
        owner = cname
    answers += [Record(owner, "AAAA" if ":" in a else "A", 60, a) for a in addrs]
    return Observation(
        resolver=resolver, qname=qname, qtype=qtype, transport="udp", started_at=T0,
        elapsed_ms=1.0, attempts=1 if rcode else 3, rcode=rcode,
        answers=tuple(answers), ede=tuple(ExtendedError(c) for c in ede),
        error=error if rcode is None else None, wire=b"\x00" if rcode else None,
    )


def controls(a: tuple[str, ...] | str | None, aaaa: tuple[str, ...] | str | None = None) -> classify.NameView:
    """Control view: a tuple of addresses, 'NX', 'NODATA', 'FAIL', or None (same as 'NODATA')."""

    def one(qtype: str, spec: tuple[str, ...] | str | None) -> classify.ControlView:
        if spec == "NX":
            return classify.control_view([obs(qtype, "NXDOMAIN", resolver="ctl")])
        if spec == "FAIL":
            return classify.control_view([obs(qtype, None, error="timeout", resolver="ctl")])
        if spec in (None, "NODATA"):
            return classify.control_view([obs(qtype, "NOERROR", resolver="ctl")])
        assert isinstance(spec, tuple)
        return classify.control_view([obs(qtype, "NOERROR", spec, resolver="ctl")])

    return classify.NameView({"A": one("A", a), "AAAA": one("AAAA", aaaa)})


REAL = controls(("198.51.100.1",), ("2001:db8::1",))
V4ONLY = controls(("198.51.100.1",), "NODATA")
NX = controls("NX", "NX")
FAILED = controls("FAIL", "FAIL")
NOADDR = controls("NODATA", "NODATA")
PAGE = BlockSignals(addresses=frozenset({ipaddress.ip_address("203.0.113.10")}),
                    cnames=frozenset({"blocked.isp.example"}))
DROPS = BlockSignals(drop=True)
NONE = BlockSignals()

CASES = [
    # id, observation, controls, signals, verdict, method, reason
    ("timeout", obs(rcode=None, error="timeout"), REAL, NONE, Verdict.INCONCLUSIVE, None, Reason.TIMEOUT),
    ("timeout-declared-drop", obs(rcode=None, error="timeout"), REAL, DROPS, Verdict.BLOCKED, Method.DROP, None),
    ("timeout-drop-but-dead", obs(rcode=None, error="timeout"), NX, DROPS, Verdict.INCONCLUSIVE, None,
     Reason.TIMEOUT),
    ("network-error", obs(rcode=None, error="network_error: refused"), REAL, NONE, Verdict.INCONCLUSIVE, None,
     Reason.NETWORK_ERROR),
    ("servfail", obs(rcode="SERVFAIL"), REAL, NONE, Verdict.INCONCLUSIVE, None, Reason.SERVFAIL),
    ("servfail-with-ede-15", obs(rcode="SERVFAIL", ede=(15,)), REAL, NONE, Verdict.INCONCLUSIVE, None,
     Reason.SERVFAIL),
    ("refused-plain", obs(rcode="REFUSED"), REAL, NONE, Verdict.INCONCLUSIVE, None, Reason.REFUSED),
    ("refused-ede-other", obs(rcode="REFUSED", ede=(20,)), REAL, NONE, Verdict.INCONCLUSIVE, None, Reason.REFUSED),
    *[(f"refused-ede-{c}", obs(rcode="REFUSED", ede=(c,)), REAL, NONE, Verdict.BLOCKED, Method.REFUSED, None)
      for c in (15, 16, 17, 18)],
    ("formerr", obs(rcode="FORMERR"), REAL, NONE, Verdict.INCONCLUSIVE, None, Reason.RCODE),
    ("nxdomain-control-resolves", obs(rcode="NXDOMAIN"), REAL, NONE, Verdict.BLOCKED, Method.NXDOMAIN, None),
    ("nxdomain-control-nx", obs(rcode="NXDOMAIN"), NX, NONE, Verdict.DEAD, None, Reason.NOT_FOUND),
    ("nxdomain-control-noaddr", obs(rcode="NXDOMAIN"), NOADDR, NONE, Verdict.DEAD, None, Reason.NO_ADDRESS),
    ("nxdomain-control-failed", obs(rcode="NXDOMAIN"), FAILED, NONE, Verdict.INCONCLUSIVE, None,
     Reason.CONTROL_FAILED),
    ("nxdomain-aaaa-v4only-site", obs("AAAA", "NXDOMAIN"), V4ONLY, NONE, Verdict.BLOCKED, Method.NXDOMAIN, None),
    ("same-address", obs(addrs=("198.51.100.1",)), REAL, NONE, Verdict.ACCESSIBLE, None, None),
    ("one-shared-address", obs(addrs=("198.51.100.9", "198.51.100.1")), REAL, NONE, Verdict.ACCESSIBLE, None, None),
    ("cdn-cname-same-address", obs(addrs=("198.51.100.1",), cname="cdn.example"), REAL, NONE,
     Verdict.ACCESSIBLE, None, None),
    ("different-address", obs(addrs=("198.51.100.99",)), REAL, NONE, Verdict.INCONCLUSIVE, None,
     Reason.ANSWER_DIFFERS),
    ("address-controls-failed", obs(addrs=("198.51.100.1",)), FAILED, NONE, Verdict.INCONCLUSIVE, None,
     Reason.CONTROL_FAILED),
    ("address-controls-nx", obs(addrs=("198.51.100.1",)), NX, NONE, Verdict.INCONCLUSIVE, None,
     Reason.ANSWER_DIFFERS),
    ("sinkhole-v4", obs(addrs=("0.0.0.0",)), REAL, NONE, Verdict.BLOCKED, Method.SINKHOLE, None),
    ("sinkhole-loopback", obs(addrs=("127.0.0.1",)), REAL, NONE, Verdict.BLOCKED, Method.SINKHOLE, None),
    ("sinkhole-v6", obs("AAAA", addrs=("::",)), REAL, NONE, Verdict.BLOCKED, Method.SINKHOLE, None),
    ("sinkhole-v6-loopback", obs("AAAA", addrs=("::1",)), REAL, NONE, Verdict.BLOCKED, Method.SINKHOLE, None),
    ("sinkhole-is-real-answer", obs(addrs=("127.0.0.1",)), controls(("127.0.0.1",)), NONE, Verdict.DEAD, None,
     Reason.CONTROL_SINKHOLE),
    ("blockpage-address", obs(addrs=("203.0.113.10",)), REAL, PAGE, Verdict.BLOCKED, Method.BLOCKPAGE, None),
    ("blockpage-address-unconfigured", obs(addrs=("203.0.113.10",)), REAL, NONE, Verdict.INCONCLUSIVE, None,
     Reason.ANSWER_DIFFERS),
    ("blockpage-cname", obs(addrs=("203.0.113.99",), cname="blocked.isp.example"), REAL, PAGE, Verdict.BLOCKED,
     Method.BLOCKPAGE, None),
    ("blockpage-cname-nxdomain", obs(rcode="NXDOMAIN", cname="blocked.isp.example"), REAL, PAGE, Verdict.BLOCKED,
     Method.BLOCKPAGE, None),
    ("blockpage-and-real-address", obs(addrs=("203.0.113.10", "198.51.100.1")), REAL, PAGE, Verdict.ACCESSIBLE,
     None, None),
    ("sinkhole-for-name-that-does-not-exist", obs(addrs=("0.0.0.0",)), NX, NONE, Verdict.DEAD, None,
     Reason.NOT_FOUND),
    ("blockpage-for-name-that-does-not-exist", obs(addrs=("203.0.113.10",)), NX, PAGE, Verdict.DEAD, None,
     Reason.NOT_FOUND),
    ("refused-ede-for-name-without-address", obs(rcode="REFUSED", ede=(15,)), NOADDR, NONE, Verdict.DEAD, None,
     Reason.NO_ADDRESS),
    ("blockpage-controls-failed", obs(addrs=("203.0.113.10",)), FAILED, PAGE, Verdict.INCONCLUSIVE, None,
     Reason.CONTROL_FAILED),
    ("sinkhole-controls-failed", obs(addrs=("0.0.0.0",)), FAILED, NONE, Verdict.INCONCLUSIVE, None,
     Reason.CONTROL_FAILED),
    ("long-cname-chain", Observation(
        resolver="isp", qname=NAME, qtype="A", transport="udp", started_at=T0, elapsed_ms=1, attempts=1,
        rcode="NOERROR", answers=tuple(Record(f"c{i}.test" if i else NAME, "CNAME", 1, f"c{i + 1}.test.")
                                       for i in range(20))),
     REAL, NONE, Verdict.INCONCLUSIVE, None, Reason.ANSWER_DIFFERS),
    ("nodata-control-has-address", obs(), REAL, NONE, Verdict.BLOCKED, Method.NODATA, None),
    ("nodata-control-failed", obs(), FAILED, NONE, Verdict.INCONCLUSIVE, None, Reason.CONTROL_FAILED),
    ("nodata-control-nx", obs(), NX, NONE, Verdict.DEAD, None, Reason.NOT_FOUND),
    ("answers-for-another-name", Observation(
        resolver="isp", qname=NAME, qtype="A", transport="udp", started_at=T0, elapsed_ms=1, attempts=1,
        rcode="NOERROR", answers=(Record("other.test", "A", 60, "198.51.100.1"),)),
     REAL, NONE, Verdict.INCONCLUSIVE, None, Reason.ANSWER_DIFFERS),
    ("cname-to-nowhere-is-nodata", obs(cname="gone.cdn.test"), REAL, NONE, Verdict.BLOCKED, Method.NODATA, None),
]


@pytest.mark.parametrize(("observation", "view", "signals", "verdict", "method", "reason"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_judge_answer(observation: Observation, view: classify.NameView, signals: BlockSignals,
                      verdict: Verdict, method: Method | None, reason: Reason | None) -> None:
    outcome = classify.judge_answer(observation, view, signals)
    assert (outcome.verdict, outcome.method, outcome.reason) == (verdict, method, reason)
    assert outcome.detail.startswith(observation.qtype + ":")


def test_no_answer_is_never_a_block_without_drop() -> None:
    for error in ("timeout", "network_error: x"):
        for view in (REAL, NX, FAILED):
            outcome = classify.judge_answer(obs(rcode=None, error=error), view, PAGE)
            assert outcome.verdict is Verdict.INCONCLUSIVE


def test_aaaa_nodata_on_v4_only_site_is_neutral() -> None:
    outcome = classify.judge_answer(obs("AAAA"), V4ONLY, NONE)
    assert outcome.verdict is None


def test_nxdomain_rewriter_answer_for_dead_name_is_dead() -> None:
    outcome = classify.judge_answer(obs(addrs=("198.51.100.50",)), NX, NONE, rewrites_nxdomain=True)
    assert (outcome.verdict, outcome.reason) == (Verdict.DEAD, Reason.NOT_FOUND)


HEALTHY = Health("isp", healthy=True, healthy_after=True, rewrites_nxdomain=False, detail="ok")
SICK = Health("isp", healthy=False, healthy_after=None, rewrites_nxdomain=None, detail="canary failed")
BROKE_LATER = Health("isp", healthy=True, healthy_after=False, rewrites_nxdomain=False, detail="after")


def result(a: Observation, aaaa: Observation, view: classify.NameView, kind: QueryKind = QueryKind.ORDERED,
           signals: BlockSignals = NONE, health: Health = HEALTHY) -> Result:
    query = Query(NAME, NAME, kind, ("order-1",) if kind is not QueryKind.CANARY else ())
    return classify.classify(query, "isp", (a, aaaa), view, signals, health)


COMBINED = [
    ("both-blocked", obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), REAL, QueryKind.ORDERED, NONE, HEALTHY,
     Verdict.BLOCKED, Method.NXDOMAIN, None),
    ("v4-leaks-v6-blocked", obs(addrs=("198.51.100.1",)), obs("AAAA", "NXDOMAIN"), REAL, QueryKind.ORDERED, NONE,
     HEALTHY, Verdict.ACCESSIBLE, None, None),
    ("v6-leaks", obs(rcode="NXDOMAIN"), obs("AAAA", addrs=("2001:db8::1",)), REAL, QueryKind.ORDERED, NONE,
     HEALTHY, Verdict.ACCESSIBLE, None, None),
    ("blocked-and-timeout", obs(rcode="NXDOMAIN"), obs("AAAA", None, error="timeout"), REAL, QueryKind.ORDERED,
     NONE, HEALTHY, Verdict.INCONCLUSIVE, None, Reason.TIMEOUT),
    ("blockpage-a-nodata-aaaa", obs(addrs=("203.0.113.10",)), obs("AAAA"), REAL, QueryKind.ORDERED, PAGE, HEALTHY,
     Verdict.BLOCKED, Method.BLOCKPAGE, None),
    ("blockpage-v4only-site", obs(addrs=("203.0.113.10",)), obs("AAAA"), V4ONLY, QueryKind.ORDERED, PAGE, HEALTHY,
     Verdict.BLOCKED, Method.BLOCKPAGE, None),
    ("no-address-anywhere", obs(), obs("AAAA"), NOADDR, QueryKind.ORDERED, NONE, HEALTHY, Verdict.DEAD, None,
     Reason.NO_ADDRESS),
    ("dead-both", obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), NX, QueryKind.ORDERED, NONE, HEALTHY,
     Verdict.DEAD, None, Reason.NOT_FOUND),
    ("exemption-reachable", obs(addrs=("198.51.100.1",)), obs("AAAA", addrs=("2001:db8::1",)), REAL,
     QueryKind.EXEMPTION, NONE, HEALTHY, Verdict.ACCESSIBLE, None, None),
    ("exemption-blocked", obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), REAL, QueryKind.EXEMPTION, NONE,
     HEALTHY, Verdict.OVERBLOCKED, Method.NXDOMAIN, None),
    ("exemption-v6-blocked", obs(addrs=("198.51.100.1",)), obs("AAAA", addrs=("::",)), REAL, QueryKind.EXEMPTION,
     NONE, HEALTHY, Verdict.OVERBLOCKED, Method.SINKHOLE, None),
    ("canary-blocked", obs(addrs=("0.0.0.0",)), obs("AAAA", addrs=("::",)), REAL, QueryKind.CANARY, NONE,
     HEALTHY, Verdict.OVERBLOCKED, Method.SINKHOLE, None),
    ("unhealthy", obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), REAL, QueryKind.ORDERED, NONE, SICK,
     Verdict.INCONCLUSIVE, None, Reason.RESOLVER_UNHEALTHY),
    ("unhealthy-accessible", obs(addrs=("198.51.100.1",)), obs("AAAA"), REAL, QueryKind.ORDERED, NONE, SICK,
     Verdict.INCONCLUSIVE, None, Reason.RESOLVER_UNHEALTHY),
    ("broke-after-run-blocked", obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), REAL, QueryKind.ORDERED, NONE,
     BROKE_LATER, Verdict.INCONCLUSIVE, None, Reason.RESOLVER_UNHEALTHY),
    ("broke-after-run-accessible", obs(addrs=("198.51.100.1",)), obs("AAAA"), REAL, QueryKind.ORDERED, NONE,
     BROKE_LATER, Verdict.ACCESSIBLE, None, None),
]


@pytest.mark.parametrize(("a", "aaaa", "view", "kind", "signals", "health", "verdict", "method", "reason"),
                         [c[1:] for c in COMBINED], ids=[c[0] for c in COMBINED])
def test_classify_worst_of_a_and_aaaa(a: Observation, aaaa: Observation, view: classify.NameView,
                                      kind: QueryKind, signals: BlockSignals, health: Health,
                                      verdict: Verdict, method: Method | None, reason: Reason | None) -> None:
    res = result(a, aaaa, view, kind, signals, health)
    assert (res.verdict, res.method, res.reason) == (verdict, method, reason)
    assert res.observations == (a, aaaa)
    assert res.detail


def test_verdict_fields_are_consistent_over_every_case() -> None:
    for case in COMBINED:
        res = result(*case[1:7])  # type: ignore[arg-type]
        assert (res.method is not None) == (res.verdict in (Verdict.BLOCKED, Verdict.OVERBLOCKED))
        if res.reason is not None:
            assert res.verdict in (Verdict.INCONCLUSIVE, Verdict.DEAD)


# --------------------------------------------------------------------------- health


def canary(rcode: str | None, addrs: tuple[str, ...] = (), qname: str = "canary.test") -> Observation:
    return obs("A", rcode, addrs, qname=qname, error="timeout" if rcode is None else None)


NX_CONTROLS = classify.control_view([obs("A", "NXDOMAIN", qname="x.canary.test", resolver="ctl")])


@pytest.mark.parametrize(
    ("canaries", "nx_probe", "healthy", "rewrites"),
    [
        ([canary("NOERROR", ("198.51.100.1",))], obs("A", "NXDOMAIN", qname="x.canary.test"), True, False),
        ([canary(None)], obs("A", None, error="timeout", qname="x.canary.test"), False, None),
        ([canary("REFUSED")], obs("A", "REFUSED", qname="x.canary.test"), False, None),
        ([canary("SERVFAIL")], obs("A", "SERVFAIL", qname="x.canary.test"), False, None),
        ([canary("NOERROR", ("0.0.0.0",))], obs("A", "NXDOMAIN", qname="x.canary.test"), False, False),
        ([canary("NOERROR", ("198.51.100.1",))], obs("A", "NOERROR", ("198.51.100.66",), qname="x.canary.test"),
         True, True),
    ],
    ids=["healthy", "silent", "refuses", "servfail", "sinkholes-canary", "rewrites-nxdomain"],
)
def test_health(canaries: list[Observation], nx_probe: Observation, healthy: bool, rewrites: bool | None) -> None:
    health = classify.judge_health("isp", canaries, frozenset({"canary.test"}), nx_probe, NX_CONTROLS)
    assert (health.healthy, health.rewrites_nxdomain) == (healthy, rewrites)
    assert health.detail
    assert nx_probe in health.observations


def test_health_only_counts_canaries_the_controls_resolve() -> None:
    broken_everywhere = canary("SERVFAIL", qname="broken.test")
    good = canary("NOERROR", ("198.51.100.1",))
    health = classify.judge_health("isp", [good, broken_everywhere], frozenset({"canary.test"}), None, None)
    assert health.healthy


def test_health_after_run() -> None:
    good = canary("NOERROR", ("198.51.100.1",))
    health = classify.judge_health("isp", [good], frozenset({"canary.test"}), None, None, after=[canary(None)])
    assert health.healthy and health.healthy_after is False


# --------------------------------------------------------------------------- roll-ups


def test_rollup_and_counts() -> None:
    blocked = result(obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), REAL)
    leak = result(obs(addrs=("198.51.100.1",)), obs("AAAA"), REAL)
    unsure = result(obs(rcode=None, error="timeout"), obs("AAAA"), REAL)
    dead = result(obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), NX)
    exempt_ok = result(obs(addrs=("198.51.100.1",)), obs("AAAA", addrs=("2001:db8::1",)), REAL, QueryKind.EXEMPTION)
    exempt_v6_nodata = result(obs(addrs=("198.51.100.1",)), obs("AAAA"), REAL, QueryKind.EXEMPTION)
    assert exempt_v6_nodata.verdict is Verdict.ACCESSIBLE  # filter-aaaa is not an order's block
    over = result(obs(rcode="NXDOMAIN"), obs("AAAA", "NXDOMAIN"), REAL, QueryKind.EXEMPTION)
    assert classify.rollup([blocked, dead, exempt_ok]) is Status.COMPLIANT
    assert classify.rollup([blocked, unsure]) is Status.INCONCLUSIVE
    assert classify.rollup([unsure, leak]) is Status.NONCOMPLIANT
    assert classify.rollup([blocked, over]) is Status.NONCOMPLIANT
    assert classify.rollup([]) is Status.INCONCLUSIVE  # nothing ordered was checked
    assert classify.rollup([exempt_ok]) is Status.INCONCLUSIVE
    assert classify.counts([exempt_ok, over])["accessible"] == 0
    assert classify.counts([exempt_ok, over])["overblocked"] == 1
    assert classify.counts([blocked, leak, dead]) == {
        "blocked": 1, "accessible": 1, "inconclusive": 0, "dead": 1, "overblocked": 0}
    assert not classify.violates(exempt_ok)
    assert classify.violates(leak) and classify.violates(over)


def test_chain_ignores_loops_and_other_names() -> None:
    loop = Observation(
        resolver="isp", qname="a.test", qtype="A", transport="udp", started_at=T0, elapsed_ms=1, attempts=1,
        rcode="NOERROR", answers=(Record("a.test", "CNAME", 1, "b.test."), Record("b.test", "CNAME", 1, "a.test."),
                                  Record("c.test", "A", 1, "198.51.100.1")),
    )
    assert loop.chain() == ("a.test", "b.test")
    assert loop.addresses == ()


# --------------------------------------------------------------------------- documented block pages

AGCOM = Fingerprint(
    id="it-agcom", description="AGCOM block page", source=Source("https://example.org/agcom"),
    addresses=(ipaddress.ip_network("83.224.65.74/32"),),
)
CUII = Fingerprint(id="de-cuii", description="CUII notice", source=Source("https://example.org/cuii"),
                   cnames=("notice.cuii.info",))
KNOWN = BlockSignals(fingerprints=(AGCOM, CUII))


@pytest.mark.parametrize(
    ("case", "observation", "view", "verdict", "method", "says"),
    [
        ("address", obs(addrs=("83.224.65.74",)), REAL, Verdict.BLOCKED, Method.BLOCKPAGE, "it-agcom"),
        ("cname", obs(addrs=("198.51.100.9",), cname="notice.cuii.info"), REAL, Verdict.BLOCKED,
         Method.BLOCKPAGE, "de-cuii"),
        ("cname-below", obs(cname="x.notice.cuii.info"), REAL, Verdict.BLOCKED, Method.BLOCKPAGE, "de-cuii"),
        ("not-a-suffix", obs(addrs=("198.51.100.9",), cname="notnotice.cuii.info"), REAL, Verdict.INCONCLUSIVE,
         None, "none of which"),
        ("real-address-too", obs(addrs=("83.224.65.74", "198.51.100.1")), REAL, Verdict.ACCESSIBLE, None,
         "controls also give"),
        ("dead-name", obs(addrs=("83.224.65.74",)), NX, Verdict.DEAD, None, "does not exist"),
    ],
)
def test_fingerprints_are_block_signals(case: str, observation: Observation, view: classify.NameView,
                                        verdict: Verdict, method: Method | None, says: str) -> None:
    outcome = classify.judge_answer(observation, view, KNOWN)
    assert (outcome.verdict, outcome.method) == (verdict, method), (case, outcome)
    assert says in outcome.detail, outcome.detail


def test_fingerprints_only_count_when_given() -> None:
    outcome = classify.judge_answer(obs(addrs=("83.224.65.74",)), REAL, NONE)
    assert (outcome.verdict, outcome.reason) == (Verdict.INCONCLUSIVE, Reason.ANSWER_DIFFERS)
