"""Roll-ups that grow one result at a time: per run, resolver, operator and order.

A run of a million names cannot keep every result in memory to count them at the end. A
``Tally`` is fed each result as it is judged and answers the same questions as
``classify.rollup``, ``classify.counts`` and the report's per-kind counts, from counters alone.
It is the one place the report's numbers come from, whether the results were kept or streamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checker import classify
from checker.models import QueryKind, Result, Status, Verdict

RUN = "run"
"""The scope key of the whole run."""


def _zero() -> dict[str, dict[str, int]]:
    return {kind.value: {v.value: 0 for v in Verdict} for kind in QueryKind}


@dataclass
class Scope:
    """The counters of one scope (the run, a resolver, an operator or an order)."""

    by_kind: dict[str, dict[str, int]] = field(default_factory=_zero)
    """Every result, by query kind and verdict (accessible exemptions and canaries included)."""
    violations: int = 0
    """Results that violate (accessible ordered names past due, overblocked names)."""
    pending: int = 0
    """Accessible ordered names not yet due."""
    overdue: int = 0
    """Accessible ordered names past due."""
    def add(self, result: Result) -> None:
        self.by_kind[result.query.kind.value][result.verdict.value] += 1
        if classify.violates(result):
            self.violations += 1
        if result.deadline is not None:
            if result.deadline.status == "pending":
                self.pending += 1
            elif result.deadline.status == "overdue":
                self.overdue += 1

    def counts_by_kind(self) -> dict[str, dict[str, int]]:
        """As ``report.view.counts_by_kind``: accessible is left out for exemptions and canaries."""
        out = {kind: dict(verdicts) for kind, verdicts in self.by_kind.items()}
        for kind in (QueryKind.EXEMPTION.value, QueryKind.CANARY.value):
            out[kind][Verdict.ACCESSIBLE.value] = 0
        return out

    def counts(self) -> dict[str, int]:
        """As ``classify.counts``."""
        out = {v.value: 0 for v in Verdict}
        for verdicts in self.counts_by_kind().values():
            for verdict, n in verdicts.items():
                out[verdict] += n
        return out

    def status(self) -> Status:
        """As ``classify.rollup``."""
        if self.violations:
            return Status.NONCOMPLIANT
        ordered = sum(self.by_kind[QueryKind.ORDERED.value].values())
        inconclusive = sum(verdicts[Verdict.INCONCLUSIVE.value] for verdicts in self.by_kind.values())
        if not ordered or inconclusive:
            return Status.INCONCLUSIVE
        return Status.COMPLIANT

    def deadlines(self) -> dict[str, int]:
        return {"pending": self.pending, "overdue": self.overdue}

    def view(self) -> dict[str, Any]:
        """``status``, ``counts``, ``counts_by_kind`` and ``deadlines`` as the report writes them."""
        return {"status": self.status().value, "counts": self.counts(), "counts_by_kind": self.counts_by_kind(),
                "deadlines": self.deadlines()}


class Tally:
    """Counters per scope, fed one result at a time."""

    def __init__(self, operators: Mapping[str, str]) -> None:
        self.operators = dict(operators)
        """Subject resolver name -> its operator."""
        self.run = Scope()
        self.resolvers: dict[str, Scope] = {}
        self.by_operator: dict[str, Scope] = {}
        self.orders: dict[str, Scope] = {}
        self.results = 0

    @classmethod
    def of(cls, results: Iterable[Result], operators: Mapping[str, str]) -> Tally:
        tally = cls(operators)
        for result in results:
            tally.add(result)
        return tally

    def add(self, result: Result) -> None:
        self.results += 1
        for scope in self._scopes(result):
            scope.add(result)

    def _scopes(self, result: Result) -> list[Scope]:
        scopes = [self.run, _get(self.resolvers, result.resolver)]
        operator = self.operators.get(result.resolver)
        if operator is not None:
            scopes.append(_get(self.by_operator, operator))
        scopes += [_get(self.orders, o) for o in result.query.orders]
        return scopes

    def names(self) -> int:
        """Query names judged, canaries left out: every name has one result per subject."""
        subjects = len(self.operators) or 1
        judged = sum(n for kind, verdicts in self.run.by_kind.items() if kind != QueryKind.CANARY.value
                     for n in verdicts.values())
        return judged // subjects

    def scope(self, kind: str, name: str) -> Scope:
        """The counters of ``kind`` (``resolver``, ``operator``, ``order``) ``name``; empty if none."""
        table = {"resolver": self.resolvers, "operator": self.by_operator, "order": self.orders}[kind]
        return table.get(name) or Scope()


def _get(table: dict[str, Scope], name: str) -> Scope:
    scope = table.get(name)
    if scope is None:
        scope = table[name] = Scope()
    return scope
