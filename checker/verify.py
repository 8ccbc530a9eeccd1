"""Static verification: what a candidate resolver config does to every name the orders imply, judged
with the verdict words of ``check``, without sending a single DNS query.

A config (an RPZ zone file, Unbound ``local-zone``/``local-data`` lines, dnsmasq ``address=``/
``server=``/``local=`` lines, or a hosts file) is read into rules, and each query name of the
orders (the ordered names, a ``www.`` probe below each name ordered with its subdomains, the
exemptions) is matched against them the way the real software matches:

* RPZ, as Unbound does it: an exact trigger first; otherwise the wildcard ``*.<closest encloser>``,
  where the closest encloser is the longest common suffix of the name and the trigger that sorts
  just before it. So ``*.d`` never matches ``d`` itself, and does not reach below a more specific
  trigger ``x.d`` (``y.x.d`` needs ``*.x.d``). A ``rpz-passthru.`` match is a match: the name
  resolves normally. Response-IP, NSDNAME, NSIP and client-IP triggers cannot be judged without
  the answers and are listed in the run's notes.
* Unbound: the most specific ``local-zone`` enclosing the name decides, by its type; ``local-data``
  answers only its exact name (in the zone that encloses it, or an implicit ``transparent`` zone).
* dnsmasq: the longest domain that matches on whole labels (``/*d/`` suffix patterns after plain
  ones, ``/#/`` last); ``address=/d/`` is NXDOMAIN, ``/d/#`` 0.0.0.0 and ::, ``/d/ADDR`` that
  address (the other address family gets NODATA); ``server=/d/#`` forwards as usual.
* hosts: exact names only; a name listed with one address family gets NODATA for the other.

``include:``, ``$INCLUDE``, ``conf-file=`` and the like are not followed (each is a note).
Every result is ``blocked`` (with the method the rule answers with) or ``accessible`` for an
ordered name, ``accessible`` or ``overblocked`` for an exemption; ``detail`` names the deciding
rule as ``file:line: rule``.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import hashlib
import ipaddress
import re
import shlex
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol as TypingProtocol
from typing import assert_never

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.ttl

from checker.classify import QTYPES, is_sinkhole
from checker.errors import BlockauditError
from checker.models import (
    BlockSignals,
    Health,
    IPAddress,
    Method,
    OrderSet,
    Protocol,
    Query,
    QueryKind,
    Resolver,
    ResolverSet,
    Result,
    Role,
    Run,
    Verdict,
)
from checker.queries import DEFAULT_SUBDOMAIN_PROBES, build_queries

MODE = "verify-config"
OPERATOR = "candidate config"
NO_HOST = "static-check"
"""What the subject's ``host`` holds: the config is read, never asked over the network."""
NO_PORT = 0


class ConfigFormat(StrEnum):
    """Config formats ``verify-config`` reads."""

    RPZ = "rpz"
    UNBOUND = "unbound"
    DNSMASQ = "dnsmasq"
    HOSTS = "hosts"


class ConfigError(BlockauditError):
    """A candidate config cannot be read; the message names ``file:line``."""


# --------------------------------------------------------------------------- rules and decisions


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the config as written, with where it is."""

    path: str
    """The config file."""
    line: int
    """Line of the rule (1-based)."""
    text: str
    """The rule, normalised to one line (for RPZ: owner relative to the origin, type, data)."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


Answer = Method | None
"""What a name gets for one record type: a block method, or None for the real answer."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the config does to one name."""

    answers: dict[str, Answer]
    """Per record type (A, AAAA): the block method, or None when the name resolves normally."""
    rules: tuple[Rule, ...] = ()
    """The rules that decide it; empty when none matches."""
    note: str = ""
    """Why, when the rules alone do not say it."""


def _same(answer: Answer) -> dict[str, Answer]:
    return dict.fromkeys(QTYPES, answer)


NOT_COVERED = Decision(_same(None))


@dataclass(frozen=True, slots=True)
class Data:
    """A local-data record: type and presentation data, with the rule that holds it."""

    rdtype: str
    data: str
    rule: Rule


def data_answer(records: Sequence[Data], qtype: str) -> Answer:
    """What local data answers for one record type: addresses (sinkhole or block page), a CNAME
    (a block page by name), or NODATA when the name has data of other types only."""
    addresses = [ipaddress.ip_address(r.data) for r in records if r.rdtype == qtype]
    if addresses:
        return Method.SINKHOLE if all(is_sinkhole(a) for a in addresses) else Method.BLOCKPAGE
    if any(r.rdtype == "CNAME" for r in records):
        return Method.BLOCKPAGE
    return Method.NODATA


def data_decision(records: Sequence[Data], note: str = "") -> Decision:
    """The decision for a name answered from local data."""
    rules = tuple(dict.fromkeys(r.rule for r in records))
    return Decision({qtype: data_answer(records, qtype) for qtype in QTYPES}, rules, note)


class Policy(TypingProtocol):
    """A config read into rules."""

    @property
    def notes(self) -> list[str]:
        """What was not evaluated, and other remarks, as ``file:line: what`` lines."""

    @property
    def signals(self) -> BlockSignals:
        """The block addresses, block names and drops the config's blocking rules use."""

    @property
    def count(self) -> int:
        """How many rules were read."""

    def decide(self, name: str) -> Decision:
        """What the config does to ``name`` (normalised, no trailing dot)."""


def _signals(records: Iterable[Data], drop: bool) -> BlockSignals:
    addresses: set[IPAddress] = set()
    cnames: set[str] = set()
    for record in records:
        if record.rdtype in QTYPES:
            address = ipaddress.ip_address(record.data)
            if not is_sinkhole(address):
                addresses.add(address)
        elif record.rdtype == "CNAME":
            cnames.add(record.data.rstrip(".").lower())
    return BlockSignals(frozenset(addresses), frozenset(cnames), drop)


def _name(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    if name and not name.isascii():
        with contextlib.suppress(dns.exception.DNSException):
            name = dns.name.from_unicode(name).to_text(omit_final_dot=True)
    return name


def _ancestors_or_self(name: str) -> list[str]:
    labels = name.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


# --------------------------------------------------------------------------- RPZ

_CNAME_ACTIONS = {".": Method.NXDOMAIN, "*.": Method.NODATA, "rpz-drop.": Method.DROP}
PASSTHRU = "rpz-passthru."
TCP_ONLY = "rpz-tcp-only."
_IGNORED_TYPES = frozenset({"SOA", "NS", "DNAME", "DS", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY",
                            "ZONEMD", "CDS", "CDNSKEY"})
_OTHER_TRIGGERS = {"rpz-ip": "Response IP", "rpz-nsip": "NS IP", "rpz-nsdname": "NSDNAME",
                   "rpz-client-ip": "client IP"}


def unbound_key(name: str) -> tuple[tuple[int, str], ...]:
    """Unbound's sort key of a name (``dname_lab_cmp``): labels from the root, each compared by
    length first and then by its lower-case bytes; a name sorts after its ancestors."""
    if not name:
        return ()
    return tuple((len(label), label) for label in reversed(name.split(".")))


def _shared(a: str, b: str) -> str:
    la, lb = list(reversed(a.split("."))), list(reversed(b.split(".")))
    common = []
    for x, y in zip(la, lb, strict=False):
        if x != y:
            break
        common.append(x)
    return ".".join(reversed(common))


@dataclass(slots=True)
class Trigger:
    """One QNAME trigger of a policy zone: every record at its owner name."""

    name: str
    """Owner relative to the origin: ``d`` or ``*.d``."""
    records: list[Data] = field(default_factory=list)
    """Its records, in file order."""

    def decide(self) -> Decision:
        """The action its records encode."""
        for record in self.records:
            if record.rdtype != "CNAME":
                continue
            target = record.data.lower()
            if target in _CNAME_ACTIONS:
                return Decision(_same(_CNAME_ACTIONS[target]), (record.rule,))
            if target == PASSTHRU:
                return Decision(_same(None), (record.rule,), "passthru: resolved normally")
            if target == TCP_ONLY:
                return Decision(_same(None), (record.rule,), "tcp-only: resolved normally over TCP")
        return data_decision(self.records)


class RPZPolicy:
    """A policy zone, matched the way Unbound's ``rpz:`` matches QNAME triggers."""

    def __init__(self, path: str, origin: str, triggers: dict[str, Trigger], notes: list[str]) -> None:
        self.path = path
        self.origin = origin
        self.triggers = triggers
        self.notes = notes
        self.keys = sorted(unbound_key(name) for name in triggers)
        self.by_key = {unbound_key(name): name for name in triggers}

    @property
    def count(self) -> int:
        """How many records make up the triggers."""
        return sum(len(t.records) for t in self.triggers.values())

    @property
    def signals(self) -> BlockSignals:
        """Local-data addresses and names; drop when a trigger drops."""
        records = [r for t in self.triggers.values() for r in t.records]
        data = [r for r in records if not (r.rdtype == "CNAME" and r.data.lower() in
                                            (*_CNAME_ACTIONS, PASSTHRU, TCP_ONLY))]
        drop = any(r.rdtype == "CNAME" and r.data.lower() == "rpz-drop." for r in records)
        return _signals(data, drop)

    def match(self, name: str) -> str | None:
        """The trigger that applies to ``name``: exact, else ``*.`` at the closest encloser."""
        key = unbound_key(name)
        index = bisect.bisect_right(self.keys, key) - 1
        if index < 0:
            return None
        found = self.by_key[self.keys[index]]
        if found == name:
            return found
        encloser = _shared(found, name)
        wildcard = f"*.{encloser}" if encloser else "*"
        return wildcard if wildcard in self.triggers else None

    def decide(self, name: str) -> Decision:
        """What the zone does to ``name``."""
        trigger = self.match(name)
        if trigger is not None:
            return self.triggers[trigger].decide()
        shadowed = [a for a in _ancestors_or_self(name)[1:] if f"*.{a}" in self.triggers]
        if not shadowed:
            return NOT_COVERED
        key = unbound_key(name)
        nearest = self.by_key[self.keys[bisect.bisect_right(self.keys, key) - 1]]
        wildcard = self.triggers[f"*.{shadowed[0]}"].records[0].rule
        return Decision(_same(None), (), f"{wildcard} does not reach it: an RPZ wildcard stops at the more "
                                         f"specific trigger {nearest} (it needs *.{_shared(nearest, name)})")


def _rpz_tokens(path: Path) -> dns.tokenizer.Tokenizer:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None
    return dns.tokenizer.Tokenizer(text, filename=str(path))


def load_rpz(path: Path, origin: str | None = None) -> RPZPolicy:
    """Read an RPZ zone file. The policy zone's origin is ``origin``, else the first ``$ORIGIN``,
    else the owner of the SOA; owners outside it are skipped (as Unbound does), with a note."""
    where = str(path)
    tok = _rpz_tokens(path)
    zone: dns.name.Name | None = dns.name.from_text(origin) if origin else None
    current = zone
    last: dns.name.Name | None = None
    records: list[tuple[dns.name.Name, str, str, int]] = []
    notes: list[str] = []
    line = 0
    try:
        while True:
            token = tok.get(want_leading=True, want_comment=True)
            line = tok.line_number
            if token.is_eof():
                break
            if token.is_eol():
                continue
            if token.is_comment():
                tok.get_eol()
                continue
            if token.is_identifier() and token.value.startswith("$"):
                directive = token.value.upper()
                if directive == "$ORIGIN":
                    current = tok.get_name()
                    tok.get_eol()
                    zone = zone or current
                elif directive == "$TTL":
                    tok.get_ttl()
                    tok.get_eol()
                elif directive in ("$INCLUDE", "$GENERATE"):
                    rest = _rest_of_line(tok)
                    done = "followed" if directive == "$INCLUDE" else "expanded"
                    notes.append(f"{where}:{line}: {directive} {rest} was not {done}; its records are not "
                                 "part of this check")
                else:
                    raise ConfigError(f"unknown directive {token.value}", path=where, line=line)
                continue
            if token.is_whitespace():
                token = tok.get()
                if token.is_eol_or_eof():
                    continue
                tok.unget(token)
                owner = last
            else:
                owner = tok.as_name(token, current)
                if not owner.is_absolute():
                    raise ConfigError("relative owner name before any $ORIGIN", path=where, line=line,
                                      hint="add $ORIGIN or pass the policy zone's name (--zone)")
            if owner is None:
                raise ConfigError("a record without an owner name", path=where, line=line)
            last = owner
            rdtype, data = _rr_rest(tok, current)
            if zone is None and rdtype == "SOA":
                zone = owner
            records.append((owner, rdtype, data, line))
    except (_BadRecord, dns.exception.DNSException) as exc:
        raise ConfigError(f"not a zone file record: {exc}", path=where, line=line) from None
    if zone is None:
        raise ConfigError("no $ORIGIN and no SOA: cannot tell the policy zone's name", path=where,
                          hint="pass it with --zone")
    triggers: dict[str, Trigger] = {}
    for owner, rdtype, data, at in records:
        if not owner.is_subdomain(zone):
            notes.append(f"{where}:{at}: {owner} is outside the policy zone {zone}; skipped")
            continue
        relative = owner.relativize(zone).to_text().lower()
        if relative == "@" or rdtype in _IGNORED_TYPES:
            continue
        last_label = relative.rsplit(".", 1)[-1]
        rule = Rule(where, at, f"{relative} {rdtype} {data}")
        if last_label in _OTHER_TRIGGERS:
            notes.append(f"{rule}: {_OTHER_TRIGGERS[last_label]} trigger, not judged (it depends on the answers)")
            continue
        if rdtype == "CNAME" and data.lower().endswith("." + zone.to_text().lower()):
            first = data.lower().split(".", 1)[0]
            if f"{first}." in (PASSTHRU, TCP_ONLY, "rpz-drop."):
                notes.append(f"{rule}: a CNAME to {data} is local data, not {first}. (write {first}. with the dot)")
        triggers.setdefault(relative, Trigger(relative)).records.append(Data(rdtype, data, rule))
    return RPZPolicy(where, zone.to_text(), triggers, notes)


def _rest_of_line(tok: dns.tokenizer.Tokenizer) -> str:
    parts: list[str] = []
    while True:
        token = tok.get()
        if token.is_eol_or_eof():
            return " ".join(parts)
        parts.append(token.value)


class _BadRecord(Exception):
    """A record line that does not parse; the message says why."""


def _rr_rest(tok: dns.tokenizer.Tokenizer, origin: dns.name.Name | None) -> tuple[str, str]:
    """``[TTL] [class] type rdata`` (TTL and class in either order) up to the end of the line:
    the type mnemonic and the data in presentation form (names absolute)."""
    token = tok.get()
    if token.is_eol_or_eof():
        raise _BadRecord("a record needs a type and data")
    seen_ttl = False
    for _ in range(2):
        if not seen_ttl and token.value[:1].isdigit():
            try:
                dns.ttl.from_text(token.value)
            except dns.ttl.BadTTL:
                raise _BadRecord(f"bad TTL {token.value!r}") from None
            seen_ttl = True
            token = tok.get()
            continue
        try:
            rdclass = dns.rdataclass.from_text(token.value)
        except dns.rdataclass.UnknownRdataclass:
            break
        if rdclass != dns.rdataclass.IN:
            raise _BadRecord(f"class {token.value} is not IN")
        token = tok.get()
    try:
        rdtype = dns.rdatatype.from_text(token.value)
    except dns.rdatatype.UnknownRdatatype:
        raise _BadRecord(f"unknown record type {token.value!r}") from None
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, tok, origin, relativize=False)
    return dns.rdatatype.to_text(rdtype), rdata.to_text()


# --------------------------------------------------------------------------- Unbound

class ZoneType(StrEnum):
    """Unbound local-zone types."""

    DENY = "deny"
    REFUSE = "refuse"
    STATIC = "static"
    TRANSPARENT = "transparent"
    TYPETRANSPARENT = "typetransparent"
    REDIRECT = "redirect"
    INFORM = "inform"
    INFORM_DENY = "inform_deny"
    INFORM_REDIRECT = "inform_redirect"
    ALWAYS_TRANSPARENT = "always_transparent"
    BLOCK_A = "block_a"
    BLOCK_AAAA = "block_aaaa"
    ALWAYS_REFUSE = "always_refuse"
    ALWAYS_NXDOMAIN = "always_nxdomain"
    ALWAYS_NULL = "always_null"
    ALWAYS_NODATA = "always_nodata"
    ALWAYS_DENY = "always_deny"
    NOVIEW = "noview"
    NODEFAULT = "nodefault"
    IPSET = "ipset"


_CLAUSE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):\s*$")
_NOT_FOLLOWED = ("include", "include-toplevel")


@dataclass(frozen=True, slots=True)
class LocalZone:
    """One ``local-zone:`` line."""

    name: str
    type: ZoneType
    rule: Rule


class UnboundPolicy:
    """Unbound ``local-zone`` and ``local-data`` of the ``server:`` clause."""

    def __init__(self, zones: dict[str, LocalZone], data: dict[str, list[Data]], notes: list[str]) -> None:
        self.zones = zones
        self.data = data
        self.notes = notes

    @property
    def count(self) -> int:
        """Zones plus data lines."""
        return len(self.zones) + sum(len(v) for v in self.data.values())

    @property
    def signals(self) -> BlockSignals:
        """Local-data addresses and names; drop when a zone drops."""
        drop = any(z.type in (ZoneType.ALWAYS_DENY, ZoneType.DENY, ZoneType.INFORM_DENY) for z in self.zones.values())
        return _signals((r for records in self.data.values() for r in records), drop)

    def zone_of(self, name: str) -> LocalZone | None:
        """The most specific local-zone at or above ``name``."""
        return next((self.zones[a] for a in _ancestors_or_self(name) if a in self.zones), None)

    def decide(self, name: str) -> Decision:
        """What Unbound answers for ``name``."""
        zone = self.zone_of(name)
        here = self.data.get(name, [])
        if zone is None:
            if here:
                return data_decision(here, "local-data without a local-zone: an implicit transparent zone")
            return NOT_COVERED
        rule = (zone.rule,)
        match zone.type:
            case ZoneType.TRANSPARENT | ZoneType.INFORM | ZoneType.NOVIEW | ZoneType.NODEFAULT | ZoneType.IPSET:
                if here:
                    return data_decision(here)
                return Decision(_same(None), rule, f"{zone.type.value}: resolved normally")
            case ZoneType.TYPETRANSPARENT:
                if here:
                    answers = {q: (data_answer(here, q) if any(r.rdtype in (q, "CNAME") for r in here) else None)
                               for q in QTYPES}
                    return Decision(answers, tuple(r.rule for r in here), "typetransparent: other types resolve")
                return Decision(_same(None), rule, "typetransparent: resolved normally")
            case ZoneType.ALWAYS_TRANSPARENT:
                return Decision(_same(None), rule, "always_transparent: resolved normally")
            case ZoneType.STATIC:
                if here:
                    return data_decision(here)
                below = any(other.endswith("." + name) for other in self.data)
                return Decision(_same(Method.NODATA if below else Method.NXDOMAIN), rule)
            case ZoneType.DENY | ZoneType.INFORM_DENY:
                return data_decision(here) if here else Decision(_same(Method.DROP), rule)
            case ZoneType.REFUSE:
                return data_decision(here) if here else Decision(_same(Method.REFUSED), rule)
            case ZoneType.REDIRECT | ZoneType.INFORM_REDIRECT:
                apex = self.data.get(zone.name, [])
                if apex:
                    return Decision({q: data_answer(apex, q) for q in QTYPES},
                                    (zone.rule, *dict.fromkeys(r.rule for r in apex)))
                return Decision(_same(Method.NODATA), rule, "redirect without local-data at the zone name")
            case ZoneType.BLOCK_A:
                return Decision({"A": Method.NODATA, "AAAA": None}, rule, "block_a: AAAA resolves")
            case ZoneType.BLOCK_AAAA:
                return Decision({"A": None, "AAAA": Method.NODATA}, rule, "block_aaaa: A resolves")
            case ZoneType.ALWAYS_REFUSE:
                return Decision(_same(Method.REFUSED), rule)
            case ZoneType.ALWAYS_NXDOMAIN:
                return Decision(_same(Method.NXDOMAIN), rule)
            case ZoneType.ALWAYS_NULL:
                return Decision(_same(Method.SINKHOLE), rule)
            case ZoneType.ALWAYS_NODATA:
                return Decision(_same(Method.NODATA), rule)
            case ZoneType.ALWAYS_DENY:
                return Decision(_same(Method.DROP), rule)
            case _:
                assert_never(zone.type)


def _unquote(value: str, where: str, line: int) -> list[str]:
    try:
        return shlex.split(value, comments=True, posix=True)
    except ValueError as exc:
        raise ConfigError(f"unbalanced quotes: {exc}", path=where, line=line) from None


def _parse_rr(text: str, where: str, line: int) -> tuple[str, Data]:
    tok = dns.tokenizer.Tokenizer(text, filename=where)
    try:
        owner = tok.get_name(dns.name.root)
        rdtype, data = _rr_rest(tok, dns.name.root)
    except (_BadRecord, dns.exception.DNSException) as exc:
        raise ConfigError(f"local-data {text!r} is not a record: {exc}", path=where, line=line) from None
    name = owner.to_text(omit_final_dot=True).lower()
    return name, Data(rdtype, data, Rule(where, line, f"local-data: \"{text}\""))


def load_unbound(path: Path) -> UnboundPolicy:
    """Read the ``local-zone:``/``local-data:`` lines of an Unbound config (``server:`` clauses,
    or a fragment without a clause); ``include:`` is not followed and ``view:`` rules are skipped."""
    where = str(path)
    zones: dict[str, LocalZone] = {}
    data: dict[str, list[Data]] = {}
    notes: list[str] = []
    clause = "server"
    for number, raw in enumerate(_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _CLAUSE.match(line)
        if header:
            clause = header.group(1).lower()
            if clause in ("rpz", "auth-zone"):
                notes.append(f"{where}:{number}: {clause}: clause not judged (verify its zone file with --rpz)")
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep:
            continue
        if key in _NOT_FOLLOWED:
            notes.append(f"{where}:{number}: {line} was not followed; its rules are not part of this check")
            continue
        if key not in ("local-zone", "local-data"):
            continue
        if clause != "server":
            notes.append(f"{where}:{number}: {key} in a {clause}: clause is not judged")
            continue
        words = _unquote(value, where, number)
        if key == "local-zone":
            if len(words) != 2:
                raise ConfigError("local-zone needs a name and a type", path=where, line=number,
                                  hint='local-zone: "example.org." always_nxdomain')
            try:
                kind = ZoneType(words[1].lower())
            except ValueError:
                raise ConfigError(f"unknown local-zone type {words[1]!r}", path=where, line=number) from None
            name = _name(words[0])
            if name in zones:
                notes.append(f"{where}:{number}: a second local-zone for {name}; the first "
                             f"(line {zones[name].rule.line}) counts")
                continue
            zones[name] = LocalZone(name, kind, Rule(where, number, f'local-zone: "{name}." {kind.value}'))
        else:
            if len(words) != 1:
                raise ConfigError("local-data needs one quoted record", path=where, line=number,
                                  hint="local-data: \"example.org. A 192.0.2.1\"")
            name, record = _parse_rr(words[0], where, number)
            data.setdefault(name, []).append(record)
    return UnboundPolicy(zones, data, notes)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason}", path=str(path)) from None


# --------------------------------------------------------------------------- dnsmasq


class Kind(StrEnum):
    """What a dnsmasq domain rule does."""

    ADDRESS = "address"
    """Answers with addresses (``#``: 0.0.0.0 and ::)."""
    NXDOMAIN = "nxdomain"
    """``address=/d/``, ``server=/d/``, ``local=/d/``: local only, NXDOMAIN."""
    STANDARD = "standard"
    """``server=/d/#``: forwarded to the usual servers."""
    FORWARD = "forward"
    """``server=/d/ADDR``: forwarded to that server."""


_KIND_RANK = {Kind.ADDRESS: 0, Kind.NXDOMAIN: 1, Kind.STANDARD: 2, Kind.FORWARD: 3}
"""When one domain has several kinds of rule, the first of these wins."""


@dataclass(frozen=True, slots=True)
class DomainRule:
    """One domain of an ``address=``/``server=``/``local=`` line."""

    kind: Kind
    addresses: tuple[Data, ...]
    rule: Rule


class DnsmasqPolicy:
    """dnsmasq domain rules, matched on whole labels, most specific first."""

    def __init__(self, plain: dict[str, list[DomainRule]], suffix: dict[str, list[DomainRule]],
                 every: list[DomainRule], hosts: dict[str, list[Data]], notes: list[str]) -> None:
        self.plain = plain
        self.suffix = suffix
        self.every = every
        self.hosts = hosts
        self.notes = notes

    @property
    def count(self) -> int:
        """Domain rules and host records."""
        return (sum(len(v) for v in self.plain.values()) + sum(len(v) for v in self.suffix.values())
                + len(self.every) + sum(len(v) for v in self.hosts.values()))

    @property
    def signals(self) -> BlockSignals:
        """The addresses ``address=`` and ``host-record=`` hand out."""
        rules = [r for group in (*self.plain.values(), *self.suffix.values(), self.every) for r in group]
        return _signals([*(d for r in rules for d in r.addresses), *(d for v in self.hosts.values() for d in v)],
                        False)

    def rules_for(self, name: str) -> list[DomainRule]:
        """The rules of the most specific matching domain."""
        for candidate in _ancestors_or_self(name):
            if candidate in self.plain:
                return self.plain[candidate]
        matches = [s for s in self.suffix if name.endswith(s)]
        if matches:
            return self.suffix[max(matches, key=len)]
        return self.every

    def decide(self, name: str) -> Decision:
        """What dnsmasq answers for ``name``."""
        if name in self.hosts:
            return data_decision(self.hosts[name], "host-record: answered for this exact name")
        rules = self.rules_for(name)
        if not rules:
            return NOT_COVERED
        best = min(_KIND_RANK[r.kind] for r in rules)
        chosen = [r for r in rules if _KIND_RANK[r.kind] == best]
        kind = chosen[0].kind
        used = tuple(r.rule for r in chosen)
        match kind:
            case Kind.ADDRESS:
                records = [d for r in chosen for d in r.addresses]
                return Decision({q: data_answer(records, q) for q in QTYPES}, used)
            case Kind.NXDOMAIN:
                return Decision(_same(Method.NXDOMAIN), used)
            case Kind.STANDARD:
                return Decision(_same(None), used, "forwarded as usual")
            case Kind.FORWARD:
                return Decision(_same(None), used, "forwarded to the named server")
            case _:
                assert_never(kind)


_DNSMASQ_NOT_FOLLOWED = ("conf-file", "conf-dir", "addn-hosts", "servers-file", "hostsdir", "resolv-file")


def load_dnsmasq(path: Path) -> DnsmasqPolicy:
    """Read ``address=``, ``server=``, ``local=`` and ``host-record=`` lines of a dnsmasq config."""
    where = str(path)
    plain: dict[str, list[DomainRule]] = {}
    suffix: dict[str, list[DomainRule]] = {}
    every: list[DomainRule] = []
    hosts: dict[str, list[Data]] = {}
    notes: list[str] = []
    for number, raw in enumerate(_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.removeprefix("--").partition("=")
        key = key.strip().lower()
        value = value.strip()
        if key in _DNSMASQ_NOT_FOLLOWED:
            notes.append(f"{where}:{number}: {line} was not followed; its rules are not part of this check")
            continue
        if key == "bogus-nxdomain":
            notes.append(f"{where}:{number}: {line}: an answer-address rule, not judged (it depends on the answers)")
            continue
        if key == "host-record":
            _host_record(value, Rule(where, number, line), hosts)
            continue
        if key not in ("address", "server", "local"):
            continue
        if not value.startswith("/"):
            continue  # an upstream server for every domain
        parts = value[1:].split("/")
        if len(parts) < 2:
            raise ConfigError(f"{key}= needs /domain/ and then the {'address' if key == 'address' else 'server'}",
                              path=where, line=number)
        target, domains = parts[-1].strip(), parts[:-1]
        rule = Rule(where, number, line)
        item = _domain_rule(key, target, rule)
        for domain in (d.strip() for d in domains):
            if not domain:
                continue  # '//': unqualified names only
            if domain == "#":
                every.append(item)
            elif domain.startswith("*"):
                suffix.setdefault(_name(domain[1:]), []).append(item)
            else:
                plain.setdefault(_name(domain.lstrip(".")), []).append(item)
    return DnsmasqPolicy(plain, suffix, every, hosts, notes)


def _domain_rule(key: str, target: str, rule: Rule) -> DomainRule:
    if key == "address":
        if not target:
            return DomainRule(Kind.NXDOMAIN, (), rule)
        if target == "#":
            return DomainRule(Kind.ADDRESS, (Data("A", "0.0.0.0", rule), Data("AAAA", "::", rule)), rule)
        try:
            address = ipaddress.ip_address(target.strip("[]"))
        except ValueError:
            raise ConfigError(f"address {target!r} is not an IP address", path=rule.path, line=rule.line) from None
        return DomainRule(Kind.ADDRESS, (Data("A" if address.version == 4 else "AAAA", str(address), rule),), rule)
    if not target:
        return DomainRule(Kind.NXDOMAIN, (), rule)
    if target == "#":
        return DomainRule(Kind.STANDARD, (), rule)
    return DomainRule(Kind.FORWARD, (), rule)


def _host_record(value: str, rule: Rule, hosts: dict[str, list[Data]]) -> None:
    names: list[str] = []
    records: list[Data] = []
    for item in (p.strip() for p in value.split(",")):
        if not item:
            continue
        try:
            address = ipaddress.ip_address(item.strip("[]"))
        except ValueError:
            if item.isdigit():
                continue  # the TTL
            names.append(_name(item))
            continue
        records.append(Data("A" if address.version == 4 else "AAAA", str(address), rule))
    for name in names:
        hosts.setdefault(name, []).extend(records)


# --------------------------------------------------------------------------- hosts


class HostsPolicy:
    """A hosts file: exact names only."""

    def __init__(self, hosts: dict[str, list[Data]], notes: list[str]) -> None:
        self.hosts = hosts
        self.notes = notes

    @property
    def count(self) -> int:
        """Name-address pairs."""
        return sum(len(v) for v in self.hosts.values())

    @property
    def signals(self) -> BlockSignals:
        """The non-sinkhole addresses the file hands out."""
        return _signals((d for v in self.hosts.values() for d in v), False)

    def decide(self, name: str) -> Decision:
        """The file's addresses for exactly ``name``."""
        records = self.hosts.get(name)
        if not records:
            return NOT_COVERED
        return data_decision(records)


def load_hosts(path: Path) -> HostsPolicy:
    """Read ``ADDRESS NAME [NAME...]`` lines; ``#`` starts a comment."""
    where = str(path)
    hosts: dict[str, list[Data]] = {}
    for number, raw in enumerate(_lines(path), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        try:
            address = ipaddress.ip_address(words[0].split("%", 1)[0])
        except ValueError:
            raise ConfigError(f"{words[0]!r} is not an IP address", path=where, line=number,
                              hint="hosts lines read: ADDRESS NAME [NAME...]") from None
        if len(words) < 2:
            raise ConfigError(f"{address} names no host", path=where, line=number)
        for word in words[1:]:
            name = _name(word)
            text = f"{address} {name}"
            hosts.setdefault(name, []).append(
                Data("A" if address.version == 4 else "AAAA", str(address), Rule(where, number, text)))
    return HostsPolicy(hosts, [])


# --------------------------------------------------------------------------- verdicts

_METHOD_RANK = {Method.BLOCKPAGE: 6, Method.SINKHOLE: 5, Method.REFUSED: 4, Method.NXDOMAIN: 3,
                Method.DROP: 2, Method.NODATA: 1}
"""As in ``classify``: the method a result names when A and AAAA are blocked differently."""


def judge(query: Query, resolver: str, decision: Decision) -> Result:
    """The result for one query name, with the verdict ``check`` would give the same answers
    (a name the controls resolve): an ordered name is blocked only when both A and AAAA are; an
    exemption is over-blocked when either is (NODATA does not count while the other resolves)."""
    answers = [decision.answers[q] for q in QTYPES]
    blocked = [a for a in answers if a is not None]
    if query.kind is not QueryKind.ORDERED and len(blocked) < len(answers):
        blocked = [a for a in blocked if a is not Method.NODATA]
    method = max(blocked, key=lambda m: _METHOD_RANK[m]) if blocked else None
    rules = "; ".join(str(r) for r in decision.rules)
    if query.kind is QueryKind.ORDERED:
        verdict = Verdict.BLOCKED if len(blocked) == len(answers) else Verdict.ACCESSIBLE
    else:
        verdict = Verdict.OVERBLOCKED if blocked else Verdict.ACCESSIBLE
    if verdict is Verdict.ACCESSIBLE:
        method = None
    detail = rules if decision.rules else "no rule covers it"
    if decision.note:
        detail += f" ({decision.note})"
    open_types = [q for q, a in zip(QTYPES, answers, strict=True) if a is None]
    if open_types and len(open_types) < len(answers):
        detail += f"; {', '.join(open_types)} resolves normally"
    return Result(query, resolver, verdict, method, None, detail, ())


LOADERS: dict[ConfigFormat, Callable[[Path, str | None], Policy]] = {
    ConfigFormat.RPZ: load_rpz,
    ConfigFormat.UNBOUND: lambda path, _origin: load_unbound(path),
    ConfigFormat.DNSMASQ: lambda path, _origin: load_dnsmasq(path),
    ConfigFormat.HOSTS: lambda path, _origin: load_hosts(path),
}
"""The reader of each format (the origin is for RPZ only)."""


def load_config(fmt: ConfigFormat | str, path: Path, origin: str | None = None) -> Policy:
    """Read a candidate config into rules; ``ConfigError`` (``file:line``) when it cannot be read."""
    try:
        chosen = ConfigFormat(fmt)
    except ValueError:
        raise ConfigError(f"unknown config format {fmt!r}",
                          hint="one of " + ", ".join(f.value for f in ConfigFormat)) from None
    if not path.is_file():
        raise ConfigError("no such file", path=str(path))
    if origin is not None and chosen is not ConfigFormat.RPZ:
        raise ConfigError(f"a zone origin is for RPZ files only, not {chosen.value}", path=str(path))
    if origin is not None:
        try:
            dns.name.from_text(origin)
        except dns.exception.DNSException as exc:
            raise ConfigError(f"zone origin {origin!r} is not a domain name: {exc}") from None
    return LOADERS[chosen](path, origin)


def subject(path: Path, signals: BlockSignals | None = None) -> Resolver:
    """The resolver that stands for the config in the run: named after the file, never asked."""
    return Resolver(name=f"config:{path.name}", operator=OPERATOR, host=NO_HOST, port=NO_PORT,
                    protocol=Protocol.UDP, role=Role.SUBJECT, block=signals or BlockSignals())


def verify(
    fmt: ConfigFormat | str,
    path: Path,
    orders: OrderSet,
    *,
    origin: str | None = None,
    probes: Sequence[str] = DEFAULT_SUBDOMAIN_PROBES,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Run:
    """Judge a candidate config against the orders: one result per query name, no DNS traffic.

    The run has one subject (``config:<file name>``, operator ``candidate config``), no controls
    and no observations; ``settings`` says ``mode: verify-config``, the config and its format.
    Its roll-up (``classify.rollup``) is ``compliant`` when every ordered name is blocked and no
    exemption is, ``noncompliant`` otherwise.
    """
    started_at = clock()
    policy = load_config(fmt, path, origin)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    resolver = subject(path, policy.signals)
    queries = build_queries(orders, (), probes)
    results = tuple(judge(q, resolver.name, policy.decide(q.name)) for q in queries)
    health = Health(resolver.name, True, None, None,
                    f"static check of {path}: {policy.count} rules read, no DNS query sent")
    settings: dict[str, object] = {
        "mode": MODE,
        "config": str(path),
        "format": ConfigFormat(fmt).value,
        "config_sha256": digest,
        "rules": policy.count,
        "subdomain_probes": list(probes),
        "notes": list(policy.notes),
        # Keys the report templates read for a check run; nothing was asked, so they are empty.
        "timeout_s": None,
        "retries": None,
        "nxdomain_probe": None,
    }
    if isinstance(policy, RPZPolicy):
        settings["origin"] = policy.origin
    finished_at = clock()
    return Run(
        id=started_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ-") + digest[:6],
        started_at=started_at,
        finished_at=finished_at,
        orders=orders,
        resolvers=ResolverSet((resolver,), (), path=str(path)),
        results=results,
        health=(health,),
        controls=(),
        vantage=socket.gethostname(),
        settings=settings,
    )


__all__ = [
    "ConfigError",
    "ConfigFormat",
    "Decision",
    "Policy",
    "Rule",
    "load_config",
    "load_dnsmasq",
    "load_hosts",
    "load_rpz",
    "load_unbound",
    "verify",
]
