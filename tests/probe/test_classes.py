"""Questions in class CH (``id.server CH TXT``) over every transport, with the same strict check of
the answer: ID, and a question echoed with its name, type and class."""

from __future__ import annotations

import asyncio

import dns.message
import dns.rdataclass
import dns.rdatatype
import pytest

from checker.models import Protocol, Resolver, Role
from checker.probe.client import ProbeSettings, ask
from checker.probe.message import make_query, parse_response, question_type, split_question_type
from tests.fakedns import Packets, fake_dns, respond
from tests.pki import Pki, make_pki
from tests.probe.test_transports import doh, doh_server, dot, dot_server

FAST = ProbeSettings(timeout=0.3, retries=0, backoff=0.01)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def resolver(port: int, protocol: Protocol = Protocol.UDP) -> Resolver:
    return Resolver(name="fake", operator="t", host="127.0.0.1", port=port, protocol=protocol, role=Role.SUBJECT)


def identity_answer(q: dns.message.Message, transport: str = "udp") -> dns.message.Message:
    return respond(q, txt=["isp-t-resolver-1"])


def in_class_in(q: dns.message.Message) -> dns.message.Message:
    """The answer to the same name and type in class IN, with the query's ID: not our question."""
    other = dns.message.make_query(q.question[0].name, dns.rdatatype.TXT, dns.rdataclass.IN)
    other.id = q.id
    return respond(other, txt=["forged"])


@pytest.mark.parametrize(("qtype", "expected"), [
    ("A", ("A", "IN")), ("AAAA", ("AAAA", "IN")), ("TXT", ("TXT", "IN")), ("CH TXT", ("TXT", "CH")),
    ("IN A", ("A", "IN")), ("CH  TXT", ("TXT", "CH")),
])
def test_split_question_type(qtype: str, expected: tuple[str, str]) -> None:
    assert split_question_type(qtype) == expected


@pytest.mark.parametrize("qtype", ["", "HS TXT", "CH TXT A", "TXT CH"])
def test_split_question_type_refuses(qtype: str) -> None:
    with pytest.raises(ValueError, match="not a question type"):
        split_question_type(qtype)


def test_question_type_writes_the_class_only_when_not_in() -> None:
    assert question_type("A") == "A" and question_type("TXT", "IN") == "TXT"
    assert question_type("TXT", "CH") == "CH TXT"
    assert split_question_type(question_type("TXT", "CH")) == ("TXT", "CH")


def test_make_query_sets_the_class_and_refuses_others() -> None:
    query = make_query("id.server", "TXT", "CH")
    assert query.question[0].rdclass == dns.rdataclass.CH and query.question[0].rdtype == dns.rdatatype.TXT
    assert query.edns == 0
    with pytest.raises(ValueError, match="class 'HS'"):
        make_query("id.server", "TXT", "HS")


def test_parse_response_checks_the_class() -> None:
    query = make_query("id.server", "TXT", "CH")
    assert parse_response(query, identity_answer(query).to_wire()) is not None
    assert parse_response(query, in_class_in(query).to_wire()) is None


def test_ch_txt_over_udp() -> None:
    with fake_dns(identity_answer) as server:
        obs = asyncio.run(ask(resolver(server.port), "id.server", "CH TXT", FAST))
    assert obs.qtype == "CH TXT" and obs.rcode == "NOERROR" and obs.error is None
    assert [(r.name, r.type, r.data) for r in obs.answers] == [("id.server", "TXT", '"isp-t-resolver-1"')]
    assert obs.wire is not None
    question = dns.message.from_wire(obs.wire).question[0]
    assert question.rdclass == dns.rdataclass.CH


def test_an_answer_in_class_in_is_rejected_over_udp() -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        return Packets([in_class_in(q).to_wire(), identity_answer(q).to_wire()])

    with fake_dns(handler) as server:
        obs = asyncio.run(ask(resolver(server.port), "id.server", "CH TXT", FAST))
    assert obs.rejected == 1 and obs.rcode == "NOERROR"
    assert [r.data for r in obs.answers] == ['"isp-t-resolver-1"']


def test_only_an_answer_in_class_in_is_a_timeout() -> None:
    with fake_dns(lambda q, t: in_class_in(q)) as server:
        obs = asyncio.run(ask(resolver(server.port), "id.server", "CH TXT", FAST))
    assert obs.rcode is None and obs.error == "timeout" and obs.rejected == 1 and obs.answers == ()


def test_ch_txt_over_tcp_rejects_the_wrong_class_on_the_stream() -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        return Packets([in_class_in(q).to_wire(), identity_answer(q).to_wire()])

    with fake_dns(handler) as server:
        obs = asyncio.run(ask(resolver(server.port, Protocol.TCP), "hostname.bind", "CH TXT", FAST))
        seen = server.queries
    assert obs.transport == "tcp" and obs.rejected == 1
    assert [r.data for r in obs.answers] == ['"isp-t-resolver-1"']
    assert seen == [("hostname.bind", "TXT", "tcp")]


def test_the_same_name_in_class_in_stays_a_separate_question() -> None:
    def handler(q: dns.message.Message, transport: str) -> dns.message.Message:
        cls = q.question[0].rdclass
        return respond(q, txt=["chaos" if cls == dns.rdataclass.CH else "internet"])

    with fake_dns(handler) as server:
        chaos = asyncio.run(ask(resolver(server.port), "id.server", "CH TXT", FAST))
        internet = asyncio.run(ask(resolver(server.port), "id.server", "TXT", FAST))
    assert (chaos.qtype, chaos.answers[0].data) == ("CH TXT", '"chaos"')
    assert (internet.qtype, internet.answers[0].data) == ("TXT", '"internet"')


def test_ch_txt_over_dot(pki: Pki) -> None:
    with dot_server(pki, answer=identity_answer) as port:
        obs = asyncio.run(ask(dot(port, pki), "id.server", "CH TXT", FAST))
    assert obs.transport == "dot" and obs.qtype == "CH TXT"
    assert [r.data for r in obs.answers] == ['"isp-t-resolver-1"']


def test_ch_txt_over_dot_rejects_the_wrong_class(pki: Pki) -> None:
    with dot_server(pki, answer=in_class_in) as port:
        obs = asyncio.run(ask(dot(port, pki), "id.server", "CH TXT", FAST))
    assert obs.rcode is None and obs.answers == () and obs.error is not None


@pytest.mark.parametrize("method", ["post", "get"])
def test_ch_txt_over_doh(pki: Pki, method: str) -> None:
    with doh_server(pki) as server:
        obs = asyncio.run(ask(doh(server.url(), pki, method=method), "id.server", "CH TXT", FAST))
    assert obs.transport == "doh" and obs.qtype == "CH TXT" and obs.rcode == "NOERROR"
    assert obs.wire is not None and dns.message.from_wire(obs.wire).question[0].rdclass == dns.rdataclass.CH
