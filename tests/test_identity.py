"""Who answered: identity answers, the vantage point, the interception judgement (table-driven), its
place in the audit against loopback fake servers, and how every report shows it."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from checker import identity
from checker.audit import AuditSettings, audit
from checker.identity import answer_strings, judge, local_values, probe_qtype, probes, source_address
from checker.models import (
    IdentityProbe,
    Observation,
    Protocol,
    Record,
    Resolver,
    ResolverSet,
    Role,
    Run,
    Verdict,
)
from checker.orders.loader import merge
from checker.probe.client import ProbeSettings
from checker.report import Format, RenderOptions, render, view_model
from checker.resolvers import BUILTIN_CONTROLS, DEFAULT_IDENTITY
from tests.fakedns import fake_dns, respond
from tests.test_audit import authoritative, blocking, order

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ID = "id.server CH TXT"
HOST = "hostname.bind CH TXT"
WHOAMI = "whoami.akamai.net IN A"
WHOAMI_PROBE = IdentityProbe("whoami.akamai.net", "A", "IN")


def resolver(name: str, role: Role = Role.SUBJECT, probes_: tuple[IdentityProbe, ...] | None = None) -> Resolver:
    return Resolver(name, name.upper(), "192.0.2.1", 53, Protocol.UDP, role, identity=probes_)


def txt(resolver_name: str, qname: str, *records: str, rcode: str = "NOERROR", qtype: str = "CH TXT",
        owner: str | None = None) -> Observation:
    return Observation(
        resolver=resolver_name, qname=qname, qtype=qtype, transport="udp", started_at=T0, elapsed_ms=1.0,
        attempts=1, rcode=rcode,
        answers=tuple(Record(owner or qname, "TXT", 0, data) for data in records),
    )


def failed(resolver_name: str, qname: str, error: str = "timeout", qtype: str = "CH TXT") -> Observation:
    return Observation(resolver=resolver_name, qname=qname, qtype=qtype, transport="udp", started_at=T0,
                       elapsed_ms=2000.0, attempts=3, error=error)


def address(resolver_name: str, *addresses: str, qname: str = "whoami.akamai.net") -> Observation:
    return Observation(
        resolver=resolver_name, qname=qname, qtype="A", transport="udp", started_at=T0, elapsed_ms=1.0,
        attempts=1, rcode="NOERROR", answers=tuple(Record(qname, "A", 0, a) for a in addresses),
    )


# --------------------------------------------------------------------------- answer strings

ANSWER_STRINGS = [
    ("one-string", txt("r", "id.server", '"isp-t-resolver-1"'), ("isp-t-resolver-1",)),
    ("strings-joined", txt("r", "id.server", '"res100.ams" ".rrdns.pch.net"'), ("res100.ams.rrdns.pch.net",)),
    ("escapes", txt("r", "id.server", r'"a \"quoted\" name"'), ('a "quoted" name',)),
    ("two-records-deduplicated", txt("r", "id.server", '"a"', '"b"', '"a"'), ("a", "b")),
    ("empty-string-dropped", txt("r", "id.server", '""'), ()),
    ("google-ecs-dropped", txt("r", "o-o.myaddr.l.google.com", '"172.253.0.1"',
                               '"edns0-client-subnet 198.51.100.0/24"', qtype="TXT"), ("172.253.0.1",)),
    ("refused", txt("r", "id.server", rcode="REFUSED"), ()),
    ("nxdomain-with-records", txt("r", "id.server", '"x"', rcode="NXDOMAIN"), ()),
    ("timeout", failed("r", "id.server"), ()),
    ("record-for-another-name", txt("r", "id.server", '"forged"', owner="other.example"), ()),
    ("address", address("r", "198.51.100.7"), ("198.51.100.7",)),
    ("not-an-address", address("r", "not-an-address"), ()),
]


@pytest.mark.parametrize(("obs", "expected"), [pytest.param(*c[1:], id=c[0]) for c in ANSWER_STRINGS])
def test_answer_strings(obs: Observation, expected: tuple[str, ...]) -> None:
    assert answer_strings(obs) == expected


def test_answer_strings_follow_the_cname_chain_and_the_asked_type() -> None:
    obs = Observation(
        resolver="r", qname="whoami.example", qtype="AAAA", transport="udp", started_at=T0, elapsed_ms=1.0,
        attempts=1, rcode="NOERROR",
        answers=(Record("whoami.example", "CNAME", 0, "egress.example."),
                 Record("egress.example", "AAAA", 0, "2001:DB8:0::53"),
                 Record("egress.example", "A", 0, "192.0.2.53"),
                 Record("elsewhere.example", "AAAA", 0, "2001:db8::66")),
    )
    assert answer_strings(obs) == ("2001:db8::53",), "canonical text, chain only, AAAA only"


# --------------------------------------------------------------------------- what is asked


def test_probes_default_to_the_rfc_4892_names_and_can_be_switched_off() -> None:
    assert probes(resolver("a")) == DEFAULT_IDENTITY
    assert [p.label for p in DEFAULT_IDENTITY] == [ID, HOST]
    assert probes(resolver("a", probes_=())) == ()
    assert probes(resolver("a", probes_=(WHOAMI_PROBE,))) == (WHOAMI_PROBE,)


def test_qtype_keeps_one_key_per_question() -> None:
    assert probe_qtype(IdentityProbe("id.server", "TXT", "CH")) == "CH TXT"
    assert probe_qtype(IdentityProbe("id.server", "TXT", "IN")) == "TXT"
    assert probe_qtype(WHOAMI_PROBE) == "A"
    work = identity.work([resolver("a"), resolver("b", probes_=()), resolver("c", probes_=(WHOAMI_PROBE,))])
    assert [(r.name, n, t) for r, n, t in work] == [
        ("a", "id.server", "CH TXT"), ("a", "hostname.bind", "CH TXT"), ("c", "whoami.akamai.net", "A"),
    ]


def test_by_label_maps_engine_keys_to_probe_labels() -> None:
    obs = txt("a", "id.server", '"x"')
    seen = {("a", "id.server", "CH TXT"): obs, ("a", "id.server", "TXT"): txt("a", "id.server", qtype="TXT")}
    assert identity.by_label([resolver("a")], seen) == {("a", ID): obs}


def test_built_in_controls_ask_comparable_questions() -> None:
    for control in BUILTIN_CONTROLS:
        labels = [p.label for p in probes(control)]
        assert labels[:2] == [ID, HOST] and WHOAMI in labels, control.name
        assert control.country is None, "anycast and global: no country"


# --------------------------------------------------------------------------- the judgement

S, C, C2 = "isp", "ctl", "ctl-2"
LOCAL = frozenset({"vm", "vm.lab.example", "192.0.2.2", "127.0.0.1"})

# (id, observations by (resolver, label), expected control verdict, fragments of its detail)
JUDGE: list[tuple[str, dict[tuple[str, str], Observation], bool | None, list[str]]] = [
    ("same-id-server", {
        (S, ID): txt(S, "id.server", '"isp-t-resolver-1"'),
        (C, ID): txt(C, "id.server", '"isp-t-resolver-1"'),
    }, True, ["answers like subject isp", "id.server CH TXT 'isp-t-resolver-1'", "left out of every judgement"]),
    ("same-whoami-egress", {
        (S, ID): failed(S, "id.server", "timeout"), (S, WHOAMI): address(S, "198.51.100.53"),
        (C, ID): txt(C, "id.server", '"FRA"'), (C, WHOAMI): address(C, "198.51.100.53", "198.51.100.54"),
    }, True, ["answers like subject isp", "whoami.akamai.net IN A '198.51.100.53'"]),
    ("different", {
        (S, ID): txt(S, "id.server", '"isp-t-resolver-1"'),
        (C, ID): txt(C, "id.server", '"res100.ams.rrdns.pch.net"'),
    }, False, ["said id.server CH TXT 'res100.ams.rrdns.pch.net'", "unlike every subject asked the same (isp)"]),
    ("same-value-other-question", {
        (S, ID): txt(S, "id.server", '"ns1"'), (S, HOST): failed(S, "hostname.bind"),
        (C, ID): failed(C, "id.server", "timeout"), (C, HOST): txt(C, "hostname.bind", '"ns1"'),
    }, None, ["no subject answered the same questions: nothing to compare"]),
    ("control-silent", {
        (S, ID): txt(S, "id.server", '"isp-t-resolver-1"'),
        (C, ID): failed(C, "id.server", "timeout"), (C, HOST): txt(C, "hostname.bind", rcode="REFUSED"),
    }, None, ["did not say who it is", "id.server CH TXT: timeout", "hostname.bind CH TXT: REFUSED"]),
    ("control-answers-empty", {
        (S, ID): txt(S, "id.server", '"isp-t-resolver-1"'),
        (C, ID): txt(C, "id.server"),
    }, None, ["did not say who it is", "id.server CH TXT: no answer"]),
    ("subject-silent", {
        (S, ID): txt(S, "id.server", rcode="REFUSED"),
        (C, ID): txt(C, "id.server", '"FRA"'),
    }, None, ["said id.server CH TXT 'FRA'", "nothing to compare"]),
    ("shares-only-this-hosts-name", {
        (S, ID): txt(S, "id.server", '"vm"'),
        (C, ID): txt(C, "id.server", '"vm"'),
    }, None, ["shares only this host's own name or address", "'vm'", "cannot tell"]),
    ("shares-only-a-local-address", {
        (S, WHOAMI): address(S, "192.0.2.2"),
        (C, WHOAMI): address(C, "192.0.2.2"),
    }, None, ["shares only this host's own name or address"]),
    ("shares-localhost", {
        (S, HOST): txt(S, "hostname.bind", '"localhost"'),
        (C, HOST): txt(C, "hostname.bind", '"localhost"'),
    }, None, ["cannot tell"]),
    ("host-name-and-a-real-match", {
        (S, ID): txt(S, "id.server", '"vm"'), (S, WHOAMI): address(S, "203.0.113.9"),
        (C, ID): txt(C, "id.server", '"vm"'), (C, WHOAMI): address(C, "203.0.113.9"),
    }, True, ["whoami.akamai.net IN A '203.0.113.9'"]),
    ("host-name-differs-from-subject", {
        (S, ID): txt(S, "id.server", '"isp-t-resolver-1"'),
        (C, ID): txt(C, "id.server", '"vm"'),
    }, False, ["unlike every subject"]),
]

PROBES = (IdentityProbe("id.server", "TXT", "CH"), IdentityProbe("hostname.bind", "TXT", "CH"), WHOAMI_PROBE)


@pytest.mark.parametrize(("observations", "expected", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in JUDGE])
def test_judge_one_control(
    observations: dict[tuple[str, str], Observation], expected: bool | None, fragments: list[str],
) -> None:
    resolvers = [resolver(S, probes_=PROBES), resolver(C, Role.CONTROL, PROBES)]
    subject, control = judge(resolvers, observations, {S: "192.0.2.2", C: "192.0.2.2"}, LOCAL)
    assert control.resolver == C and control.intercepted is expected
    for fragment in fragments:
        assert fragment in control.detail, control.detail
    assert subject.intercepted is None, "subjects are never judged"
    assert control.source_address == "192.0.2.2"
    assert control.observations == tuple(o for (name, _), o in observations.items() if name == C)


def test_judge_answers_keep_the_probe_order_and_the_subjects_detail_says_what_they_said() -> None:
    resolvers = [resolver(S, probes_=PROBES), resolver(C, Role.CONTROL, PROBES)]
    observations = {
        (S, WHOAMI): address(S, "198.51.100.53"), (S, ID): txt(S, "id.server", '"a"', '"b"'),
        (S, HOST): failed(S, "hostname.bind"),
    }
    subject, control = judge(resolvers, observations, {}, LOCAL)
    assert subject.answers == ((ID, ("a", "b")), (WHOAMI, ("198.51.100.53",)))
    assert subject.detail == "said id.server CH TXT 'a', 'b'; whoami.akamai.net IN A '198.51.100.53'"
    assert subject.source_address is None
    assert control.detail == "not asked" and control.intercepted is None


def test_judge_with_several_subjects_and_controls() -> None:
    resolvers = [resolver("isp-a", probes_=PROBES), resolver("isp-b", probes_=PROBES),
                 resolver("honest", Role.CONTROL, PROBES), resolver("hijacked", Role.CONTROL, PROBES),
                 resolver("off", Role.CONTROL, ())]
    observations = {
        ("isp-a", ID): txt("isp-a", "id.server", '"a-1"'), ("isp-b", ID): txt("isp-b", "id.server", '"b-1"'),
        ("honest", ID): txt("honest", "id.server", '"FRA"'),
        ("hijacked", ID): txt("hijacked", "id.server", '"b-1"'),
        ("hijacked", WHOAMI): address("hijacked", "198.51.100.53"),
        ("isp-a", WHOAMI): address("isp-a", "198.51.100.53"),
    }
    found = {i.resolver: i for i in judge(resolvers, observations, {}, LOCAL)}
    assert [i.intercepted for i in found.values()] == [None, None, False, True, None]
    assert "answers like subject isp-a" in found["hijacked"].detail
    assert "(also like isp-b)" in found["hijacked"].detail
    assert found["honest"].detail.endswith("unlike every subject asked the same (isp-a, isp-b)")
    assert "switched off" in found["off"].detail and found["off"].answers == ()
    assert identity.intercepted(found.values()) == {"hijacked"}


def test_long_answers_are_shortened_in_the_detail() -> None:
    obs = txt(S, "id.server", *(f'"n{i}"' for i in range(6)))
    (subject,) = judge([resolver(S, probes_=PROBES)], {(S, ID): obs}, {})
    assert subject.detail == "said id.server CH TXT 'n0', 'n1', 'n2' and 3 more"
    assert subject.answers == ((ID, tuple(f"n{i}" for i in range(6))),)


# --------------------------------------------------------------------------- vantage point


def test_source_address_of_a_loopback_resolver() -> None:
    assert source_address(Resolver("l", "l", "127.0.0.1", 53, Protocol.UDP, Role.SUBJECT)) == "127.0.0.1"


def test_source_address_is_none_when_there_is_no_route() -> None:
    assert source_address(Resolver("x", "x", "not-an-address", 53, Protocol.UDP, Role.SUBJECT)) is None


def test_vantage_reads_names_and_addresses_without_asking_dns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.1 probe-1.example.net probe-1  # this host\n")
    if_inet6 = tmp_path / "if_inet6"
    if_inet6.write_text(
        "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n"
        "00000000000000000000000000000001 01 80 10 80       lo\n"
        "20010db8000000000000000000000053 04 40 00 80     eth0\n"
        "20010db8000000000000000000000053 05 40 00 80     eth1\n"
        "garbage\n",
    )
    monkeypatch.setattr(identity.socket, "gethostname", lambda: "probe-1")
    monkeypatch.setattr(identity, "_ipv4_addresses", lambda: [identity.ipaddress.IPv4Address("127.0.0.1"),
                                                              identity.ipaddress.IPv4Address("192.0.2.2")])

    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("the vantage point must not be looked up in DNS")

    monkeypatch.setattr(identity.socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(identity.socket, "gethostbyaddr", no_dns)
    point = identity.vantage(hosts, if_inet6)
    assert point == {
        "host": "probe-1", "fqdn": "probe-1.example.net",
        "addresses": ["192.0.2.2", "2001:db8::53", "fe80::fc:ff:fe00:1%eth0", "127.0.0.1 (loopback)",
                      "::1 (loopback)"],
    }
    assert local_values(point, ["192.0.2.2", None, "fe80::1%eth0"]) >= {
        "probe-1", "probe-1.example.net", "192.0.2.2", "127.0.0.1", "::1", "fe80::fc:ff:fe00:1", "fe80::1",
    }


@pytest.mark.parametrize(("host", "hosts", "fqdn"), [
    ("probe-1.example.net", "", "probe-1.example.net"),
    ("probe-1", "127.0.1.1 probe-1\n", "probe-1"),
    ("probe-1", "# 127.0.1.1 probe-1.example.net probe-1\n", "probe-1"),
    ("PROBE-1", "127.0.1.1 probe-1 probe-1.lab.example\n", "probe-1.lab.example"),
])
def test_fqdn(tmp_path: Path, host: str, hosts: str, fqdn: str) -> None:
    path = tmp_path / "hosts"
    path.write_text(hosts)
    assert identity._fqdn(host, path) == fqdn
    assert identity._fqdn("probe-1", tmp_path / "missing") == "probe-1"


def test_the_real_vantage_point_is_plain_json() -> None:
    point = identity.vantage()
    assert json.loads(json.dumps(point)) == point
    assert isinstance(point["host"], str) and point["host"]
    addresses = point["addresses"]
    assert isinstance(addresses, list) and len(addresses) == len(set(addresses))


# --------------------------------------------------------------------------- in the audit

FAST = AuditSettings(probe=ProbeSettings(timeout=0.2, retries=0, backoff=0.01), random_label=lambda: "nx-probe")


def says(name: str, answer: object) -> Any:
    """A handler that answers id.server and hostname.bind (CH TXT) with ``name``, else like ``answer``."""

    def handler(q: dns.message.Message, transport: str) -> object:
        question = q.question[0]
        if question.rdclass == dns.rdataclass.CH:
            return respond(q, txt=[name]) if name else respond(q, rcode=dns.rcode.REFUSED)
        return answer(q, transport)  # type: ignore[operator]

    return handler


def run_three(subject: Any, honest: Any, hijacked: Any, **extra: Any) -> Run:
    with fake_dns(subject) as s, fake_dns(honest) as c, fake_dns(hijacked) as h:
        resolvers = ResolverSet(
            resolvers=(
                Resolver("isp", "ISP", "127.0.0.1", s.port, Protocol.UDP, Role.SUBJECT),
                Resolver("honest", "Control", "127.0.0.1", c.port, Protocol.UDP, Role.CONTROL),
                Resolver("hijacked", "Public", "127.0.0.1", h.port, Protocol.UDP, Role.CONTROL, **extra),
            ),
            canaries=("canary.test",),
        )
        return asyncio.run(audit(merge([order()], dt.date(2026, 6, 1)), resolvers, FAST))


def verdicts(run: Run) -> dict[str, tuple[str, str | None]]:
    return {r.query.name: (r.verdict.value, (r.method or r.reason or None) and str((r.method or r.reason).value))
            for r in run.results}


def lying_as_isp(q: dns.message.Message, transport: str) -> dns.message.Message:
    """The ISP's server in a public resolver's place: it blocks, and rewrites NXDOMAIN to a search page."""
    name = str(q.question[0].name).rstrip(".")
    if name == "gone.test" or name.startswith("nx-probe."):
        return respond(q, a=["203.0.113.99"])
    return blocking(q, transport)


def test_a_control_that_differs_is_used() -> None:
    # The contrast for the next test: the same lying control, with an identity of its own, is a
    # control like any other, and its address for gone.test makes the subject's NXDOMAIN a block.
    run = run_three(says("isp-t-resolver-1", blocking), says("res100.ams", authoritative),
                    says("another-server", lying_as_isp))
    assert {i.resolver: i.intercepted for i in run.identities}["hijacked"] is False
    assert verdicts(run)["gone.test"] == ("blocked", "nxdomain")


def test_an_intercepted_control_is_left_out_of_every_judgement() -> None:
    run = run_three(says("isp-t-resolver-1", blocking), says("res100.ams", authoritative),
                    says("isp-t-resolver-1", lying_as_isp))
    found = {i.resolver: i for i in run.identities}
    assert found["hijacked"].intercepted is True
    assert "answers like subject isp: id.server CH TXT 'isp-t-resolver-1'" in found["hijacked"].detail
    assert found["honest"].intercepted is False and found["isp"].intercepted is None
    assert found["isp"].answers == ((ID, ("isp-t-resolver-1",)), (HOST, ("isp-t-resolver-1",)))
    assert found["isp"].source_address == "127.0.0.1"
    # The honest control alone says what the names are: gone.test does not exist, whatever the
    # ISP answers in a public resolver's name.
    assert verdicts(run)["site.test"] == ("blocked", "nxdomain")
    assert verdicts(run)["gone.test"] == ("dead", "not_found")
    assert run.settings["vantage"] == identity.vantage()
    assert {o.qtype for i in run.identities for o in i.observations} == {"CH TXT"}
    # Control answers stay in the evidence, the intercepted control's included.
    assert {o.resolver for o in run.controls} == {"honest", "hijacked"}


def test_with_only_an_intercepted_control_nothing_is_claimed_blocked() -> None:
    with fake_dns(says("isp-t-resolver-1", blocking)) as s, fake_dns(says("isp-t-resolver-1", lying_as_isp)) as h:
        resolvers = ResolverSet(
            resolvers=(Resolver("isp", "ISP", "127.0.0.1", s.port, Protocol.UDP, Role.SUBJECT),
                       Resolver("hijacked", "Public", "127.0.0.1", h.port, Protocol.UDP, Role.CONTROL)),
            canaries=("canary.test",),
        )
        run = asyncio.run(audit(merge([order()], dt.date(2026, 6, 1)), resolvers, FAST))
    assert not any(r.verdict is Verdict.BLOCKED for r in run.results)
    assert run.identities[1].intercepted is True


def test_hidden_identities_never_make_a_resolver_unhealthy() -> None:
    silent_on_ch = says("", authoritative)

    def drops_ch(q: dns.message.Message, transport: str) -> object:
        return None if q.question[0].rdclass == dns.rdataclass.CH else authoritative(q, transport)

    run = run_three(says("", blocking), silent_on_ch, drops_ch)
    assert all(h.healthy for h in run.health)
    assert {i.intercepted for i in run.identities} == {None}
    assert verdicts(run)["site.test"] == ("blocked", "nxdomain")
    hidden = {i.resolver: i.detail for i in run.identities}
    assert hidden["hijacked"] == "did not say who it is (id.server CH TXT: timeout; hostname.bind CH TXT: timeout)"
    assert hidden["isp"].startswith("did not say who it is (id.server CH TXT: REFUSED")


def test_identity_probes_switched_off_are_not_asked() -> None:
    asked: list[tuple[str, int]] = []
    lock = threading.Lock()

    def counting(q: dns.message.Message, transport: str) -> object:
        with lock:
            asked.append((str(q.question[0].name), q.question[0].rdclass))
        return authoritative(q, transport)

    run = run_three(says("isp-1", blocking), says("ctl-1", authoritative), counting, identity=())
    assert not [a for a in asked if a[1] == dns.rdataclass.CH]
    off = {i.resolver: i for i in run.identities}["hijacked"]
    assert off.observations == () and "switched off" in off.detail
    assert view_model(run)["resolvers"][2]["identity"] is None


def test_resume_does_not_ask_identity_again() -> None:
    stored: list[tuple[str, Observation]] = []
    first = run_audit_with(sink=lambda phase, obs: stored.append((phase, obs)))
    assert {phase for phase, _ in stored} >= {"health", "identity", "names"}
    prior = {(phase, o.resolver, o.qname, o.qtype): o for phase, o in stored}
    assert len(prior) == len(stored), "one key per question, CH and IN alike"
    asked: list[int] = []
    again = run_audit_with(prior=prior, asked=asked)
    assert asked == [], "everything was answered before"
    assert [i.answers for i in again.identities] == [i.answers for i in first.identities]


def run_audit_with(prior: Any = None, sink: Any = None, asked: list[int] | None = None) -> Run:
    def handler(name: str) -> Any:
        def answer(q: dns.message.Message, transport: str) -> object:
            if asked is not None:
                asked.append(q.question[0].rdclass)
            return says(name, authoritative)(q, transport)

        return answer

    with fake_dns(handler("srv-a")) as s, fake_dns(handler("srv-b")) as c:
        resolvers = ResolverSet(
            resolvers=(Resolver("isp", "ISP", "127.0.0.1", s.port, Protocol.UDP, Role.SUBJECT),
                       Resolver("ctl", "Control", "127.0.0.1", c.port, Protocol.UDP, Role.CONTROL)),
            canaries=("canary.test",),
        )
        return asyncio.run(audit(merge([order()], dt.date(2026, 6, 1)), resolvers, FAST, prior=prior, sink=sink))


# --------------------------------------------------------------------------- in the reports

GOLDEN = Path(__file__).resolve().parent / "golden" / "input.json"
HOSTILE = "<script>alert(1)</script> | **bold** `x`"


def with_identities(intercepted: str | None = "public-dns") -> dict[str, Any]:
    """The golden report with a second control (``public-dns``) and identity answers added."""
    view: dict[str, Any] = copy.deepcopy(json.loads(GOLDEN.read_text()))
    control = next(r for r in view["resolvers"] if r["role"] == "control")
    view["resolvers"].insert(1, control | {"name": "public-dns", "address": "192.0.2.53:53"})
    view["run"]["vantage_host"] = "probe-1.example.net"
    view["run"]["vantage_addresses"] = ["192.0.2.2", "127.0.0.1 (loopback)"]
    for r in view["resolvers"]:
        hit = r["name"] == intercepted
        r["country"] = "IT" if r["role"] == "subject" else None
        r["identity"] = {
            "source_address": "127.0.0.1",
            "answers": {ID: ["isp-t-resolver-1" if hit or r["role"] == "subject" else HOSTILE]},
            "intercepted": hit if r["role"] == "control" else None,
            "detail": "answers like subject isp-nxdomain: id.server CH TXT 'isp-t-resolver-1'; left out" if hit
            else "said something",
            "observations": [],
        }
    return view


def rendered(fmt: Format, view: dict[str, Any]) -> str:
    options = RenderOptions(rendered_at=T0, source_sha256="0" * 64)
    return render(fmt, view, options).decode("utf-8")


@pytest.mark.parametrize("fmt", [Format.MD, Format.HTML, Format.COURT])
def test_an_intercepted_control_is_unmissable(fmt: Format) -> None:
    text = rendered(fmt, with_identities())
    marker = {Format.MD: "⚠ Intercepted control:", Format.HTML: 'class="alarm" role="alert"',
              Format.COURT: "Warning: a control resolver was answered by another server."}[fmt]
    assert marker in text
    assert text.index(marker) < text.index("Violations"), "the warning comes before the findings"
    assert "192.0.2.2" in text, "the vantage addresses are in the run metadata"
    assert "isp-t-resolver-1" in text and "Who answered" in text
    assert "<script>alert(1)</script>" not in text


def test_without_interception_there_is_no_warning_but_the_answers_are_shown() -> None:
    for fmt in (Format.MD, Format.HTML, Format.COURT):
        text = rendered(fmt, with_identities(intercepted=None))
        assert "Intercepted control" not in text and "answered by another server" not in text
        assert "Who answered" in text and "isp-t-resolver-1" in text


def test_the_court_statement_names_only_the_controls_that_judged() -> None:
    sentence = "Whether a name exists was judged from the control"
    text = rendered(Format.COURT, with_identities())
    judged = text[text.index(sentence):text.index("may filter or fail")]
    assert "control" in judged.removeprefix(sentence) and "public-dns" not in judged
    both = rendered(Format.COURT, with_identities(intercepted=None))
    judged = both[both.index(sentence):both.index("may filter or fail")]
    assert "control" in judged.removeprefix(sentence) and "public-dns" in judged


def test_the_json_report_adds_identity_and_keeps_every_old_field() -> None:
    run = run_three(says("isp-t-resolver-1", blocking), says("res100.ams", authoritative),
                    says("isp-t-resolver-1", lying_as_isp), country="DE")
    view = view_model(run)
    assert view["run"]["vantage"] == run.vantage
    assert view["run"]["vantage_host"] in (run.settings["vantage"]["fqdn"], run.vantage)  # type: ignore[index]
    assert view["run"]["vantage_addresses"] == run.settings["vantage"]["addresses"]  # type: ignore[index]
    by_name = {r["name"]: r for r in view["resolvers"]}
    hijacked = by_name["hijacked"]
    assert hijacked["country"] == "DE" and by_name["isp"]["country"] is None
    assert hijacked["identity"]["intercepted"] is True
    assert hijacked["identity"]["answers"] == {ID: ["isp-t-resolver-1"], HOST: ["isp-t-resolver-1"]}
    assert hijacked["identity"]["source_address"] == "127.0.0.1"
    assert [o["qtype"] for o in hijacked["identity"]["observations"]] == ["CH TXT", "CH TXT"]
    assert {"name", "operator", "role", "address", "protocol", "health"} <= set(hijacked)
    json.dumps(view)


def test_a_run_without_identities_reports_none() -> None:
    run = run_three(says("a", blocking), says("b", authoritative), says("c", authoritative))
    bare = Run(id=run.id, started_at=run.started_at, finished_at=run.finished_at, orders=run.orders,
               resolvers=run.resolvers, results=run.results, health=run.health, controls=run.controls,
               vantage="probe-1", settings={k: v for k, v in run.settings.items() if k != "vantage"})
    view = view_model(bare)
    assert {r["identity"] for r in view["resolvers"]} == {None}
    assert view["run"]["vantage_host"] == "probe-1" and view["run"]["vantage_addresses"] == []
    for fmt in (Format.MD, Format.HTML, Format.COURT):
        assert "Who answered" not in rendered(fmt, view)


def test_the_court_statement_when_every_control_is_intercepted() -> None:
    view = with_identities()
    for r in view["resolvers"]:
        if r["role"] == "control":
            r["identity"]["intercepted"] = True
    text = rendered(Format.COURT, view)
    assert "No control resolver could be used to judge whether a name exists" in text
    assert "Warning: control resolvers were answered by another server." in text
