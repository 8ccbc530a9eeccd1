"""The orders as a Response Policy Zone (RPZ) file, for Unbound, BIND, PowerDNS Recursor and Knot Resolver.

Each ordered name is a QNAME trigger; a name ordered with its subdomains also gets the ``*.name``
wildcard trigger, because a wildcard does not match the name itself. A name below a name ordered
with its subdomains gets the wildcard too: an RPZ wildcard does not reach below a more specific
trigger (Unbound looks for ``*.`` only at the closest encloser), so without it the names below it
would fall through. An exemption gets ``rpz-passthru.`` on the exact name, and only where one of
the zone's own rules would otherwise cover it (a passthru elsewhere would also switch off any
later policy zone for that name); below it the order's block continues with ``*.exemption``.
IP targets become Response IP triggers (``<prefix>.<reversed address>.rpz-ip``).
"""

from __future__ import annotations

import ipaddress
from typing import assert_never

from checker.export.common import (
    Action,
    ActionKind,
    ExportError,
    ExportOptions,
    by,
    exemptions,
    header,
    ip_targets,
    normalise_origin,
    not_exported,
    ordered,
    serial,
    subtree_ancestor,
)
from checker.models import OrderSet

SPECIAL_LABELS = ("rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip")
MAX_OWNER = 254
"""Longest owner name in presentation form, trailing dot included."""
SOA_TIMERS = "3600 600 604800"
"""Refresh, retry and expire of the policy zone's SOA."""


def actions(action: Action) -> list[str]:
    """The ``TYPE RDATA`` of the records one trigger gets for an action."""
    match action.kind:
        case ActionKind.NXDOMAIN:
            return ["CNAME ."]
        case ActionKind.NODATA:
            return ["CNAME *."]
        case ActionKind.DROP:
            return ["CNAME rpz-drop."]
        case ActionKind.SINKHOLE | ActionKind.BLOCKPAGE:
            return [f"A {a}" for a in action.v4()] + [f"AAAA {a}" for a in action.v6()]
        case _:
            assert_never(action.kind)


def rpz_ip_owner(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The Response IP trigger of a network: ``32.10.2.0.192.rpz-ip``, ``48.zz.db8.2001.rpz-ip``."""
    address = network.network_address
    if isinstance(address, ipaddress.IPv4Address):
        labels = list(reversed(str(address).split(".")))
    else:
        text = address.compressed
        if "::" in text:
            left, right = text.split("::")
            labels = [*reversed(right.split(":") if right else []), "zz", *reversed(left.split(":") if left else [])]
        else:
            labels = list(reversed(text.split(":")))
    return f"{network.prefixlen}.{'.'.join(labels)}.rpz-ip"


def _owner(name: str, origin: str) -> str:
    if name.rsplit(".", 1)[-1] in SPECIAL_LABELS:
        raise ExportError(f"{name} ends in an RPZ trigger label and cannot be a QNAME trigger")
    if len(name) + 1 + len(origin) > MAX_OWNER:
        raise ExportError(f"{name} is too long to be written below the policy zone {origin}",
                          hint="use a shorter --zone origin")
    return name


def export(orders: OrderSet, options: ExportOptions) -> str:
    """The complete zone file, byte for byte the same for the same orders and options."""
    origin = normalise_origin(options.origin)
    zone_serial = options.serial if options.serial is not None else serial(orders, options.on)
    rdatas = actions(options.action)
    lines = header(orders, f"Response Policy Zone {origin}", options, ";", [
        f"serial {zone_serial}: YYYYMMDDnn, the latest date an order in force was issued or amended, "
        "nn counting the orders and amendments of that day",
        "A name ordered with its subdomains has two triggers: the name, and *.name for every name below it.",
        "Load it in Unbound with an rpz: clause (module-config: \"respip validator iterator\"),",
        "in BIND with response-policy (see: blockaudit export bind).",
    ])
    lines += [
        f"$ORIGIN {origin}",
        f"$TTL {options.ttl}",
        f"@ SOA localhost. hostmaster.localhost. {zone_serial} {SOA_TIMERS} {options.ttl}",
        "@ NS localhost.",
    ]
    names = ordered(orders)
    if names:
        lines.append(";")
        lines.append("; ordered names")
    for name in names:
        owner = _owner(name.domain, origin)
        above = subtree_ancestor(name.domain, names)
        note = by(name.orders)
        lines += [f"{owner} {rdata} ; {note}" for rdata in rdatas]
        if name.subdomains:
            lines += [f"*.{owner} {rdata} ; {note}, with subdomains" for rdata in rdatas]
        elif above is not None:
            lines += [f"*.{owner} {rdata} ; {by(above.orders)}: below {above.domain}, ordered with subdomains"
                      for rdata in rdatas]
    exempt = [(e, subtree_ancestor(e.domain, names)) for e in exemptions(orders)]
    covered = [(e, above) for e, above in exempt if above is not None]
    if covered:
        lines.append(";")
        lines.append("; exemptions inside a blocked subtree: the exact name stays reachable, the names below it do not")
    for exemption, above in covered:
        assert above is not None
        owner = _owner(exemption.domain, origin)
        lines.append(f"{owner} CNAME rpz-passthru. ; exempt by {', '.join(exemption.orders)}")
        lines += [f"*.{owner} {rdata} ; {by(above.orders)}: below {above.domain}, ordered with subdomains"
                  for rdata in rdatas]
    targets = ip_targets(orders)
    if targets:
        lines.append(";")
        lines.append("; IP targets: Response IP triggers, applied when an answer carries the address")
    for target in targets:
        lines += [f"{rpz_ip_owner(target.network)} {rdata} ; {by(target.orders)}" for rdata in rdatas]
    lines += not_exported(orders, ";", ips=False)
    return "\n".join(lines) + "\n"
