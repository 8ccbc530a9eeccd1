"""A real Unbound that rate-limits its clients: lost answers slow the pacing down, are retried,
and are never read as blocks.

The extra Unbound has the lab's NXDOMAIN RPZ and `ip-ratelimit: 10` with `ip-ratelimit-factor: 0`:
every query from 127.0.0.1 beyond ten a second is dropped without an answer. The same order is
checked against it and against the lab's own (unlimited) copy of that resolver: the verdicts must
be the same, and the run must say it lost answers and slowed down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.cli import main

from .extra_unbound import extra_unbound, resolver_file, rpz_clause
from .lab import NXDOMAIN, RPZ_ORIGIN, Lab, _rpz_records, rpz_text

pytestmark = pytest.mark.integration

NAME = "isp-ratelimited"


def verdicts(report: dict[str, Any]) -> dict[str, tuple[str, str | None, str | None]]:
    return {r["query_name"]: (r["verdict"], r["method"], r["reason"]) for r in report["results"]}


def run_check(lab: Lab, resolvers: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", str(lab.order_path), "--resolvers", str(resolvers), "--no-db", "-q",
                 "--report", f"json:{out}", *extra])
    return code, json.loads(out.read_text(encoding="utf-8"))


def test_rate_limited_answers_are_retried_slower_and_never_blocks(lab: Lab, tmp_path: Path) -> None:
    root = lab.root / NAME
    with extra_unbound(
        lab, NAME, respip=True,
        server_lines="ip-ratelimit: 10\nip-ratelimit-factor: 0\n",
        files={f"{NAME}.rpz": rpz_text(_rpz_records(NXDOMAIN))},
        clauses=rpz_clause(RPZ_ORIGIN, root / f"{NAME}.rpz"),
    ) as server:
        limited = resolver_file(tmp_path / "limited.yaml", lab, "limited", server.port)
        limited.write_text(limited.read_text().replace("role: subject}", "role: subject, concurrency: 64}"),
                           encoding="utf-8")
        code, report = run_check(lab, limited, tmp_path / "limited.json", "--timeout", "0.5", "--retries", "6")
    reference = resolver_file(tmp_path / "reference.yaml", lab, "reference", lab.port("isp-nxdomain"))
    _, expected = run_check(lab, reference, tmp_path / "reference.json")
    assert verdicts(report) == verdicts(expected)
    assert not any(r["reason"] == "timeout" for r in report["results"])
    traffic = report["run"]["settings"]["traffic"]["limited"]
    assert traffic["lost_answers"] > 0, traffic  # the limit did bite
    assert traffic["slowest_qps"] is not None and traffic["slowest_qps"] <= 40, traffic
    assert code in (0, 3)
