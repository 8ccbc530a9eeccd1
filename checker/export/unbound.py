"""The orders as Unbound ``local-zone``/``local-data`` lines (a ``server:`` clause to include).

A ``local-zone`` applies to its name and everything below it, so it is used for names ordered
with their subdomains only. A name ordered without them gets ``local-data`` instead, which
Unbound answers for that exact name (in an implicit ``transparent`` zone) while the names below it
resolve normally: with a block address for ``sinkhole`` and ``blockpage``, and otherwise a TXT
record, so that A and AAAA get NODATA. Unbound cannot answer NXDOMAIN (or drop) for one name
without its subtree; the exact name gets NODATA instead, and each such line says so. An exemption
inside a blocked subtree gets a ``transparent`` zone: it resolves normally, and so does everything
below it (Unbound cannot block only the names below a name). Names inside a subtree that is
already blocked need no line of their own; a comment names the zone that covers them.
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

TXT_NOTE = "blocked by blockaudit"


def zone_type(action: Action) -> str:
    """The local-zone type that blocks a whole subtree with an action."""
    match action.kind:
        case ActionKind.NXDOMAIN:
            return "always_nxdomain"
        case ActionKind.NODATA:
            return "always_nodata"
        case ActionKind.DROP:
            return "always_deny"
        case ActionKind.SINKHOLE:
            return "always_null"
        case ActionKind.BLOCKPAGE:
            return "redirect"
        case _:
            assert_never(action.kind)


def _address_data(name: str, action: Action) -> list[str]:
    return ([f'  local-data: "{name}. A {a}"' for a in action.v4()]
            + [f'  local-data: "{name}. AAAA {a}"' for a in action.v6()])


def enclosing(name: str, names: list[OrderedName], exempt: dict[str, OrderedName]) -> OrderedName | None:
    """The subtree-ordered name whose local-zone answers for ``name``, or None when no block zone
    does (there is none, or an exemption's transparent zone is nearer)."""
    return enclosing_block(name, {n.domain: n for n in names if n.subdomains}, exempt)


def export(orders: OrderSet, options: ExportOptions) -> str:
    """The ``server:`` clause, byte for byte the same for the same orders and options."""
    action = options.action
    lines = header(orders, "Unbound local-zone configuration", options, "#", [
        "Include it in unbound.conf (include: \"/etc/unbound/blockaudit.conf\"); it opens its own server: clause.",
        "local-zone covers the name and every name below it: used for names ordered with their subdomains.",
        "Names ordered without their subdomains get local-data for the exact name only.",
    ])
    lines.append("server:")
    names = ordered(orders)
    exempt = {e.domain: e for e in exemptions(orders)}
    for name in names:
        cover = enclosing(name.domain, names, exempt)
        if cover is not None:
            lines.append(f"# {name.domain} ({by(name.orders)}): covered by local-zone {cover.domain}.")
            continue
        if name.subdomains:
            lines.append(f"# {name.domain} ({by(name.orders)}), with subdomains")
            lines.append(f'  local-zone: "{name.domain}." {zone_type(action)}')
            if action.kind is ActionKind.BLOCKPAGE:
                lines += _address_data(name.domain, action)
            continue
        if action.kind in (ActionKind.SINKHOLE, ActionKind.BLOCKPAGE):
            lines.append(f"# {name.domain} ({by(name.orders)}), exact name only")
            lines += _address_data(name.domain, action)
        else:
            lines.append(f"# {name.domain} ({by(name.orders)}), exact name only: NODATA instead of "
                         f"{action.kind.value} (a local-zone would block the names below it too)")
            lines.append(f"  local-data: '{name.domain}. TXT \"{TXT_NOTE}\"'")
    for exemption in exempt.values():
        cover = enclosing(exemption.domain, names, exempt)
        if cover is None:
            continue
        lines.append(f"# exemption {exemption.domain} (exempt by {', '.join(exemption.orders)}) inside "
                     f"{cover.domain}: resolved normally, and so are the names below it")
        lines.append(f'  local-zone: "{exemption.domain}." transparent')
    targets = ip_targets(orders)
    if targets:
        lines.append("# IP targets need Unbound's respip module (module-config: \"respip validator iterator\");")
        lines.append("# to block them, add these lines to the server: clause:")
    for target in targets:
        lines.append(f"#   response-ip: {target.network} always_nxdomain  # {by(target.orders)}")
    lines += not_exported(orders, "#", ips=False)
    return "\n".join(lines) + "\n"
