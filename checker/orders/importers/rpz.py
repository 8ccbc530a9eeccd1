"""Response Policy Zones: QNAME triggers become domain targets, ``rpz-passthru.`` exemptions, rpz-ip IPs.

A careful master-file reader, line by line: ``$ORIGIN``, ``$TTL``, relative names, ``@``, owners
inherited from the line before, optional TTL and class, ``;`` comments, quoted strings and
parenthesised records over several lines. ``$INCLUDE`` is never followed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

from checker.models import TargetKind
from checker.orders.importers.base import (
    Context,
    Entry,
    Importer,
    Item,
    Skipped,
    SkipReason,
    domain,
    excerpt,
)

MAX_RECORD_LINES = 64
"""Lines one parenthesised record may span before it is given up as unbalanced."""

_TTL = re.compile(r"^(?:\d+|(?:\d+[smhdwSMHDW])+)$")
_CLASSES = frozenset({"IN", "CH", "HS", "CS", "NONE", "ANY"})
_DNSSEC = frozenset({"RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "DS", "ZONEMD", "CDS", "CDNSKEY"})
_UNSUPPORTED_TRIGGERS = {
    "rpz-nsdname": "NSDNAME trigger", "rpz-nsip": "NSIP trigger", "rpz-client-ip": "client-IP trigger",
}
_NOT_BLOCKING = {"rpz-tcp-only.": "rpz-tcp-only does not block", "rpz-skipzone.": "rpz-skipzone does not block"}
_KEYWORDS = ("rpz-passthru", "rpz-drop", "rpz-tcp-only", "rpz-skipzone")


class _Unbalanced(ValueError):
    """A line whose quotes or parentheses do not close."""


def tokenize(line: str) -> tuple[list[str], int]:
    """Tokens of one line (comment dropped) and its change of parenthesis depth."""
    tokens: list[str] = []
    depth = 0
    current: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == "\\" and i + 1 < n:
            current.append(line[i: i + 2])
            i += 2
            continue
        if ch == '"':
            end = i + 1
            while end < n and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            if end >= n:
                raise _Unbalanced("unterminated quoted string")
            current.append(line[i: end + 1])
            i = end + 1
            continue
        if ch == ";":
            break
        if ch in " \t()":
            if current:
                tokens.append("".join(current))
                current = []
            depth += 1 if ch == "(" else -1 if ch == ")" else 0
            i += 1
            continue
        current.append(ch)
        i += 1
    if current:
        tokens.append("".join(current))
    return tokens, depth


@dataclass(slots=True)
class _Zone:
    apex: str | None
    """Policy-zone name, absolute, lower case, no trailing dot; None while unknown."""
    origin: str | None = None
    """Current $ORIGIN (absolute); None: names are relative to the apex, whatever its name."""
    owner: str | None = None
    """Owner of the previous record, relative to the apex."""
    records: int = 0
    """Records seen so far."""

    def absolute(self, token: str) -> str | None:
        """``token`` as an absolute name, or None when it is relative to an unknown origin."""
        if token == "@":
            return self.origin
        if token.endswith(".") and not token.endswith("\\."):
            return token[:-1].lower()
        if self.origin is None:
            return None
        return f"{token.lower()}.{self.origin}" if self.origin else token.lower()

    def relative(self, token: str) -> str | None:
        """``token`` relative to the zone apex ('' for the apex), or None when it is outside the zone."""
        name = self.absolute(token)
        if name is None:
            return "" if token == "@" else token.lower()
        if self.apex is None:
            return None
        if name == self.apex:
            return ""
        if not self.apex:
            return name
        if name.endswith("." + self.apex):
            return name[: -len(self.apex) - 1]
        return None


def rpz_ip(label_text: str) -> str | None:
    """``24.10.100.51.198`` (an rpz-ip owner without the suffix) as ``198.51.100.0/24``; None if invalid."""
    labels = label_text.split(".")
    if len(labels) < 2 or not labels[0].isascii() or not labels[0].isdigit() or len(labels[0]) > 3:
        return None
    prefix, rest = int(labels[0]), labels[1:][::-1]
    if len(rest) == 4 and all(x.isascii() and x.isdigit() for x in rest):
        text = ".".join(rest)
    else:
        groups = ["" if g == "zz" else g for g in rest]
        text = ":".join(groups)
        if text.startswith(":"):
            text = ":" + text
        if text.endswith(":"):
            text += ":"
        if not text:
            text = "::"
    try:
        network = ipaddress.ip_network(f"{text}/{prefix}", strict=False)
    except ValueError:
        return None
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def action(rtype: str, rdata: list[str], qname: str) -> bool | str:
    """True to block, False to exempt, or why the record is skipped."""
    if rtype == "CNAME":
        if len(rdata) != 1:
            return "CNAME needs one target"
        target = rdata[0].lower()
        if target in (".", "*.", "rpz-drop."):
            return True
        if target == "rpz-passthru." or target.rstrip(".") == qname:
            return False
        if target in _NOT_BLOCKING:
            return _NOT_BLOCKING[target]
        if target in _KEYWORDS:
            return f"relative {target} target (write {target}. with a trailing dot)"
        return True  # local data: a walled garden or block page
    if rtype in _DNSSEC:
        return f"DNSSEC record {rtype}"
    if rtype in ("SOA", "NS"):
        return f"{rtype} record below the zone apex"
    return True  # local data (A, AAAA, TXT ...)


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """Records of one policy zone; option ``zone=NAME`` names the zone when the file does not."""
    apex = ctx.options.get("zone")
    zone = _Zone(apex=apex.strip().rstrip(".").lower() if apex is not None else None)
    pending: list[str] = []
    start = 0
    inherit = False
    depth = 0
    for number, line in lines:
        try:
            tokens, delta = tokenize(line)
        except _Unbalanced as exc:
            yield Skipped(number, SkipReason.MALFORMED, str(exc), excerpt(line))
            continue
        if depth == 0:
            if not tokens:
                continue
            pending, start, inherit = tokens, number, line[:1] in (" ", "\t")
        else:
            pending.extend(tokens)
        depth += delta
        if depth < 0:
            yield Skipped(start, SkipReason.MALFORMED, "')' without '('", excerpt(line))
            depth = 0
            continue
        if depth > 0:
            if number - start >= MAX_RECORD_LINES:
                yield Skipped(start, SkipReason.MALFORMED, f"'(' not closed within {MAX_RECORD_LINES} lines")
                depth = 0
            continue
        yield from record(zone, start, inherit, pending)
    if depth > 0:
        yield Skipped(start, SkipReason.MALFORMED, "'(' never closed")


def record(zone: _Zone, number: int, inherit: bool, tokens: list[str]) -> Iterator[Item]:
    """The entries of one record (or directive)."""
    text = excerpt(" ".join(tokens))
    if tokens[0].startswith("$"):
        yield from directive(zone, number, tokens, text)
        return
    if inherit:
        if zone.owner is None:
            yield Skipped(number, SkipReason.MALFORMED, "no owner name before this record", text)
            return
        owner: str | None = zone.owner
        owner_token = None
        rest = tokens
    else:
        owner_token, rest = tokens[0], tokens[1:]
        owner = None
    for _ in range(2):
        if rest and (_TTL.match(rest[0]) or rest[0].upper() in _CLASSES or rest[0].upper().startswith("CLASS")):
            rest = rest[1:]
    if not rest:
        yield Skipped(number, SkipReason.MALFORMED, "no record type", text)
        return
    rtype, rdata = rest[0].upper(), rest[1:]
    if owner_token is not None:
        if rtype == "SOA" and zone.apex is None and not zone.records:
            name = zone.absolute(owner_token)
            if name is not None:
                zone.apex = name
        resolved = zone.relative(owner_token)
        if resolved is None:
            if zone.apex is None:
                detail = f"absolute owner {owner_token} in a zone of unknown name; pass option zone=NAME"
            else:
                detail = f"owner {owner_token} is outside the policy zone {zone.apex or '.'}"
            yield Skipped(number, SkipReason.UNSUPPORTED, detail, text)
            zone.owner = None
            return
        owner = resolved
        zone.owner = owner
    zone.records += 1
    assert owner is not None
    if owner == "":
        if rtype not in ("SOA", "NS"):
            yield Skipped(number, SkipReason.UNSUPPORTED, f"{rtype} record at the zone apex", text)
        return
    labels = owner.split(".")
    if labels[-1] in _UNSUPPORTED_TRIGGERS:
        yield Skipped(number, SkipReason.UNSUPPORTED, _UNSUPPORTED_TRIGGERS[labels[-1]], text)
        return
    wildcard = labels[0] == "*"
    qname = owner[2:] if wildcard else owner
    verdict = action(rtype, rdata, qname)
    if isinstance(verdict, str):
        yield Skipped(number, SkipReason.UNSUPPORTED, verdict, text)
        return
    if labels[-1] == "rpz-ip":
        network = rpz_ip(".".join(labels[:-1]))
        if network is None:
            yield Skipped(number, SkipReason.INVALID_ADDRESS, "not a valid rpz-ip trigger", text)
            return
        yield Entry(number, TargetKind.IP, network, exempt=not verdict)
        return
    if wildcard and not qname:
        yield Skipped(number, SkipReason.UNSUPPORTED, "wildcard over the whole zone", text)
        return
    yield domain(number, qname, subdomains=wildcard, exempt=not verdict, wildcard=False)


def directive(zone: _Zone, number: int, tokens: list[str], text: str) -> Iterator[Item]:
    """``$ORIGIN`` and ``$TTL``; other directives are skipped."""
    name = tokens[0].upper()
    if name == "$TTL":
        return
    if name == "$ORIGIN":
        if len(tokens) != 2:
            yield Skipped(number, SkipReason.MALFORMED, "$ORIGIN needs one name", text)
            return
        token = tokens[1]
        if token.endswith("."):
            origin: str | None = token[:-1].lower()
        elif zone.origin is not None:
            origin = f"{token.lower()}.{zone.origin}" if zone.origin else token.lower()
        else:
            yield Skipped(number, SkipReason.UNSUPPORTED, "relative $ORIGIN with no origin before it", text)
            return
        zone.origin = origin
        if zone.apex is None and not zone.records:
            zone.apex = origin
        return
    if name == "$INCLUDE":
        yield Skipped(number, SkipReason.UNSUPPORTED, "$INCLUDE is not followed", text)
        return
    yield Skipped(number, SkipReason.UNSUPPORTED, f"directive {tokens[0]}", text)


IMPORTER = Importer(
    name="rpz",
    summary="RPZ zone: `name CNAME .` (or `*.`, rpz-drop., local data) -> exact; `*.name` -> subdomains; "
            "`CNAME rpz-passthru.` -> exemption; `32.1.2.0.192.rpz-ip` -> ip",
    parse=parse,
    options=("zone",),
)
