"""The orders as dnsmasq ``address=``/``server=`` lines (a file for ``conf-dir`` or ``conf-file``).

dnsmasq matches a domain on whole labels and answers for the name and everything below it:
``address=/name/`` is NXDOMAIN for the subtree, ``address=/name/#`` gives 0.0.0.0 and ::, and
``address=/name/ADDR`` a block page. It has no form for one exact name, so a name ordered without
its subdomains is written the same way and its subdomains are blocked too (over-blocking, said in
a comment on the line); nor does it have NODATA or a silent drop, so those actions export as
NXDOMAIN. An exemption inside a blocked domain gets ``server=/name/#`` (forward as usual), which
the most specific domain rule makes win, for the name and everything below it. IP targets become
``bogus-nxdomain=`` (answers carrying the address turn into NXDOMAIN).
"""

from __future__ import annotations

from typing import assert_never

from checker.export.common import (
    Action,
    ActionKind,
    ExportOptions,
    by,
    enclosing_block,
    exemptions,
    header,
    ip_targets,
    not_exported,
    ordered,
)
from checker.models import OrderedName, OrderSet


def address_lines(domain: str, action: Action) -> list[str]:
    """The ``address=`` lines that block a domain and its subtree."""
    match action.kind:
        case ActionKind.NXDOMAIN | ActionKind.NODATA | ActionKind.DROP:
            return [f"address=/{domain}/"]
        case ActionKind.SINKHOLE:
            return [f"address=/{domain}/#"]
        case ActionKind.BLOCKPAGE:
            return [f"address=/{domain}/{a}" for a in action.addresses]
        case _:
            assert_never(action.kind)


def enclosing(name: str, names: dict[str, OrderedName], exempt: dict[str, OrderedName]) -> OrderedName | None:
    """The ordered name whose ``address=`` answers for ``name`` (dnsmasq's most specific match:
    every ``address=`` covers its subtree), or None when none does or an exemption is nearer."""
    return enclosing_block(name, names, exempt)


def export(orders: OrderSet, options: ExportOptions) -> str:
    """The dnsmasq configuration, byte for byte the same for the same orders and options."""
    action = options.action
    extra = ["address=/name/ answers for the name and every name below it (whole labels)."]
    if action.kind in (ActionKind.NODATA, ActionKind.DROP):
        extra.append(f"dnsmasq has no {action.kind.value} answer: blocked names get NXDOMAIN.")
    lines = header(orders, "dnsmasq configuration", options, "#", extra)
    names = {n.domain: n for n in ordered(orders)}
    exempt = {e.domain: e for e in exemptions(orders)}
    for name in names.values():
        cover = enclosing(name.domain, names, exempt)
        if cover is not None:
            lines.append(f"# {name.domain} ({by(name.orders)}): covered by address=/{cover.domain}/")
            continue
        if name.subdomains:
            lines.append(f"# {name.domain} ({by(name.orders)}), with subdomains")
        else:
            lines.append(f"# {name.domain} ({by(name.orders)}): ordered without its subdomains, but dnsmasq "
                         "blocks the names below it too")
        lines += address_lines(name.domain, action)
    for exemption in exempt.values():
        cover = enclosing(exemption.domain, names, exempt)
        if cover is None:
            continue
        lines.append(f"# exemption {exemption.domain} (exempt by {', '.join(exemption.orders)}) inside "
                     f"{cover.domain}: forwarded as usual, and so are the names below it")
        lines.append(f"server=/{exemption.domain}/#")
    targets = ip_targets(orders)
    if targets:
        lines.append("# IP targets: answers carrying these addresses become NXDOMAIN "
                     "(prefixes and IPv6 need dnsmasq 2.86 or later)")
    for target in targets:
        shown = target.network.network_address if target.network.num_addresses == 1 else target.network
        lines.append(f"# {by(target.orders)}")
        lines.append(f"bogus-nxdomain={shown}")
    lines += not_exported(orders, "#", ips=False)
    return "\n".join(lines) + "\n"
