"""Observations to and from the store's rows (JSON for the fields, bytes for the raw response)."""

from __future__ import annotations

import datetime as dt
import json

from checker.models import ExtendedError, Observation, Record


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


def time_text(value: dt.datetime) -> str:
    """How the store writes a timestamp: ISO 8601 UTC with microseconds, sortable as text."""
    return _time(value)


def encode(obs: Observation) -> tuple[str, bytes | None]:
    """(JSON of every field but the raw response, the raw response)."""
    data = {
        "resolver": obs.resolver, "qname": obs.qname, "qtype": obs.qtype, "transport": obs.transport,
        "started_at": _time(obs.started_at), "elapsed_ms": obs.elapsed_ms, "attempts": obs.attempts,
        "rcode": obs.rcode, "flags": list(obs.flags),
        "answers": [[r.name, r.type, r.ttl, r.data] for r in obs.answers],
        "authority": [[r.name, r.type, r.ttl, r.data] for r in obs.authority],
        "ede": [[e.code, e.text] for e in obs.ede], "error": obs.error, "rejected": obs.rejected,
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False), obs.wire


def decode(text: str, wire: bytes | None) -> Observation:
    """The observation a row holds."""
    data = json.loads(text)
    return Observation(
        resolver=data["resolver"], qname=data["qname"], qtype=data["qtype"], transport=data["transport"],
        started_at=parse_time(data["started_at"]), elapsed_ms=data["elapsed_ms"], attempts=data["attempts"],
        rcode=data["rcode"], flags=tuple(data["flags"]),
        answers=tuple(Record(*r) for r in data["answers"]),
        authority=tuple(Record(*r) for r in data["authority"]),
        ede=tuple(ExtendedError(c, t) for c, t in data["ede"]), error=data["error"],
        wire=bytes(wire) if wire is not None else None, rejected=data["rejected"],
    )
