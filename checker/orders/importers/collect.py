"""Merging what a parser yields: duplicates folded (subdomains OR), conflicts and skips counted."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from checker.models import Target, TargetKind
from checker.orders.importers.base import Entry, Skipped, SkipReason, SourceFacts
from checker.orders.writer import ip_key

_SUBDOMAINS = 1
_EXEMPT = 2
_SHIFT = 2


@dataclass(frozen=True, slots=True)
class Counts:
    """How many of each thing one import found."""

    lines: int
    """Lines read."""
    domains: int
    """Distinct domain targets."""
    ips: int
    """Distinct IP targets."""
    urls: int
    """Distinct URL targets."""
    exemptions: int
    """Distinct exempt names."""
    duplicates: int
    """Entries folded into an earlier one of the same value."""
    skipped: int
    """Skipped lines or values (a line can yield more than one)."""


class Collector:
    """Keeps one small record per distinct value, so memory grows with distinct names, not with lines.

    Each value maps to an int packing the first line it was read on with two flags (subdomains,
    exempt); sites and notes live in a side table that only formats with such columns fill.
    """

    def __init__(self, on_skip: Callable[[Skipped], None] | None = None, keep: int = 20) -> None:
        self._tables: dict[TargetKind, dict[str, int]] = {kind: {} for kind in TargetKind}
        self._extras: dict[tuple[TargetKind, str], tuple[str | None, str | None]] = {}
        self._on_skip = on_skip
        self._keep = keep
        self.first_skipped: list[Skipped] = []
        """The first ``keep`` skipped records."""
        self.reasons: Counter[SkipReason] = Counter()
        """Skipped records per reason."""
        self.skipped = 0
        self._exempt = 0
        self.duplicates = 0
        self.lines = 0
        self.issued: dt.date | None = None
        """Date the source carries for itself."""
        self.notes: list[str] = []
        """Sentences about the whole source."""

    # -- feeding

    def skip(self, skipped: Skipped) -> None:
        """Count a skipped record, keep it when among the first, and pass it on."""
        self.skipped += 1
        self.reasons[skipped.reason] += 1
        if len(self.first_skipped) < self._keep:
            self.first_skipped.append(skipped)
        if self._on_skip is not None:
            self._on_skip(skipped)

    def facts(self, facts: SourceFacts) -> None:
        """Remember facts about the whole source."""
        if facts.issued is not None:
            self.issued = facts.issued
        self.notes.extend(facts.notes)

    def add(self, entry: Entry) -> None:
        """Add one entry, merging it with an earlier one of the same value."""
        if entry.exempt and entry.kind is not TargetKind.DOMAIN:
            self.skip(Skipped(entry.line, SkipReason.UNSUPPORTED,
                              f"an order can exempt only domains, not {entry.kind.value} {entry.value}"))
            return
        table = self._tables[entry.kind]
        old = table.get(entry.value)
        flags = (_SUBDOMAINS if entry.subdomains else 0) | (_EXEMPT if entry.exempt else 0)
        if old is None:
            table[entry.value] = (entry.line << _SHIFT) | flags
            self._exempt += entry.exempt
            if entry.site is not None or entry.note is not None:
                self._extras[(entry.kind, entry.value)] = (entry.site, entry.note)
            return
        if bool(old & _EXEMPT) != entry.exempt:
            first = "exempt" if old & _EXEMPT else "blocked"
            self.skip(Skipped(entry.line, SkipReason.CONFLICT,
                              f"{entry.value} is {first} on line {old >> _SHIFT}"))
            return
        self.duplicates += 1
        if entry.subdomains and not old & _SUBDOMAINS:
            table[entry.value] = old | _SUBDOMAINS
        if (entry.site is not None or entry.note is not None) and (entry.kind, entry.value) not in self._extras:
            self._extras[(entry.kind, entry.value)] = (entry.site, entry.note)

    def feed(self, items: Iterator[Entry | Skipped | SourceFacts]) -> None:
        """Consume a parser."""
        for item in items:
            if isinstance(item, Entry):
                self.add(item)
            elif isinstance(item, Skipped):
                self.skip(item)
            else:
                self.facts(item)

    # -- reading back

    def counts(self) -> Counts:
        """What was found."""
        domains = self._tables[TargetKind.DOMAIN]
        exempt = self._exempt
        return Counts(
            lines=self.lines, domains=len(domains) - exempt, ips=len(self._tables[TargetKind.IP]),
            urls=len(self._tables[TargetKind.URL]), exemptions=exempt, duplicates=self.duplicates,
            skipped=self.skipped,
        )

    def targets(self) -> Iterator[Target]:
        """Targets in the writer's ``sort_key`` order: domains by name, IPs by address, URLs by text.

        Only the sorted keys are held; the ``Target`` records are made one at a time.
        """
        for kind in (TargetKind.DOMAIN, TargetKind.IP, TargetKind.URL):
            table = self._tables[kind]
            keys = sorted(table, key=ip_key) if kind is TargetKind.IP else sorted(table)
            for value in keys:
                packed = table[value]
                if packed & _EXEMPT:
                    continue
                site = self._extras.get((kind, value), (None, None))[0] if self._extras else None
                yield Target(kind=kind, value=value, subdomains=bool(packed & _SUBDOMAINS), site=site,
                             line=packed >> _SHIFT)

    def notes_of(self, target: Target) -> str | None:
        """The note kept for a target, if any."""
        if not self._extras:
            return None
        return self._extras.get((target.kind, target.value), (None, None))[1]

    def exemptions(self) -> Iterator[Target]:
        """Exempt names, sorted."""
        table = self._tables[TargetKind.DOMAIN]
        for value in sorted(table):
            packed = table[value]
            if packed & _EXEMPT:
                yield Target(kind=TargetKind.DOMAIN, value=value, line=packed >> _SHIFT)

