"""The fast path of one exchange: queries from a precomputed template, common responses decoded with ``struct``.

``query_wire`` gives byte for byte what ``message.make_query(...).to_wire()`` gives for the same ID.
``decode`` reads the response shapes nearly every resolver sends (A, AAAA and CNAME answers, SOA in
the authority section, an OPT record with Extended DNS Errors) into the fields ``message.describe``
would give. It answers ``None`` for anything it does not fully understand, and the caller then
parses with dnspython, which stays the reference; it answers a ``Rejected`` when the packet cannot
be the answer to the query whatever the rest of it holds (QR clear, another ID or opcode, another
question). The decoding rules follow dnspython's reader (name decompression, RRset merging, TTL
capping, EDE text), and ``tests/probe/test_fastwire.py`` checks them against it field by field.
"""

from __future__ import annotations

import functools
import socket
import struct
from dataclasses import dataclass

from checker.models import ExtendedError, Record
from checker.probe.message import CLASSES, EDNS_PAYLOAD, Described

# --------------------------------------------------------------------------- tables

RDATATYPES: dict[str, int] = {
    "A": 1, "NS": 2, "MD": 3, "MF": 4, "CNAME": 5, "SOA": 6, "MB": 7, "MG": 8, "MR": 9, "NULL": 10,
    "WKS": 11, "PTR": 12, "HINFO": 13, "MINFO": 14, "MX": 15, "TXT": 16, "RP": 17, "AFSDB": 18,
    "X25": 19, "ISDN": 20, "RT": 21, "NSAP": 22, "NSAP-PTR": 23, "SIG": 24, "KEY": 25, "PX": 26,
    "GPOS": 27, "AAAA": 28, "LOC": 29, "NXT": 30, "SRV": 33, "NAPTR": 35, "KX": 36, "CERT": 37,
    "A6": 38, "DNAME": 39, "OPT": 41, "APL": 42, "DS": 43, "SSHFP": 44, "IPSECKEY": 45, "RRSIG": 46,
    "NSEC": 47, "DNSKEY": 48, "DHCID": 49, "NSEC3": 50, "NSEC3PARAM": 51, "TLSA": 52, "SMIMEA": 53,
    "HIP": 55, "NINFO": 56, "CDS": 59, "CDNSKEY": 60, "OPENPGPKEY": 61, "CSYNC": 62, "ZONEMD": 63,
    "SVCB": 64, "HTTPS": 65, "DSYNC": 66, "HHIT": 67, "BRID": 68, "SPF": 99, "UNSPEC": 103,
    "NID": 104, "L32": 105, "L64": 106, "LP": 107, "EUI48": 108, "EUI64": 109, "NXNAME": 128,
    "TKEY": 249, "TSIG": 250, "IXFR": 251, "AXFR": 252, "MAILB": 253, "MAILA": 254, "ANY": 255,
    "URI": 256, "CAA": 257, "AVC": 258, "AMTRELAY": 260, "RESINFO": 261, "WALLET": 262, "TA": 32768,
    "DLV": 32769,
}
"""Record type mnemonics as dnspython 2.9 prints them; any other type is ``TYPEn``."""

_TYPE_TEXT: dict[int, str] = {code: text for text, code in RDATATYPES.items()}

RDATACLASSES: dict[str, int] = {"RESERVED0": 0, "IN": 1, "CH": 3, "HS": 4, "NONE": 254, "ANY": 255}
"""Class mnemonics as dnspython prints them; any other class is ``CLASSn``."""

_CLASS_TEXT: dict[int, str] = {code: text for text, code in RDATACLASSES.items()}

RCODES: tuple[str, ...] = (
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI", "12", "13", "14", "15",
)
"""``dns.rcode.to_text`` of the 4-bit header rcodes (extended rcodes are left to dnspython)."""

_FLAG_BITS: tuple[tuple[str, int], ...] = (
    ("qr", 0x8000), ("aa", 0x0400), ("tc", 0x0200), ("rd", 0x0100), ("ra", 0x0080), ("ad", 0x0020),
    ("cd", 0x0010), ("flag6", 0x0040),
)
"""Header flags in the order ``dns.flags.to_text`` prints them (named flags in definition order,
then unnamed bits as ``FLAGn``); describe() lower-cases them."""

_FLAGS_MASK = 0x87F0
_FLAGS_TEXT: dict[int, tuple[str, ...]] = {
    value: tuple(name for name, bit in _FLAG_BITS if value & bit)
    for value in range(0, 0x10000, 0x10) if value & ~_FLAGS_MASK == 0
}
"""Flag mnemonics of every header with opcode and rcode bits cleared."""

# dnspython parses these EDNS options with checks of its own (ECS, COOKIE, Report-Channel, ...);
# a response carrying one goes to dnspython. EDE (15) is decoded here; NSID (3) and every other
# option are opaque bytes to dnspython too and are skipped, as describe() skips them.
_CHECKED_OPTIONS = frozenset({8, 10, 18, 22, 23, 24, 25})
_EDE = 15

_A, _CNAME, _SOA, _AAAA, _OPT = 1, 5, 6, 28, 41
_IN = 1
_RECORD_TYPES: dict[int, str] = {_A: "A", _AAAA: "AAAA", _CNAME: "CNAME", _SOA: "SOA"}
_SINGLETONS = frozenset({_CNAME, _SOA})
"""Types dnspython keeps one record of per RRset: a later record replaces the earlier."""
_MAX_TTL = 0x7FFFFFFF
"""dnspython reads a larger TTL as 0 (RFC 2181 section 8)."""
_MAX_HOPS = 16
"""dnspython's limit on compression pointers followed in one name."""

_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_HH = struct.Struct("!HH")
_H = struct.Struct("!H")
_SOA_NUMBERS = struct.Struct("!IIIII")
_WORDS = struct.Struct("!8H")

_QUERY_HEADER_TAIL = struct.pack("!HHHHH", 0x0100, 1, 0, 0, 1)
"""Flags (RD) and counts (one question, one additional record: the OPT) of every query."""
_OPT_RR = b"\x00" + _RR.pack(_OPT, EDNS_PAYLOAD, 0, 0)
"""OPT record: root owner, payload size as its class, extended rcode, version and flags 0, no options."""

_ESCAPED = frozenset(b'"().;\\@$')
_SAFE = bytes(c for c in range(0x21, 0x7F) if c not in _ESCAPED)
"""Bytes dnspython prints as themselves in a label; every other byte is escaped."""


class _Malformed(Exception):
    """The packet does not parse the way the fast path needs: leave it to dnspython."""


# --------------------------------------------------------------------------- queries


def type_code(rdtype: str) -> int:
    """The number of a record type mnemonic (``AAAA``, ``TYPE65``), as ``dns.rdatatype.from_text`` reads it."""
    text = rdtype.upper()
    code = RDATATYPES.get(text)
    if code is not None:
        return code
    digits = text[4:]
    if text.startswith("TYPE") and digits.isascii() and digits.isdigit():
        value = int(digits)
        if value <= 0xFFFF:
            return value
    raise ValueError(f"unknown record type {rdtype!r}")


def type_text(code: int) -> str:
    """A record type's mnemonic as dnspython prints it."""
    return _TYPE_TEXT.get(code) or f"TYPE{code}"


def class_text(code: int) -> str:
    """A class's mnemonic as dnspython prints it."""
    return _CLASS_TEXT.get(code) or f"CLASS{code}"


@functools.lru_cache(maxsize=4096)
def encode_name(qname: str) -> bytes:
    """The uncompressed wire form of an ASCII name, as ``dns.name.from_text`` reads it (case kept).

    Raises ``ValueError`` for a name that is not ASCII, holds an escape, has an empty label, a label
    over 63 octets, or is over 255 octets.
    """
    if not qname.isascii() or "\\" in qname:
        raise ValueError(f"not a normalised ASCII name: {qname!r}")
    if qname in ("", ".", "@"):
        return b"\x00"
    text = qname[:-1] if qname.endswith(".") else qname
    out = bytearray()
    for label in text.split("."):
        if not label:
            raise ValueError(f"empty label in {qname!r}")
        if len(label) > 63:
            raise ValueError(f"label over 63 octets in {qname!r}")
        out.append(len(label))
        out += label.encode("ascii")
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"name over 255 octets: {qname!r}")
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Question:
    """What a response must echo to be the answer to a query."""

    id: int
    """The query's ID."""
    name: bytes
    """Query name, uncompressed wire form, lower case (names compare case-insensitively)."""
    rdtype: int
    """Record type number."""
    rdclass: int
    """Class number."""


class QueryTemplate:
    """Everything of a query but its ID and name, for one record type and class: recursion desired,
    EDNS0 with a 1232-octet payload, DNSSEC OK clear, no options (``message.make_query``)."""

    __slots__ = ("_tail", "rdclass", "rdtype")

    def __init__(self, rdtype: str = "A", rdclass: str = "IN") -> None:
        if rdclass not in CLASSES:
            raise ValueError(f"class {rdclass!r} is not one of {', '.join(CLASSES)}")
        self.rdtype = type_code(rdtype)
        """Record type number."""
        self.rdclass = RDATACLASSES[rdclass]
        """Class number."""
        self._tail = _HH.pack(self.rdtype, self.rdclass) + _OPT_RR

    def wire(self, qname: str, qid: int) -> bytes:
        """The query for ``qname`` with ID ``qid``, ready to send."""
        if not 0 <= qid <= 0xFFFF:
            raise ValueError(f"query ID {qid} is not 0-65535")
        return _H.pack(qid) + _QUERY_HEADER_TAIL + encode_name(qname) + self._tail

    def question(self, qname: str, qid: int) -> Question:
        """What the response to ``wire(qname, qid)`` must echo."""
        return Question(qid, encode_name(qname).lower(), self.rdtype, self.rdclass)


@functools.lru_cache(maxsize=64)
def template(rdtype: str, rdclass: str = "IN") -> QueryTemplate:
    """The shared template for one record type and class."""
    return QueryTemplate(rdtype, rdclass)


def query_wire(qname: str, rdtype: str, rdclass: str = "IN", *, qid: int) -> bytes:
    """The bytes of ``message.make_query(qname, rdtype, rdclass)`` with ID ``qid``."""
    return template(rdtype, rdclass).wire(qname, qid)


def question_of(query: bytes) -> Question:
    """The ID and question of a query in wire form; ``ValueError`` unless it has exactly one question."""
    if len(query) < 12:
        raise ValueError("a query is at least 12 octets")
    qid, _flags, qdcount, _an, _ns, _ar = _HEADER.unpack_from(query)
    if qdcount != 1:
        raise ValueError(f"a query has one question, not {qdcount}")
    try:
        name, pos = _read_name(query, 12, len(query))
        rdtype, rdclass = _HH.unpack_from(query, pos)
    except (_Malformed, struct.error):
        raise ValueError("the query's question does not parse") from None
    return Question(qid, name.lower(), rdtype, rdclass)


# --------------------------------------------------------------------------- names and data


def _read_name(wire: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """The name at ``pos`` in uncompressed wire form (case kept) and the offset after it.

    Reads nothing at or after ``end``. Follows compression pointers the way dnspython does: each
    pointer points before the start of the run of labels it ends, and the run it points to must end
    before that start too; at most 16 pointers; at most 255 octets in all.
    """
    seg = pos
    limit = end
    after = -1
    hops = 0
    parts: list[bytes] = []
    while True:
        if pos >= limit:
            raise _Malformed
        count = wire[pos]
        if count == 0:
            pos += 1
            break
        if count < 64:
            pos += count + 1
            if pos > limit:
                raise _Malformed
            continue
        if count < 192 or pos + 2 > limit:
            raise _Malformed
        target = ((count & 0x3F) << 8) | wire[pos + 1]
        hops += 1
        if target >= seg or hops > _MAX_HOPS:
            raise _Malformed
        if after < 0:
            after = pos + 2
        parts.append(wire[seg:pos])
        limit = seg
        seg = pos = target
    if after < 0:
        name = wire[seg:pos]
        after = pos
    else:
        parts.append(wire[seg:pos])
        name = b"".join(parts)
    if len(name) > 255:
        raise _Malformed
    return name, after


def _escape(label: bytes) -> str:
    out: list[str] = []
    for byte in label:
        if byte in _ESCAPED:
            out.append("\\" + chr(byte))
        elif 0x20 < byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


@functools.lru_cache(maxsize=8192)
def name_text(name: bytes) -> str:
    """A name in uncompressed wire form as dnspython prints it: with the final dot, case kept,
    special characters escaped (``\\.``, ``\\032``)."""
    if name == b"\x00":
        return "."
    labels: list[str] = []
    pos = 0
    count = name[0]
    while count:
        label = name[pos + 1 : pos + 1 + count]
        labels.append(_escape(label) if label.translate(None, _SAFE) else label.decode("ascii"))
        pos += count + 1
        count = name[pos]
    return ".".join(labels) + "."


@functools.lru_cache(maxsize=8192)
def owner_text(name: bytes) -> str:
    """An owner name as describe() writes it: lower case, no final dot (the root stays ``.``)."""
    text = name_text(name.lower())
    return text if text == "." else text[:-1]


_TEN_ZEROS = bytes(10)


@functools.lru_cache(maxsize=4096)
def ipv6_text(address: bytes) -> str:
    """16 octets as ``dns.ipv6.inet_ntoa`` prints them: RFC 5952 compression of the first longest
    run of two or more zero words, except ``::a.b.c.d`` (six zero words first) and
    ``::ffff:a.b.c.d`` (five zero words, then ffff) with the last 32 bits as an IPv4 address.

    The C library's ``inet_ntop`` writes the same text, and faster, for every address that does
    not start with five zero words (glibc also writes ``::a.b.c.d`` for ``::0.0.0.2``)."""
    if address[:10] != _TEN_ZEROS:
        return socket.inet_ntop(socket.AF_INET6, address)
    words = _WORDS.unpack(address)
    best_start = best_len = 0
    i = 0
    while i < 8:
        if words[i]:
            i += 1
            continue
        j = i
        while j < 8 and not words[j]:
            j += 1
        if j - i > best_len:
            best_start, best_len = i, j - i
        i = j
    if best_len < 2:
        return ":".join(f"{w:x}" for w in words)
    if best_start == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
        prefix = "::" if best_len == 6 else "::ffff:"
        return f"{prefix}{address[12]}.{address[13]}.{address[14]}.{address[15]}"
    head = ":".join(f"{w:x}" for w in words[:best_start])
    tail = ":".join(f"{w:x}" for w in words[best_start + best_len :])
    return f"{head}::{tail}"


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True)
class Rejected:
    """The packet cannot be the answer to the query, whatever else it holds: count it as rejected."""

    reason: str
    """``qr``, ``id``, ``opcode`` or ``question``: which check it failed."""


REJECTED_QR = Rejected("qr")
REJECTED_ID = Rejected("id")
REJECTED_OPCODE = Rejected("opcode")
REJECTED_QUESTION = Rejected("question")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A response the fast path read completely: the question it echoes and the observation fields."""

    question: Question
    """The question it answers (its ID, name, type and class are the query's)."""
    described: Described
    """rcode, flags, answers, authority and EDE exactly as ``message.describe`` gives them."""

    @property
    def id(self) -> int:
        """Message ID."""
        return self.question.id

    @property
    def qname(self) -> str:
        """Question name, lower case, no final dot."""
        return owner_text(self.question.name)

    @property
    def qtype(self) -> str:
        """Question type mnemonic."""
        return type_text(self.question.rdtype)

    @property
    def qclass(self) -> str:
        """Question class mnemonic."""
        return class_text(self.question.rdclass)

    @property
    def flags(self) -> tuple[str, ...]:
        """Header flags, lower case, in dnspython's order (``qr aa tc rd ra ad cd``)."""
        return self.described.flags

    @property
    def rcode(self) -> str:
        """Response code mnemonic."""
        return self.described.rcode

    @property
    def answers(self) -> tuple[Record, ...]:
        """Answer section, one record per rdata, RRsets merged as dnspython merges them."""
        return self.described.answers

    @property
    def authority(self) -> tuple[Record, ...]:
        """Authority section."""
        return self.described.authority

    @property
    def ede(self) -> tuple[ExtendedError, ...]:
        """Extended DNS Errors, in the order of the OPT record."""
        return self.described.ede


_Row = tuple[bytes, int, int, str, bytes]
"""One record read: owner (wire form, lower case), type, TTL, data as text, and for A and AAAA the
rdata octets (what dnspython compares to drop a repeated rdata)."""


def _merge(rows: list[_Row]) -> list[_Row]:
    """Records grouped into RRsets the way dnspython's reader groups them: by owner and type, in
    order of first appearance; the lowest TTL for the whole RRset; a repeated rdata dropped; for
    CNAME and SOA only the last record kept."""
    rrsets: dict[tuple[bytes, int], tuple[list[int], list[str], list[bytes]]] = {}
    for owner, rdtype, ttl, data, canon in rows:
        rrset = rrsets.get((owner, rdtype))
        if rrset is None:
            rrsets[owner, rdtype] = ([ttl], [data], [canon])
            continue
        ttls, datas, canons = rrset
        ttls[0] = min(ttls[0], ttl)
        if rdtype in _SINGLETONS:
            datas[:] = [data]
            canons[:] = [canon]
        elif canon not in canons:
            datas.append(data)
            canons.append(canon)
    return [
        (owner, rdtype, ttls[0], data, b"")
        for (owner, rdtype), (ttls, datas, _canons) in rrsets.items()
        for data in datas
    ]


def _section(wire: bytes, pos: int, count: int, qname: bytes) -> tuple[tuple[Record, ...], int]:
    """Records of one answer or authority section, and the offset after them.

    ``qname`` is the question's name as written at offset 12 when it holds no pointer: an owner
    that is just a pointer to it (``c00c``, nearly every answer) is then that name, with no
    further reading (the rules of ``_read_name`` hold: one pointer, back to a run that ends before
    the owner).
    """
    end = len(wire)
    rows: list[_Row] = []
    for _ in range(count):
        if qname and wire[pos : pos + 2] == b"\xc0\x0c":
            owner = qname
            pos += 2
        else:
            owner, pos = _read_name(wire, pos, end)
        rdtype, rdclass, ttl, rdlen = _RR.unpack_from(wire, pos)
        pos += 10
        rdend = pos + rdlen
        if rdend > end or rdclass != _IN:
            raise _Malformed
        if rdtype == _A:
            if rdlen != 4:
                raise _Malformed
            canon = wire[pos:rdend]
            data = f"{canon[0]}.{canon[1]}.{canon[2]}.{canon[3]}"
        elif rdtype == _AAAA:
            if rdlen != 16:
                raise _Malformed
            canon = wire[pos:rdend]
            data = ipv6_text(canon)
        elif rdtype == _CNAME:
            target, after = _read_name(wire, pos, rdend)
            if after != rdend:
                raise _Malformed
            canon = b""  # only A and AAAA need it: a later CNAME or SOA replaces the earlier anyway
            data = name_text(target)
        elif rdtype == _SOA:
            mname, after = _read_name(wire, pos, rdend)
            rname, after = _read_name(wire, after, rdend)
            if after + 20 != rdend:
                raise _Malformed
            serial, refresh, retry, expire, minimum = _SOA_NUMBERS.unpack_from(wire, after)
            canon = b""
            data = f"{name_text(mname)} {name_text(rname)} {serial} {refresh} {retry} {expire} {minimum}"
        else:
            raise _Malformed
        rows.append((owner.lower(), rdtype, 0 if ttl > _MAX_TTL else ttl, data, canon))
        pos = rdend
    if len(rows) > 1 and len({(row[0], row[1]) for row in rows}) < len(rows):
        rows = _merge(rows)
    records = [Record(owner_text(owner), _RECORD_TYPES[rdtype], ttl, data) for owner, rdtype, ttl, data, _ in rows]
    return tuple(records), pos


def _opt(wire: bytes, pos: int, count: int) -> tuple[ExtendedError, ...]:
    """The EDE options of the additional section, which may hold one OPT record and nothing else."""
    if count == 0:
        return ()
    if count > 1:
        raise _Malformed
    end = len(wire)
    if pos >= end or wire[pos]:
        raise _Malformed  # an owner other than the root, as written: dnspython's job
    rdtype, _payload, ttl, rdlen = _RR.unpack_from(wire, pos + 1)
    pos += 11
    rdend = pos + rdlen
    if rdtype != _OPT or rdend > end or ttl >> 24:
        raise _Malformed  # another record, or an extended rcode: dnspython's job
    ede: list[ExtendedError] = []
    while pos < rdend:
        if pos + 4 > rdend:
            raise _Malformed
        code, length = _HH.unpack_from(wire, pos)
        pos += 4
        stop = pos + length
        if stop > rdend:
            raise _Malformed
        if code == _EDE:
            if length < 2:
                raise _Malformed
            text = wire[pos + 2 : stop]
            if text and text[-1] == 0:
                text = text[:-1]
            try:
                decoded = text.decode("utf-8")
            except UnicodeDecodeError:
                raise _Malformed from None
            ede.append(ExtendedError(code=_H.unpack_from(wire, pos)[0], text=decoded or None))
        elif code in _CHECKED_OPTIONS:
            raise _Malformed
        pos = stop
    return tuple(ede)


def decode(query: Question | bytes, wire: bytes) -> Decoded | Rejected | None:
    """Read a response to ``query`` (its ``Question``, or the query's wire form).

    ``Rejected`` when the header or question shows it is not the answer (QR clear, another ID or
    opcode, another question name, type or class); ``None`` when it does not parse, or has a shape
    the fast path leaves to dnspython (other record types or classes, records in the additional
    section, extended rcodes, no or several questions, EDNS options dnspython checks); else the
    ``Decoded`` response. Trailing octets after the last record are ignored, as the reference
    parser is told to.
    """
    asked = query if isinstance(query, Question) else question_of(query)
    if len(wire) < 12:
        return None
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if not flags & 0x8000:
        return REJECTED_QR
    if qid != asked.id:
        return REJECTED_ID
    if flags & 0x7800:
        return REJECTED_OPCODE
    if qdcount != 1:
        return None  # an empty question is accepted with some rcodes: leave that to dnspython
    try:
        qname, pos = _read_name(wire, 12, len(wire))
        qtype, qclass = _HH.unpack_from(wire, pos)
        if qtype != asked.rdtype or qclass != asked.rdclass or qname.lower() != asked.name:
            return REJECTED_QUESTION
        # No pointer in the question's name: then it is exactly the octets read (a pointer takes 2
        # octets and brings 1 or at least 3).
        plain = qname if pos == 12 + len(qname) else b""
        answers, pos = _section(wire, pos + 4, ancount, plain)
        authority, pos = _section(wire, pos, nscount, plain)
        ede = _opt(wire, pos, arcount)
    except (_Malformed, struct.error):
        return None
    return Decoded(asked, Described(RCODES[flags & 0xF], _FLAGS_TEXT[flags & _FLAGS_MASK], answers, authority, ede))


def to_described(decoded: Decoded) -> Described:
    """The observation fields of a decoded response, as ``message.describe`` gives them."""
    return decoded.described


# --------------------------------------------------------------------------- measurement


def bench(rounds: int = 5000, repeat: int = 7) -> dict[str, float]:
    """Microseconds per call of the fast path and of dnspython for the same work: building a query,
    and reading a NOERROR A answer with OPT and an NXDOMAIN with SOA and an EDE (the best of
    ``repeat`` runs of ``rounds`` calls, so that other load on the machine counts least)."""
    import time  # noqa: PLC0415 - measurement only
    from collections.abc import Callable  # noqa: PLC0415

    import dns.edns  # noqa: PLC0415 - the reference, for comparison only
    import dns.message  # noqa: PLC0415
    import dns.rcode  # noqa: PLC0415
    import dns.rrset  # noqa: PLC0415

    from checker.probe.message import describe, make_query, parse_response  # noqa: PLC0415

    qname = "www.blocked-one.test"
    query = make_query(qname, "A")
    asked = question_of(query.to_wire())
    noerror = dns.message.make_response(query)
    noerror.answer.append(dns.rrset.from_text(f"{qname}.", 60, "IN", "A", "198.51.100.11"))
    nxdomain = dns.message.make_response(query)
    nxdomain.set_rcode(dns.rcode.NXDOMAIN)
    nxdomain.authority.append(
        dns.rrset.from_text("test.", 5, "IN", "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 60"),
    )
    nxdomain.use_edns(0, payload=EDNS_PAYLOAD, options=[dns.edns.EDEOption(dns.edns.EDECode.BLOCKED, "rpz")])

    def per_call(work: Callable[[], object]) -> float:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(rounds):
                work()
            best = min(best, time.perf_counter() - start)
        return best / rounds * 1e6

    def fast(wire: bytes) -> Described:
        decoded = decode(asked, wire)
        assert isinstance(decoded, Decoded)
        return to_described(decoded)

    def reference(wire: bytes) -> Described:
        response = parse_response(query, wire)
        assert response is not None
        return describe(response)

    qid = query.id
    uncached = encode_name.__wrapped__
    tail = template("A")._tail
    out = {
        "query_fast": per_call(lambda: query_wire(qname, "A", qid=qid)),
        "query_fast_name_not_cached": per_call(lambda: _H.pack(qid) + _QUERY_HEADER_TAIL + uncached(qname) + tail),
        "query_dnspython": per_call(lambda: make_query(qname, "A").to_wire()),
    }
    for label, message in (("noerror_a_opt", noerror), ("nxdomain_soa_ede", nxdomain)):
        wire = message.to_wire()
        assert fast(wire) == reference(wire)
        out[f"{label}_fast"] = per_call(lambda wire=wire: fast(wire))  # type: ignore[misc]
        out[f"{label}_dnspython"] = per_call(lambda wire=wire: reference(wire))  # type: ignore[misc]
    return out


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--bench"]:
        sys.exit("usage: python -m checker.probe.fastwire --bench")
    for key, value in bench().items():
        print(f"{key:30} {value:8.2f} µs")
