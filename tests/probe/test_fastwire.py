"""The fast wire path against dnspython, the reference: queries byte for byte, and for every response
either the same observation fields, a fallback (``None``), or a rejection dnspython makes too."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dns.edns
import dns.exception
import dns.flags
import dns.ipv6
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from checker.models import ExtendedError, Record
from checker.probe import fastwire
from checker.probe.fastwire import Decoded, Rejected, decode, query_wire, question_of, to_described
from checker.probe.message import describe, make_query, parse_response

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --------------------------------------------------------------------------- the oracle


@dataclass
class Tally:
    """How the packets of one test went: fast path, fallback to dnspython, or rejected."""

    fast: int = 0
    fallback: int = 0
    rejected: int = 0


def outcome(text: str) -> None:
    """Count an outcome in Hypothesis' statistics (``pytest --hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(text)


def check(query: dns.message.Message, wire: bytes, tally: Tally | None = None) -> Decoded | Rejected | None:
    """Decode ``wire`` as the answer to ``query`` and hold the result against dnspython.

    ``Rejected``: dnspython rejects it too. ``Decoded``: dnspython accepts it and describes it
    with the same fields; the question and ID are the ones dnspython read. ``None``: anything.
    """
    asked = question_of(query.to_wire())
    result = decode(asked, wire)
    assert decode(query.to_wire(), wire) == result
    reference = parse_response(query, wire)
    if isinstance(result, Rejected):
        assert reference is None, f"fast path rejected ({result.reason}) what dnspython accepts: {wire.hex()}"
        outcome(f"rejected: {result.reason}")
        if tally is not None:
            tally.rejected += 1
    elif isinstance(result, Decoded):
        assert reference is not None, f"fast path decoded what dnspython rejects: {wire.hex()}"
        assert to_described(result) == describe(reference), wire.hex()
        assert result.id == reference.id
        question = reference.question[0]
        assert result.qname == question.name.to_text(omit_final_dot=True).lower()
        assert result.qtype == dns.rdatatype.to_text(question.rdtype)
        assert result.qclass == dns.rdataclass.to_text(question.rdclass)
        outcome("fast path")
        if tally is not None:
            tally.fast += 1
    else:
        assert result is None
        outcome("fallback: dnspython " + ("rejects" if reference is None else "accepts"))
        if tally is not None:
            tally.fallback += 1
    return result


def decoded(query: dns.message.Message, wire: bytes) -> Decoded:
    """``check``, and the packet must take the fast path."""
    result = check(query, wire)
    assert isinstance(result, Decoded), f"expected the fast path, got {result!r}"
    return result


def query_for(
    qname: str = "www.Example.test", rdtype: str = "A", rdclass: str = "IN", qid: int = 0x1234,
) -> dns.message.Message:
    """``message.make_query`` with a known ID."""
    query = make_query(qname, rdtype, rdclass)
    query.id = qid
    return query


def response_to(query: dns.message.Message, *, edns: bool = True) -> dns.message.Message:
    response = dns.message.make_response(query, recursion_available=True)
    if edns:
        response.use_edns(0, payload=1232)
    else:
        response.use_edns(False)
    return response


def rrset(name: str, ttl: int, rdtype: str, *datas: str) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name, ttl, "IN", rdtype, list(datas))


# --------------------------------------------------------------------------- queries

NORMAL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
ODD_ASCII = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "\\.")
labels_text = st.text(NORMAL, min_size=1, max_size=12) | st.text(ODD_ASCII, min_size=1, max_size=70)
qnames = st.builds(
    lambda labels, dot: ".".join(labels) + ("." if dot else ""),
    st.lists(labels_text, min_size=1, max_size=6),
    st.booleans(),
) | st.text(ODD_ASCII + ".", max_size=40) | st.sampled_from(["", ".", "@", "a..b", ".a", "a" * 64, "a.b."])
rdtypes = st.sampled_from(sorted(fastwire.RDATATYPES)).flatmap(lambda t: st.sampled_from([t, t.lower()])) | st.builds(
    "TYPE{}".format, st.integers(0, 65535),
)


@settings(SETTINGS, max_examples=300)
@given(qname=qnames, rdtype=rdtypes, rdclass=st.sampled_from(["IN", "CH"]), qid=st.integers(0, 65535))
def test_query_wire_is_dnspythons(qname: str, rdtype: str, rdclass: str, qid: int) -> None:
    try:
        expected = make_query(qname, rdtype, rdclass)
    except dns.exception.DNSException:
        with pytest.raises(ValueError, match=r"."):
            query_wire(qname, rdtype, rdclass, qid=qid)
        return
    expected.id = qid
    wire = query_wire(qname, rdtype, rdclass, qid=qid)
    assert wire == expected.to_wire()
    asked = question_of(wire)
    assert (asked.id, asked.rdtype, asked.rdclass) == (qid, expected.question[0].rdtype, expected.question[0].rdclass)
    assert asked == fastwire.template(rdtype, rdclass).question(qname, qid)


@pytest.mark.parametrize(
    ("qname", "rdtype", "rdclass", "qid"),
    [
        ("bücher.test", "A", "IN", 1),  # not an A-label: normalise first
        ("a\\.b.test", "A", "IN", 1),  # escapes are dnspython's business
        ("a..test", "A", "IN", 1),
        ("a" * 64 + ".test", "A", "IN", 1),
        (".".join(["a" * 63] * 4), "A", "IN", 1),
        ("example.test", "NOSUCHTYPE", "IN", 1),
        ("example.test", "TYPE65536", "IN", 1),
        ("example.test", "A", "HS", 1),
        ("example.test", "A", "IN", 65536),
        ("example.test", "A", "IN", -1),
    ],
)
def test_query_wire_refuses(qname: str, rdtype: str, rdclass: str, qid: int) -> None:
    with pytest.raises(ValueError, match=r"."):
        query_wire(qname, rdtype, rdclass, qid=qid)


def test_question_of_refuses_what_is_not_one_question() -> None:
    wire = query_wire("example.test", "A", qid=7)
    with pytest.raises(ValueError, match="12 octets"):
        question_of(wire[:11])
    with pytest.raises(ValueError, match="one question"):
        question_of(wire[:4] + b"\x00\x02" + wire[6:])
    with pytest.raises(ValueError, match="does not parse"):
        question_of(wire[:20])


# --------------------------------------------------------------------------- tables and data forms


def test_type_and_class_mnemonics_are_dnspythons() -> None:
    for code in range(65536):
        assert fastwire.type_text(code) == dns.rdatatype.to_text(dns.rdatatype.RdataType.make(code))
        assert fastwire.class_text(code) == dns.rdataclass.to_text(dns.rdataclass.RdataClass.make(code))
    for text, code in fastwire.RDATATYPES.items():
        assert dns.rdatatype.from_text(text) == code == fastwire.type_code(text.lower())


def test_rcodes_and_flags_are_dnspythons() -> None:
    assert tuple(dns.rcode.to_text(dns.rcode.Rcode.make(value)) for value in range(16)) == fastwire.RCODES
    for flags in range(65536):
        if flags & ~0x87F0 == 0:
            assert fastwire._FLAGS_TEXT[flags] == tuple(dns.flags.to_text(flags).lower().split())


def test_options_dnspython_checks_are_left_to_it() -> None:
    special = {int(code) for code in dns.edns._type_to_class}
    assert special - {fastwire._EDE, int(dns.edns.OptionType.NSID)} == fastwire._CHECKED_OPTIONS


zero_heavy_words = st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x0DB8]) | st.integers(0, 0xFFFF), min_size=8,
                            max_size=8)
ipv6_octets = st.binary(min_size=16, max_size=16) | zero_heavy_words.map(lambda w: struct.pack("!8H", *w))


@settings(SETTINGS, max_examples=300)
@given(address=ipv6_octets)
def test_ipv6_text_is_dnspythons(address: bytes) -> None:
    text = fastwire.ipv6_text(address)
    assert text == dns.ipv6.inet_ntoa(address)
    assert ipaddress.IPv6Address(text).packed == address


@pytest.mark.parametrize(
    ("address", "dnspython", "ipaddress_text"),
    [
        ("::", "::", "::"),
        ("::1", "::1", "::1"),
        ("2001:db8::11", "2001:db8::11", "2001:db8::11"),
        ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1", "2001:db8:0:1::1"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3", "1:0:0:2::3"),
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
        # Where dnspython and ipaddress (Python 3.11) disagree: dnspython keeps the dotted quad
        # of IPv4-compatible and IPv4-mapped addresses.
        ("::102:304", "::1.2.3.4", "::102:304"),
        ("::ffff:102:304", "::ffff:1.2.3.4", "::ffff:102:304"),
        ("::ffff:0:0", "::ffff:0.0.0.0", "::ffff:0:0"),
    ],
)
def test_ipv6_text_examples(address: str, dnspython: str, ipaddress_text: str) -> None:
    packed = ipaddress.IPv6Address(address).packed
    assert fastwire.ipv6_text(packed) == dns.ipv6.inet_ntoa(packed) == dnspython
    if ipaddress_text != dnspython:
        # Python 3.13 prints IPv4-mapped addresses dotted too; 3.11 and 3.12 do not.
        assert str(ipaddress.IPv6Address(packed)) in (ipaddress_text, dnspython)
    assert ipaddress.ip_address(dnspython) == ipaddress.ip_address(address)


wire_labels = st.binary(min_size=1, max_size=12) | st.text(NORMAL, min_size=1, max_size=12).map(str.encode)


@settings(SETTINGS, max_examples=200)
@given(labels=st.lists(wire_labels, max_size=5))
def test_name_text_is_dnspythons(labels: list[bytes]) -> None:
    name = dns.name.Name([*labels, b""])
    wire = name.to_wire()
    assert wire is not None
    assert fastwire.name_text(wire) == name.to_text()
    assert fastwire.owner_text(wire) == name.to_text(omit_final_dot=True).lower()


# --------------------------------------------------------------------------- the common shapes


def test_noerror_a_with_opt() -> None:
    query = query_for()
    response = response_to(query)
    response.answer.append(rrset("www.example.test.", 60, "A", "198.51.100.11", "198.51.100.12"))
    result = decoded(query, response.to_wire(want_shuffle=False))
    assert result.rcode == "NOERROR"
    assert result.flags == ("qr", "rd", "ra")
    assert (result.qname, result.qtype, result.qclass) == ("www.example.test", "A", "IN")
    assert result.answers == (
        Record("www.example.test", "A", 60, "198.51.100.11"),
        Record("www.example.test", "A", 60, "198.51.100.12"),
    )
    assert result.authority == () and result.ede == ()


def test_nxdomain_with_soa_and_ede() -> None:
    query = query_for("gone.test", "AAAA")
    response = response_to(query)
    response.set_rcode(dns.rcode.NXDOMAIN)
    response.authority.append(rrset("Test.", 5, "SOA", "NS.test. hostmaster.Test. 1 3600 600 86400 60"))
    response.use_edns(0, payload=1232, options=[
        dns.edns.EDEOption(dns.edns.EDECode.BLOCKED, "RPZ: blocké"),
        dns.edns.EDEOption(dns.edns.EDECode.FILTERED, ""),
        dns.edns.NSIDOption(b"resolver-1"),
        dns.edns.GenericOption(dns.edns.OptionType.PADDING, b"\x00" * 12),
    ])
    result = decoded(query, response.to_wire(want_shuffle=False))
    assert result.rcode == "NXDOMAIN"
    # Compression keeps the case of the octets pointed at: "Test." became a pointer to "test".
    assert result.authority == (Record("test", "SOA", 5, "NS.test. hostmaster.test. 1 3600 600 86400 60"),)
    assert result.ede == (ExtendedError(15, "RPZ: blocké"), ExtendedError(17, None))


def test_cname_chain_keeps_target_case_and_final_dot() -> None:
    query = query_for("WWW.Example.test", "AAAA")
    response = response_to(query, edns=False)
    response.flags |= dns.flags.AA | dns.flags.AD | dns.flags.CD
    response.answer.append(rrset("www.example.test.", 300, "CNAME", "Edge.CDN.example."))
    response.answer.append(rrset("edge.cdn.example.", 20, "CNAME", "."))
    response.answer.append(rrset("Edge.CDN.example.", 20, "AAAA", "::ffff:198.51.100.1", "2001:db8::"))
    result = decoded(query, response.to_wire(want_shuffle=False))
    assert result.flags == ("qr", "aa", "rd", "ra", "ad", "cd")
    assert [r.data for r in result.answers] == ["Edge.CDN.example.", ".", "::ffff:198.51.100.1", "2001:db8::"]
    assert [r.name for r in result.answers] == ["www.example.test", "edge.cdn.example", "edge.cdn.example",
                                                "edge.cdn.example"]


def test_refused_with_ede_and_tc() -> None:
    query = query_for("blocked.test")
    response = response_to(query)
    response.set_rcode(dns.rcode.REFUSED)
    response.flags |= dns.flags.TC
    response.use_edns(0, payload=1232, options=[dns.edns.EDEOption(dns.edns.EDECode.PROHIBITED)])
    result = decoded(query, response.to_wire(want_shuffle=False))
    assert (result.rcode, result.flags, result.ede) == ("REFUSED", ("qr", "tc", "rd", "ra"), (ExtendedError(18),))


def test_query_in_class_ch() -> None:
    query = query_for("id.server", "TXT", "CH")
    response = response_to(query)
    response.set_rcode(dns.rcode.SERVFAIL)
    result = decoded(query, response.to_wire(want_shuffle=False))
    assert (result.qname, result.qtype, result.qclass, result.rcode) == ("id.server", "TXT", "CH", "SERVFAIL")


# --------------------------------------------------------------------------- hand-made packets


def label_wire(labels: Sequence[bytes]) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


@dataclass
class Packet:
    """A response written octet by octet, to reach shapes dnspython's writer never produces."""

    id: int = 0x1234
    flags: int = 0x8180
    question: bytes = label_wire([b"www", b"example", b"test"]) + b"\x00\x01\x00\x01"
    qdcount: int = 1
    answers: list[bytes] = field(default_factory=list)
    authority: list[bytes] = field(default_factory=list)
    additional: list[bytes] = field(default_factory=list)
    trailing: bytes = b""

    def wire(self) -> bytes:
        header = struct.pack("!HHHHHH", self.id, self.flags, self.qdcount, len(self.answers), len(self.authority),
                             len(self.additional))
        body = self.question + b"".join(self.answers) + b"".join(self.authority) + b"".join(self.additional)
        return header + body + self.trailing


def rr(owner: bytes, rdtype: int, rdata: bytes, ttl: int = 60, rdclass: int = 1) -> bytes:
    return owner + struct.pack("!HHIH", rdtype, rdclass, ttl, len(rdata)) + rdata


def opt(*options: tuple[int, bytes], ttl: int = 0, owner: bytes = b"\x00") -> bytes:
    rdata = b"".join(struct.pack("!HH", code, len(data)) + data for code, data in options)
    return rr(owner, 41, rdata, ttl=ttl, rdclass=1232)


QNAME = b"\xc0\x0c"
A, NS, CNAME, SOA, TXT, AAAA = 1, 2, 5, 6, 16, 28


def test_rrsets_merge_as_dnspython_merges_them() -> None:
    packet = Packet(answers=[
        rr(QNAME, A, bytes([192, 0, 2, 1]), ttl=300),
        rr(label_wire([b"other", b"test"]), A, bytes([192, 0, 2, 9])),
        rr(label_wire([b"WWW", b"example", b"TEST"]), A, bytes([192, 0, 2, 2]), ttl=30),
        rr(QNAME, A, bytes([192, 0, 2, 1]), ttl=10),  # repeated rdata: dropped, but its TTL counts
        rr(QNAME, CNAME, label_wire([b"First", b"test"])),
        rr(QNAME, CNAME, label_wire([b"second", b"test"]), ttl=5),  # a later CNAME replaces the earlier
        rr(QNAME, A, bytes([192, 0, 2, 3]), ttl=0x80000000),  # read as TTL 0
    ])
    result = decoded(query_for(), packet.wire())
    assert result.answers == (
        Record("www.example.test", "A", 0, "192.0.2.1"),
        Record("www.example.test", "A", 0, "192.0.2.2"),
        Record("www.example.test", "A", 0, "192.0.2.3"),
        Record("other.test", "A", 60, "192.0.2.9"),
        Record("www.example.test", "CNAME", 5, "second.test."),
    )


def test_names_needing_escapes_print_as_dnspython_prints_them() -> None:
    odd = label_wire([b'a.b "c"', b"\xff\x00@$;()", b"test"])
    packet = Packet(answers=[rr(odd, CNAME, odd), rr(QNAME, CNAME, label_wire([]))])
    result = decoded(query_for(), packet.wire())
    assert result.answers[0] == Record(r'a\.b\032\"c\".\255\000\@\$\;\(\).test', "CNAME", 60,
                                       r'a\.b\032\"c\".\255\000\@\$\;\(\).test.')
    assert result.answers[1].data == "."


def test_trailing_octets_are_ignored() -> None:
    packet = Packet(answers=[rr(QNAME, A, bytes(4))], trailing=b"\xde\xad\xbe\xef")
    assert decoded(query_for(), packet.wire()).answers == (Record("www.example.test", "A", 60, "0.0.0.0"),)


def test_a_question_echoed_in_another_case_is_ours() -> None:
    packet = Packet(question=label_wire([b"WwW", b"EXAMPLE", b"test"]) + b"\x00\x01\x00\x01")
    assert decoded(query_for("www.example.TEST"), packet.wire()).qname == "www.example.test"


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (Packet(flags=0x0180), "qr"),
        (Packet(id=0x4321), "id"),
        (Packet(flags=0x8980), "opcode"),  # IQUERY
        (Packet(flags=0xA980), "opcode"),  # UPDATE
        (Packet(question=label_wire([b"www", b"example", b"test"]) + b"\x00\x1c\x00\x01"), "question"),
        (Packet(question=label_wire([b"www", b"example", b"test"]) + b"\x00\x01\x00\x03"), "question"),
        (Packet(question=label_wire([b"ww", b"example", b"test"]) + b"\x00\x01\x00\x01"), "question"),
        (Packet(id=0x4321, answers=[rr(QNAME, A, bytes(3))]), "id"),  # whatever the rest holds
    ],
)
def test_what_is_not_the_answer_is_rejected(packet: Packet, reason: str) -> None:
    query = query_for()
    assert check(query, packet.wire()) == Rejected(reason)
    assert parse_response(query, packet.wire()) is None


@pytest.mark.parametrize(
    "packet",
    [
        Packet(answers=[rr(QNAME, TXT, b"\x03abc")]),
        Packet(authority=[rr(label_wire([b"test"]), NS, label_wire([b"ns", b"test"]))]),
        Packet(additional=[rr(label_wire([b"ns", b"test"]), A, bytes(4))]),
        Packet(answers=[rr(QNAME, A, bytes(4), rdclass=3)]),
        Packet(additional=[opt(ttl=0x01000000)]),  # extended rcode BADVERS
        Packet(additional=[opt((8, b"\x00\x01\x18\x00\xc0\x00\x02"))]),  # ECS: dnspython checks it
        Packet(additional=[opt((10, b"12345678"))]),  # COOKIE
        Packet(qdcount=0, question=b"", flags=0x8182),  # SERVFAIL with no question: dnspython accepts it
        Packet(qdcount=2, question=Packet().question * 2),
    ],
)
def test_unusual_shapes_fall_back_to_dnspython(packet: Packet) -> None:
    query = query_for()
    assert check(query, packet.wire()) is None


@pytest.mark.parametrize(
    "packet",
    [
        Packet(answers=[rr(QNAME, A, bytes(5))]),
        Packet(answers=[rr(QNAME, AAAA, bytes(15))]),
        Packet(answers=[rr(QNAME, CNAME, label_wire([b"a"]) + b"\x00")]),  # rdata longer than the name
        Packet(authority=[rr(QNAME, SOA, QNAME + QNAME + bytes(19))]),
        Packet(answers=[rr(b"\xc0\x0e", A, bytes(4))]),  # points into the question name's label bytes
        Packet(answers=[rr(b"\xc0\x22", A, bytes(4))]),  # points at itself
        Packet(answers=[rr(b"\xc0\x30", A, bytes(4))]),  # points forward
        # points at the last octets of the A record before it, where a label runs into this very name
        Packet(answers=[rr(QNAME, A, b"\x00\x00\x02\x01"), rr(b"\xc0\x30", A, bytes(4))]),
        Packet(answers=[rr(b"\x40" + b"a" * 64 + b"\x00", A, bytes(4))]),  # label type 0x40
        Packet(additional=[opt(owner=QNAME)]),
        Packet(additional=[opt(), opt()]),
        Packet(answers=[opt()]),
        Packet(additional=[opt((15, b"\x00"))]),  # EDE shorter than its code
        Packet(additional=[opt((15, b"\x00\x0f\xff\xfe"))]),  # EDE text not UTF-8
        Packet(additional=[rr(b"\x00", 41, b"\x00\x0f\x00\x09\x00\x0f")]),  # option overruns the OPT
    ],
)
def test_malformed_packets_are_never_decoded(packet: Packet) -> None:
    query = query_for()
    assert check(query, packet.wire()) is None
    assert parse_response(query, packet.wire()) is None


@pytest.mark.parametrize("hops", [1, 2, 15, 16, 17, 40])
def test_pointer_chain_limit_is_dnspythons(hops: int) -> None:
    # CNAME rdata names, each a label and a pointer to the previous record's target.
    answers: list[bytes] = []
    offset = 12 + len(Packet().question)
    target = 12
    for _ in range(hops - 1):
        owner = QNAME
        rdata_at = offset + len(owner) + 10
        answers.append(rr(owner, CNAME, b"\x01x" + struct.pack("!H", 0xC000 | target)))
        target = rdata_at
        offset += len(answers[-1])
    answers.append(rr(struct.pack("!H", 0xC000 | target), A, bytes(4)))
    query = query_for()
    wire = Packet(answers=answers).wire()
    result = check(query, wire)
    if hops <= 16:
        assert isinstance(result, Decoded)
        assert result.answers[-1].name == ".".join(["x"] * (hops - 1) + ["www.example.test"])
    else:
        assert result is None
        assert parse_response(query, wire) is None


def test_names_over_255_octets_are_never_decoded() -> None:
    long_target = label_wire([b"a" * 63] * 3 + [b"b" * 61])  # 255 octets: the longest name
    assert len(long_target) == 255
    fits = Packet(answers=[rr(QNAME, CNAME, long_target)])
    assert decoded(query_for(), fits.wire()).answers[0].data.startswith("aaa")
    too_long = Packet(answers=[rr(QNAME, CNAME, b"\x01x" + long_target)])
    assert check(query_for(), too_long.wire()) is None
    assert parse_response(query_for(), too_long.wire()) is None


# --------------------------------------------------------------------------- generated responses

def label_of(number: int) -> str:
    """A label of NORMAL characters spelled by a number (one draw instead of one per character)."""
    out = []
    while True:
        number, digit = divmod(number, len(NORMAL))
        out.append(NORMAL[digit])
        if not number:
            return "".join(out)


normal_label = st.integers(0, len(NORMAL) ** 10).map(label_of)
normal_names = st.lists(normal_label, min_size=1, max_size=4).map(".".join)
odd_label = st.binary(min_size=1, max_size=8) | st.sampled_from([b"a.b", b"*", b"\\", b"@", b" ", b"\xc3\xa9", b"$"])
ttls = st.sampled_from([0, 1, 60, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]) | st.integers(0, 0xFFFFFFFF)
ede_texts = st.none() | st.just("") | st.text(max_size=30) | st.sampled_from(["blocked by RPZ", "Zensur: blockiert ✓"])
RCODES = ["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP", "YXDOMAIN", "NOTAUTH", "DSOTYPENI"]
EXTENDED_RCODES = ["BADVERS", "BADCOOKIE"]
ODD_RECORDS = [
    ("TXT", '"hello" "world"'), ("MX", "10 mail.example.test."), ("NS", "ns1.example.test."), ("PTR", "x.test."),
    ("DS", "12345 8 2 " + "ab" * 32), ("SRV", "0 5 443 svc.test."), ("CAA", '0 issue "ca.test"'),
    ("HINFO", '"cpu" "os"'), ("DNAME", "elsewhere.test."),
]


def mixed_case(draw: st.DrawFn, text: str) -> str:
    """``text`` with some letters swapped to the other case (the 0x20 trick, or a sloppy server)."""
    mask = draw(st.integers(0, (1 << len(text)) - 1))
    return "".join(c.swapcase() if mask >> i & 1 else c for i, c in enumerate(text))


def a_name(draw: st.DrawFn, near: str) -> dns.name.Name:
    """A name for records: the query name, a name sharing its suffix (compressed), or an odd one."""
    kind = draw(st.sampled_from(["same", "same", "sibling", "child", "other", "odd", "root"]))
    if kind == "same":
        return dns.name.from_text(mixed_case(draw, near))
    if kind == "sibling" and "." in near:
        return dns.name.from_text(draw(normal_label) + "." + near.split(".", 1)[1])
    if kind in ("child", "sibling"):
        return dns.name.from_text(draw(normal_label) + "." + mixed_case(draw, near))
    if kind == "other":
        return dns.name.from_text(draw(normal_names))
    if kind == "odd":
        return dns.name.Name([*draw(st.lists(odd_label, min_size=1, max_size=3)), b""])
    return dns.name.root


@dataclass
class Generated:
    """A response built with dnspython, and whether the fast path must take it."""

    query: dns.message.Message
    wire: bytes
    in_shape: bool


@st.composite
def dnspython_responses(draw: st.DrawFn) -> Generated:
    """Responses dnspython writes (with its name compression): CNAME chains, A and AAAA RRsets, SOA,
    EDE and other options, every flag, common and extended rcodes, and records of other types."""
    qname = draw(normal_names)
    rdtype = draw(st.sampled_from(["A", "A", "AAAA", "AAAA", "TXT", "CNAME", "MX"]))
    rdclass = draw(st.sampled_from(["IN", "IN", "IN", "CH"]))
    query = query_for(qname, rdtype, rdclass, draw(st.integers(0, 65535)))
    response = dns.message.make_response(query, recursion_available=draw(st.booleans()))
    in_shape = True
    response.question = [dns.rrset.RRset(dns.name.from_text(mixed_case(draw, qname)), query.question[0].rdclass,
                                         query.question[0].rdtype)]
    response.flags |= draw(st.integers(0, 0x7F)) << 4 & 0x07F0  # AA TC RD RA Z AD CD, any of them
    edns = draw(st.booleans())
    rcode = draw(st.sampled_from(RCODES + (EXTENDED_RCODES if edns else [])))
    in_shape &= rcode not in EXTENDED_RCODES

    owner = dns.name.from_text(mixed_case(draw, qname))
    for _ in range(draw(st.integers(0, 3))):  # a CNAME chain
        target = a_name(draw, qname)
        response.answer.append(dns.rrset.from_rdata_list(owner, draw(ttls), [
            dns.rdata.from_text("IN", "CNAME", target.to_text())]))
        owner = target
    for address_type in draw(st.lists(st.sampled_from(["A", "AAAA"]), max_size=2, unique=True)):
        where = owner if draw(st.booleans()) else a_name(draw, qname)
        if address_type == "A":
            packed = draw(st.binary(min_size=4, max_size=16))
            texts = [".".join(str(b) for b in packed[i : i + 4]) for i in range(0, len(packed) - 3, 4)]
        else:
            texts = [str(ipaddress.IPv6Address(data)) for data in
                     draw(st.lists(ipv6_octets, min_size=1, max_size=3))]
        response.answer.append(dns.rrset.from_text_list(where, draw(ttls), "IN", address_type, texts))
    if draw(st.booleans()):
        zone = a_name(draw, qname)
        numbers = draw(st.binary(min_size=20, max_size=20))
        soa = f"{a_name(draw, qname)} {a_name(draw, qname)} " + " ".join(
            str(n) for n in struct.unpack("!IIIII", numbers))
        response.authority.append(dns.rrset.from_text(zone, draw(ttls), "IN", "SOA", soa))
    for section in draw(st.lists(st.sampled_from(["answer", "authority", "additional"]), max_size=2)):
        if draw(st.integers(0, 2)):
            continue  # records of other types in a third of the responses or so
        rtype, text = draw(st.sampled_from(ODD_RECORDS))
        getattr(response, section).append(dns.rrset.from_text(a_name(draw, qname), draw(ttls), "IN", rtype, text))
        in_shape = False
    if draw(st.integers(0, 9)) == 0:  # a record in class CH
        response.answer.append(dns.rrset.from_text(owner, 60, "CH", "TXT", '"x"'))
        in_shape = False

    options: list[dns.edns.Option] = []
    kinds = ["ede", "ede", "ede", "ede", "nsid", "padding", "ecs", "cookie"]
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=3)):
        if kind == "ede":
            code = draw(st.sampled_from([15, 16, 17, 18, 0, 3, 24]) | st.integers(0, 65535))
            options.append(dns.edns.EDEOption(dns.edns.EDECode.make(code), draw(ede_texts)))
        elif kind == "nsid":
            options.append(dns.edns.NSIDOption(draw(st.binary(max_size=8))))
        elif kind == "padding":
            options.append(dns.edns.GenericOption(dns.edns.OptionType.PADDING, bytes(draw(st.integers(0, 16)))))
        elif kind == "ecs":
            options.append(dns.edns.ECSOption("192.0.2.0", 24))
            in_shape &= not edns
        else:
            options.append(dns.edns.CookieOption(b"c" * 8, b"s" * 8))
            in_shape &= not edns
    response.use_edns(0 if edns else False, payload=draw(st.sampled_from([512, 1232, 4096])), options=options)
    response.set_rcode(dns.rcode.from_text(rcode))
    wire = response.to_wire(want_shuffle=False)
    if draw(st.integers(0, 9)) == 0:
        wire += draw(st.binary(min_size=1, max_size=8))  # trailing octets
    return Generated(query, wire, in_shape)


@settings(SETTINGS, max_examples=550)
@given(generated=dnspython_responses())
def test_dnspython_built_responses(generated: Generated) -> None:
    result = check(generated.query, generated.wire)
    if generated.in_shape:
        assert isinstance(result, Decoded), f"the fast path refused a common shape: {generated.wire.hex()}"


@st.composite
def hand_made(draw: st.DrawFn) -> tuple[dns.message.Message, bytes]:
    """Packets written octet by octet: repeated and interleaved RRsets, odd labels, pointers into
    earlier names; and in a third of them, corruption anywhere: wild pointers, bad lengths, odd
    classes and types, odd OPT records, wrong counts, another ID, opcode or question."""
    wild = draw(st.integers(0, 2)) == 0

    def chance(one_in: int) -> bool:
        return wild and draw(st.integers(1, one_in)) == 1

    qlabels = draw(st.lists(normal_label, min_size=1, max_size=3))
    query = query_for(".".join(qlabels), draw(st.sampled_from(["A", "AAAA"])), "IN", 0x0A0B)
    out = bytearray(12)
    offsets: dict[tuple[bytes, ...], int] = {}

    def name(labels: Sequence[bytes]) -> bytes:
        """A name written at the current end of ``out``, compressed against earlier names or not."""
        if chance(8):
            return struct.pack("!H", 0xC000 | draw(st.integers(0, len(out) + 4)))  # a pointer anywhere
        compress = draw(st.integers(0, 3)) > 0
        here = len(out)
        wire = bytearray()
        for i in range(len(labels)):
            suffix = tuple(label.lower() for label in labels[i:])
            if compress and suffix in offsets:
                return bytes(wire) + struct.pack("!H", 0xC000 | offsets[suffix])
            offsets.setdefault(suffix, here + len(wire))
            wire += bytes([len(labels[i])]) + labels[i]
        return bytes(wire) + b"\x00"

    def some_labels() -> list[bytes]:
        choice = draw(st.sampled_from(["q", "q", "q", "sub", "odd", "root"]))
        if choice == "q":
            return [mixed_case(draw, label).encode() for label in qlabels]
        if choice == "sub":
            return [draw(normal_label).encode(), *(label.encode() for label in qlabels)]
        if choice == "odd":
            return draw(st.lists(odd_label, min_size=1, max_size=3))
        return []

    def octets(size: int) -> bytes:
        return draw(st.binary(max_size=size + 2) if chance(6) else st.binary(min_size=size, max_size=size))

    flags = 0x8000 | draw(st.integers(0, 0x7F)) << 4 | draw(st.sampled_from([0, 0, 0, 3, 3, 2, 5, 1, 4, 9, 12]))
    if chance(6):
        flags ^= draw(st.sampled_from([0x8000, 0x0800, 0x2800]))
    qid = 0x0B0A if chance(6) else 0x0A0B
    qdcount = draw(st.sampled_from([0, 2])) if chance(8) else 1
    for _ in range(qdcount):
        echo = [mixed_case(draw, label).encode() for label in qlabels]
        if chance(8):
            echo = [b"other", *echo]
        out += name(echo) + struct.pack("!HH", 16 if chance(8) else query.question[0].rdtype, 1)

    def record(section: str) -> None:
        start = len(out)
        owner = name([] if section == "additional" else some_labels())
        out.extend(owner + bytes(10))  # so that names in the rdata are compressed against the right offsets
        rdclass = draw(st.sampled_from([3, 255, 254, 1232])) if chance(8) else 1
        ttl = draw(ttls)
        if section == "additional":
            rdtype = draw(st.sampled_from([A, 99])) if chance(4) else 41
        else:
            rdtype = draw(st.sampled_from([TXT, NS, 41, 99])) if chance(4) else draw(
                st.sampled_from([A, A, AAAA, CNAME, CNAME, SOA]))
        if rdtype == A:
            rdata = octets(4)
        elif rdtype == AAAA:
            rdata = draw(ipv6_octets) if not chance(6) else octets(16)
        elif rdtype in (CNAME, NS):
            rdata = name(some_labels())
        elif rdtype == SOA:
            mname = name(some_labels())
            out.extend(mname)
            rdata = mname + name(some_labels()) + octets(20)
            del out[len(out) - len(mname) :]
        elif rdtype == 41:
            rdclass = 1232
            if chance(8):
                del out[start:]
                owner = name([b"x"])
                out.extend(owner + bytes(10))
            ttl = draw(st.sampled_from([0x01000000, 0x00010000, 0x0000FFFF])) if chance(6) else draw(
                st.sampled_from([0, 0x8000]))
            rdata = b""
            for _ in range(draw(st.integers(0, 3))):
                checked = chance(4)  # an option dnspython checks, or one unknown to it
                code = draw(st.sampled_from([8, 10, 18, 65001] if checked else [15, 15, 3, 12]))
                if code == 15:
                    text = draw(st.binary(max_size=6)) if chance(4) else draw(st.text(max_size=10)).encode()
                    nul = b"\x00" if draw(st.booleans()) else b""
                    data = struct.pack("!H", draw(st.integers(0, 65535))) + text + nul
                else:
                    data = draw(st.binary(max_size=10))
                length = draw(st.integers(0, 12)) if chance(10) else len(data)
                rdata += struct.pack("!HH", code, length) + data
        else:
            rdata = draw(st.binary(max_size=12))
        rdlen = draw(st.integers(0, len(rdata) + 3)) if chance(10) else len(rdata)
        del out[start:]
        out.extend(owner + struct.pack("!HHIH", rdtype, rdclass, ttl, rdlen) + rdata)

    counts = []
    for section, most in (("answer", 6), ("authority", 2), ("additional", 1)):
        n = draw(st.integers(0, most + 1 if wild else most))
        for _ in range(n):
            record(section)
        counts.append(n)
    if chance(8):
        counts[draw(st.integers(0, 2))] += draw(st.sampled_from([-1, 1]))
    out[0:12] = struct.pack("!HHHHHH", qid, flags, qdcount, *(max(c, 0) for c in counts))
    if draw(st.integers(0, 9)) == 0:
        out += draw(st.binary(max_size=6))
    return query, bytes(out)


@settings(SETTINGS, max_examples=650)
@given(case=hand_made())
def test_hand_made_packets(case: tuple[dns.message.Message, bytes]) -> None:
    check(*case)


MUTATIONS: tuple[str, ...] = ("flip", "truncate", "pointer", "overwrite", "insert", "delete", "count")


def mutate(wire: bytes, draw: Callable[[st.SearchStrategy[int]], int], kind: str) -> bytes:
    """One mutation anywhere after the ID (a changed ID is rejected before anything else is read)."""
    data = bytearray(wire)
    if len(data) < 3:
        return wire
    at = draw(st.integers(2, len(data) - 1))
    if kind == "flip":
        data[at] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        del data[at:]
    elif kind == "pointer":
        target = draw(st.integers(0, len(data) + 2))
        data[at : at + 2] = struct.pack("!H", 0xC000 | target)
    elif kind == "overwrite":
        data[at] = draw(st.integers(0, 255))
    elif kind == "insert":
        data[at:at] = bytes([draw(st.integers(0, 255))])
    elif kind == "delete":
        del data[at]
    elif kind == "count" and len(data) >= 12:
        which = 4 + 2 * draw(st.integers(0, 3))
        data[which : which + 2] = struct.pack("!H", draw(st.integers(0, 8)))
    return bytes(data)


@settings(SETTINGS, max_examples=450)
@given(generated=dnspython_responses(), kinds=st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3),
       data=st.data())
def test_mutated_responses(generated: Generated, kinds: list[str], data: st.DataObject) -> None:
    wire = generated.wire
    for kind in kinds:
        wire = mutate(wire, data.draw, kind)
    check(generated.query, wire)


@settings(SETTINGS, max_examples=350)
@given(raw=st.binary(max_size=80), keep_header=st.booleans())
def test_random_octets(raw: bytes, keep_header: bool) -> None:
    query = query_for("a.test", qid=0x8180)
    check(query, struct.pack("!HH", 0x8180, 0x8180) + raw if keep_header else raw)


def test_the_generators_reach_every_outcome() -> None:
    """The properties above only mean something if the fast path, the fallback and the rejection all happen."""
    tally = Tally()

    @settings(SETTINGS, max_examples=100, database=None)
    @given(case=hand_made())
    def run(case: tuple[dns.message.Message, bytes]) -> None:
        check(*case, tally=tally)

    run()
    assert tally.fast > 30 and tally.fallback > 3 and tally.rejected > 3, tally
