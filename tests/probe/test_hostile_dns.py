"""Hostile DNS over the path ``blockaudit check`` takes (Engine -> Flight -> UdpMux, TCP after TC):
forged, misdirected, broken, looping, huge and late replies are rejected or recorded as they are,
and none of them is ever taken for the answer it imitates."""

from __future__ import annotations

import asyncio
import random
import struct
import threading
import time
from collections.abc import Callable

import dns.message
import dns.rcode
import dns.rrset
import pytest

from checker.engine import Engine, Pacer
from checker.models import Observation, Protocol, Resolver, Role
from checker.probe.client import Flight, ProbeSettings, _Query, ask
from checker.probe.mux import MuxStats, UdpMux
from tests.fakedns import FakeDNSServer, Handler, Packets, RawStream, Reply, fake_dns, respond
from tests.probe.test_fastwire import QNAME, Packet, label_wire, rr

FAST = ProbeSettings(timeout=0.2, retries=1, backoff=0.01)
"""Two attempts of 0.2 s: a question that gets nothing acceptable ends within about half a second."""
REAL = "198.51.100.2"
"""The address the real answer carries."""
A, CNAME, SOA = 1, 5, 6


def subject(port: int) -> Resolver:
    return Resolver("isp", "ISP", "127.0.0.1", port, Protocol.UDP, Role.SUBJECT)


async def _observe(port: int, work: list[tuple[str, str]], settings: ProbeSettings,
                   ) -> tuple[dict[str, Observation], MuxStats]:
    resolver = subject(port)
    async with Engine([resolver], settings) as engine:
        assert resolver.name in engine.muxes  # the shared socket, as in a real run
        # Lost answers slow a resolver's pacing down (rate limits); these tests lose them on purpose.
        engine.pacers[resolver.name] = Pacer(None, adaptive=False)
        seen = await engine.observe("names", [(resolver, name, qtype) for name, qtype in work])
        stats = engine.stats()[resolver.name]
    return {f"{name} {qtype}": seen[(resolver.name, name, qtype)] for name, qtype in work}, stats


def observe_many(handler: Handler, work: list[tuple[str, str]], settings: ProbeSettings = FAST,
                 ) -> tuple[dict[str, Observation], MuxStats, FakeDNSServer]:
    with fake_dns(handler) as server:
        seen, stats = asyncio.run(_observe(server.port, work, settings))
    return seen, stats, server


def observe(handler: Handler, qname: str = "site.test", qtype: str = "A", settings: ProbeSettings = FAST,
            ) -> tuple[Observation, MuxStats]:
    seen, stats, _ = observe_many(handler, [(qname, qtype)], settings)
    return seen[f"{qname} {qtype}"], stats


def real(q: dns.message.Message) -> bytes:
    return respond(q, a=[REAL], aaaa=["2001:db8::2"]).to_wire()


def forged_nx(q: dns.message.Message) -> bytes:
    """What a block would look like: NXDOMAIN with an SOA and a "Blocked" Extended DNS Error."""
    return respond(q, rcode=dns.rcode.NXDOMAIN, soa=True, ede=15).to_wire()


def qid_of(q: dns.message.Message) -> int:
    return int(q.id)


def question_wire(q: dns.message.Message) -> bytes:
    question = q.question[0]
    wire = question.name.to_wire()
    assert wire is not None
    return wire + struct.pack("!HH", question.rdtype, question.rdclass)


def answered(obs: Observation) -> list[str]:
    return [str(a) for a in obs.addresses]


def assert_no_answer(obs: Observation, error: str = "timeout") -> None:
    """Nothing was accepted: no rcode, no records, no bytes kept as the answer."""
    assert obs.rcode is None and obs.answers == () and obs.wire is None, obs
    assert obs.error is not None and obs.error.startswith(error), obs.error


# --------------------------------------------------------------------------- the wrong sender


@pytest.mark.parametrize("where", ["other port", "other address"])
def test_a_forged_block_from_elsewhere_never_arrives_and_the_real_answer_counts(where: str) -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        if where == "other port":
            return Packets([forged_nx(q), real(q)], from_other_port=[True, False])
        return Packets([forged_nx(q), real(q)], from_address=["127.0.0.2", None])

    obs, stats = observe(handler)
    assert obs.rcode == "NOERROR" and answered(obs) == [REAL]
    assert obs.rejected == 0 and (stats.stray, stats.rejected, stats.accepted) == (0, 0, 1)  # the kernel dropped it
    assert obs.wire is not None and dns.message.from_wire(obs.wire).rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("where", ["other port", "other address"])
def test_a_forged_block_from_elsewhere_alone_is_a_timeout(where: str) -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        if where == "other port":
            return Packets([forged_nx(q)], from_other_port=[True])
        return Packets([forged_nx(q)], from_address=["127.0.0.2"])

    obs, stats = observe(handler)
    assert_no_answer(obs)
    assert obs.attempts == 2 and stats.accepted == 0


# --------------------------------------------------------------------------- the wrong ID or question


def wrong_id(q: dns.message.Message) -> bytes:
    forged = respond(q, rcode=dns.rcode.NXDOMAIN, soa=True)
    forged.id = qid_of(q) ^ 0x5A5A
    return forged.to_wire()


def asked_otherwise(name: str | None = None, rdtype: str | None = None, rdclass: str | None = None,
                    ) -> Callable[[dns.message.Message], bytes]:
    """A forged block with our ID, for a question that differs in name, type or class."""

    def make(q: dns.message.Message) -> bytes:
        question = q.question[0]
        other = dns.message.make_query(
            name or question.name, rdtype or question.rdtype, rdclass or question.rdclass, use_edns=0,
        )
        other.id = qid_of(q)
        return respond(other, rcode=dns.rcode.NXDOMAIN, soa=True).to_wire()

    return make


def patched(q: dns.message.Message, at: int, value: bytes, source: Callable[[dns.message.Message], bytes] = forged_nx,
            ) -> bytes:
    wire = bytearray(source(q))
    wire[at : at + len(value)] = value
    return bytes(wire)


def compressed_question(q: dns.message.Message) -> bytes:
    """The question name written as a pointer to a copy of it after the question."""
    name = q.question[0].name.to_wire()
    assert name is not None
    qsection = b"\xc0\x12" + question_wire(q)[len(name):] + name  # 12 + 2 + 4 = 18: where the copy starts
    return Packet(id=qid_of(q), flags=0x8183, question=qsection).wire()


def two_questions(q: dns.message.Message) -> bytes:
    return Packet(id=qid_of(q), flags=0x8183, question=question_wire(q) * 2, qdcount=2).wire()


def no_question_refused_ede(q: dns.message.Message) -> bytes:
    """REFUSED with EDE 15 (a block, were it the answer) and no question section."""
    ede = struct.pack("!HHH", 15, 2, 15)
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(ede)) + ede
    return Packet(id=qid_of(q), flags=0x8185, question=b"", qdcount=0, additional=[opt]).wire()


WRONG_QUESTION: dict[str, Callable[[dns.message.Message], bytes]] = {
    "other name": asked_otherwise(name="other-site.test"),
    "parent name": asked_otherwise(name="test"),
    "longer name": asked_otherwise(name="www.site.test"),
    "other type": asked_otherwise(rdtype="AAAA"),
    "other class": asked_otherwise(rdclass="CH"),
    "query echoed (QR clear)": lambda q: q.to_wire(),
    "other opcode (NOTIFY)": lambda q: patched(q, 2, bytes([0x80 | 4 << 3 | 1])),
    "two questions": two_questions,
    "no question": no_question_refused_ede,
    "question through a pointer": compressed_question,
}
"""Replies with our ID that are not the answer to our question; each would read as a block."""


@pytest.mark.parametrize("kind", sorted(WRONG_QUESTION))
def test_a_reply_to_another_question_is_rejected_and_the_real_answer_counts(kind: str) -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets:
        return Packets([WRONG_QUESTION[kind](q), real(q)])

    obs, stats = observe(handler)
    assert obs.rcode == "NOERROR" and answered(obs) == [REAL], kind
    assert obs.rejected == 1 and stats.rejected == 1 and stats.accepted == 1


def test_a_forged_block_with_the_wrong_id_is_stray_and_the_real_answer_counts() -> None:
    obs, stats = observe(lambda q, t: Packets([wrong_id(q), real(q)]))
    assert obs.rcode == "NOERROR" and answered(obs) == [REAL]
    assert (stats.stray, stats.rejected, obs.rejected) == (1, 0, 0)


def test_only_replies_to_other_questions_is_a_timeout_with_every_reply_rejected() -> None:
    kinds = sorted(WRONG_QUESTION)

    def handler(q: dns.message.Message, transport: str) -> bytes:
        return WRONG_QUESTION[kinds[int(q.question[0].name.labels[0][1:])]](q)

    work = [(f"k{i}.site.test", "A") for i in range(len(kinds))]
    seen, stats, _ = observe_many(handler, work)
    for i, kind in enumerate(kinds):
        obs = seen[f"k{i}.site.test A"]
        assert_no_answer(obs)
        assert (obs.attempts, obs.rejected) == (2, 2), kind
    assert stats.accepted == 0 and stats.rejected == 2 * len(kinds)


def test_the_question_echoed_in_another_case_is_ours() -> None:
    def handler(q: dns.message.Message, transport: str) -> bytes:
        wire = bytearray(real(q))
        wire[13:17] = b"SiTe"
        return bytes(wire)

    obs, _ = observe(handler)
    assert answered(obs) == [REAL] and obs.rejected == 0


def test_a_wrong_id_alone_is_a_timeout() -> None:
    obs, stats = observe(lambda q, t: wrong_id(q))
    assert_no_answer(obs)
    assert stats.stray == 2 and obs.rejected == 0


# --------------------------------------------------------------------------- broken packets


CUTS = [11, 12, 16, 27, 28, 40, -20, -1]
"""Where a real NXDOMAIN (SOA, EDE) for site.test is cut: inside the header, inside the question,
inside the SOA, inside the OPT record, one octet short."""


def test_replies_cut_short_are_rejected_and_only_cut_replies_is_a_timeout() -> None:
    def handler(q: dns.message.Message, transport: str) -> bytes:
        cut = CUTS[int(q.question[0].name.labels[0][1:])]
        return forged_nx(q)[:cut]

    work = [(f"c{i}.site.test", "A") for i in range(len(CUTS))]
    seen, stats, _ = observe_many(handler, work)
    for i, cut in enumerate(CUTS):
        obs = seen[f"c{i}.site.test A"]
        assert_no_answer(obs)
        # Under 12 octets there is no ID to tie it to a question: counted by the mux only.
        assert obs.rejected == (0 if 0 <= cut < 12 else 2), cut
    assert stats.rejected == 2 * len(CUTS) and stats.accepted == 0


def test_a_reply_cut_short_then_the_real_one() -> None:
    obs, _ = observe(lambda q, t: Packets([forged_nx(q)[:-3], real(q)]))
    assert answered(obs) == [REAL] and obs.rejected == 1


@pytest.mark.parametrize("qtype", ["A", "AAAA", "TXT", "CH TXT"])
def test_every_strict_prefix_of_an_answer_is_rejected(qtype: str) -> None:
    """Offline, for every cut point: the accept step (fast path, then dnspython) rejects all of them."""
    rdtype, rdclass = qtype.split()[::-1] if " " in qtype else (qtype, "IN")
    query = _Query("www.site.test", rdtype, rdclass)
    message = dns.message.from_wire(query.wire())
    message.id = 0x2B2B
    answers = [
        respond(message, a=[REAL], aaaa=["2001:db8::2"], cname="edge.cdn.test", txt=["x"], ede=0),
        respond(message, rcode=dns.rcode.NXDOMAIN, soa=True, ede=15),
    ]
    for answer in answers:
        wire = answer.to_wire()
        assert query.accept(wire) is not None
        for cut in range(len(wire)):
            assert query.accept(wire[:cut]) is None, (cut, wire[:cut].hex())


GARBAGE: dict[str, Callable[[dns.message.Message], bytes]] = {
    "header only": lambda q: struct.pack("!HHHHHH", qid_of(q), 0x8183, 1, 0, 0, 0),
    "ones": lambda q: struct.pack("!HH", qid_of(q), 0x8183) + b"\xff" * 60,
    "zeros": lambda q: struct.pack("!HH", qid_of(q), 0x8183) + bytes(60),
    "counts far too high": lambda q: patched(q, 6, b"\xff\xff\xff\xff\xff\xff"),
    "rdlength past the end": lambda q: Packet(id=qid_of(q), flags=0x8180, question=question_wire(q),
                                              answers=[rr(QNAME, A, bytes(4))[:-6] + b"\xff\xff" + bytes(4)]).wire(),
    "label over 63": lambda q: Packet(id=qid_of(q), flags=0x8183, question=question_wire(q),
                                      authority=[rr(b"\x50" + b"x" * 80 + b"\x00", SOA, bytes(22))]).wire(),
    "bad EDE text": lambda q: Packet(id=qid_of(q), flags=0x8185, question=question_wire(q),
                                     additional=[b"\x00" + struct.pack("!HHIHHHH", 41, 1232, 0, 8, 15, 4, 15) +
                                                 b"\xff\xfe"]).wire(),
    "OPT in the answer": lambda q: Packet(id=qid_of(q), flags=0x8183, question=question_wire(q),
                                          answers=[b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)]).wire(),
}
"""Packets with our ID, QR set and the question echoed (where they have one) that do not parse."""


def test_garbage_with_our_id_is_rejected_never_judged() -> None:
    kinds = sorted(GARBAGE)

    def handler(q: dns.message.Message, transport: str) -> bytes:
        return GARBAGE[kinds[int(q.question[0].name.labels[0][1:])]](q)

    work = [(f"g{i}.site.test", "A") for i in range(len(kinds))]
    seen, stats, _ = observe_many(handler, work)
    for i, kind in enumerate(kinds):
        obs = seen[f"g{i}.site.test A"]
        assert_no_answer(obs)
        assert obs.rejected == 2, kind
    assert stats.accepted == 0


def loop_packet(q: dns.message.Message, kind: str) -> bytes:
    """An NXDOMAIN whose SOA (or CNAME) names run into a compression loop or point forward."""
    question = question_wire(q)
    start = 12 + len(question)  # where the first record starts
    if kind == "pointer to itself":
        records = [rr(struct.pack("!H", 0xC000 | start), SOA, bytes(22))]
    elif kind == "A to B to A":
        # The CNAME's data (at start + 12) points at the next owner (start + 14), which points back.
        records = [rr(QNAME, CNAME, struct.pack("!H", 0xC000 | (start + 14))),
                   rr(struct.pack("!H", 0xC000 | (start + 12)), SOA, bytes(22))]
    elif kind == "forward pointer":
        # The owner points at a well-formed name after it (in the SOA's data).
        records = [rr(struct.pack("!H", 0xC000 | (start + 12)), SOA, label_wire([b"ns", b"test"]) + bytes(21))]
    elif kind == "pointer past the end":
        records = [rr(b"\xff\xff", SOA, bytes(22))]
    elif kind == "label then loop":
        records = [rr(b"\x01x" + struct.pack("!H", 0xC000 | start), SOA, bytes(22))]
    else:
        raise AssertionError(kind)
    return Packet(id=qid_of(q), flags=0x8183, question=question, authority=records).wire()


LOOPS = ["A to B to A", "forward pointer", "label then loop", "pointer past the end", "pointer to itself"]


def test_compression_loops_and_forward_pointers_are_rejected() -> None:
    def handler(q: dns.message.Message, transport: str) -> bytes:
        return loop_packet(q, LOOPS[int(q.question[0].name.labels[0][1:])])

    work = [(f"l{i}.site.test", "A") for i in range(len(LOOPS))]
    seen, _, _ = observe_many(handler, work)
    for i, kind in enumerate(LOOPS):
        obs = seen[f"l{i}.site.test A"]
        assert_no_answer(obs)
        assert obs.rejected == 2, kind


def test_a_question_that_points_at_itself_is_rejected() -> None:
    obs, _ = observe(lambda q, t: patched(q, 12, b"\xc0\x0c"))
    assert_no_answer(obs)
    assert obs.rejected == 2


# --------------------------------------------------------------------------- answers that are not what they seem


def test_answers_for_another_name_are_kept_but_give_no_address() -> None:
    def handler(q: dns.message.Message, transport: str) -> dns.message.Message:
        response = respond(q)
        response.answer.append(dns.rrset.from_text("elsewhere.test.", 60, "IN", "A", "0.0.0.0"))
        response.answer.append(dns.rrset.from_text("elsewhere.test.", 60, "IN", "A", "198.51.100.66"))
        return response

    obs, _ = observe(handler)
    assert obs.rcode == "NOERROR" and obs.addresses == ()
    assert {r.name for r in obs.answers} == {"elsewhere.test"} and obs.wire is not None


@pytest.mark.parametrize("chain", [["site.test"], ["a.test", "site.test"], ["a.test", "b.test", "a.test"]])
def test_cname_loops_end_the_chain(chain: list[str]) -> None:
    def handler(q: dns.message.Message, transport: str) -> dns.message.Message:
        response = respond(q)
        owner = "site.test"
        for target in chain:
            response.answer.append(dns.rrset.from_text(owner + ".", 60, "IN", "CNAME", target + "."))
            owner = target
        return response

    obs, _ = observe(handler)
    assert obs.rcode == "NOERROR" and obs.addresses == ()
    assert len(obs.chain()) <= len(chain) + 1 and len(set(obs.chain())) == len(obs.chain())


def test_a_very_long_cname_chain_is_cut_and_its_address_not_taken() -> None:
    def handler(q: dns.message.Message, transport: str) -> dns.message.Message:
        response = respond(q)
        owner = "site.test"
        for i in range(40):
            response.answer.append(dns.rrset.from_text(owner + ".", 60, "IN", "CNAME", f"hop{i}.test."))
            owner = f"hop{i}.test"
        response.answer.append(dns.rrset.from_text(owner + ".", 60, "IN", "A", REAL))
        return response

    obs, _ = observe(handler)
    assert len(obs.answers) == 41 and len(obs.chain()) == 16
    assert obs.addresses == ()  # past the end of the chain followed


# --------------------------------------------------------------------------- huge answers


def many_addresses(q: dns.message.Message, count: int) -> dns.message.Message:
    """``count`` A records for the question's name, ``REAL`` among them."""
    response = respond(q)
    owner = q.question[0].name
    texts = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(count - 1)] + [REAL]
    response.answer.append(dns.rrset.from_text_list(owner, 60, "IN", "A", texts))
    response.use_edns(False)
    return response


def test_a_64_kib_answer_over_tcp_after_truncation() -> None:
    sizes: list[int] = []

    def handler(q: dns.message.Message, transport: str) -> dns.message.Message | bytes:
        if transport == "udp":
            return respond(q, tc=True)
        wire = many_addresses(q, 4090).to_wire(max_size=65535)
        sizes.append(len(wire))
        return wire

    start = time.monotonic()
    obs, _ = observe(handler, settings=ProbeSettings(timeout=3.0, retries=0))
    assert obs.transport == "tcp" and obs.rcode == "NOERROR" and obs.error is None
    assert sizes and sizes[0] > 65_000 and obs.wire is not None and len(obs.wire) == sizes[0]
    assert len(obs.addresses) == 4090 and REAL in answered(obs)
    assert time.monotonic() - start < 3.0


def test_thousands_of_records_for_other_names_in_one_datagram() -> None:
    """A 60 KB datagram (far over the 1232 octets asked for) of RRsets for other names, in a shape
    the fast decoder leaves to dnspython (a TXT record)."""

    def handler(q: dns.message.Message, transport: str) -> bytes:
        response = respond(q)
        for i in range(2600):
            response.answer.append(dns.rrset.from_text(f"n{i}.other.test.", 60, "IN", "A", "0.0.0.0"))
        response.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "TXT", '"x"'))
        return response.to_wire(max_size=65000)

    obs, _ = observe(handler, settings=ProbeSettings(timeout=3.0, retries=0))
    assert obs.rcode == "NOERROR" and obs.transport == "udp" and len(obs.answers) == 2601
    assert obs.addresses == ()


def test_tcp_after_truncation_skips_what_is_not_the_answer() -> None:
    def handler(q: dns.message.Message, transport: str) -> Packets | bytes:
        if transport == "udp":
            return respond(q, tc=True).to_wire()
        return Packets([wrong_id(q), asked_otherwise(name="other.test")(q), b"\x00" * 5, real(q)])

    obs, _ = observe(handler)
    assert obs.transport == "tcp" and answered(obs) == [REAL] and obs.rejected == 3


@pytest.mark.parametrize("stream", ["garbage only", "closed", "cut short", "silent"])
def test_tcp_after_truncation_that_fails_is_a_network_error_or_timeout(stream: str) -> None:
    def handler(q: dns.message.Message, transport: str) -> Reply:
        if transport == "udp":
            return respond(q, tc=True)
        if stream == "garbage only":
            return Packets([forged_nx(q)[:-1]] * 9)
        if stream == "closed":
            return RawStream()
        if stream == "cut short":  # a length prefix promising more than comes before the close
            wire = forged_nx(q)
            return RawStream(struct.pack("!H", len(wire) + 100) + wire)
        time.sleep(0.5)
        return None

    obs, _ = observe(handler, settings=ProbeSettings(timeout=0.3, retries=1, backoff=0.01))
    assert obs.transport == "tcp" and obs.attempts == 1
    # Never a plain timeout: the resolver did answer (truncated), which a drop never does.
    assert_no_answer(obs, "network_error: no answer over TCP after a truncated one")
    if stream == "silent":
        assert obs.error is not None and obs.error.endswith("(timeout)")


@pytest.mark.parametrize("shared", [True, False], ids=["over-the-mux", "socket-of-its-own"])
def test_ask_after_truncation_and_tcp_silence_is_a_network_error_too(shared: bool) -> None:
    """The coroutine path (``ask``, used where a resolver has no shared socket) says the same."""

    async def run(port: int) -> Observation:
        mux = UdpMux("127.0.0.1", port) if shared else None
        try:
            return await ask(subject(port), "site.test", "A", ProbeSettings(timeout=0.2, retries=1, backoff=0.01),
                             mux=mux)
        finally:
            if mux is not None:
                mux.close()

    with fake_dns(lambda q, t: respond(q, tc=True) if t == "udp" else None) as server:
        obs = asyncio.run(run(server.port))
    assert obs.transport == "tcp"
    assert_no_answer(obs, "network_error: no answer over TCP after a truncated one")


def test_a_truncated_answer_even_over_tcp_is_kept_as_it_came() -> None:
    obs, _ = observe(lambda q, t: respond(q, tc=True))
    assert obs.transport == "tcp" and "tc" in obs.flags and obs.answers == ()


# --------------------------------------------------------------------------- late replies


def test_a_late_block_after_the_retry_is_stray_and_the_retrys_answer_counts() -> None:
    lock = threading.Lock()
    ids: list[int] = []

    def handler(q: dns.message.Message, transport: str) -> Packets:
        with lock:
            ids.append(qid_of(q))
            first = len(ids) == 1
        if first:
            return Packets([forged_nx(q)], delays=[0.55])  # past the 0.4 s timeout, while the retry waits
        return Packets([real(q)], delays=[0.25])

    obs, stats = observe(handler, settings=ProbeSettings(timeout=0.4, retries=2, backoff=0.01))
    assert answered(obs) == [REAL] and obs.rcode == "NOERROR"
    assert obs.attempts == 2 and len(ids) == 2 and ids[0] != ids[1]
    assert (stats.stray, stats.rejected, stats.accepted, obs.rejected) == (1, 0, 1, 0)


def test_a_late_reply_alone_is_never_accepted() -> None:
    count = {"n": 0}

    def handler(q: dns.message.Message, transport: str) -> Packets | None:
        count["n"] += 1
        return Packets([forged_nx(q)], delays=[0.32]) if count["n"] == 1 else None

    obs, stats = observe(handler, settings=ProbeSettings(timeout=0.2, retries=1, backoff=0.01))
    assert_no_answer(obs)
    assert obs.attempts == 2 and stats.stray == 1 and stats.accepted == 0


def test_a_late_reply_to_an_id_reused_by_another_question_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the quarantine, the next question gets the same ID: the late reply to the first
    question still fails the question check and is not taken for the second one's answer."""
    monkeypatch.setattr(random, "getrandbits", lambda bits: 0x4242)  # what UdpMux draws IDs with
    ids: list[tuple[str, int]] = []

    def handler(q: dns.message.Message, transport: str) -> Packets:
        name = str(q.question[0].name).rstrip(".")
        ids.append((name, qid_of(q)))
        if name == "first.site.test":
            return Packets([forged_nx(q)], delays=[0.4])
        return Packets([real(q)], delays=[0.45])

    async def run(port: int) -> tuple[Observation, Observation, MuxStats]:
        mux = UdpMux("127.0.0.1", port, quarantine=0.0)
        mux.open()
        try:
            first = await fly(mux, subject(port), "first.site.test", ProbeSettings(timeout=0.2, retries=0))
            second = await fly(mux, subject(port), "second.site.test", ProbeSettings(timeout=1.5, retries=0))
        finally:
            mux.close()
        return first, second, mux.stats

    with fake_dns(handler) as server:
        first, second, stats = asyncio.run(run(server.port))
    assert ids == [("first.site.test", 0x4242), ("second.site.test", 0x4242)]
    assert_no_answer(first)
    assert answered(second) == [REAL] and second.rejected == 1
    assert (stats.rejected, stats.accepted) == (1, 1)


async def fly(mux: UdpMux, resolver: Resolver, qname: str, settings: ProbeSettings, qtype: str = "A") -> Observation:
    """One ``Flight`` (the engine's UDP path) to its end."""
    landed: asyncio.Future[Observation] = asyncio.get_running_loop().create_future()
    flight = Flight(resolver, qname, qtype, settings, Pacer(None), mux, landed.set_result)
    flight.start()
    return await landed


# --------------------------------------------------------------------------- forged first, then the real answer


@pytest.mark.parametrize("how", ["other port", "wrong id", "other question", "cut short"])
def test_a_forged_block_page_first_then_the_real_answer(how: str) -> None:
    def forged(q: dns.message.Message) -> bytes:
        return respond(q, a=["203.0.113.10"], aaaa=["::"], cname="blocked.isp.example").to_wire()

    def handler(q: dns.message.Message, transport: str) -> Packets:
        page = forged(q)
        if how == "other port":
            return Packets([page, real(q)], from_other_port=[True, False])
        if how == "wrong id":
            return Packets([struct.pack("!H", qid_of(q) ^ 1) + page[2:], real(q)])
        if how == "other question":
            other = dns.message.make_query("blocked.isp.example", "A")
            other.id = qid_of(q)
            return Packets([forged(other), real(q)])
        return Packets([page[:-1], real(q)])

    seen, _, _ = observe_many(handler, [("site.test", "A"), ("site.test", "AAAA")])
    assert answered(seen["site.test A"]) == [REAL]
    assert answered(seen["site.test AAAA"]) == ["2001:db8::2"]
    assert all(not o.chain()[1:] for o in seen.values())


def test_the_real_answer_is_kept_byte_for_byte_and_the_forgeries_are_not() -> None:
    sent: list[bytes] = []

    def handler(q: dns.message.Message, transport: str) -> Packets:
        sent.append(real(q))
        return Packets([wrong_id(q), WRONG_QUESTION["other name"](q), forged_nx(q)[:-2], sent[-1],
                        forged_nx(q)])

    obs, stats = observe(handler)
    assert obs.wire == sent[0] and obs.rejected == 2
    # The block sent after the answer finds its question answered (stray), if it is read at all
    # before the run ends.
    assert 1 <= stats.stray <= 2 and stats.accepted == 1
