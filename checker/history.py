"""Pure questions over stored verdicts: what changed between two runs, and a name's timeline."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from checker.deadlines import blocked_since
from checker.store.base import ResultRow


def _fails(verdict: str, kind: str) -> bool:
    if verdict == "overblocked":
        return True
    return verdict == "accessible" and kind == "ordered"


@dataclass(frozen=True, slots=True)
class Change:
    """One (resolver, query name) whose verdict or method differs between two runs."""

    resolver: str
    query_name: str
    kind: str
    before: str
    """Verdict (and method or reason) in the first run; ``absent`` when not checked there."""
    after: str
    """The same in the second run."""
    change: str
    """``regression`` (now a violation), ``fixed`` (no longer a violation), ``newly_blocked``,
    ``method_changed``, ``added``, ``removed`` or ``changed``."""


def _label(row: ResultRow | None) -> str:
    if row is None:
        return "absent"
    extra = row.method or row.reason
    return f"{row.verdict}/{extra}" if extra else row.verdict


def diff(before: Iterable[ResultRow], after: Iterable[ResultRow]) -> list[Change]:
    """Every difference between two runs' verdicts, regressions first."""
    a = {(r.resolver, r.query_name): r for r in before}
    b = {(r.resolver, r.query_name): r for r in after}
    changes: list[Change] = []
    for key in sorted(a.keys() | b.keys()):
        old, new = a.get(key), b.get(key)
        if old is not None and new is not None and (old.verdict, old.method, old.reason) == (
                new.verdict, new.method, new.reason):
            continue
        kind = (new or old).kind  # type: ignore[union-attr]
        if old is None:
            change = "regression" if new is not None and _fails(new.verdict, kind) else "added"
        elif new is None:
            change = "removed"
        elif _fails(new.verdict, kind) and not _fails(old.verdict, kind):
            change = "regression"
        elif _fails(old.verdict, kind) and not _fails(new.verdict, kind):
            change = "newly_blocked" if new.verdict == "blocked" else "fixed"
        elif old.verdict == new.verdict:
            change = "method_changed"
        else:
            change = "changed"
        changes.append(Change(key[0], key[1], kind, _label(old), _label(new), change))
    order = {"regression": 0, "newly_blocked": 1, "fixed": 2, "method_changed": 3, "changed": 4, "added": 5,
             "removed": 6}
    return sorted(changes, key=lambda c: (order[c.change], c.resolver, c.query_name))


@dataclass(frozen=True, slots=True)
class Timeline:
    """One query name's history at one resolver."""

    resolver: str
    query_name: str
    first_blocked: dt.datetime | None
    """First run that saw it blocked."""
    last_accessible: dt.datetime | None
    """Last run that saw it accessible."""
    blocked_since: dt.datetime | None
    """Start of the current run of blocked verdicts."""
    flips: tuple[tuple[dt.datetime, str, str, str], ...]
    """(time, run id, from, to) for every change of verdict."""
    checks: int
    """Runs that checked it."""


def timelines(rows: Sequence[ResultRow]) -> list[Timeline]:
    """Per (resolver, query name) timelines from stored verdicts (oldest first)."""
    by_key: dict[tuple[str, str], list[ResultRow]] = {}
    for row in sorted(rows, key=lambda r: (r.observed_at, r.run_id)):
        by_key.setdefault((row.resolver, row.query_name), []).append(row)
    out = []
    for (resolver, name), items in sorted(by_key.items()):
        flips = [(cur.observed_at, cur.run_id, _label(prev), _label(cur))
                 for prev, cur in itertools.pairwise(items) if _label(prev) != _label(cur)]
        since = blocked_since([(r.observed_at, r.verdict) for r in items])
        out.append(Timeline(
            resolver=resolver, query_name=name,
            first_blocked=next((r.observed_at for r in items if r.verdict == "blocked"), None),
            last_accessible=next((r.observed_at for r in reversed(items) if r.verdict == "accessible"), None),
            blocked_since=since, flips=tuple(flips), checks=len(items),
        ))
    return out


def verdict_history(rows: Iterable[ResultRow], exclude_run: str | None = None
                    ) -> Mapping[tuple[str, str], list[tuple[dt.datetime, str]]]:
    """(resolver, query name) -> [(time, verdict)], oldest first, for deadline judgements."""
    out: dict[tuple[str, str], list[tuple[dt.datetime, str]]] = {}
    for row in rows:
        if row.run_id != exclude_run:
            out.setdefault((row.resolver, row.query_name), []).append((row.observed_at, row.verdict))
    return out
