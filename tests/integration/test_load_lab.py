"""Correctness under load: thousands of names at full speed through real NSD + Unbound.

Every synthetic name has its own A and AAAA (from its index), and the subject's RPZ blocks every
10th. At full speed over shared sockets per resolver, in one process or with a worker, every
answer must be the one for its own name (IDs never confused), every name must have exactly one
result (nothing lost, nothing duplicated), and the verdicts must be exactly what the zone and
the RPZ say.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from benchmarks import throughput as bench
from checker.cli import main

pytestmark = pytest.mark.integration

N = 6000
"""More than ``AuditSettings.worker_from``: the names are asked by the worker process unless told not to."""
EVERY = 10


def expected_a(index: int) -> str:
    return str(ipaddress.IPv4Address(bench.BENCH_V4 + index % bench.BENCH_V4_SIZE))


@pytest.mark.parametrize("worker", [True, False], ids=["worker", "one-process"])
def test_thousands_of_names_at_full_speed(tmp_path: Path, worker: bool) -> None:
    files = bench.write_workload(tmp_path, N, EVERY)
    with bench.BenchLab(tmp_path, files["rpz"], 1) as lab:
        if not lab.unbound:
            lab.start_unbound()
        resolvers = tmp_path / "resolvers.yaml"
        resolvers.write_text(bench.resolvers_text(lab.port(bench.SUBJECT), lab.port(bench.CONTROL), 512),
                             encoding="utf-8")
        out = tmp_path / "report.json"
        code = main(["check", str(files["names"]), "--input-format", "plain", "--resolvers", str(resolvers),
                     "--no-db", "-q", "--report", f"json:{out}", "--timeout", "2", "--retries", "2",
                     "--workers", "2" if worker else "0"])
    report = json.loads(out.read_text(encoding="utf-8"))
    ordered = [r for r in report["results"] if r["kind"] == "ordered"]
    names = [r["query_name"] for r in ordered]
    assert len(names) == N and len(set(names)) == N  # nothing lost, nothing duplicated
    for result in ordered:
        index = int(result["query_name"].split(".", 1)[0][1:])
        if bench.is_blocked(index, EVERY):
            assert (result["verdict"], result["method"]) == ("blocked", "nxdomain"), result["detail"]
            continue
        assert result["verdict"] == "accessible", result["detail"]
        a = next(o for o in result["observations"] if o["qtype"] == "A")
        assert [x["data"] for x in a["answers"]] == [expected_a(index)], result["query_name"]  # its own answer
    controls = {(o["qname"], o["qtype"]): o for o in report["controls"] if o["qname"].endswith(bench.BENCH_DOMAIN)}
    assert len(controls) == 2 * N
    for (qname, qtype), obs in controls.items():
        if qtype == "A":
            assert [x["data"] for x in obs["answers"]] == [expected_a(int(qname.split(".", 1)[0][1:]))]
    traffic = report["run"]["settings"]["traffic"]
    assert all(t["rejected"] == 0 and t["dropped_full_buffer"] == 0 for t in traffic.values()), traffic
    assert all(t["sockets"] == (2 if worker else 1) for t in traffic.values()), traffic  # a worker's and ours
    assert code == 1  # the unblocked names are violations
