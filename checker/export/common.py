"""What every exporter shares: the block action, the options, the zone serial, and who covers whom."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from checker import __version__
from checker.classify import is_sinkhole
from checker.errors import BlockauditError
from checker.models import IPAddress, OrderedName, OrderSet, QueryKind, Target, TargetKind
from checker.queries import DEFAULT_SUBDOMAIN_PROBES

DEFAULT_ORIGIN = "rpz.blockaudit."
DEFAULT_ZONE_FILE = "blockaudit.rpz"
DEFAULT_TTL = 300


class ExportError(BlockauditError):
    """An export cannot be made as asked (a bad action, origin or option)."""


class ActionKind(StrEnum):
    """How an exported rule answers for a blocked name."""

    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SINKHOLE = "sinkhole"
    BLOCKPAGE = "blockpage"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Action:
    """The block action of an export, with the block-page addresses when it is ``blockpage``."""

    kind: ActionKind = ActionKind.NXDOMAIN
    """What a blocked name gets."""
    addresses: tuple[IPAddress, ...] = ()
    """Block-page addresses (``blockpage`` only): at most one IPv4 and one IPv6."""

    def __str__(self) -> str:
        if self.kind is ActionKind.BLOCKPAGE:
            return "blockpage:" + ",".join(str(a) for a in self.addresses)
        return self.kind.value

    def v4(self) -> tuple[IPAddress, ...]:
        """The IPv4 addresses a blocked name gets (sinkhole: 0.0.0.0)."""
        if self.kind is ActionKind.SINKHOLE:
            return (ipaddress.IPv4Address("0.0.0.0"),)
        return tuple(a for a in self.addresses if a.version == 4)

    def v6(self) -> tuple[IPAddress, ...]:
        """The IPv6 addresses a blocked name gets (sinkhole: ::)."""
        if self.kind is ActionKind.SINKHOLE:
            return (ipaddress.IPv6Address("::"),)
        return tuple(a for a in self.addresses if a.version == 6)


ACTION_CHOICES = "nxdomain, nodata, sinkhole, drop or blockpage:ADDR[,ADDR]"


def parse_action(text: str) -> Action:
    """``nxdomain``, ``nodata``, ``sinkhole``, ``drop`` or ``blockpage:ADDR[,ADDR]`` (IPv4 and/or IPv6)."""
    raw = text.strip()
    word, _, rest = raw.partition(":")
    try:
        kind = ActionKind(word.lower())
    except ValueError:
        raise ExportError(f"unknown action {raw!r}", hint=f"one of {ACTION_CHOICES}") from None
    if kind is not ActionKind.BLOCKPAGE:
        if rest:
            raise ExportError(f"action {kind.value} takes no address", hint="only blockpage:ADDR does")
        return Action(kind)
    if not rest:
        raise ExportError("blockpage needs the block page's address", hint="blockpage:203.0.113.10")
    addresses: list[IPAddress] = []
    for item in rest.split(","):
        try:
            address = ipaddress.ip_address(item.strip().strip("[]"))
        except ValueError:
            raise ExportError(f"blockpage address {item.strip()!r} is not an IP address") from None
        if is_sinkhole(address):
            raise ExportError(f"blockpage address {address} is a sinkhole address", hint="use --action sinkhole")
        if any(a.version == address.version for a in addresses):
            raise ExportError(f"blockpage takes one IPv{address.version} address, not two")
        addresses.append(address)
    return Action(kind, tuple(sorted(addresses, key=lambda a: a.version)))


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Everything an export depends on besides the orders: nothing else, so output is reproducible."""

    action: Action = field(default_factory=Action)
    """What blocked names get."""
    origin: str = DEFAULT_ORIGIN
    """The policy zone's name (RPZ and BIND)."""
    zone_file: str = DEFAULT_ZONE_FILE
    """The RPZ file the BIND ``zone`` stanza loads."""
    ttl: int = DEFAULT_TTL
    """TTL of the RPZ records and the SOA minimum."""
    serial: int | None = None
    """RPZ SOA serial; computed from the orders' dates when None."""
    on: dt.date | None = None
    """The date the orders were loaded for: amendments after it do not count for the serial."""
    probes: tuple[str, ...] = DEFAULT_SUBDOMAIN_PROBES
    """Labels written below subdomain-ordered names in a hosts file (which cannot block a subtree)."""


def normalise_origin(text: str) -> str:
    """An absolute, lower-case zone name with its trailing dot; ``ExportError`` when it is not one."""
    name = text.strip().lower()
    if not name or name == ".":
        raise ExportError("the policy zone origin cannot be the root", hint=f"for example {DEFAULT_ORIGIN}")
    if not name.endswith("."):
        name += "."
    labels = name[:-1].split(".")
    if any(not re.fullmatch(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", label) for label in labels):
        raise ExportError(f"{text!r} is not a valid zone name", hint=f"for example {DEFAULT_ORIGIN}")
    return name


# --------------------------------------------------------------------------- the orders' facts


_UNSAFE_IN_COMMENT = re.compile(
    r"[\s\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ud800-\udfff]+")


def clean(text: str) -> str:
    """Text safe inside a one-line comment: control characters (C1 too: ``cat`` shows the file on
    a terminal), bidi and invisible format characters, lone surrogates (not UTF-8) and runs of
    white space become one space."""
    return _UNSAFE_IN_COMMENT.sub(" ", text).strip()


def in_force(orders: OrderSet) -> list[str]:
    """Ids of the orders in force, sorted."""
    return sorted(o.id for o in orders.orders if o.id not in orders.not_in_force)


def serial(orders: OrderSet, on: dt.date | None = None) -> int:
    """``YYYYMMDDnn``: the latest date an order in force was issued or amended (by ``on``), and
    ``nn`` the number of orders and amendments dated that day, minus one (capped at 99).

    The serial changes when an order or amendment is added, so secondaries reload the zone; an
    edit without a new date keeps it (``--serial`` overrides). 1 when no order is in force.
    """
    dates: list[dt.date] = []
    for order in orders.orders:
        if order.id in orders.not_in_force:
            continue
        dates.append(order.issued)
        dates.extend(a.date for a in order.amendments if on is None or a.date <= on)
    if not dates:
        return 1
    latest = max(dates)
    return int(latest.strftime("%Y%m%d")) * 100 + min(dates.count(latest) - 1, 99)


def ordered(orders: OrderSet) -> list[OrderedName]:
    """The ordered names, sorted."""
    return sorted((n for n in orders.names if n.kind is QueryKind.ORDERED), key=lambda n: n.domain)


def exemptions(orders: OrderSet) -> list[OrderedName]:
    """The exempt names, sorted."""
    return sorted((n for n in orders.names if n.kind is QueryKind.EXEMPTION), key=lambda n: n.domain)


def ancestors(name: str) -> Iterable[str]:
    """Proper ancestors of a name, nearest first, down to its last two labels."""
    labels = name.split(".")
    for i in range(1, len(labels) - 1):
        yield ".".join(labels[i:])


def enclosing_block(name: str, blocks: Mapping[str, OrderedName],
                    exempt: Mapping[str, OrderedName]) -> OrderedName | None:
    """The nearest proper ancestor of ``name`` in ``blocks`` (a zone that answers for its whole
    subtree), or None when there is none or an exemption that is itself blocked is nearer (its
    transparent/forwarding rule then decides)."""
    for ancestor in ancestors(name):
        if ancestor in exempt and enclosing_block(ancestor, blocks, exempt) is not None:
            return None
        if ancestor in blocks:
            return blocks[ancestor]
    return None


def subtree_ancestor(name: str, names: Sequence[OrderedName]) -> OrderedName | None:
    """The nearest proper ancestor of ``name`` ordered with its subdomains."""
    by_domain = {n.domain: n for n in names if n.kind is QueryKind.ORDERED and n.subdomains}
    return next((by_domain[a] for a in ancestors(name) if a in by_domain), None)


@dataclass(frozen=True, slots=True)
class IPTarget:
    """An IP or CIDR target merged over the orders naming it."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    """The address as a network (a single address is a /32 or /128)."""
    orders: tuple[str, ...]
    """Orders naming it, sorted."""


def ip_targets(orders: OrderSet) -> list[IPTarget]:
    """The IP targets of the orders in force, merged and sorted (IPv4 first)."""
    merged: dict[ipaddress.IPv4Network | ipaddress.IPv6Network, set[str]] = {}
    for order_id, target in orders.not_checkable:
        if target.kind is TargetKind.IP:
            merged.setdefault(ipaddress.ip_network(target.value), set()).add(order_id)
    return [IPTarget(net, tuple(sorted(ids)))
            for net, ids in sorted(merged.items(), key=lambda item: (item[0].version, item[0]))]


def url_targets(orders: OrderSet) -> list[tuple[str, Target]]:
    """(order id, target) for URL targets, which DNS cannot block."""
    return sorted(((i, t) for i, t in orders.not_checkable if t.kind is TargetKind.URL),
                  key=lambda item: (item[1].value, item[0]))


def header(
    orders: OrderSet, what: str, options: ExportOptions, mark: str, extra: Sequence[str] = (), *, action: bool = True,
) -> list[str]:
    """Comment lines that open every export: what it is, from which orders, with which action."""
    ids = in_force(orders)
    lines = [
        f"blockaudit {__version__}: {what}",
        "Generated from the orders below; edit the orders, not this file.",
        f"orders in force: {', '.join(ids) if ids else 'none'}",
    ]
    if orders.not_in_force:
        lines.append(f"orders not in force (not exported): {', '.join(sorted(orders.not_in_force))}")
    names = ordered(orders)
    lines.append(f"{len(names)} ordered names ({sum(1 for n in names if n.subdomains)} with their subdomains), "
                 f"{len(exemptions(orders))} exemptions")
    if action:
        lines.append(f"action: {options.action}")
    lines.extend(extra)
    return [f"{mark} {clean(line)}" if line else mark for line in lines]


def not_exported(orders: OrderSet, mark: str, ips: bool) -> list[str]:
    """Comment lines for targets the format cannot express."""
    out: list[str] = []
    if ips:
        for target in ip_targets(orders):
            out.append(f"{mark} not exported: IP target {target.network} ({', '.join(target.orders)}): "
                       "this format cannot block by answer address")
    for order_id, url in url_targets(orders):
        out.append(f"{mark} not exported: URL target {clean(url.value)} ({order_id}): DNS cannot block a URL")
    return out


def by(ids: Sequence[str]) -> str:
    """``orders: a, b`` for a rule comment."""
    return "orders: " + ", ".join(ids)


__all__ = [
    "ACTION_CHOICES",
    "DEFAULT_ORIGIN",
    "DEFAULT_TTL",
    "DEFAULT_ZONE_FILE",
    "Action",
    "ActionKind",
    "ExportError",
    "ExportOptions",
    "IPTarget",
    "ancestors",
    "by",
    "clean",
    "exemptions",
    "header",
    "in_force",
    "ip_targets",
    "normalise_origin",
    "not_exported",
    "ordered",
    "parse_action",
    "serial",
    "subtree_ancestor",
    "url_targets",
]
