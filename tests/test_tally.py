"""The streaming roll-ups agree with the classifier's roll-ups over whole lists, for any results."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from checker import classify
from checker.models import DeadlineInfo, Query, QueryKind, Result, Verdict
from checker.report.view import counts_by_kind
from checker.tally import Tally

RESOLVERS = {"isp-a-1": "ISP A", "isp-a-2": "ISP A", "isp-b": "ISP B"}
DUE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@st.composite
def results(draw: st.DrawFn) -> Result:
    kind = draw(st.sampled_from(list(QueryKind)))
    verdict = draw(st.sampled_from(list(Verdict)))
    orders = tuple(draw(st.sets(st.sampled_from(["o1", "o2", "o3"]), max_size=2)))
    name = draw(st.sampled_from(["a.test", "b.test", "www.a.test", "c.test"]))
    deadline = None
    if kind is QueryKind.ORDERED:
        status = draw(st.sampled_from(["pending", "overdue", "met", "unknown", "none"]))
        deadline = DeadlineInfo(DUE, status, "basis", "o1")
    return Result(Query(name, name, kind, orders), draw(st.sampled_from(sorted(RESOLVERS))), verdict, None, None,
                  "", (), deadline)


def expected(items: list[Result]) -> dict[str, object]:
    return {"status": classify.rollup(items).value, "counts": classify.counts(items),
            "counts_by_kind": counts_by_kind(items),
            "violations": sum(1 for r in items if classify.violates(r))}


@settings(max_examples=300, deadline=None)
@given(st.lists(results(), max_size=30))
def test_tally_equals_the_rollups_over_the_list(items: list[Result]) -> None:
    tally = Tally.of(items, RESOLVERS)
    run = tally.run.view()
    assert {**run, "violations": tally.run.violations} == {**expected(items), "deadlines": run["deadlines"]}
    for name, operator in RESOLVERS.items():
        mine = [r for r in items if r.resolver == name]
        assert tally.scope("resolver", name).status().value == classify.rollup(mine).value
        theirs = [r for r in items if RESOLVERS[r.resolver] == operator]
        assert tally.scope("operator", operator).counts() == classify.counts(theirs)
    for order in ("o1", "o2", "o3"):
        mine = [r for r in items if order in r.query.orders]
        assert tally.scope("order", order).status().value == classify.rollup(mine).value
    assert tally.run.pending == sum(1 for r in items if r.deadline and r.deadline.status == "pending")
