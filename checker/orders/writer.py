"""Writing an order file (schema blockaudit/order/1): deterministic, one target a line, streamed."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

import yaml

from checker.errors import UsageError
from checker.models import OrderType, Source, Target, TargetKind, Verification

SCHEMA = "blockaudit/order/1"

ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,126}[a-z0-9])?$")
"""An order id or site slug, as the loader accepts it."""
JURISDICTION = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")
"""An ISO 3166 code (country, or country and subdivision), as the loader accepts it."""

_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\ufeff\ufffe\uffff]')
_SIMPLE = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}
_PLAIN = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")
_IPV4 = re.compile(r"^((?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3})(?:/(0|[1-9]|[12][0-9]|3[0-2]))?$")
_RESOLVER = yaml.resolver.Resolver()
_KIND_ORDER = {TargetKind.DOMAIN: 0, TargetKind.IP: 1, TargetKind.URL: 2}
_INFERABLE = ("issued", "valid.from", "valid.until", "served", "notified", "deadline")


@dataclass(frozen=True, slots=True)
class OrderMeta:
    """Everything of an order file except its targets and exemptions."""

    id: str
    """Unique slug, ``[a-z0-9-]``."""
    title: str
    """Caption or title."""
    authority: str
    """Who issued the order or list."""
    jurisdiction: str
    """ISO 3166 code."""
    order_type: OrderType
    """Kind of instrument."""
    issued: dt.date
    """Date of the order (or of the list)."""
    verification: Verification = Verification.UNVERIFIED
    """Whether someone has read the order itself."""
    sources: tuple[Source, ...] = ()
    """Where the facts come from (http(s) URLs)."""
    notes: str | None = None
    """Free text."""
    case_number: str | None = None
    """Docket or case number; ``None`` is written as ``null``: never guessed."""
    judge: str | None = None
    """Judge, when known."""
    inferred: tuple[str, ...] = ()
    """Fields whose values are inferred (``issued`` when it is the import date)."""


def check_meta(meta: OrderMeta, *, jurisdiction: bool = True) -> None:
    """Refuse metadata the loader would refuse, with a message naming the field.

    ``jurisdiction=False`` lets an empty jurisdiction through (an in-memory order of unknown origin).
    """
    if not ID.match(meta.id):
        raise UsageError(f"order id {meta.id!r} must be lower-case letters, digits and inner '-'",
                         hint="for example ru-rkn-2026-05")
    if (jurisdiction or meta.jurisdiction) and not JURISDICTION.match(meta.jurisdiction):
        raise UsageError(f"jurisdiction {meta.jurisdiction!r} is not an ISO 3166 code",
                         hint="for example RU, IT, DE or GB-ENG")
    for name, value in (("title", meta.title), ("authority", meta.authority)):
        if not value.strip():
            raise UsageError(f"{name} must not be empty")
    for source in meta.sources:
        if not re.match(r"^https?://[^\s/]+", source.url):
            raise UsageError(f"source {source.url!r} is not an http(s) URL")
    for name in meta.inferred:
        if name not in _INFERABLE:
            raise UsageError(f"{name!r} cannot be marked inferred", hint="one of " + ", ".join(_INFERABLE))


def ip_key(value: str) -> int:
    """One int ordering IP targets by version, address, then prefix length (IPv4 first)."""
    fast = ipv4(value)
    if fast is not None:
        return (4 << 140) | (fast[0] << 8) | fast[1]
    if "/" in value:
        network = ipaddress.ip_network(value)
        address, prefix = network.network_address, network.prefixlen
    else:
        address = ipaddress.ip_address(value)
        prefix = address.max_prefixlen
    return (address.version << 140) | (int(address) << 8) | prefix


def ipv4(text: str) -> tuple[int, int] | None:
    """``a.b.c.d`` or ``a.b.c.d/n`` in canonical decimal as (address, prefix length); None otherwise.

    A fast path for the common case; anything else (IPv6, leading zeros ...) gives None and is
    left to ``ipaddress``.
    """
    match = _IPV4.match(text)
    if match is None:
        return None
    try:
        packed = socket.inet_aton(match.group(1))  # octets over 255 are refused
    except OSError:
        return None
    prefix = match.group(2)
    return int.from_bytes(packed, "big"), 32 if prefix is None else int(prefix)


def sort_key(target: Target) -> tuple[int, int | str]:
    """Domains by name, then IPs by version, address and prefix, then URLs by text."""
    if target.kind is TargetKind.IP:
        return 1, ip_key(target.value)
    return _KIND_ORDER[target.kind], target.value


def quote(text: str) -> str:
    """A YAML double-quoted scalar on one line; characters YAML cannot hold raw are escaped."""
    return '"' + _ESCAPE.sub(_escape, text) + '"'


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _SIMPLE:
        return _SIMPLE[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def scalar(text: str) -> str:
    """``text`` plain when YAML reads it back as the same string, else double-quoted."""
    if _PLAIN.match(text) and _implicit_tag(text) == "tag:yaml.org,2002:str":
        return text
    return quote(text)


def _implicit_tag(text: str) -> str:
    """The tag YAML gives ``text`` written plain (``1.5e-3`` is a float, ``yes.example`` a string)."""
    return str(_RESOLVER.resolve(yaml.ScalarNode, text, (True, False)))  # type: ignore[no-untyped-call]


def comment(text: str) -> str:
    """A ``#`` comment line with control characters replaced."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return f"# {clean}".rstrip() + "\n"


def target_line(target: Target, note: str | None = None) -> str:
    """One flow-style target line: ``  - {domain: x, subdomains: true}``."""
    if target.kind is TargetKind.DOMAIN:
        parts = [f"domain: {scalar(target.value)}"]
        if target.subdomains:
            parts.append("subdomains: true")
    elif target.kind is TargetKind.IP:
        parts = [f"ip: {quote(target.value)}"]
    else:
        parts = [f"url: {quote(target.value)}"]
    if target.site is not None:
        parts.append(f"site: {scalar(target.site)}")
    if note:
        parts.append(f"note: {quote(note)}")
    return "  - {" + ", ".join(parts) + "}\n"


def write_order(
    out: TextIO,
    meta: OrderMeta,
    targets: Iterable[Target],
    exemptions: Iterable[Target] = (),
    *,
    comments: Sequence[str] = (),
    note_of: Callable[[Target], str | None] | None = None,
    presorted: bool = False,
) -> int:
    """Write one order file to ``out``; returns the number of targets written.

    Targets are sorted (domains, IPs, URLs) and exemptions by name, so the same input gives the
    same bytes; a target given twice is written once (with subdomains if either has them).
    ``comments`` become ``#`` lines at the top; ``note_of`` gives a target's note.
    ``presorted=True`` streams targets already in ``sort_key`` order without holding them (for
    a million names); the order is still checked as they pass, and ``ValueError`` raised if broken.
    Raises ``UsageError`` for metadata the loader would refuse or for an order with no target.
    """
    check_meta(meta)
    rows: Iterable[Target]
    if presorted:
        stream = iter(targets)
        head = next(stream, None)
        rows = () if head is None else itertools.chain((head,), stream)
    else:
        rows = sorted(targets, key=lambda t: (sort_key(t), not t.subdomains))
        head = rows[0] if rows else None
    if head is None:
        raise UsageError("an order needs at least one target")
    names = sorted({t.value for t in exemptions})
    exempt = set(names)
    if not presorted:
        for target in rows:
            if target.kind is TargetKind.DOMAIN and target.value in exempt:
                raise UsageError(f"{target.value} is both a target and an exemption")
    for text in comments:
        for line in text.splitlines() or [""]:
            out.write(comment(line))
    out.write(f"schema: {SCHEMA}\n")
    out.write(f"id: {meta.id}\n")
    out.write(f"title: {quote(meta.title)}\n")
    out.write(f"authority: {quote(meta.authority)}\n")
    out.write(f"jurisdiction: {meta.jurisdiction}\n")
    if meta.judge is not None:
        out.write(f"judge: {quote(meta.judge)}\n")
    out.write(f"case_number: {'null' if meta.case_number is None else quote(meta.case_number)}\n")
    out.write(f"order_type: {meta.order_type.value}\n")
    out.write(f"issued: {meta.issued.isoformat()}\n")
    if meta.inferred:
        out.write(f"inferred: [{', '.join(meta.inferred)}]\n")
    out.write(f"verification: {meta.verification.value}\n")
    if meta.sources:
        out.write("sources:\n")
        for source in meta.sources:
            note = f", note: {quote(source.note)}" if source.note else ""
            out.write(f"  - {{url: {quote(source.url)}{note}}}\n")
    if meta.notes:
        out.write(f"notes: {quote(meta.notes)}\n")
    out.write("targets:\n")
    written = 0
    previous: Target | None = None
    previous_key: tuple[int, int | str] | None = None
    for target in rows:
        key = sort_key(target)
        if previous_key is not None and key <= previous_key:
            if key == previous_key:
                continue  # the first of equal targets has subdomains if any has (sorted so)
            raise ValueError(f"targets are not sorted: {target.value} after {previous.value if previous else ''}")
        if target.kind is TargetKind.DOMAIN and target.value in exempt:
            raise UsageError(f"{target.value} is both a target and an exemption")
        out.write(target_line(target, note_of(target) if note_of is not None else None))
        previous, previous_key = target, key
        written += 1
    if names:
        out.write("exemptions:\n")
        for name in names:
            out.write(f"  - {scalar(name)}\n")
    return written
