"""Pure deadline judgement: when each ordered name is due, and whether each result met it.

A target's due time comes from its order's ``deadline`` (or its amendment's, for names an
amendment added): a duration from the order's issue date, service or notification (for an
amendment: its own date or notification), or a fixed ``due`` time. When the event a duration
counts from is not recorded, the due time is unknown and nothing is claimed about it.

Before the due time an accessible ordered name is ``pending`` (not a violation); after it,
``overdue``. A blocked name is ``met``; ``blocked_since`` is the start of its current run of
``blocked`` verdicts in the history, and ``on_time`` says whether that start was by the due
time (``None`` when the history cannot tell: the name was never checked before it was due).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from checker.models import (
    AmendmentKind,
    Deadline,
    DeadlineInfo,
    DeadlineStart,
    Order,
    OrderSet,
    QueryKind,
    Result,
    TargetKind,
    Verdict,
)


@dataclass(frozen=True, slots=True)
class Due:
    """When one ordered domain must be blocked, and why."""

    at: dt.datetime | None
    """Due time (UTC); ``None`` when the orders give no deadline or its start is not recorded."""
    basis: str
    """How it was computed, in words (``P5D from issued 2026-04-14``)."""
    order: str
    """The order (and amendment) the deadline comes from."""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _due(deadline: Deadline | None, starts: Mapping[DeadlineStart, dt.datetime | None], source: str) -> Due:
    if deadline is None:
        return Due(None, "the order states no deadline", source)
    if deadline.due is not None:
        return Due(deadline.due, f"due {deadline.due.isoformat()}", source)
    assert deadline.within is not None and deadline.start is not None
    start = starts.get(deadline.start)
    if start is None:
        return Due(None, f"{deadline.within_text} from {deadline.start.value}, which is not recorded", source)
    return Due(start + deadline.within, f"{deadline.within_text} from {deadline.start.value} "
               f"{start.isoformat().replace('+00:00', 'Z')}", source)


def order_dues(order: Order, on: dt.date | None = None) -> dict[str, Due]:
    """Due times of the domains one order names (amendments made by ``on`` included)."""
    starts: dict[DeadlineStart, dt.datetime | None] = {
        DeadlineStart.ISSUED: _midnight(order.issued),
        DeadlineStart.SERVED: order.served,
        DeadlineStart.NOTIFIED: order.notified,
    }
    out: dict[str, Due] = {}
    due = _due(order.deadline, starts, order.id)  # one record shared by every domain of the order
    for target in order.targets:
        if target.kind is TargetKind.DOMAIN:
            out[target.value] = due
    for amendment in order.amendments:
        if on is not None and amendment.date > on:
            continue
        for target in amendment.targets:
            if target.kind is not TargetKind.DOMAIN:
                continue
            if amendment.kind is AmendmentKind.REMOVE:
                out.pop(target.value, None)
                continue
            amended: dict[DeadlineStart, dt.datetime | None] = {
                DeadlineStart.ISSUED: _midnight(amendment.date),
                DeadlineStart.SERVED: amendment.notified or order.served,
                DeadlineStart.NOTIFIED: amendment.notified,
            }
            out[target.value] = _due(amendment.deadline or order.deadline, amended, f"{order.id}/{amendment.id}")
    return out


def dues(orders: OrderSet, on: dt.date | None = None) -> dict[str, Due]:
    """Each ordered domain's binding due time: the earliest over the orders in force that name it."""
    out: dict[str, Due] = {}
    for order in orders.orders:
        if order.id in orders.not_in_force:
            continue
        for domain, due in order_dues(order, on).items():
            current = out.get(domain)
            if current is None or (due.at is not None and (current.at is None or due.at < current.at)):
                out[domain] = due
    return out


Verdicts = Sequence[tuple[dt.datetime, str]]
"""A (time, verdict) history of one (resolver, query name), oldest first."""


def blocked_since(history: Verdicts) -> dt.datetime | None:
    """Start of the current unbroken run of ``blocked`` at the end of the history."""
    start: dt.datetime | None = None
    for when, verdict in history:
        start = (start or when) if verdict == Verdict.BLOCKED.value else None
    return start


def judge(result: Result, due: Due | None, history: Verdicts, now: dt.datetime) -> DeadlineInfo | None:
    """The deadline status of one result, judged at ``now``; ``history`` includes this result."""
    if result.query.kind is not QueryKind.ORDERED or due is None:
        return None
    if due.at is None:
        return DeadlineInfo(due_at=None, status="none", basis=due.basis, order=due.order)
    left = int((due.at - now).total_seconds())
    if result.verdict is Verdict.ACCESSIBLE:
        status = "pending" if left > 0 else "overdue"
        return DeadlineInfo(due_at=due.at, status=status, basis=due.basis, order=due.order,
                            seconds_left=max(left, 0))
    if result.verdict is not Verdict.BLOCKED:
        return DeadlineInfo(due_at=due.at, status="unknown", basis=due.basis, order=due.order,
                            seconds_left=max(left, 0))
    since = blocked_since(history)
    on_time: bool | None
    if since is not None and since <= due.at:
        on_time = True
    elif any(when > due.at for when, verdict in history if verdict != Verdict.BLOCKED.value):
        on_time = False  # seen not blocked after the due time
    elif since is not None and any(when <= due.at for when, _ in history):
        on_time = False
    else:
        on_time = None  # never checked before it was due: the history cannot tell
    return DeadlineInfo(due_at=due.at, status="met", basis=due.basis, order=due.order,
                        seconds_left=max(left, 0), blocked_since=since, on_time=on_time)


def assess(results: Iterable[Result], orders: OrderSet, on: dt.date, now: dt.datetime,
           history: Mapping[tuple[str, str], Verdicts], table: Mapping[str, Due] | None = None) -> list[Result]:
    """Every result with its deadline judged; ``history`` is keyed by (resolver, query name).

    ``table`` is ``dues(orders, on)`` when the caller already has it (a run judging batch after batch)."""
    table = dues(orders, on) if table is None else table
    out = []
    for result in results:
        due = table.get(result.query.domain)
        if due is None or due.at is None or result.query.kind is not QueryKind.ORDERED:
            info = judge(result, due, (), now)  # no due time: the history cannot matter
        else:
            past = list(history.get((result.resolver, result.query.name), ()))
            observed = min((o.started_at for o in result.observations), default=now)
            info = judge(result, due, [*past, (observed, result.verdict.value)], now)
        out.append(result if info == result.deadline else replace(result, deadline=info))
    return out
