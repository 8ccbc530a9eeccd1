"""What the Prometheus textfile report derives from the JSON view: gauge rows per scope, label escaping."""

from __future__ import annotations

import re
from typing import Any

from checker.report.present import outcome, parse_time

View = dict[str, Any]

VERDICTS = ("blocked", "accessible", "inconclusive", "dead", "overblocked")
"""The ``verdict`` label values, in the order they are written (every one, zeros included)."""
STATUSES = ("compliant", "noncompliant", "inconclusive")
"""The ``status`` label values of the one-hot status gauges, in the order they are written."""

# Characters a label value must not carry raw: C0 controls but tab and newline (newline is
# escaped), DEL, C1 controls, lone surrogates (not encodable as UTF-8) and U+FFFE/U+FFFF.
# They become U+FFFD, as in every other report, so `cat` on the file cannot move the cursor.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def label(value: object) -> str:
    """A label value for the text exposition format 0.0.4, without its quotes.

    ``\\``, ``"`` and newline are escaped as the format requires; other control characters are
    replaced by U+FFFD. ``None`` is the empty string (Prometheus reads that as "no label").
    """
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return _UNSAFE.sub("\ufffd", text)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"count {value!r} is not a whole number")
    return value


def _deadline_status(result: View) -> str | None:
    """A result's ``deadline.status``; ``None`` when the key is missing (older reports) or null."""
    deadline = result.get("deadline")
    return deadline.get("status") if isinstance(deadline, dict) else None


def _row(labels: list[tuple[str, object]], status: object, counts: View, results: list[View]) -> View:
    deadlines = [_deadline_status(r) for r in results]
    return {
        "labels": labels,
        "counts": {v: _count(counts.get(v, 0)) for v in VERDICTS},
        "compliant": 1 if status == "compliant" else 0,
        "states": {s: 1 if status == s else 0 for s in STATUSES},
        "violations": sum(1 for r in results if outcome(r) == "fail"),
        "overdue": deadlines.count("overdue"),
        "pending": deadlines.count("pending"),
    }


def _unique(rows: list[View]) -> list[View]:
    """Rows whose label sets would be equal once escaped get ``duplicate="2"``, ``"3"``…

    Names differing only in characters replaced by U+FFFD (possible in a hand-edited report)
    would otherwise be duplicate series, which makes Prometheus reject the whole file.
    """
    seen: dict[tuple[str, ...], int] = {}
    for row in rows:
        key = tuple(label(value) for _, value in row["labels"])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            row["labels"] = [*row["labels"], ("duplicate", seen[key])]
    return rows


def metrics(view: View) -> View:
    """Gauge rows for the run, each subject resolver, each operator and each order, sorted."""
    results: list[View] = view["results"]
    subjects = sorted((r for r in view["resolvers"] if r["role"] == "subject"),
                      key=lambda r: (r["name"], r["operator"]))
    resolvers = [
        _row([("resolver", r["name"]), ("operator", r["operator"])], r["status"], r["counts"],
             [x for x in results if x["resolver"] == r["name"]])
        for r in subjects
    ]
    operators = [
        _row([("operator", o["name"])], o["status"], o["counts"],
             [x for x in results if x["resolver"] in o["resolvers"]])
        for o in sorted(view["operators"], key=lambda o: o["name"])
    ]
    orders = []
    for order in sorted(view["orders"], key=lambda o: o["id"]):
        row = _row([("order", order["id"])], order["status"], order["counts"],
                   [x for x in results if order["id"] in x["orders"]])
        row["in_force"] = 1 if order.get("in_force", True) else 0
        orders.append(row)
    run = view["run"]
    started, finished = parse_time(run.get("started_at")), parse_time(run.get("finished_at"))
    return {
        "run": {
            "timestamp": finished.timestamp() if finished else None,
            "duration": (finished - started).total_seconds() if started and finished else None,
            "info": [("run_id", run["id"]), ("version", view["tool"]["version"]), ("vantage", run.get("vantage"))],
            "names": _count(view["summary"]["names"]),
        },
        "total": _row([], view["summary"]["status"], view["summary"]["counts"], results),
        "resolvers": _unique(resolvers),
        "operators": _unique(operators),
        "orders": _unique(orders),
    }
