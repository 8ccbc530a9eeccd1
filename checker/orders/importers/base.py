"""Types every importer shares: what a line yields, why a line is skipped, and reading lines safely."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TextIO

from checker.errors import OrderError, UsageError
from checker.models import OrderType, TargetKind
from checker.orders.names import InvalidName, normalise
from checker.orders.writer import ipv4

MAX_LINE = 1024 * 1024
"""Characters a line may hold; a longer line is skipped without being held in memory."""

EXCERPT = 80
"""Characters of a skipped line kept in its report."""

_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off", ""})


class SkipReason(StrEnum):
    """Why an importer left out a line or one value of a line."""

    INVALID_NAME = "invalid name"
    INVALID_ADDRESS = "invalid address"
    INVALID_URL = "invalid url"
    LOCAL_NAME = "local name"
    UNRECOGNISED = "unrecognised line"
    MALFORMED = "malformed row"
    UNSUPPORTED = "unsupported rule"
    EXCEPTION_RULE = "exception rule"
    OTHER_SETTING = "other setting"
    CONFLICT = "conflict"
    NOT_DECODABLE = "not decodable"
    TOO_LONG = "line too long"


@dataclass(frozen=True, slots=True)
class Entry:
    """One target or exemption read from one line."""

    line: int
    """Line of the source it was read from (1-based)."""
    kind: TargetKind
    """Domain, IP or URL."""
    value: str
    """Normalised: A-label domain, canonical address or network, or the URL as given."""
    subdomains: bool = False
    """For a domain: the names below it are covered too."""
    exempt: bool = False
    """True for a name the source says must stay reachable (a passthru or transparent rule)."""
    site: str | None = None
    """Site slug, when the source names one."""
    note: str | None = None
    """Free text kept beside the target in the written order."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line, or one value on a line, that an importer left out, and why."""

    line: int
    """Line of the source (1-based)."""
    reason: SkipReason
    """The kind of problem."""
    detail: str
    """What exactly is wrong, in a few words."""
    text: str = ""
    """The offending text, shortened to ``EXCERPT`` characters."""

    def describe(self, path: str | None = None) -> str:
        """One line: ``path:line: reason: detail [text]``."""
        where = f"{path}:{self.line}" if path else f"line {self.line}"
        shown = f" [{self.text}]" if self.text else ""
        return f"{where}: {self.reason.value}: {self.detail}{shown}"


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """Facts about the whole source an importer learns while reading (yielded at most once or twice)."""

    issued: dt.date | None = None
    """Date the source carries for itself (the RKN ``Updated:`` line)."""
    notes: tuple[str, ...] = ()
    """Sentences for the order's notes, e.g. provenance aggregated over every row."""


Item = Entry | Skipped | SourceFacts
"""What a parser yields."""


@dataclass(frozen=True, slots=True)
class Defaults:
    """Order metadata a format implies when the user gives none."""

    authority: str | None = None
    """Authority that issues lists in this format."""
    jurisdiction: str | None = None
    """ISO 3166 code of the country the format belongs to."""
    order_type: OrderType = OrderType.OTHER
    """Kind of instrument."""


@dataclass(slots=True)
class Context:
    """What a parser knows besides its lines: where they come from, the options, where bad lines go."""

    path: str
    """Name of the source, for messages."""
    options: Mapping[str, str] = field(default_factory=dict)
    """Format options (``key=value`` from the command line), already checked against the format."""
    skip: Callable[[Skipped], None] = lambda _skipped: None
    """Receives lines the reader cannot hand to the parser (too long, not decodable)."""
    lines: int = 0
    """Lines read so far."""

    def fail(self, message: str, line: int | None = None, hint: str | None = None) -> OrderError:
        """An error at ``path:line`` for the caller to raise."""
        return OrderError(message, path=self.path, line=line, hint=hint)

    def option_bool(self, name: str, default: bool) -> bool:
        """A true/false option."""
        if name not in self.options:
            return default
        return parse_bool(name, self.options[name])


Parser = Callable[[Context, Iterator[tuple[int, str]]], Iterator[Item]]
"""Turns numbered lines into entries, skipped records and source facts."""


@dataclass(frozen=True, slots=True)
class Importer:
    """One foreign format: how to decode it, which options it takes, how to parse it."""

    name: str
    """Name used on the command line (``--format NAME``)."""
    summary: str
    """One line for help texts: what a line looks like and what it becomes."""
    parse: Parser
    """The parser."""
    encoding: str = "utf-8-sig"
    """Text encoding of the source (a UTF-8 byte order mark is dropped)."""
    options: tuple[str, ...] = ()
    """Format options besides ``encoding``."""
    defaults: Defaults = Defaults()
    """Metadata the format implies."""


# --------------------------------------------------------------------------- options


def parse_bool(name: str, value: str) -> bool:
    """``true``/``false`` (also yes/no, 1/0) for option ``name``."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"option {name}={value!r} must be true or false")


# --------------------------------------------------------------------------- lines


def excerpt(text: str) -> str:
    """The text shortened for a report, control characters shown as escapes."""
    text = text.strip()
    short = text[:EXCERPT] + ("..." if len(text) > EXCERPT else "")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in short)


def read_lines(ctx: Context, text: TextIO, limit: int = MAX_LINE) -> Iterator[tuple[int, str]]:
    """Numbered lines without their line end, read one at a time.

    A line longer than ``limit`` characters is drained in pieces and reported as skipped; a line
    with bytes the encoding cannot decode (read with ``surrogateescape``) or a NUL is skipped too.
    """
    number = 0
    while True:
        try:
            line = text.readline(limit)
        except (OSError, ValueError) as exc:
            raise ctx.fail(f"cannot read: {exc}", number + 1) from None
        if not line:
            return
        number += 1
        ctx.lines = number
        if len(line) >= limit and not line.endswith("\n"):
            size = len(line)
            while line and not line.endswith("\n"):
                line = text.readline(limit)
                size += len(line)
            ctx.skip(Skipped(number, SkipReason.TOO_LONG, f"{size} characters, more than {limit}"))
            continue
        line = line.rstrip("\r\n")
        if "\x00" in line:
            ctx.skip(Skipped(number, SkipReason.NOT_DECODABLE, "contains a NUL character", excerpt(line)))
            continue
        if _has_surrogate(line):
            ctx.skip(Skipped(
                number, SkipReason.NOT_DECODABLE,
                f"bytes that are not {getattr(text, 'encoding', None) or 'text'}", excerpt(line),
            ))
            continue
        yield number, line


def _has_surrogate(line: str) -> bool:
    return not line.isascii() and _SURROGATE.search(line) is not None


# --------------------------------------------------------------------------- values


def domain(
    line: int, raw: str, *, subdomains: bool = False, exempt: bool = False, wildcard: bool = True,
    site: str | None = None, note: str | None = None,
) -> Entry | Skipped:
    """A domain entry from ``raw``; ``*.name`` means ``name`` with subdomains when ``wildcard``."""
    name = raw.strip()
    if wildcard and name.startswith("*."):
        name, subdomains = name[2:], True
    try:
        value = normalise(name)
    except InvalidName as exc:
        return Skipped(line, SkipReason.INVALID_NAME, str(exc), excerpt(raw))
    return Entry(line, TargetKind.DOMAIN, value, subdomains=subdomains, exempt=exempt, site=site, note=note)


def address(line: int, raw: str, *, note: str | None = None) -> Entry | Skipped:
    """An IP entry: one address or a CIDR network (host bits are cleared: ``1.2.3.4/24`` is ``1.2.3.0/24``)."""
    text = raw.strip()
    fast = ipv4(text)
    if fast is not None:
        number, prefix = fast
        if prefix == 32:
            return Entry(line, TargetKind.IP, text.partition("/")[0], note=note)
        number &= (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
        dotted = ".".join(str((number >> shift) & 0xFF) for shift in (24, 16, 8, 0))
        return Entry(line, TargetKind.IP, f"{dotted}/{prefix}", note=note)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return Skipped(line, SkipReason.INVALID_ADDRESS, "not an IP address or CIDR network", excerpt(raw))
    value = str(network.network_address) if network.num_addresses == 1 else str(network)
    return Entry(line, TargetKind.IP, value, note=note)


def url(line: int, raw: str, *, note: str | None = None) -> Entry | Skipped:
    """A URL entry; only http(s) URLs with a host are kept, as given."""
    text = raw.strip()
    if not _URL.match(text):
        return Skipped(line, SkipReason.INVALID_URL, "not an http(s) URL with a host", excerpt(raw))
    if not text.isprintable():
        return Skipped(line, SkipReason.INVALID_URL, "contains control characters", excerpt(raw))
    return Entry(line, TargetKind.URL, text, note=note)


def is_address(text: str) -> bool:
    """Whether ``text`` is an IP address or CIDR network."""
    if not text or not (text[0].isdigit() or ":" in text):
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def any_target(
    line: int, raw: str, *, subdomains: bool = False, site: str | None = None, note: str | None = None,
) -> Entry | Skipped:
    """A domain, IP or URL entry, whichever ``raw`` looks like."""
    text = raw.strip()
    if "://" in text:
        return url(line, text, note=note)
    if is_address(text):
        return address(line, text, note=note)
    return domain(line, text, subdomains=subdomains, site=site, note=note)
