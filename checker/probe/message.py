"""Building queries and turning an accepted response into the fields of an observation."""

from __future__ import annotations

from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from checker.models import ExtendedError, Record

EDNS_PAYLOAD = 1232
"""Advertised UDP payload size (the DNS Flag Day 2020 value: no IP fragmentation)."""


def make_query(qname: str, qtype: str) -> dns.message.QueryMessage:
    """A recursive query with EDNS (so Extended DNS Errors can come back), no DNSSEC OK bit."""
    query = dns.message.make_query(
        dns.name.from_text(qname), dns.rdatatype.from_text(qtype),
        use_edns=0, payload=EDNS_PAYLOAD, want_dnssec=False,
    )
    query.flags |= dns.flags.RD
    return query


def parse_response(query: dns.message.Message, wire: bytes) -> dns.message.Message | None:
    """The response if ``wire`` parses and answers ``query`` (ID, QR, opcode, question); else None."""
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
