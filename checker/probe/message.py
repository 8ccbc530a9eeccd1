"""Building queries and turning an accepted response into the fields of an observation."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from checker.models import ExtendedError, Record

EDNS_PAYLOAD = 1232
"""Advertised UDP payload size (the DNS Flag Day 2020 value: no IP fragmentation)."""


CLASSES = ("IN", "CH")
"""Classes a question may be asked in: the Internet, and Chaos for ``id.server``-style names (RFC 4892)."""


def question_type(rdtype: str, rdclass: str = "IN") -> str:
    """How an observation writes what it asked: ``A`` for class IN, ``CH TXT`` for another class.

    The text is the observation's ``qtype``, so (phase, resolver, name, qtype) stays one key per
    question in the engine and the store.
    """
    return rdtype if rdclass == "IN" else f"{rdclass} {rdtype}"


@functools.lru_cache(maxsize=64)
def split_question_type(qtype: str) -> tuple[str, str]:
    """``A`` -> (``A``, ``IN``); ``CH TXT`` -> (``TXT``, ``CH``). Raises ``ValueError`` for anything else."""
    words = qtype.split()
    if len(words) == 1:
        return words[0], "IN"
    if len(words) == 2 and words[0] in CLASSES:
        return words[1], words[0]
    raise ValueError(f"not a question type: {qtype!r}")


def make_query(qname: str, qtype: str, rdclass: str = "IN") -> dns.message.QueryMessage:
    """A recursive query with EDNS (so Extended DNS Errors can come back), no DNSSEC OK bit."""
    if rdclass not in CLASSES:
        raise ValueError(f"class {rdclass!r} is not one of {', '.join(CLASSES)}")
    query = dns.message.make_query(
        dns.name.from_text(qname), dns.rdatatype.from_text(qtype), dns.rdataclass.from_text(rdclass),
        use_edns=0, payload=EDNS_PAYLOAD, want_dnssec=False,
    )
    query.flags |= dns.flags.RD
    return query


def parse_response(query: dns.message.Message, wire: bytes) -> dns.message.Message | None:
    """The response if ``wire`` parses and answers ``query`` (ID, QR, opcode, question: name, type
    and class); else None."""
    try:
        response = dns.message.from_wire(wire, ignore_trailing=True, raise_on_truncation=False)
    except Exception:  # noqa: BLE001 - whatever dnspython raises, an unparseable packet is rejected
        return None
    try:
        return response if query.is_response(response) else None
    except Exception:  # noqa: BLE001 - a response too odd to compare is not ours
        return None


def _records(section: list[dns.rrset.RRset]) -> tuple[Record, ...]:
    out: list[Record] = []
    for rrset in section:
        name = rrset.name.to_text(omit_final_dot=True).lower()
        rtype = dns.rdatatype.to_text(rrset.rdtype)
        for rdata in rrset:
            out.append(Record(name=name, type=rtype, ttl=int(rrset.ttl), data=rdata.to_text()))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Described:
    """The observation fields read from one response."""

    rcode: str
    """Response code mnemonic."""
    flags: tuple[str, ...]
    """Header flags, lower case."""
    answers: tuple[Record, ...]
    """Answer section."""
    authority: tuple[Record, ...]
    """Authority section."""
    ede: tuple[ExtendedError, ...]
    """Extended DNS Errors."""


def describe(response: dns.message.Message) -> Described:
    """The observation fields of a response: rcode, flags, answers, authority, EDE."""
    ede: list[ExtendedError] = []
    for option in response.options:
        if isinstance(option, dns.edns.EDEOption):
            ede.append(ExtendedError(code=int(option.code), text=option.text or None))
    flags = tuple(dns.flags.to_text(response.flags).lower().split())
    return Described(
        rcode=dns.rcode.to_text(response.rcode()),
        flags=flags,
        answers=_records(response.answer),
        authority=_records(response.authority),
        ede=tuple(ede),
    )
