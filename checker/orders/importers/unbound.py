"""Unbound configuration: ``local-zone`` block types cover the zone and below; ``local-data`` one name."""

from __future__ import annotations

import re
from collections.abc import Iterator

from checker.orders.importers.base import Context, Importer, Item, Skipped, SkipReason, domain, excerpt

BLOCKING = frozenset({
    "always_nxdomain", "always_nodata", "always_refuse", "always_deny", "always_null", "static", "refuse",
    "deny", "redirect", "inform_deny", "inform_redirect",
})
"""local-zone types that keep the real answer from every name in the zone."""
EXEMPTING = frozenset({"transparent", "typetransparent", "always_transparent"})
"""local-zone types that let the real answer through: the names must stay reachable."""

_STATEMENT = re.compile(r"^\s*([A-Za-z0-9_-]+):\s*(.*?)\s*$")
_LOCAL_ZONE = re.compile(r'^(?:"([^"]*)"|\'([^\']*)\'|(\S+))\s+(\S+)$')
_LOCAL_DATA = re.compile(r'^(?:"(.*)"|\'(.*)\')$')


def strip_comment(line: str) -> str:
    """The line without a ``#`` comment outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """``local-zone`` and ``local-data`` statements; other statements are skipped, clause heads ignored."""
    del ctx
    for number, line in lines:
        text = strip_comment(line).strip()
        if not text:
            continue
        match = _STATEMENT.match(text)
        if match is None:
            yield Skipped(number, SkipReason.UNRECOGNISED, "not a 'name: value' statement", excerpt(line))
            continue
        key, value = match.group(1).lower(), match.group(2)
        if not value:
            continue  # a clause head: server:, view:, rpz: ...
        if key == "local-zone":
            yield local_zone(number, value, line)
        elif key == "local-data":
            yield local_data(number, value, line)
        else:
            yield Skipped(number, SkipReason.OTHER_SETTING, f"{key} is not a block rule", excerpt(line))


def local_zone(number: int, value: str, line: str) -> Item:
    """``"name." type``: a block type covers the zone and everything below; transparent ones exempt."""
    match = _LOCAL_ZONE.match(value)
    if match is None:
        return Skipped(number, SkipReason.MALFORMED, "expected local-zone: NAME TYPE", excerpt(line))
    name = match.group(1) or match.group(2) or match.group(3) or ""
    kind = match.group(4).lower()
    if kind in BLOCKING:
        return domain(number, name, subdomains=True, wildcard=False)
    if kind in EXEMPTING:
        return domain(number, name, exempt=True, wildcard=False)
    return Skipped(number, SkipReason.UNSUPPORTED, f"local-zone type {kind} does not block", excerpt(line))


def local_data(number: int, value: str, line: str) -> Item:
    """``"name A 0.0.0.0"``: local data for one name (exact)."""
    match = _LOCAL_DATA.match(value)
    inner = (match.group(1) if match.group(1) is not None else match.group(2)) if match else value
    fields = inner.split()
    if len(fields) < 2:
        return Skipped(number, SkipReason.MALFORMED, "expected local-data: \"NAME TYPE DATA\"", excerpt(line))
    return domain(number, fields[0], wildcard=False)


IMPORTER = Importer(
    name="unbound",
    summary='`local-zone: "example.org." always_nxdomain` (refuse, static, redirect, always_null ...) -> '
            'subdomains; `local-data: "example.org. A 0.0.0.0"` -> exact; transparent zones -> exemptions',
    parse=parse,
)
