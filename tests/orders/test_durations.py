"""Tests of checker.orders.durations: ISO 8601 durations for order deadlines."""

from __future__ import annotations

import datetime as dt

import pytest

from checker.orders.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P5D", dt.timedelta(days=5)),
        ("PT30M", dt.timedelta(minutes=30)),
        ("P1W", dt.timedelta(weeks=1)),
        ("P1DT2H", dt.timedelta(days=1, hours=2)),
        ("PT1H30M", dt.timedelta(hours=1, minutes=30)),
        ("PT48H", dt.timedelta(hours=48)),
        ("PT90S", dt.timedelta(seconds=90)),
        ("PT1.5S", dt.timedelta(seconds=1.5)),
        ("P1W2D", dt.timedelta(days=9)),
        ("P2DT3H4M5S", dt.timedelta(days=2, hours=3, minutes=4, seconds=5)),
        ("p5d", dt.timedelta(days=5)),
        ("  P5D  ", dt.timedelta(days=5)),
    ],
)
def test_parse_duration(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("P", "not an ISO 8601 duration"),
        ("PT", "not an ISO 8601 duration"),
        ("P1DT", "not an ISO 8601 duration"),
        ("P1M", "not an ISO 8601 duration"),  # months: their length depends on the start
        ("P1Y", "not an ISO 8601 duration"),  # years: likewise
        ("P1Y2M3D", "not an ISO 8601 duration"),
        ("P0D", "not a positive duration"),
        ("PT0S", "not a positive duration"),
        ("P0W", "not a positive duration"),
        ("P-1D", "not an ISO 8601 duration"),
        ("P1.5D", "not an ISO 8601 duration"),
        ("P1D2W", "not an ISO 8601 duration"),  # out of order
        ("5D", "not an ISO 8601 duration"),
        ("5 days", "not an ISO 8601 duration"),
        ("garbage", "not an ISO 8601 duration"),
        ("", "not an ISO 8601 duration"),
    ],
)
def test_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("text", ["P1000000000D", "P99999999999999999999W"])
def test_huge_duration_is_a_value_error(text: str) -> None:
    """Beyond ``timedelta``'s range: a ValueError (an OverflowError would be a traceback)."""
    with pytest.raises(ValueError, match="longer than any deadline") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)
