"""hosts files: ``0.0.0.0 name [name ...]``; every name is an exact target (hosts rules match exactly)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from checker.orders.importers.base import Context, Importer, Item, Skipped, SkipReason, domain, excerpt

LOCAL_NAMES = frozenset({
    "localhost", "localhost.localdomain", "local", "broadcasthost", "localhost4",
    "localhost4.localdomain4", "localhost6", "localhost6.localdomain6", "0.0.0.0",
})
"""Names a hosts file maps for the machine itself, never blocking targets."""


def is_local(name: str) -> bool:
    """Whether a hosts-file name is one of the machine's own (``localhost``, ``ip6-*`` ...)."""
    lower = name.lower().rstrip(".")
    return lower in LOCAL_NAMES or lower.startswith("ip6-") or lower.endswith(".localhost")


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """An address then names; ``#`` starts a comment anywhere."""
    del ctx
    for number, line in lines:
        text = line.split("#", 1)[0]
        fields = text.split()
        if not fields:
            continue
        try:
            ipaddress.ip_address(fields[0].split("%", 1)[0])
        except ValueError:
            yield Skipped(number, SkipReason.UNRECOGNISED, "expected an address, then names", excerpt(line))
            continue
        if len(fields) == 1:
            yield Skipped(number, SkipReason.UNRECOGNISED, "an address without a name", excerpt(line))
            continue
        for name in fields[1:]:
            if is_local(name):
                yield Skipped(number, SkipReason.LOCAL_NAME, f"{name} names this machine", excerpt(line))
            else:
                yield domain(number, name, wildcard=False)


IMPORTER = Importer(
    name="hosts",
    summary="`0.0.0.0 a.example b.example` (also 127.0.0.1, ::1, ::): exact names; localhost entries skipped",
    parse=parse,
)
