"""Frozen records and closed enums shared by every stage: orders, resolvers, observations, results."""

from __future__ import annotations

import array
import datetime as dt
import ipaddress
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OrderType(StrEnum):
    """What kind of instrument the order is."""

    TRO = "tro"
    PRELIMINARY_INJUNCTION = "preliminary_injunction"
    PERMANENT_INJUNCTION = "permanent_injunction"
    ADMINISTRATIVE = "administrative"
    TICKET = "ticket"
    OTHER = "other"


class Verification(StrEnum):
    """Whether someone has read the order itself, or only reports of it."""

    VERIFIED = "verified"
    UNVERIFIED = "unverified"


class DeadlineStart(StrEnum):
    """The event a deadline duration counts from."""

    ISSUED = "issued"
    SERVED = "served"
    NOTIFIED = "notified"


class AmendmentKind(StrEnum):
    """Whether an amendment adds targets to the order or removes them."""

    ADD = "add"
    REMOVE = "remove"


class TargetKind(StrEnum):
    """What a target names: a domain (checkable by DNS), an IP address or a URL (recorded only)."""

    DOMAIN = "domain"
    IP = "ip"
    URL = "url"


class Role(StrEnum):
    """A subject resolver must block; a control tells what a name really is."""

    SUBJECT = "subject"
    CONTROL = "control"


class Protocol(StrEnum):
    """How a resolver is asked."""

    UDP = "udp"
    TCP = "tcp"
    DOT = "dot"
    DOH = "doh"


class QueryKind(StrEnum):
    """Why a name is asked: ordered names must be blocked, exemptions and canaries must not."""

    ORDERED = "ordered"
    EXEMPTION = "exemption"
    CANARY = "canary"


class Verdict(StrEnum):
    """The judgement on one (query name, subject resolver)."""

    BLOCKED = "blocked"
    ACCESSIBLE = "accessible"
    INCONCLUSIVE = "inconclusive"
    DEAD = "dead"
    OVERBLOCKED = "overblocked"


class Method(StrEnum):
    """How a resolver signalled a block."""

    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SINKHOLE = "sinkhole"
    BLOCKPAGE = "blockpage"
    REFUSED = "refused"
    DROP = "drop"


class Reason(StrEnum):
    """Why a result is inconclusive or dead."""

    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    RCODE = "rcode"  # another error rcode (FORMERR, NOTIMP, ...)
    NETWORK_ERROR = "network_error"
    RESOLVER_UNHEALTHY = "resolver_unhealthy"
    CONTROL_FAILED = "control_failed"
    ANSWER_DIFFERS = "answer_differs"
    NXDOMAIN_REWRITING = "nxdomain_rewriting"
    NOT_FOUND = "not_found"  # dead: controls say NXDOMAIN
    NO_ADDRESS = "no_address"  # dead: controls have no address records either
    CONTROL_SINKHOLE = "control_sinkhole"  # dead: the real answer is itself a sinkhole address


class Status(StrEnum):
    """A roll-up of results for one resolver, operator, order or the whole run."""

    COMPLIANT = "compliant"
    NONCOMPLIANT = "noncompliant"
    INCONCLUSIVE = "inconclusive"


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True, slots=True)
class Source:
    """Where a fact about an order comes from."""

    url: str
    """Address of the document or report."""
    note: str | None = None
    """What the source says or is, in a few words."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """When the ordered blocking must be in place: a duration from an event, or a fixed time."""

    within: dt.timedelta | None = None
    """ISO 8601 duration after ``start`` (``P5D``, ``PT30M``)."""
    within_text: str | None = None
    """The duration as written, kept for reports."""
    start: DeadlineStart | None = None
    """The event ``within`` counts from."""
    due: dt.datetime | None = None
    """A fixed due time (UTC) instead of a duration."""


@dataclass(frozen=True, slots=True)
class Target:
    """One thing an order or amendment names."""

    kind: TargetKind
    """Domain, IP or URL."""
    value: str
    """Normalised: A-label domain without trailing dot, canonical IP text, or the URL as given."""
    subdomains: bool = False
    """For a domain: every name below it must be blocked too."""
    site: str | None = None
    """The site the name belongs to, grouping domains a site hops between."""
    line: int | None = None
    """Line of the target in its file."""


_KINDS = tuple(TargetKind)


class Targets(Sequence[Target]):
    """An order's targets: an immutable sequence that equals the tuple of the same ``Target`` records,
    kept as columns and made into records as they are read.

    A list of a million names as a tuple of records costs about 110 MB; as columns, about 18 MB
    beyond the names themselves (which the run's ``OrderedName`` records share).
    """

    __slots__ = ("_kinds", "_lines", "_sites", "_subdomains", "_values")

    def __init__(self, items: Iterable[Target] = ()) -> None:
        kinds = bytearray()
        subdomains = bytearray()
        values: list[str] = []
        lines = array.array("q")
        sites: dict[int, str] = {}
        for index, target in enumerate(items):
            kinds.append(_KINDS.index(target.kind))
            subdomains.append(target.subdomains)
            values.append(target.value)
            lines.append(-1 if target.line is None else target.line)
            if target.site is not None:
                sites[index] = target.site
        self._kinds = bytes(kinds)
        self._subdomains = bytes(subdomains)
        self._values = tuple(values)
        self._lines = lines
        self._sites = sites

    def _record(self, index: int) -> Target:
        line = self._lines[index]
        return Target(kind=_KINDS[self._kinds[index]], value=self._values[index],
                      subdomains=bool(self._subdomains[index]), site=self._sites.get(index),
                      line=None if line < 0 else line)

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> Target: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Target, ...]: ...

    def __getitem__(self, index: int | slice) -> Target | tuple[Target, ...]:
        if isinstance(index, slice):
            return tuple(self._record(i) for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("target index out of range")
        return self._record(index)

    def __iter__(self) -> Iterator[Target]:
        return (self._record(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Targets):
            return (self._values, self._kinds, self._subdomains, self._lines, self._sites) == (
                other._values, other._kinds, other._subdomains, other._lines, other._sites)
        if isinstance(other, tuple):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Targets({list(self[:3])!r}{' ...' if len(self) > 3 else ''}, {len(self)} in all)"

    def __reduce__(self) -> tuple[type[Targets], tuple[tuple[Target, ...]]]:
        return Targets, (tuple(self),)


@dataclass(frozen=True, slots=True)
class Amendment:
    """A later addition to or removal from an order's targets."""

    id: str
    """Unique within the order."""
    date: dt.date
    """When the amendment was made."""
    kind: AmendmentKind
    """Add or remove."""
    targets: tuple[Target, ...]
    """What it adds or removes."""
    deadline: Deadline | None = None
    """Deadline for the added targets, when it differs from the order's."""
    notified: dt.datetime | None = None
    """When the ISP was notified of the amendment."""
    sources: tuple[Source, ...] = ()
    """Where the amendment is reported."""
    note: str | None = None
    """Free text."""


@dataclass(frozen=True, slots=True)
class Event:
    """A dated step in the case history (TRO, preliminary injunction, judgment...)."""

    date: dt.date
    """When it happened."""
    what: str
    """What happened."""
    inferred: bool = False
    """True when the date is inferred from reports rather than read from the docket."""


@dataclass(frozen=True, slots=True)
class Order:
    """One court order or administrative order, as read from one file."""

    id: str
    """Unique slug, ``[a-z0-9-]``."""
    title: str
    """Caption of the case or title of the order."""
    authority: str
    """Court, regulator or body that issued it."""
    jurisdiction: str
    """ISO 3166 code."""
    order_type: OrderType
    """What kind of instrument it is."""
    issued: dt.date
    """Date of the order."""
    verification: Verification
    """Whether someone has read the order itself."""
    valid_from: dt.date
    """First day the order is in force."""
    valid_until: dt.date | None
    """Last day the order is in force; ``None``: indefinite."""
    targets: tuple[Target, ...] | Targets
    """Targets as first ordered (amendments not applied)."""
    path: str
    """File the order was read from."""
    judge: str | None = None
    """Judge, when known."""
    case_number: str | None = None
    """Docket or case number; ``None`` when not public: never guessed."""
    sources: tuple[Source, ...] = ()
    """Where the facts about the order come from."""
    deadline: Deadline | None = None
    """When blocking must be in place."""
    served: dt.datetime | None = None
    """When the order was served on the ISP."""
    notified: dt.datetime | None = None
    """When the ISP was notified of the order."""
    exemptions: tuple[Target, ...] = ()
    """Names that must stay reachable."""
    amendments: tuple[Amendment, ...] = ()
    """Later additions or removals, oldest first."""
    inferred: tuple[str, ...] = ()
    """Names of fields whose values are inferred rather than read from the order."""
    events: tuple[Event, ...] = ()
    """Case history."""
    notes: str | None = None
    """Free text about the order."""
    plaintiffs: tuple[str, ...] = ()
    """Parties who obtained the order."""
    defendants: tuple[str, ...] = ()
    """Parties the order is against."""
    line: int = 1
    """Line of the order's ``id`` in its file."""

    def in_force(self, on: dt.date) -> bool:
        """Whether the order binds on the given day."""
        return self.valid_from <= on and (self.valid_until is None or on <= self.valid_until)

    def effective_targets(self, on: dt.date | None = None) -> tuple[Target, ...] | Targets:
        """Targets after every amendment made by ``on`` (all when None): additions in, removals out."""
        if not any(on is None or a.date <= on for a in self.amendments):
            return self.targets  # nothing to apply: no copy of a list that may hold a million names
        current: dict[tuple[TargetKind, str], Target] = {(t.kind, t.value): t for t in self.targets}
        for amendment in self.amendments:
            if on is not None and amendment.date > on:
                continue
            for target in amendment.targets:
                key = (target.kind, target.value)
                if amendment.kind is AmendmentKind.ADD:
                    current[key] = target
                else:
                    current.pop(key, None)
        return tuple(current.values())


@dataclass(frozen=True, slots=True)
class OrderedName:
    """A domain the loaded orders require blocked (or exempt), merged over every order naming it."""

    domain: str
    """Normalised domain."""
    kind: QueryKind
    """Ordered or exemption."""
    subdomains: bool
    """True when any order requires the names below it blocked too."""
    orders: tuple[str, ...]
    """Ids of every order that names it, sorted."""


@dataclass(frozen=True, slots=True, repr=False)
class OrderSet:
    """Every order loaded for a run, with the names merged across them.

    Its ``repr`` counts rather than lists: a million names written out would be hundreds of
    megabytes, and Python writes reprs where nobody reads them (Python 3.11's
    ``signal.getsignal`` formats the repr of the main task's result into an exception message
    it throws away, at the end of every ``asyncio.run``)."""

    orders: tuple[Order, ...]
    """Orders sorted by id."""
    names: tuple[OrderedName, ...]
    """Ordered and exempt domains of the orders in force, sorted."""
    not_checkable: tuple[tuple[str, Target], ...] = ()
    """(order id, target) for IP and URL targets, which DNS cannot check."""
    not_in_force: tuple[str, ...] = ()
    """Ids of orders loaded but not in force on the run date; their names are not checked."""

    def __repr__(self) -> str:
        return (f"OrderSet(orders={[o.id for o in self.orders]!r}, names=<{len(self.names)}>, "
                f"not_checkable=<{len(self.not_checkable)}>, not_in_force={self.not_in_force!r})")


# --------------------------------------------------------------------------- resolvers


@dataclass(frozen=True, slots=True)
class BlockSignals:
    """How one resolver says "blocked", when it says so with data rather than an error."""

    addresses: frozenset[IPAddress] = frozenset()
    """Block-page or sinkhole addresses the resolver hands out."""
    cnames: frozenset[str] = frozenset()
    """Names the resolver points blocked names at (normalised, no trailing dot)."""
    drop: bool = False
    """The resolver drops blocked queries; only then is silence read as a block."""
    fingerprints: tuple[Fingerprint, ...] = ()
    """Documented block pages in scope for the resolver (its operator or country): their
    addresses and CNAMEs are block signals too."""


@dataclass(frozen=True, slots=True)
class IdentityProbe:
    """One question whose answer names the server or the address that asked upstream
    (``id.server CH TXT``, ``whoami.akamai.net IN A``...)."""

    name: str
    """Query name, no trailing dot."""
    rdtype: str = "TXT"
    """Record type."""
    rdclass: str = "IN"
    """Class: ``IN`` or ``CH``."""

    @property
    def label(self) -> str:
        """How reports write it: ``id.server CH TXT``."""
        return f"{self.name} {self.rdclass} {self.rdtype}"


@dataclass(frozen=True, slots=True)
class Resolver:
    """One resolver to ask, as a subject or a control."""

    name: str
    """Unique name."""
    operator: str
    """Who runs it; results roll up per operator."""
    host: str
    """IP address (no brackets)."""
    port: int
    """Port."""
    protocol: Protocol
    """Transport."""
    role: Role
    """Subject or control."""
    url: str | None = None
    """DoH URL."""
    tls_name: str | None = None
    """Name to verify in the DoT/DoH certificate."""
    tls_ca: str | None = None
    """CA bundle (PEM file) that verifies the DoT/DoH certificate instead of the system's trust store."""
    doh_method: str = "post"
    """``post`` or ``get``: how a DoH query is sent (RFC 8484)."""
    block: BlockSignals = field(default_factory=BlockSignals)
    """Block signals the resolver declares."""
    qps: float | None = None
    """At most this many queries a second."""
    concurrency: int = 16
    """At most this many queries in flight."""
    country: str | None = None
    """ISO 3166 code of the country it serves; scopes block-page fingerprints."""
    identity: tuple[IdentityProbe, ...] | None = None
    """Questions that make the resolver say who it is; ``None``: the built-in ones."""
    line: int | None = None
    """Line of the entry in the resolver file."""

    @property
    def address(self) -> str:
        """The address as written in reports: ``ip:port`` or ``[ipv6]:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ResolverSet:
    """Subjects, controls and canaries for one run."""

    resolvers: tuple[Resolver, ...]
    """Every resolver, in file order."""
    canaries: tuple[str, ...]
    """Names every healthy resolver resolves."""
    path: str | None = None
    """The file they came from; ``None`` for the system's resolvers."""
    canaries_line: int | None = None
    """Line of ``canaries`` in that file; ``None`` for the built-in canaries."""

    @property
    def subjects(self) -> tuple[Resolver, ...]:
        """Resolvers that must block."""
        return tuple(r for r in self.resolvers if r.role is Role.SUBJECT)

    @property
    def controls(self) -> tuple[Resolver, ...]:
        """Resolvers that tell what a name really is."""
        return tuple(r for r in self.resolvers if r.role is Role.CONTROL)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One known block page: how to recognise it, where it applies, and who documented it.

    An entry matches when any of its criteria matches. With no operator and no country it
    applies to every resolver.
    """

    id: str
    """Unique slug."""
    description: str
    """Whose block page it is, in a few words."""
    source: Source
    """Where it is documented."""
    addresses: tuple[IPNetwork, ...] = ()
    """Addresses (or networks) the block page is served from."""
    cnames: tuple[str, ...] = ()
    """Names blocked names are pointed at; a name matches itself and every name below it."""
    body: tuple[str, ...] = ()
    """Regular expressions (Python syntax, case-insensitive) matched against the HTTP body."""
    cert_subject: tuple[str, ...] = ()
    """Regular expressions matched against the TLS certificate's subject (RFC 4514 text)."""
    operators: tuple[str, ...] = ()
    """Scope: resolver operators it applies to; empty: any."""
    countries: tuple[str, ...] = ()
    """Scope: ISO 3166 codes of the resolvers' countries it applies to; empty: any."""
    path: str = ""
    """File it came from."""
    line: int | None = None
    """Line of the entry."""


# --------------------------------------------------------------------------- facts


_PARSED: dict[str, IPAddress | None] = {}
_PARSED_MAX = 65_536


def parse_address(text: str) -> IPAddress | None:
    """``text`` as an address (``ipaddress.ip_address``), or None when it is not one.

    A run parses every address of every answer, and the same ones again for every name judged
    against them, so the parse goes through the C resolver library's ``inet_pton`` (what
    ``ipaddress`` accepts, and strictly less: no zone IDs) with a small cache."""
    address = _PARSED.get(text, False)
    if address is not False:
        return address  # type: ignore[return-value]
    try:
        address = ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except OSError:
        try:
            address = ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, text))
        except OSError:
            address = None
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[text] = address
    return address


_V4_IN_V6 = (bytes(12), bytes(10) + b"\xff\xff")


def address_text(address: IPAddress) -> str:
    """``str(address)``, made by the C library where it writes the same text (every IPv4 address, and
    IPv6 outside ``::/96`` and ``::ffff:0:0/96``, which the two write differently)."""
    packed = address.packed
    if len(packed) == 4:
        return socket.inet_ntop(socket.AF_INET, packed)
    if packed[:12] in _V4_IN_V6:
        return str(address)
    return socket.inet_ntop(socket.AF_INET6, packed)


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record of a response, in presentation form."""

    name: str
    """Owner name, no trailing dot."""
    type: str
    """Record type mnemonic."""
    ttl: int
    """Time to live."""
    data: str
    """RDATA in presentation form."""


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """An Extended DNS Error (RFC 8914) carried in a response."""

    code: int
    """INFO-CODE; 15-18 mean blocked, censored, filtered, prohibited."""
    text: str | None = None
    """EXTRA-TEXT."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What one resolver answered to one question: a fact, never a judgement."""

    resolver: str
    """Resolver name."""
    qname: str
    """Name asked, no trailing dot."""
    qtype: str
    """``A`` or ``AAAA``."""
    transport: str
    """Transport of the last attempt (``udp``, ``tcp``...)."""
    started_at: dt.datetime
    """When the first attempt was sent (UTC)."""
    elapsed_ms: float
    """Time from the first send to the accepted answer or the final failure."""
    attempts: int
    """Queries sent, retries included."""
    rcode: str | None = None
    """Response code mnemonic; ``None`` when no acceptable response came."""
    flags: tuple[str, ...] = ()
    """Header flags set in the response (``qr``, ``aa``, ``tc``, ``rd``, ``ra``, ``ad``, ``cd``)."""
    answers: tuple[Record, ...] = ()
    """Answer section."""
    authority: tuple[Record, ...] = ()
    """Authority section (an SOA here marks a genuine negative answer)."""
    ede: tuple[ExtendedError, ...] = ()
    """Extended DNS Errors."""
    error: str | None = None
    """Why no acceptable response came: ``timeout``, ``network_error: ...``."""
    wire: bytes | None = None
    """The accepted response, byte for byte."""
    rejected: int = 0
    """Packets received but rejected (wrong source, ID or question, or unparseable)."""

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        """Addresses on the CNAME chain from ``qname``; records for other names are ignored."""
        return self.addresses_along(self.chain())

    def addresses_along(self, chain: tuple[str, ...]) -> tuple[IPAddress, ...]:
        """``addresses``, for a caller that already has ``chain()``."""
        out: list[IPAddress] = []
        for record in self.answers:
            if record.type in ("A", "AAAA") and record.name in chain:
                address = parse_address(record.data)
                if address is not None:
                    out.append(address)
        return tuple(out)

    def chain(self) -> tuple[str, ...]:
        """``qname`` followed by every CNAME target reached from it (loops stop the walk)."""
        cnames = {r.name: r.data.rstrip(".").lower() for r in self.answers if r.type == "CNAME"}
        chain = [self.qname]
        while chain[-1] in cnames and cnames[chain[-1]] not in chain and len(chain) < 16:
            chain.append(cnames[chain[-1]])
        return tuple(chain)


@dataclass(frozen=True, slots=True)
class Health:
    """Whether a resolver answered its canaries before and after the run, and how it treats NXDOMAIN."""

    resolver: str
    """Resolver name."""
    healthy: bool
    """It resolved every canary the controls resolve, before the run."""
    healthy_after: bool | None
    """The same after the run; ``None`` when not checked."""
    rewrites_nxdomain: bool | None
    """It hands out addresses for a random name the controls say does not exist; ``None``: unknown."""
    detail: str
    """What was seen, in a sentence."""
    observations: tuple[Observation, ...] = ()
    """The canary and random-name answers."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who answered for one resolver, and from where it was asked: facts plus one judgement
    (``intercepted``) that names its evidence in ``detail``."""

    resolver: str
    """Resolver name."""
    source_address: str | None
    """The local address this host uses to reach the resolver."""
    answers: tuple[tuple[str, tuple[str, ...]], ...]
    """(probe label, answer strings) for every identity probe that was answered."""
    observations: tuple[Observation, ...] = ()
    """The identity answers, as evidence."""
    intercepted: bool | None = None
    """Controls only: the answers look like a subject's, not the control's own; ``None``: unknown."""
    detail: str = ""
    """What was seen, in a sentence."""


@dataclass(frozen=True, slots=True)
class Certificate:
    """The TLS certificate a web server presented for a name."""

    subject: str
    """Subject, RFC 4514 text."""
    issuer: str
    """Issuer, RFC 4514 text."""
    names: tuple[str, ...]
    """DNS names and addresses of its subjectAltName."""
    not_before: dt.datetime | None
    """Start of validity (UTC)."""
    not_after: dt.datetime | None
    """End of validity (UTC)."""
    sha256: str
    """SHA-256 of the DER certificate, hex."""
    valid: bool
    """The chain verifies against the trust store and the certificate is valid for the name."""
    error: str | None = None
    """Why it is not valid."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """One HTTP(S) request to an address a resolver answered, with Host (and SNI) set to the name:
    a fact, never a judgement."""

    name: str
    """Host header and TLS server name."""
    address: str
    """The address connected to (the resolver's answer)."""
    port: int
    """Port connected to."""
    scheme: str
    """``http`` or ``https``."""
    started_at: dt.datetime
    """UTC."""
    elapsed_ms: float
    """Whole exchange, redirects included."""
    status: int | None = None
    """HTTP status of the last response; ``None`` when there was none."""
    headers: tuple[tuple[str, str], ...] = ()
    """A few headers of the last response (Server, Location, Content-Type...)."""
    title: str | None = None
    """The HTML ``<title>`` of the last response, if any."""
    body: bytes = b""
    """The last response's body, up to the size cap."""
    body_truncated: bool = False
    """The body was longer than the cap."""
    redirects: tuple[str, ...] = ()
    """URLs followed (same name only; never another host)."""
    redirect_elsewhere: str | None = None
    """A redirect to another host: recorded, not followed."""
    certificate: Certificate | None = None
    """The certificate presented (https only)."""
    error: str | None = None
    """What went wrong, when it did."""


# --------------------------------------------------------------------------- judgement


@dataclass(frozen=True, slots=True)
class Query:
    """One name to ask every resolver, with why it is asked."""

    name: str
    """Query name."""
    domain: str
    """The ordered, exempt or canary domain it stands for."""
    kind: QueryKind
    """Why it is asked."""
    orders: tuple[str, ...]
    """Orders that require it."""


@dataclass(frozen=True, slots=True)
class DeadlineInfo:
    """How one ordered result stands against its due time."""

    due_at: dt.datetime | None
    """When the name had to be blocked; ``None`` when unknown."""
    status: str
    """``pending`` (accessible, not yet due), ``overdue`` (accessible, due), ``met`` (blocked),
    ``unknown`` (inconclusive or dead) or ``none`` (no due time known)."""
    basis: str
    """How the due time was computed, in words."""
    order: str
    """The order (and amendment) the deadline comes from."""
    seconds_left: int | None = None
    """Seconds until the due time (0 once due)."""
    blocked_since: dt.datetime | None = None
    """Start of the current run of blocked verdicts in the history."""
    on_time: bool | None = None
    """Blocked by the due time; ``None`` when the history cannot tell."""


@dataclass(frozen=True, slots=True)
class Result:
    """The verdict on one (query name, subject resolver), with the evidence it rests on."""

    query: Query
    """What was asked and why."""
    resolver: str
    """Subject resolver name."""
    verdict: Verdict
    """The judgement."""
    method: Method | None
    """How the block was signalled (blocked and overblocked only)."""
    reason: Reason | None
    """Why it could not be decided (inconclusive and dead only)."""
    detail: str
    """One sentence a reader can check against the evidence."""
    observations: tuple[Observation, ...]
    """The subject's answers (A, AAAA)."""
    deadline: DeadlineInfo | None = None
    """The ordered name's deadline status; ``None`` for exemptions and canaries."""
    web: tuple[Fetch, ...] = ()
    """HTTP and TLS evidence gathered at the answered addresses (``check --http``)."""


@dataclass(frozen=True, slots=True, repr=False)
class Run:
    """One complete check: its inputs, every result, and the control answers it relied on.

    Its ``repr`` counts rather than lists (see ``OrderSet``)."""

    id: str
    """Unique run id."""
    started_at: dt.datetime
    """UTC."""
    finished_at: dt.datetime
    """UTC."""
    orders: OrderSet
    """What was checked."""
    resolvers: ResolverSet
    """Who was asked."""
    results: tuple[Result, ...]
    """Sorted by resolver, kind, query name."""
    health: tuple[Health, ...]
    """One per resolver."""
    controls: tuple[Observation, ...]
    """Every control answer, as evidence for the verdicts."""
    vantage: str
    """Host the check ran from."""
    settings: dict[str, object] = field(default_factory=dict)
    """Timeouts, retries and other knobs the run used."""
    identities: tuple[Identity, ...] = ()
    """Who answered for each resolver, when it said."""

    def __repr__(self) -> str:
        return (f"Run(id={self.id!r}, started_at={self.started_at!r}, finished_at={self.finished_at!r}, "
                f"orders={self.orders!r}, resolvers=<{len(self.resolvers.resolvers)}>, results=<{len(self.results)}>, "
                f"controls=<{len(self.controls)}>)")
