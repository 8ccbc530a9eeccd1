"""What templates show, derived from the JSON view alone (so a saved report re-renders the same)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

View = dict[str, Any]

OUTCOME_SYMBOLS = {"pass": "✔", "fail": "✘", "unknown": "?", "none": "∅"}
"""A text symbol for every cell, so colour is never the only signal."""

_ORDER = {"fail": 0, "unknown": 1, "pass": 2, "none": 3}
_KINDS = {"ordered": 0, "exemption": 1, "canary": 2}


def outcome(result: View) -> str:
    """``pass``, ``fail``, ``unknown`` or ``none`` (dead) for a result, whatever its kind.

    An ordered name still accessible before its due time (deadline ``pending``) is not yet a
    violation: ``unknown`` until the deadline passes.
    """
    verdict = result["verdict"]
    deadline = result.get("deadline") or {}
    if verdict == "inconclusive" or deadline.get("status") == "pending":
        return "unknown"
    if verdict == "dead":
        return "none"
    if verdict == "overblocked":
        return "fail"
    if result["kind"] == "ordered":
        return "pass" if verdict == "blocked" else "fail"
    return "pass" if verdict == "accessible" else "fail"


def parse_time(text: str | None) -> dt.datetime | None:
    """A report timestamp (``…Z``) as an aware datetime."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def in_words(value: str | dt.date | dt.datetime | None) -> str:
    """A date or time in words, UTC: ``14 April 2026`` or ``14 April 2026 at 09:05 UTC``."""
    if value is None or value == "":
        return "not stated"
    if isinstance(value, str):
        if "T" in value:
            parsed = parse_time(value)
            assert parsed is not None
            value = parsed
        else:
            value = dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC)
        return f"{value.day} {value:%B %Y} at {value:%H:%M} UTC"
    return f"{value.day} {value:%B %Y}"


def hexdump(wire: str | None, width: int = 16) -> str:
    """A base64 response as offset-prefixed hex lines (``0000  85 80 …``)."""
    if not wire:
        return ""
    try:
        data = base64.b64decode(wire, validate=True)
    except (binascii.Error, ValueError):
        return "(not valid base64)"
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset: offset + width]
        lines.append(f"{offset:04x}  " + " ".join(f"{b:02x}" for b in chunk))
    return "\n".join(lines)


def answers_text(observation: View) -> str:
    """The answer section in one line: ``CNAME x; A 198.51.100.1`` or ``-``."""
    parts = [f"{a['type']} {a['data']}" for a in observation.get("answers", [])]
    return "; ".join(parts) if parts else "-"


def suites(view: View) -> list[View]:
    """JUnit test suites: one per order x subject resolver, plus one per resolver for canaries."""
    orders = {o["id"]: o for o in view["orders"]}
    groups: dict[tuple[str, str], list[View]] = {}
    for result in view["results"]:
        for order_id in result["orders"] or ["canaries"]:
            groups.setdefault((order_id, result["resolver"]), []).append(result)
    out = []
    for (order_id, resolver), results in sorted(groups.items(), key=lambda g: (g[0][0] == "canaries", g[0])):
        outcomes = [outcome(r) for r in results]
        pending = sum(1 for r in results if (r.get("deadline") or {}).get("status") == "pending")
        out.append({
            "name": f"{order_id} @ {resolver}",
            "order": orders.get(order_id),
            "order_id": order_id,
            "resolver": resolver,
            "results": [r | {"outcome": o} for r, o in zip(results, outcomes, strict=True)],
            "tests": len(results),
            "failures": outcomes.count("fail"),
            "errors": outcomes.count("unknown") - pending,
            "skipped": outcomes.count("none") + pending,
            "time": round(sum(max((ob["elapsed_ms"] for ob in r["observations"]), default=0.0)
                              for r in results) / 1000, 3),
        })
    return out


def present(view: View) -> View:
    """The derived parts every template gets beside the view: matrix, violations, chart data."""
    subjects = [r for r in view["resolvers"] if r["role"] == "subject"]
    operators: dict[str, list[View]] = {}
    for resolver in subjects:
        operators.setdefault(resolver["operator"], []).append(resolver)
    columns = [r for name in sorted(operators) for r in operators[name]]
    rows_by_name: dict[str, View] = {}
    for result in view["results"]:
        row = rows_by_name.setdefault(result["query_name"], {
            "query_name": result["query_name"], "domain": result["domain"], "kind": result["kind"],
            "orders": result["orders"], "cells": {},
        })
        row["cells"][result["resolver"]] = result | {"outcome": outcome(result)}
    rows = list(rows_by_name.values())
    for row in rows:
        row["worst"] = min((_ORDER[c["outcome"]] for c in row["cells"].values()), default=3)
    rows.sort(key=lambda r: (r["worst"], _KINDS[r["kind"]], r["domain"], r["query_name"]))
    violations = [r | {"outcome": "fail"} for r in view["results"] if outcome(r) == "fail"]
    unknown = [r | {"outcome": "unknown"} for r in view["results"] if outcome(r) == "unknown"]
    chart = [
        {"name": r["name"], "counts": r["counts"], "total": sum(r["counts"].values())} for r in columns
    ]
    return {
        "operators": [{"name": name, "resolvers": operators[name]} for name in sorted(operators)],
        "columns": columns,
        "rows": rows,
        "violations": violations,
        "unknown": unknown,
        "chart": chart,
        "chart_max": max((c["total"] for c in chart), default=0),
        "orders_by_id": {o["id"]: o for o in view["orders"]},
        "controls": [r for r in view["resolvers"] if r["role"] == "control"],
        "symbols": OUTCOME_SYMBOLS,
        "suites": suites(view),
    }
