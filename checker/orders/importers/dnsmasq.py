"""dnsmasq configuration: ``address=/a/b/`` and ``server=/a/`` block the names and every name below."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from checker.orders.importers.base import Context, Importer, Item, Skipped, SkipReason, domain, excerpt


def _domains(number: int, names: list[str], line: str, *, exempt: bool = False) -> Iterator[Item]:
    for name in names:
        if not name.strip() or name.strip() == "#":
            yield Skipped(number, SkipReason.UNSUPPORTED, "a rule for every domain", excerpt(line))
            continue
        raw = name.strip()
        if raw.startswith("."):
            raw = raw[1:]
        yield domain(number, raw, subdomains=not exempt, exempt=exempt)


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """``address=``, ``server=`` and ``local=`` with ``/domain/`` lists; other settings are skipped."""
    del ctx
    for number, line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        key = key.strip().lower().removeprefix("--")
        if not sep or key not in ("address", "server", "local"):
            yield Skipped(number, SkipReason.OTHER_SETTING, f"{key} is not a block rule", excerpt(line))
            continue
        value = value.strip()
        if not value.startswith("/") or value.count("/") < 2:
            if key == "address":
                yield Skipped(number, SkipReason.UNSUPPORTED, "address for every domain", excerpt(line))
            else:
                yield Skipped(number, SkipReason.OTHER_SETTING, "upstream server, not a block rule", excerpt(line))
            continue
        parts = value.split("/")
        names, target = parts[1:-1], parts[-1].strip()
        if key == "address":
            if target not in ("", "#"):
                try:
                    ipaddress.ip_address(target)
                except ValueError:
                    yield Skipped(number, SkipReason.INVALID_ADDRESS, f"{target!r} is not an address", excerpt(line))
                    continue
            yield from _domains(number, names, line)
        elif target == "":
            yield from _domains(number, names, line)  # server=/a/ and local=/a/: answered locally, NXDOMAIN
        elif target == "#" and key == "server":
            yield from _domains(number, names, line, exempt=True)  # the normal upstream servers: not blocked
        else:
            yield Skipped(number, SkipReason.OTHER_SETTING, "forwards the names to a server, does not block",
                          excerpt(line))


IMPORTER = Importer(
    name="dnsmasq",
    summary="`address=/a.example/b.example/` (also `/#`, `/0.0.0.0`), `server=/a.example/`, `local=/a.example/` "
            "-> subdomains; `server=/a.example/#` -> exemption",
    parse=parse,
)
