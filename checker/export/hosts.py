"""The orders as a hosts file (``0.0.0.0 name``), for Pi-hole, AdGuard Home, dnsmasq ``addn-hosts`` or /etc/hosts.

A hosts file matches exact names only and cannot block a subtree. Each ordered name is listed;
for a name ordered with its subdomains the subdomain probe names (``www.`` by default) are
listed too, and a comment says that every other name below it stays reachable. The names get
0.0.0.0 and :: (one line each, so that neither address family resolves), or the block-page
addresses for ``blockpage``; hosts files have no NXDOMAIN, NODATA or drop.
"""

from __future__ import annotations

from checker.export.common import Action, ActionKind, ExportOptions, by, exemptions, header, not_exported, ordered
from checker.models import IPAddress, OrderSet
from checker.orders.names import MAX_NAME


def export(orders: OrderSet, options: ExportOptions) -> str:
    """The hosts file, byte for byte the same for the same orders and options."""
    action = options.action
    addresses: tuple[IPAddress, ...]
    if action.kind is ActionKind.BLOCKPAGE:
        addresses = action.addresses
    else:
        sinkhole = Action(ActionKind.SINKHOLE)
        addresses = (*sinkhole.v4(), *sinkhole.v6())
    extra = ["Hosts files match exact names only: they cannot block the names below a name."]
    if action.kind not in (ActionKind.SINKHOLE, ActionKind.BLOCKPAGE):
        extra.append(f"Hosts files have no {action.kind.value} answer: blocked names get 0.0.0.0 and ::.")
    lines = header(orders, "hosts file", options, "#", extra)
    names = ordered(orders)
    taken = {n.domain for n in names} | {e.domain for e in exemptions(orders)}
    for name in names:
        listed = [name.domain]
        if name.subdomains:
            probes = [f"{label}.{name.domain}" for label in options.probes]
            listed += [p for p in probes if p not in taken and len(p) <= MAX_NAME]
            lines.append(f"# {name.domain} ({by(name.orders)}), with subdomains: a hosts file blocks only "
                         f"{', '.join(listed)}; every other name below {name.domain} stays reachable")
        else:
            lines.append(f"# {name.domain} ({by(name.orders)})")
        lines += [f"{address} {host}" for host in listed for address in addresses]
    lines += not_exported(orders, "#", ips=True)
    return "\n".join(lines) + "\n"
