"""Fuzzing the reply path: random octets, mutated real responses and structured messages through
the fast decoder, dnspython, the accept step and the mux's gate, down to an observation and a
judgement. Every input is decoded or rejected, never an uncaught exception; where both decoders
read a packet they agree on every field the classifier uses (``tests/probe/test_fastwire.check``).

Each input is one ``st.binary`` draw, read as a string of choices (``Choices``): Hypothesis spends
about a millisecond on every draw here, so one draw an input is what lets the 50,000 inputs of
this file's share of the fuzz budget run in about a minute. All-zero octets read as the plainest
choices, so a failing input still shrinks towards a simple packet.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
from hypothesis import given
from hypothesis import strategies as st

from checker import classify
from checker.models import BlockSignals, Observation, Reason, Record, Verdict
from checker.probe.client import _observation, _Query
from checker.probe.fastwire import Decoded, Rejected
from checker.probe.message import Described
from checker.probe.mux import Reply, UdpMux, _Pending, question_key
from tests.fuzzing import fuzz
from tests.probe.test_fastwire import QNAME, Packet, Tally, check, label_wire, opt, rr

QID = 0x1234
A, NS, CNAME, SOA, TXT, AAAA, OPT = 1, 2, 5, 6, 16, 28, 41
T = TypeVar("T")


# --------------------------------------------------------------------------- the path under test


class WrittenQuery(dns.message.QueryMessage):
    """A parsed query that gives its wire form without writing it again (``check`` asks for it
    twice an input, and dnspython's writer would cost more than the rest of the input's work)."""

    wire: bytes

    def to_wire(self, *args: Any, **kwargs: Any) -> bytes:
        return self.wire if not args and not kwargs else super().to_wire(*args, **kwargs)


class Asked:
    """One question as the client asks it (``client._Query``, with a known ID), and the dnspython
    query that is the reference for it."""

    def __init__(self, qname: str, rdtype: str = "A", rdclass: str = "IN", qid: int = QID) -> None:
        self.query = _Query(qname, rdtype, rdclass)
        self.wire = struct.pack("!H", qid) + self.query.wire()[2:]
        message = dns.message.from_wire(self.wire)
        assert type(message) is dns.message.QueryMessage
        message.__class__ = WrittenQuery  # the same object, its to_wire() remembered
        assert isinstance(message, WrittenQuery)
        message.wire = self.wire
        assert super(WrittenQuery, message).to_wire() == self.wire
        self.message: dns.message.QueryMessage = message
        self.qid = qid
        key = question_key(self.wire)
        assert key is not None
        self.key = key
        self.qname_wire = self.wire[12 : 12 + len(key) - 4]
        self.qtype = rdtype if rdclass == "IN" else f"{rdclass} {rdtype}"


ASKED = [Asked("www.example.test"), Asked("www.example.test", "AAAA"), Asked("id.server", "TXT", "CH"),
         Asked("a.test", qid=0x8180)]
CONTROLS = classify.NameView({
    qtype: classify.control_view([Observation(
        "ctl", "x", qtype, "udp", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1.0, 1, rcode="NOERROR",
        answers=(Record("www.example.test", qtype, 60, address),))])
    for qtype, address in (("A", "198.51.100.1"), ("AAAA", "2001:db8::1"))
})
"""Controls that resolve the name, so that a block would be believed."""
SIGNALS = BlockSignals(cnames=frozenset({"blocked.isp.example"}), drop=True)
"""A resolver that declares that it drops blocked names: silence from it is a block."""
STARTED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TALLY = Tally(0, 0, 0)


def through_the_path(asked: Asked, data: bytes, tally: Tally = TALLY) -> Described | None:
    """``data`` as the client treats a datagram for ``asked``; the fields of the observation made of
    it, or None when it is rejected.

    On the way: the fast decoder against dnspython (``check``: the same fields, or a fallback, or a
    rejection dnspython makes too); the accept step (``client._Query.accept``) takes what the fast
    decoder reads and nothing it rejects; the mux's gate (ID, QR, the question echoed) delivers it
    only when it passes and the accept step takes it, and counts it otherwise; an accepted reply
    becomes an observation the classifier judges, and a rejected one leaves a timeout that is
    never a block, not even from a resolver that declares it drops blocked names.
    """
    result = check(asked.message, data, tally)
    accepted = asked.query.accept(data)  # with the ID the datagram carries: the mux matched it
    if data[:2] == asked.wire[:2]:
        if isinstance(result, Decoded):
            assert accepted == result.described, data.hex()
        elif isinstance(result, Rejected):
            assert accepted is None, data.hex()

    mux = UdpMux("127.0.0.1", 9)  # never opened: the datagram is handed to it
    replies: list[Reply] = []
    mux._pending[asked.qid] = _Pending(asked.qid, asked.key, lambda _: accepted, replies.append)
    mux._deliver(data)
    gate = (len(data) >= 12 and data[:2] == asked.wire[:2] and bool(data[2] & 0x80) and data[4:6] == b"\x00\x01"
            and data[12 : 12 + len(asked.key)].lower() == asked.key)
    stats = mux.stats
    delivered: Described | None = None
    if gate and accepted is not None:
        assert len(replies) == 1 and replies[0].wire == data and replies[0].parsed == accepted
        assert (stats.accepted, stats.rejected, stats.stray) == (1, 0, 0)
        delivered = accepted
    else:
        assert replies == [] and stats.accepted == 0 and stats.rejected + stats.stray == 1

    if delivered is None:
        observation = _observation("isp", asked.query.qname, asked.qtype, "udp", STARTED, 1.0, 1, 1, None, None,
                                   "timeout")
        outcome = classify.judge_answer(observation, CONTROLS, SIGNALS)
        assert outcome.verdict is Verdict.INCONCLUSIVE and outcome.reason is Reason.TIMEOUT
    else:
        observation = _observation("isp", asked.query.qname, asked.qtype, "udp", STARTED, 1.0, 1, 0, data, delivered,
                                   None)
        classify.judge_answer(observation, CONTROLS, SIGNALS)
    return delivered


class Choices:
    """Choices read from a string of octets, in turn; past its end every choice is 0 (the plainest)."""

    __slots__ = ("_at", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def below(self, n: int) -> int:
        """A number from 0 to ``n - 1``."""
        if n <= 1:
            return 0
        size = 1 if n <= 256 else 2 if n <= 65536 else 4
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return int.from_bytes(chunk, "big") % n if chunk else 0

    def rare(self, one_in: int) -> bool:
        """True about once in ``one_in`` (never past the end)."""
        return self.below(one_in) == one_in - 1

    def pick(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def octets(self, size: int) -> bytes:
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk.ljust(size, b"\x00")


# --------------------------------------------------------------------------- random octets


def framed(raw: bytes) -> tuple[Asked, bytes]:
    """Random octets behind as much of a plausible start as the first octet says: nothing, our ID,
    our ID and a response's flags, or all that, one question echoed, and counts."""
    if len(raw) < 3:
        return ASKED[0], raw
    asked = ASKED[raw[0] & 3]
    kind = raw[0] >> 2 & 3
    rest = raw[3:]
    if kind == 0:
        return asked, raw
    if kind == 1:
        return asked, asked.wire[:2] + raw[1:]
    flags = struct.pack("!H", 0x8000 | int.from_bytes(raw[1:3], "big"))
    if kind == 2:
        return asked, asked.wire[:2] + flags + rest
    counts = bytes(b & 7 for b in rest[:6].ljust(6, b"\x00"))  # small counts: the records are read
    return asked, asked.wire[:2] + flags + b"\x00\x01" + counts + asked.wire[12 : 12 + len(asked.key)] + rest[6:]


@fuzz(19_000, "dns")
@given(raw=st.binary(max_size=160))
def test_random_octets(raw: bytes) -> None:
    through_the_path(*framed(raw))


# --------------------------------------------------------------------------- mutated real responses


def _seeds() -> list[tuple[Asked, bytes]]:
    """Real responses of the shapes resolvers send, each accepted as it is, to mutate."""
    a, aaaa, ch = ASKED[0], ASKED[1], ASKED[2]

    def response(asked: Asked, rcode: dns.rcode.Rcode = dns.rcode.NOERROR,
                 options: list[dns.edns.Option] | None = None, edns: bool = True) -> dns.message.Message:
        message = dns.message.make_response(asked.message, recursion_available=True)
        message.set_rcode(rcode)
        message.use_edns(0 if edns else False, payload=1232, options=options or [])
        return message

    noerror = response(a)
    noerror.answer.append(dns.rrset.from_text_list("www.example.test.", 60, "IN", "A", ["198.51.100.1", "0.0.0.0"]))
    nxdomain = response(a, dns.rcode.NXDOMAIN, [dns.edns.EDEOption(dns.edns.EDECode.BLOCKED, "rpz: blocked")])
    nxdomain.authority.append(dns.rrset.from_text("test.", 5, "IN", "SOA", "ns.test. host.test. 1 3600 600 86400 60"))
    chain = response(aaaa, edns=False)
    chain.answer.append(dns.rrset.from_text("www.example.test.", 300, "IN", "CNAME", "edge.cdn.example."))
    chain.answer.append(dns.rrset.from_text("edge.cdn.example.", 300, "IN", "CNAME", "blocked.isp.example."))
    chain.answer.append(dns.rrset.from_text_list("blocked.isp.example.", 20, "IN", "AAAA", ["::", "2001:db8::1"]))
    refused = response(a, dns.rcode.REFUSED, [dns.edns.EDEOption(dns.edns.EDECode.FILTERED)])
    refused.flags |= dns.flags.TC
    txt = response(ch)
    txt.answer.append(dns.rrset.from_text("id.server.", 0, "CH", "TXT", '"ns1.example"'))
    mixed = response(a, options=[dns.edns.NSIDOption(b"r1"), dns.edns.ECSOption("192.0.2.0", 24)])
    mixed.answer.append(dns.rrset.from_text("www.example.test.", 60, "IN", "TXT", '"x"'))
    mixed.additional.append(dns.rrset.from_text("ns.example.test.", 60, "IN", "A", "192.0.2.53"))
    servfail = response(aaaa, dns.rcode.SERVFAIL, edns=False)
    out = [(asked, message.to_wire(want_shuffle=False)) for asked, message in (
        (a, noerror), (a, nxdomain), (aaaa, chain), (a, refused), (ch, txt), (a, mixed), (aaaa, servfail))]
    # Written octet by octet: names through pointers into the question and into earlier records,
    # two RRsets interleaved, an SOA owned by a suffix of the question name.
    question = label_wire([b"www", b"example", b"test"]) + b"\x00\x01\x00\x01"
    handmade = Packet(id=QID, question=question, answers=[
        rr(QNAME, CNAME, b"\x04edge" + b"\xc0\x10"),  # edge.example.test (0x10: "example" in the question)
        rr(b"\xc0\x27", A, bytes([198, 51, 100, 7])),  # 0x27: the CNAME's data
        rr(QNAME, CNAME, label_wire([b"other", b"test"])),
        rr(b"\xc0\x27", A, bytes([198, 51, 100, 8])),
    ], authority=[rr(b"\xc0\x18", SOA, b"\xc0\x0c\xc0\x0c" + bytes(20))], additional=[opt((15, b"\x00\x10x"))])
    out.append((a, handmade.wire()))
    for asked, wire in out:
        assert through_the_path(asked, wire, Tally(0, 0, 0)) is not None, wire.hex()
    return out


SEEDS = _seeds()
MUTATIONS = ("flip", "truncate", "pointer", "overwrite", "insert", "delete", "count", "splice", "loop", "repeat")


def mutated(c: Choices) -> tuple[Asked, bytes]:
    """A seed with one to four mutations, anywhere after the ID (a changed ID is rejected before anything is read)."""
    asked, seed = SEEDS[c.below(len(SEEDS))]
    data = bytearray(seed)
    for _ in range(1 + c.below(4)):
        if len(data) < 3:
            break
        kind = MUTATIONS[c.below(len(MUTATIONS))]
        at = 2 + c.below(len(data) - 2)
        if kind == "flip":
            data[at] ^= 1 << c.below(8)
        elif kind == "truncate":
            del data[at:]
        elif kind == "pointer":
            data[at : at + 2] = struct.pack("!H", 0xC000 | c.below(len(data) + 3))
        elif kind == "overwrite":
            data[at] = c.below(256)
        elif kind == "insert":
            data[at:at] = c.octets(1 + c.below(4))
        elif kind == "delete":
            del data[at : at + 1 + c.below(4)]
        elif kind == "count" and len(data) >= 12:
            which = 4 + 2 * c.below(4)
            data[which : which + 2] = struct.pack("!H", 0xFFFF if c.rare(8) else c.below(9))
        elif kind == "splice":  # the start of this response and the rest of another
            other = SEEDS[c.below(len(SEEDS))][1]
            data[at:] = other[c.below(len(other)) :]
        elif kind == "loop":  # a pointer to the question name turned on itself, back by one, or forward
            found = data.find(b"\xc0\x0c", at)
            if found >= 0:
                target = (found, found - 2, found + 2 + c.below(6))[c.below(3)]
                data[found : found + 2] = struct.pack("!H", 0xC000 | target)
        elif kind == "repeat":  # a span written twice (a record repeated, or half of one)
            end = at + 1 + c.below(32)
            data[end:end] = data[at:end]
    return asked, bytes(data)


@fuzz(17_000, "dns")
@given(raw=st.binary(min_size=1, max_size=40))
def test_mutated_responses(raw: bytes) -> None:
    through_the_path(*mutated(Choices(raw)))


# --------------------------------------------------------------------------- structured messages


TTLS = (60, 0, 300, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
RCODES = (0, 3, 0, 3, 2, 5, 1, 4, 9, 15)
EDE_TEXTS = (b"", b"blocked by RPZ", "Zensur: blockiert \u2713".encode(), b"\xff\xfe", b"x\x00")


class Writer:
    """A response written octet by octet from ``Choices``: names compressed against earlier ones
    (or pointing anywhere), records of the types the fast decoder reads and others, an OPT record
    with Extended DNS Errors and other options; now and then a count, a length or a flag wrong."""

    def __init__(self, c: Choices, asked: Asked) -> None:
        self.c = c
        self.asked = asked
        self.out = bytearray(12)
        self.names = [12]  # where names start, for pointers

    def name(self) -> None:
        c, out = self.c, self.out
        kind = c.below(10)
        if kind <= 3:
            out += b"\xc0\x0c"  # the question name: nearly every answer
        elif kind == 4:
            self.names.append(len(out))
            out += self.asked.qname_wire.upper() if c.below(2) else self.asked.qname_wire
        elif kind == 5:  # a label on top of an earlier name
            self.names.append(len(out))
            out += b"\x04edge" + struct.pack("!H", 0xC000 | c.pick(self.names[:-1]))
        elif kind == 6:
            self.names.append(len(out))
            out += label_wire([b"other", b"test"])
        elif kind == 7:
            out += b"\x00"
        elif kind == 8:  # odd octets in a label
            self.names.append(len(out))
            out += label_wire([c.octets(1 + c.below(6)), b"test"])
        else:  # a pointer anywhere: forward, at itself, past the end, into the middle of a label
            out += struct.pack("!H", 0xC000 | c.below(len(out) + 8))

    def record(self, section: str) -> None:
        c, out = self.c, self.out
        if section == "additional" and not c.rare(6):
            self.opt()
            return
        self.name()
        fixed = len(out)
        out += bytes(10)
        start = len(out)
        rdtype = (self.asked.query.message().question[0].rdtype, A, AAAA, CNAME, SOA, TXT, NS, OPT,
                  c.below(65536))[c.below(9)]
        if rdtype == A:
            out += c.octets(5 if c.rare(10) else 4)
        elif rdtype == AAAA:
            out += c.octets(15 if c.rare(10) else 16)
        elif rdtype in (CNAME, NS):
            self.name()
        elif rdtype == SOA:
            self.name()
            self.name()
            out += c.octets(19 if c.rare(10) else 20)
        elif rdtype == TXT:
            text = c.octets(c.below(12))
            out += bytes([len(text)]) + text
        else:
            out += c.octets(c.below(8))
        rdclass = 1 if not c.rare(8) else c.pick((3, 255, 254, 1232))
        rdlen = len(out) - start
        if c.rare(12):
            rdlen = max(0, rdlen + c.pick((-1, 1, 2, 200)))
        out[fixed : fixed + 10] = struct.pack("!HHIH", rdtype, rdclass, c.pick(TTLS), rdlen)

    def opt(self) -> None:
        c, out = self.c, self.out
        out += c.pick((b"\x00", b"\x00", b"\x00", b"\xc0\x0c"))
        ttl = 0x01000000 if c.rare(10) else c.pick((0, 0x8000))
        options = bytearray()
        for _ in range(c.below(4)):
            code = (15, 15, 15, 3, 12, 8, 10, c.below(65536))[c.below(8)]
            if code == 15:
                data = struct.pack("!H", c.pick((15, 16, 17, 18, 0, 3, 24, 0xFFFF))) + c.pick(EDE_TEXTS)
            else:
                data = c.octets(c.below(10))
            length = len(data) if not c.rare(10) else c.below(14)
            options += struct.pack("!HH", code, length) + data
        out += struct.pack("!HHIH", OPT, 1232, ttl, len(options)) + options

    def message(self) -> bytes:
        c, out, asked = self.c, self.out, self.asked
        qdcount = 1 if not c.rare(12) else c.pick((0, 2))
        for _ in range(qdcount):
            if c.rare(10):
                out += label_wire([b"other", b"test"]) + asked.wire[-15:-11]  # another name, our type and class
            else:
                out += asked.wire[12 : 12 + len(asked.key)]
            if c.rare(12):
                out[-4:] = struct.pack("!HH", c.pick((1, 16, 28, 255)), c.pick((1, 3, 255)))
        counts = []
        for section, most in (("answer", 6), ("authority", 2), ("additional", 2)):
            n = c.below(most + 1)
            for _ in range(n):
                self.record(section)
            counts.append(n)
        if c.rare(8):
            counts[c.below(3)] += c.pick((-1, 1))
        flags = 0x8000 | c.below(128) << 4 | c.pick(RCODES)
        if c.rare(12):
            flags ^= c.pick((0x8000, 0x0800, 0x2000))  # QR cleared, or another opcode
        qid = asked.qid if not c.rare(16) else asked.qid ^ 0x0101
        out[:12] = struct.pack("!HHHHHH", qid, flags, qdcount, *(max(n, 0) for n in counts))
        if c.rare(10):
            out += c.octets(1 + c.below(6))  # trailing octets
        return bytes(out)


def structured(c: Choices) -> tuple[Asked, bytes]:
    asked = ASKED[c.below(3)]
    return asked, Writer(c, asked).message()


@fuzz(16_000, "dns")
@given(raw=st.binary(min_size=2, max_size=200))
def test_structured_messages(raw: bytes) -> None:
    through_the_path(*structured(Choices(raw)))


# --------------------------------------------------------------------------- the generators themselves


def test_every_generator_reaches_every_outcome() -> None:
    """The properties above mean something only if inputs take the fast path, fall back to
    dnspython, are rejected, and are delivered, from each generator."""
    rng = random.Random(8)
    generators: list[tuple[str, Callable[[bytes], tuple[Asked, bytes]], int]] = [
        ("octets", framed, 120),
        ("mutated", lambda raw: mutated(Choices(raw)), 40),
        ("structured", lambda raw: structured(Choices(raw)), 200),
    ]
    for name, make, size in generators:
        tally = Tally(0, 0, 0)
        delivered = 0
        for _ in range(600):
            asked, data = make(rng.randbytes(rng.randrange(size)))
            delivered += through_the_path(asked, data, tally) is not None
        assert tally.fallback > 20 and tally.rejected > 5, (name, tally)
        if name != "octets":  # random octets hardly ever make a whole response
            assert tally.fast > 20 and delivered > 20, (name, tally, delivered)
