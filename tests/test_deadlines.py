"""Deadlines: due times from orders and amendments, pending then overdue on an injected clock."""

from __future__ import annotations

import datetime as dt

from checker import classify, deadlines
from checker.models import (
    Amendment,
    AmendmentKind,
    Deadline,
    DeadlineStart,
    Order,
    OrderType,
    Query,
    QueryKind,
    Result,
    Target,
    TargetKind,
    Verdict,
    Verification,
)
from checker.orders.loader import merge

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
THIRTY_MINUTES = Deadline(within=dt.timedelta(minutes=30), within_text="PT30M", start=DeadlineStart.NOTIFIED)


def order(deadline: Deadline | None = THIRTY_MINUTES, notified: dt.datetime | None = T0,
          amendments: tuple[Amendment, ...] = ()) -> Order:
    return Order(
        id="it-ticket", title="t", authority="AGCOM", jurisdiction="IT", order_type=OrderType.TICKET,
        issued=dt.date(2026, 6, 1), verification=Verification.VERIFIED, valid_from=dt.date(2026, 6, 1),
        valid_until=None, path="t.yaml", targets=(Target(TargetKind.DOMAIN, "stream.test"),),
        deadline=deadline, notified=notified, amendments=amendments,
    )


def result(verdict: Verdict, name: str = "stream.test") -> Result:
    return Result(Query(name, name, QueryKind.ORDERED, ("it-ticket",)), "isp", verdict, None, None, "d", ())


def test_thirty_minute_deadline_is_pending_then_overdue() -> None:
    orders = merge([order()], T0.date())
    leak = result(Verdict.ACCESSIBLE)
    early = deadlines.assess([leak], orders, T0.date(), T0 + dt.timedelta(minutes=10), {})[0]
    assert early.deadline is not None
    assert early.deadline.status == "pending" and early.deadline.seconds_left == 20 * 60
    assert early.deadline.due_at == T0 + dt.timedelta(minutes=30)
    assert not classify.violates(early)
    late = deadlines.assess([leak], orders, T0.date(), T0 + dt.timedelta(minutes=31), {})[0]
    assert late.deadline is not None and late.deadline.status == "overdue" and late.deadline.seconds_left == 0
    assert classify.violates(late)


def test_due_times_from_each_start() -> None:
    issued = Deadline(within=dt.timedelta(days=5), within_text="P5D", start=DeadlineStart.ISSUED)
    assert deadlines.order_dues(order(issued))["stream.test"].at == dt.datetime(2026, 6, 6, tzinfo=dt.UTC)
    served = Deadline(within=dt.timedelta(days=2), within_text="P2D", start=DeadlineStart.SERVED)
    unknown = deadlines.order_dues(order(served))["stream.test"]
    assert unknown.at is None and "not recorded" in unknown.basis
    fixed = Deadline(due=dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    assert deadlines.order_dues(order(fixed))["stream.test"].at == dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    none = deadlines.order_dues(order(None))["stream.test"]
    assert none.at is None and none.basis == "the order states no deadline"


def test_amendment_deadline_counts_from_its_own_notification() -> None:
    amendment = Amendment(
        id="add-1", date=dt.date(2026, 6, 10), kind=AmendmentKind.ADD,
        targets=(Target(TargetKind.DOMAIN, "mirror.test"),),
        deadline=Deadline(within=dt.timedelta(days=2), within_text="P2D", start=DeadlineStart.NOTIFIED),
        notified=dt.datetime(2026, 6, 10, 9, 0, tzinfo=dt.UTC),
    )
    table = deadlines.order_dues(order(amendments=(amendment,)))
    assert table["mirror.test"].at == dt.datetime(2026, 6, 12, 9, 0, tzinfo=dt.UTC)
    assert table["mirror.test"].order == "it-ticket/add-1"
    assert "mirror.test" not in deadlines.order_dues(order(amendments=(amendment,)), on=dt.date(2026, 6, 9))


def test_the_earliest_due_time_binds() -> None:
    strict = order()
    lenient = Order(**{**{f: getattr(strict, f) for f in strict.__slots__}, "id": "slow",  # type: ignore[arg-type]
                       "deadline": Deadline(within=dt.timedelta(days=5), within_text="P5D",
                                            start=DeadlineStart.ISSUED)})
    due = deadlines.dues(merge([lenient, strict], T0.date()))["stream.test"]
    assert due.at == T0 + dt.timedelta(minutes=30) and due.order == "it-ticket"


def test_blocked_since_and_on_time_from_history() -> None:
    orders = merge([order()], T0.date())
    blocked = result(Verdict.BLOCKED)
    now = T0 + dt.timedelta(hours=2)
    history = {("isp", "stream.test"): [(T0 + dt.timedelta(minutes=5), "accessible"),
                                        (T0 + dt.timedelta(minutes=20), "blocked")]}
    on_time = deadlines.assess([blocked], orders, T0.date(), now, history)[0].deadline
    assert on_time is not None and on_time.status == "met" and on_time.on_time is True
    assert on_time.blocked_since == T0 + dt.timedelta(minutes=20)
    late_history = {("isp", "stream.test"): [(T0 + dt.timedelta(minutes=40), "accessible")]}
    late = deadlines.assess([blocked], orders, T0.date(), now, late_history)[0].deadline
    assert late is not None and late.on_time is False
    unknown = deadlines.assess([blocked], orders, T0.date(), now, {})[0].deadline
    assert unknown is not None and unknown.on_time is None  # never checked before it was due


def test_exemptions_and_inconclusive_results() -> None:
    orders = merge([order()], T0.date())
    exempt = Result(Query("ok.test", "ok.test", QueryKind.EXEMPTION, ("it-ticket",)), "isp", Verdict.ACCESSIBLE,
                    None, None, "d", ())
    assert deadlines.assess([exempt], orders, T0.date(), T0, {})[0].deadline is None
    unsure = deadlines.assess([result(Verdict.INCONCLUSIVE)], orders, T0.date(), T0, {})[0].deadline
    assert unsure is not None and unsure.status == "unknown"
