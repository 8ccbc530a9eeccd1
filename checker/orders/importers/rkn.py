"""Roskomnadzor registry dumps (``dump.csv`` of zapret-info): cp1251, ``;``-separated, one decision a row.

Line 1 is ``Updated: YYYY-MM-DD HH:MM:SS +ZZZZ``; then rows of six fields: IPs and CIDRs
(``|``-separated), domains (``|``-separated, ``*.name`` for subdomains, Cyrillic names as they
are), URLs (`` | ``-separated), authority, decision number, decision date. Provenance is kept
in aggregate (rows per authority, range of decision dates), never per row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator

from checker.models import OrderType
from checker.orders.importers.base import (
    Context,
    Defaults,
    Importer,
    Item,
    Skipped,
    SkipReason,
    SourceFacts,
    address,
    domain,
    excerpt,
    url,
)
from checker.orders.importers.csvlist import split_row

MAX_AUTHORITIES = 256
"""Distinct authorities counted one by one; the rest are counted together, so memory stays bounded."""
LISTED_AUTHORITIES = 12
"""Authorities named in the notes (the most frequent); the rest are summed up."""
UPDATED = "%Y-%m-%d %H:%M:%S %z"
MAX_AUTHORITY = 200
"""Characters of an authority's name kept for counting."""

_URLS = re.compile(r" \| |\|(?=https?://)", re.IGNORECASE)


def parse_updated(line: str) -> dt.datetime | None:
    """The time of an ``Updated: 2017-11-29 12:34:56 -0100`` line, or None."""
    head, sep, rest = line.partition(":")
    if not sep or head.strip().lower() != "updated":
        return None
    try:
        return dt.datetime.strptime(rest.strip(), UPDATED)
    except ValueError:
        return None


class _Provenance:
    """Rows per authority and the range of decision dates, in bounded memory."""

    def __init__(self) -> None:
        self.rows = 0
        self.authorities: Counter[str] = Counter()
        self.other = 0
        self.first: str | None = None
        self.last: str | None = None
        self.undated = 0

    def add(self, authority: str, date: str) -> None:
        self.rows += 1
        if authority:
            if authority in self.authorities or len(self.authorities) < MAX_AUTHORITIES:
                self.authorities[authority] += 1
            else:
                self.other += 1
        if len(date) == 10 and date[4] == "-" and date[7] == "-" and date.isascii() and date.replace("-", "").isdigit():
            if self.first is None or date < self.first:
                self.first = date
            if self.last is None or date > self.last:
                self.last = date
        else:
            self.undated += 1

    def notes(self, updated: str) -> tuple[str, ...]:
        out = [f"Roskomnadzor registry dump, {updated}; {self.rows} rows."]
        if self.first is not None:
            out.append(f"Decisions dated {self.first} to {self.last}"
                       + (f" ({self.undated} without a date)." if self.undated else "."))
        if self.authorities:
            ranked = sorted(self.authorities.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = [f"{name} {count}" for name, count in ranked[:LISTED_AUTHORITIES]]
            rest = sum(count for _, count in ranked[LISTED_AUTHORITIES:]) + self.other
            if rest:
                shown.append(f"others {rest}")
            out.append("Rows by authority: " + "; ".join(shown) + ".")
        return tuple(out)


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """The ``Updated:`` line, then one decision a row, each row giving many targets."""
    first = next(lines, None)
    updated = parse_updated(first[1]) if first is not None and first[0] == 1 else None
    if updated is None:
        raise ctx.fail("not a Roskomnadzor dump: the first line must be 'Updated: YYYY-MM-DD HH:MM:SS +ZZZZ'", 1,
                       hint="check --format, or the file's encoding (cp1251)")
    yield SourceFacts(issued=updated.date())
    provenance = _Provenance()
    for number, line in lines:
        if not line.strip():
            continue
        fields = split_row(number, line, ";")
        if isinstance(fields, list) and not 3 <= len(fields) <= 6:
            fields = Skipped(number, SkipReason.MALFORMED, f"{len(fields)} fields, expected 6", excerpt(line))
        if isinstance(fields, Skipped):
            yield fields
            continue
        ips, names, urls = fields[0], fields[1], fields[2]
        for raw in ips.split("|"):
            if raw.strip():
                yield address(number, raw)
        for raw in names.split("|"):
            if raw.strip():
                yield domain(number, raw)
        for raw in _URLS.split(urls) if "|" in urls else (urls,):
            if raw.strip():
                yield url(number, raw)
        extra = [*fields[3:], "", "", ""]
        provenance.add(extra[0].strip()[:MAX_AUTHORITY], extra[2].strip())
    yield SourceFacts(notes=provenance.notes(f"Updated: {first[1].partition(':')[2].strip()}" if first else ""))


IMPORTER = Importer(
    name="rkn",
    summary="Roskomnadzor dump (cp1251): `Updated: ...` then `ips;domains;urls;authority;number;date` "
            "-> ip, domain (`*.` -> subdomains, Cyrillic -> A-label), url targets",
    parse=parse,
    encoding="cp1251",
    defaults=Defaults(authority="Roskomnadzor (Unified Register of prohibited information)",
                      jurisdiction="RU", order_type=OrderType.ADMINISTRATIVE),
)
