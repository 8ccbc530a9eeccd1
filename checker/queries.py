"""Turning merged order names and canaries into the queries every resolver is asked."""

from __future__ import annotations

from collections.abc import Sequence

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
    """Each ordered name, a probe below it when subdomains are ordered, each exemption and canary.

    A probe name that is itself named by an order keeps that entry's own meaning.
    """
    queries: dict[str, Query] = {}
    for name in orders.names:
        queries[name.domain] = Query(name.domain, name.domain, name.kind, name.orders)
    for name in orders.names:
        if name.kind is QueryKind.ORDERED and name.subdomains:
            for label in probes:
                probe = f"{label}.{name.domain}"
                if len(probe) > MAX_NAME:
                    continue  # no such name can exist in the DNS
                queries.setdefault(probe, Query(probe, name.domain, QueryKind.ORDERED, name.orders))
    for canary in canaries:
        queries.setdefault(canary, Query(canary, canary, QueryKind.CANARY, ()))
    return sorted(queries.values(), key=lambda q: (q.kind is not QueryKind.ORDERED, q.domain, q.name))
