"""Hostile DNS end to end: ``checker.audit`` and ``blockaudit check`` against a hostile subject and
an honest control, down to the verdict. A forged or broken packet never makes a name ``blocked``;
the verdict follows the real answer, or is ``inconclusive`` with a named reason."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import ipaddress
import json
import threading
from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from checker import classify
from checker.audit import AuditSettings, audit
from checker.cli import ExitStatus, main
from checker.models import (
    BlockSignals,
    Observation,
    Order,
    OrderType,
    Protocol,
    Record,
    Resolver,
    ResolverSet,
    Result,
    Role,
    Run,
    Target,
    TargetKind,
    Verification,
)
from checker.orders.loader import merge
from checker.probe.client import ProbeSettings
from tests.fakedns import Packets, Reply, fake_dns, respond
from tests.probe.test_hostile_dns import (
    GARBAGE,
    REAL,
    asked_otherwise,
    forged_nx,
    loop_packet,
    many_addresses,
    no_question_refused_ede,
    real,
    wrong_id,
)
from tests.test_audit import authoritative

BLOCK_ADDRESS = "203.0.113.10"
BLOCK_CNAME = "blocked.isp.example"
SETTINGS = AuditSettings(probe=ProbeSettings(timeout=0.3, retries=1, backoff=0.01), random_label=lambda: "nx-probe")

Behaviour = Callable[[dns.message.Message, str, int], Reply]
"""(query, transport, how many times this question was asked before) -> what the subject sends."""


def block_page(q: dns.message.Message) -> bytes:
    """What the subject's own block page answer looks like (its declared address and CNAME)."""
    return respond(q, a=[BLOCK_ADDRESS], aaaa=["::"], cname=BLOCK_CNAME).to_wire()


def other_owner(q: dns.message.Message) -> dns.message.Message:
    """The question echoed, and every block signal there is, but on records of other names."""
    response = respond(q)
    response.answer.append(dns.rrset.from_text_list("elsewhere.test.", 60, "IN", "A", ["0.0.0.0", BLOCK_ADDRESS]))
    response.answer.append(dns.rrset.from_text("elsewhere.test.", 60, "IN", "AAAA", "::"))
    response.answer.append(dns.rrset.from_text("other.test.", 60, "IN", "CNAME", BLOCK_CNAME + "."))
    return response


def cnames(q: dns.message.Message, targets: list[str], address: str | None = None) -> dns.message.Message:
    response = respond(q)
    owner = str(q.question[0].name)
    for target in targets:
        response.answer.append(dns.rrset.from_text(owner, 60, "IN", "CNAME", target + "."))
        owner = target + "."
    if address is not None:
        response.answer.append(dns.rrset.from_text(owner, 60, "IN", "A", address))
    return response


@functools.cache
def _huge(qname: str) -> bytes:
    return many_addresses(dns.message.make_query(qname, "A"), 4090).to_wire(max_size=65535)


def huge_over_tcp(q: dns.message.Message, transport: str, nth: int) -> Reply:
    if transport == "udp":
        return respond(q, tc=True)
    if q.question[0].rdtype == dns.rdatatype.AAAA:
        return real(q)
    return q.id.to_bytes(2, "big") + _huge(str(q.question[0].name))[2:]  # made before the run: no GIL stall


def late_then(first: Callable[[dns.message.Message], bytes], then: Callable[[dns.message.Message], bytes],
              ) -> Behaviour:
    """The first attempt's reply comes 0.8 s late (the timeout is 0.3 s); the retry's comes at once."""

    def behave(q: dns.message.Message, transport: str, nth: int) -> Reply:
        return Packets([first(q)], delays=[0.8]) if nth == 0 else then(q)

    return behave


def nxdomain(q: dns.message.Message) -> bytes:
    return respond(q, rcode=dns.rcode.NXDOMAIN, soa=True).to_wire()


ACCESSIBLE = ("accessible", None)
TIMEOUT = ("inconclusive", "timeout")
DIFFERS = ("inconclusive", "answer_differs")
NXDOMAIN = ("blocked", "nxdomain")

CASES: dict[str, tuple[Behaviour, tuple[str, str | None], tuple[str, str | None]]] = {
    # name: (what the subject does, verdict from a subject with block addresses, from one with drop: true)
    "nx-from-other-port": (lambda q, t, n: Packets([forged_nx(q), real(q)], from_other_port=[True, False]),
                           ACCESSIBLE, ACCESSIBLE),
    "nx-from-other-address": (lambda q, t, n: Packets([forged_nx(q), real(q)], from_address=["127.0.0.2", None]),
                              ACCESSIBLE, ACCESSIBLE),
    "nx-wrong-id": (lambda q, t, n: Packets([wrong_id(q), real(q)]), ACCESSIBLE, ACCESSIBLE),
    "refused-ede-no-question": (lambda q, t, n: Packets([no_question_refused_ede(q), real(q)]),
                                ACCESSIBLE, ACCESSIBLE),
    "page-other-question": (lambda q, t, n: Packets([asked_otherwise(name=BLOCK_CNAME)(q), block_page(q)[:-1],
                                                     real(q)]), ACCESSIBLE, ACCESSIBLE),
    "page-wrong-id": (lambda q, t, n: Packets([bytes([q.id >> 8 ^ 0xFF, q.id & 0xFF]) + block_page(q)[2:], real(q)]),
                      ACCESSIBLE, ACCESSIBLE),
    "real-from-other-port-then-nx": (lambda q, t, n: Packets([real(q), nxdomain(q)], from_other_port=[True, False]),
                                     NXDOMAIN, NXDOMAIN),
    "garbage-only": (lambda q, t, n: GARBAGE["ones"](q), TIMEOUT, TIMEOUT),
    "cut-short-nx-only": (lambda q, t, n: forged_nx(q)[:-1], TIMEOUT, TIMEOUT),
    "pointer-loop-nx-only": (lambda q, t, n: loop_packet(q, "A to B to A"), TIMEOUT, TIMEOUT),
    "other-question-nx-only": (lambda q, t, n: asked_otherwise(name="other.test")(q), TIMEOUT, TIMEOUT),
    # A reply with the wrong ID is nobody's answer (it cannot be told from a late one): the
    # question got silence, and silence is what the resolver declares a block to be.
    "wrong-id-nx-only": (lambda q, t, n: wrong_id(q), TIMEOUT, ("blocked", "drop")),
    "silent": (lambda q, t, n: None, TIMEOUT, ("blocked", "drop")),
    "records-for-other-owner": (lambda q, t, n: other_owner(q), DIFFERS, DIFFERS),
    "cname-loop": (lambda q, t, n: cnames(q, ["a.loop.test", "b.loop.test", "a.loop.test"]), DIFFERS, DIFFERS),
    "cname-to-itself": (lambda q, t, n: cnames(q, [str(q.question[0].name).rstrip(".")]), DIFFERS, DIFFERS),
    "cname-chain-of-40": (lambda q, t, n: cnames(q, [f"hop{i}.test" for i in range(40)], REAL), DIFFERS, DIFFERS),
    "truncated-even-over-tcp": (lambda q, t, n: respond(q, tc=True), DIFFERS, DIFFERS),
    # The resolver answered (truncated) and TCP then gave nothing: not the silence of a drop.
    "truncated-then-tcp-silent": (lambda q, t, n: respond(q, tc=True) if t == "udp" else None,
                                  ("inconclusive", "network_error"), ("inconclusive", "network_error")),
    "late-nx-then-real": (late_then(forged_nx, real), ACCESSIBLE, ACCESSIBLE),
    "late-real-then-nx": (late_then(real, nxdomain), NXDOMAIN, NXDOMAIN),
}


def case_of(q: dns.message.Message) -> str | None:
    name = str(q.question[0].name).rstrip(".").lower()
    stem = name.removesuffix(".test")
    return stem if stem in CASES or stem in HUGE else None


HUGE: dict[str, tuple[Behaviour, tuple[str, str | None], tuple[str, str | None]]] = {
    "huge-over-tcp": (huge_over_tcp, ACCESSIBLE, ACCESSIBLE),
}
"""Run on their own, with a longer timeout: 64 KiB over TCP is slow on a busy machine."""


def hostile_subject() -> Callable[[dns.message.Message, str], Reply]:
    """Honest for the canaries and everything else; each ordered name gets its case's treatment."""
    asked: dict[tuple[str, int, str], int] = {}
    lock = threading.Lock()

    def handler(q: dns.message.Message, transport: str) -> Reply:
        case = case_of(q)
        if case is None:
            return authoritative(q, transport)
        key = (case, q.question[0].rdtype, transport)
        with lock:
            nth = asked.get(key, 0)
            asked[key] = nth + 1
        return (CASES.get(case) or HUGE[case])[0](q, transport, nth)

    return handler


def control(q: dns.message.Message, transport: str) -> dns.message.Message:
    if case_of(q) is not None:
        return respond(q, a=[REAL], aaaa=["2001:db8::2"])
    return authoritative(q, transport)


def order(names: list[str]) -> Order:
    return Order(
        id="hostile", title="t", authority="a", jurisdiction="US", order_type=OrderType.OTHER,
        issued=dt.date(2026, 1, 1), verification=Verification.UNVERIFIED, valid_from=dt.date(2026, 1, 1),
        valid_until=None, path="hostile.yaml",
        targets=tuple(Target(TargetKind.DOMAIN, f"{name}.test") for name in names),
    )


SIGNALS = BlockSignals(addresses=frozenset({ipaddress.ip_address(BLOCK_ADDRESS)}), cnames=frozenset({BLOCK_CNAME}))


def audit_all(names: list[str], settings: AuditSettings) -> Run:
    """One audit of ``names`` by a subject that declares block addresses and one that drops."""
    signals = SIGNALS
    with fake_dns(hostile_subject()) as isp, fake_dns(hostile_subject()) as dropper, fake_dns(control) as ctl:
        resolvers = ResolverSet(
            resolvers=(
                Resolver("isp", "ISP", "127.0.0.1", isp.port, Protocol.UDP, Role.SUBJECT, block=signals,
                         concurrency=128),
                Resolver("dropper", "ISP", "127.0.0.1", dropper.port, Protocol.UDP, Role.SUBJECT,
                         block=BlockSignals(drop=True), concurrency=128),
                Resolver("ctl", "Control", "127.0.0.1", ctl.port, Protocol.UDP, Role.CONTROL, concurrency=128),
            ),
            canaries=("canary.test",),
        )
        return asyncio.run(audit(merge([order(names)], dt.date(2026, 6, 1)), resolvers, settings))


@pytest.fixture(scope="module")
def run() -> Run:
    """Every case of ``CASES`` in one audit."""
    return audit_all(sorted(CASES), SETTINGS)


@pytest.fixture(scope="module")
def huge_run() -> Run:
    _huge("huge-over-tcp.test.")  # made before the run: building it would stall the loop (the GIL)
    return audit_all(sorted(HUGE), AuditSettings(probe=ProbeSettings(timeout=3.0, retries=0),
                                                 random_label=lambda: "nx-probe"))


@pytest.mark.parametrize("case", sorted(HUGE))
def test_huge_verdicts(huge_run: Run, case: str) -> None:
    _, expected, expected_drop = HUGE[case]
    assert verdict(result_for(huge_run, "isp", case)) == expected
    assert verdict(result_for(huge_run, "dropper", case)) == expected_drop
    for obs in result_for(huge_run, "isp", case).observations:
        assert obs.transport == "tcp" and obs.wire is not None


def verdict(result: Result) -> tuple[str, str | None]:
    why = result.method or result.reason
    return result.verdict.value, why.value if why is not None else None


def result_for(run: Run, resolver: str, case: str) -> Result:
    return next(r for r in run.results if r.resolver == resolver and r.query.name == f"{case}.test")


def test_both_subjects_are_healthy(run: Run) -> None:
    assert {h.resolver: h.healthy for h in run.health} == {"isp": True, "dropper": True, "ctl": True}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdict(run: Run, case: str) -> None:
    _, expected, _ = CASES[case]
    result = result_for(run, "isp", case)
    assert verdict(result) == expected, result.detail


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdict_when_the_resolver_declares_drop(run: Run, case: str) -> None:
    _, _, expected = CASES[case]
    result = result_for(run, "dropper", case)
    assert verdict(result) == expected, result.detail


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_evidence_is_the_accepted_answer_or_nothing(run: Run, case: str) -> None:
    for resolver in ("isp", "dropper"):
        for obs in result_for(run, resolver, case).observations:
            if obs.rcode is None:
                assert obs.wire is None and obs.answers == () and obs.error is not None
                continue
            assert obs.wire is not None and obs.error is None
            parsed = dns.message.from_wire(obs.wire, ignore_trailing=True)
            assert dns.rcode.to_text(parsed.rcode()) == obs.rcode
            assert str(parsed.question[0].name).rstrip(".") == obs.qname


def test_rejected_replies_are_counted_and_named_in_the_detail(run: Run) -> None:
    for case in ("garbage-only", "cut-short-nx-only", "pointer-loop-nx-only", "other-question-nx-only"):
        for resolver in ("isp", "dropper"):
            result = result_for(run, resolver, case)
            # Each attempt got its broken reply (one may come late, and be stray, on a busy machine).
            assert all(1 <= o.rejected <= o.attempts == 2 for o in result.observations), case
            assert "replies rejected" in result.detail
    assert all(o.rejected == 0 for o in result_for(run, "dropper", "silent").observations)


def test_no_forged_or_broken_reply_ever_makes_a_name_blocked(run: Run) -> None:
    blocked = {(r.resolver, r.query.name) for r in run.results if r.verdict.value == "blocked"}
    assert blocked == {
        (resolver, f"{case}.test") for case in ("real-from-other-port-then-nx", "late-real-then-nx")
        for resolver in ("isp", "dropper")
    } | {("dropper", "silent.test"), ("dropper", "wrong-id-nx-only.test")}


# --------------------------------------------------------------------------- the command line


def write_inputs(tmp_path: Path, names: list[str], subject_port: int, control_port: int) -> tuple[Path, Path]:
    order_file = tmp_path / "order.yaml"
    order_file.write_text(
        "schema: blockaudit/order/1\nid: hostile\ntitle: Hostile\nauthority: Test court\njurisdiction: US\n"
        "order_type: other\nissued: 2026-01-01\nverification: unverified\n"
        f"targets: [{', '.join('{domain: ' + n + '.test}' for n in names)}]\n"
    )
    resolvers = tmp_path / "resolvers.yaml"
    resolvers.write_text(
        "schema: blockaudit/resolvers/1\nresolvers:\n"
        f"  - {{name: isp, operator: ISP, address: '127.0.0.1:{subject_port}', role: subject,\n"
        f"     block: {{addresses: [{BLOCK_ADDRESS}], cnames: [{BLOCK_CNAME}]}}}}\n"
        f"  - {{name: ctl, address: '127.0.0.1:{control_port}', role: control}}\n"
        "canaries: [canary.test]\n"
    )
    return order_file, resolvers


@pytest.mark.parametrize(
    ("names", "status", "verdicts"),
    [
        (["nx-from-other-port", "page-wrong-id"], ExitStatus.VIOLATION, {"accessible"}),
        (["garbage-only", "pointer-loop-nx-only"], ExitStatus.INCONCLUSIVE, {"inconclusive"}),
        (["real-from-other-port-then-nx"], ExitStatus.COMPLIANT, {"blocked"}),
    ],
    ids=["forged-blocks-then-real-answers", "only-garbage", "forged-answer-then-real-block"],
)
def test_check_exit_status_follows_the_real_answers(tmp_path: Path, names: list[str], status: ExitStatus,
                                                    verdicts: set[str]) -> None:
    report = tmp_path / "report.json"
    with fake_dns(hostile_subject()) as s, fake_dns(control) as c:
        order_file, resolvers = write_inputs(tmp_path, names, s.port, c.port)
        code = main(["check", str(order_file), "--resolvers", str(resolvers), "--timeout", "0.3", "--retries", "1",
                     "--report", f"json:{report}", "-q"])
    assert code == status
    results = [r for r in json.loads(report.read_text())["results"] if r["kind"] == "ordered"]
    assert {r["verdict"] for r in results} == verdicts
    for result in results:
        for obs in result["observations"]:
            if result["verdict"] == "inconclusive":
                assert result["reason"] == "timeout" and obs["rcode"] is None and obs["wire"] is None
                assert obs["rejected"] >= 1
            else:
                assert obs["wire"] and obs["rcode"] in ("NOERROR", "NXDOMAIN")


# --------------------------------------------------------------------------- the judgement alone


def observation(qtype: str = "A", **fields: object) -> Observation:
    return Observation("isp", "site.test", qtype, "udp", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1.0, 2,
                       **fields)  # type: ignore[arg-type]


RESOLVES = classify.NameView({
    qtype: classify.control_view([observation(qtype, rcode="NOERROR",
                                              answers=(Record("site.test", qtype, 60, address),))])
    for qtype, address in (("A", REAL), ("AAAA", "2001:db8::2"))
})


@pytest.mark.parametrize(
    ("obs", "signals", "expected"),
    [
        (observation(error="timeout"), BlockSignals(drop=True), ("blocked", "drop")),
        (observation(error="timeout", rejected=2), BlockSignals(drop=True), ("inconclusive", "timeout")),
        (observation(error="timeout", rejected=2), BlockSignals(), ("inconclusive", "timeout")),
        (observation(rcode="NOERROR", flags=("qr", "rd", "ra")), BlockSignals(), ("blocked", "nodata")),
        (observation(rcode="NOERROR", flags=("qr", "tc", "rd", "ra")), BlockSignals(),
         ("inconclusive", "answer_differs")),
        (observation(rcode="NXDOMAIN", flags=("qr", "tc", "rd", "ra")), BlockSignals(), ("blocked", "nxdomain")),
        (observation(rcode="NOERROR", flags=("qr", "tc"), answers=(Record("site.test", "A", 60, "0.0.0.0"),)),
         BlockSignals(), ("blocked", "sinkhole")),
    ],
    ids=["silence-from-a-dropper", "rejected-replies-from-a-dropper", "rejected-replies", "nodata",
         "nodata-but-truncated", "nxdomain-truncated", "sinkhole-truncated"],
)
def test_judge_answer(obs: Observation, signals: BlockSignals, expected: tuple[str, str | None]) -> None:
    outcome = classify.judge_answer(obs, RESOLVES, signals)
    why = outcome.method or outcome.reason
    assert outcome.verdict is not None
    assert (outcome.verdict.value, why.value if why else None) == expected, outcome.detail
    if obs.rejected:
        assert "2 replies rejected" in outcome.detail
