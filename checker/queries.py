"""Turning merged order names and canaries into the queries every resolver is asked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from checker.models import OrderSet, Query, QueryKind
from checker.orders.names import MAX_NAME, is_within

DEFAULT_SUBDOMAIN_PROBES = ("www",)


def canary_conflicts(orders: OrderSet, canaries: Sequence[str]) -> list[tuple[str, str]]:
    """(canary, ordered domain) pairs where an order requires the canary blocked.

    A canary must resolve at every healthy resolver; one that an order blocks would make every
    compliant resolver look unhealthy.
    """
    ordered = [n for n in orders.names if n.kind is QueryKind.ORDERED]
    return [
        (canary, name.domain) for canary in canaries for name in ordered
        if canary == name.domain or (name.subdomains and is_within(canary, name.domain))
    ]


def build_queries(
    orders: OrderSet, canaries: Sequence[str], probes: Sequence[str] = DEFAULT_SUBDOMAIN_PROBES,
) -> list[Query]:
    """Each ordered name, a probe below it when subdomains are ordered, each exemption and canary;
    ordered names first, then exemptions, then canaries, each by (domain, name).

    A probe name that is itself named by an order keeps that entry's own meaning.
    """
    out = list(iter_queries(orders, probes))
    seen = {q.name for q in out}
    out += sorted((Query(c, c, QueryKind.CANARY, ()) for c in dict.fromkeys(canaries) if c not in seen),
                  key=_by_name)
    return out


def iter_queries(orders: OrderSet, probes: Sequence[str] = DEFAULT_SUBDOMAIN_PROBES) -> Iterator[Query]:
    """The queries of ``build_queries`` but the canaries, made one at a time in one pass over the
    (sorted) order names: a million names never exist as a million queries at once."""
    named: set[str] = set()
    if probes and any(n.subdomains for n in orders.names if n.kind is QueryKind.ORDERED):
        named = {n.domain for n in orders.names}
    group: list[Query] = []
    for name in orders.names:  # sorted: ordered before exempt, each by domain
        first = Query(name.domain, name.domain, name.kind, name.orders)
        if name.kind is not QueryKind.ORDERED or not name.subdomains:
            yield first
            continue
        group.append(first)
        for label in probes:
            probe = f"{label}.{name.domain}"
            if len(probe) > MAX_NAME or probe in named:
                continue  # no such name can exist, or the probe is an entry of its own
            group.append(Query(probe, name.domain, QueryKind.ORDERED, name.orders))
        group.sort(key=_by_name)
        yield from group
        group.clear()


def count_queries(orders: OrderSet, probes: Sequence[str] = DEFAULT_SUBDOMAIN_PROBES) -> int:
    """How many queries ``iter_queries`` makes, without making them."""
    return sum(1 for _ in iter_queries(orders, probes))


def _by_name(query: Query) -> str:
    return query.name
