"""ISO 8601 durations (``P5D``, ``PT30M``, ``P1W``) as used in order deadlines."""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
)


def parse_duration(text: str) -> dt.timedelta:
    """A ``timedelta`` for an ISO 8601 duration of weeks, days, hours, minutes and seconds.

    Years and months are refused: their length depends on the start date, and courts that
    give months can be written in days. Raises ``ValueError`` with the reason.
    """
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration like P5D, PT30M or P1W")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        delta = dt.timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any deadline can be") from None
    if delta <= dt.timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return delta
