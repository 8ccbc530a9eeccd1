"""Two runs against the real Unbound lab with a regression planted between them: diff finds exactly it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import ExitStatus, main

from .lab import Lab

pytestmark = pytest.mark.integration


def resolvers(path: Path, lab: Lab, behind: str) -> Path:
    """One subject named 'isp-a-1' served by the lab instance `behind`, and the control."""
    path.write_text(
        "schema: blockaudit/resolvers/1\nresolvers:\n"
        f"  - {{name: isp-a-1, operator: ISP A, address: '127.0.0.1:{lab.ports[behind]}', role: subject}}\n"
        f"  - {{name: control, address: '127.0.0.1:{lab.ports['control']}', role: control}}\n"
        "canaries: [canary.test]\n"
    )
    return path


def test_diff_reports_exactly_the_planted_regression(lab: Lab, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "history.sqlite"
    common = ["--db", str(db), "--timeout", "0.5", "--retries", "1", "-q"]
    first = main(["check", str(lab.order_path), "--resolvers", str(resolvers(tmp_path / "a.yaml", lab, "isp-nxdomain")),
                  "--report", f"json:{tmp_path / 'a.json'}", *common])
    # The planted regression: the ISP's resolver loses the wildcard rules (apex-only RPZ).
    second = main(["check", str(lab.order_path), "--resolvers", str(resolvers(tmp_path / "b.yaml", lab, "isp-partial")),
                   "--report", f"json:{tmp_path / 'b.json'}", *common])
    assert (first, second) == (ExitStatus.COMPLIANT, ExitStatus.VIOLATION)
    run_a = json.loads((tmp_path / "a.json").read_text())["run"]["id"]
    run_b = json.loads((tmp_path / "b.json").read_text())["run"]["id"]
    capsys.readouterr()
    assert main(["diff", run_a, run_b, "--db", str(db), "--json"]) == ExitStatus.VIOLATION
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert sorted((c["query_name"], c["resolver"], c["change"]) for c in changes) == [
        ("www.blocked-one.test", "isp-a-1", "regression"),
        ("www.blocked-two.test", "isp-a-1", "regression"),
        ("www.v4only.test", "isp-a-1", "regression"),
    ]
    assert main(["timeline", "www.blocked-one.test", "--db", str(db)]) == ExitStatus.COMPLIANT
    assert "blocked/nxdomain -> accessible" in capsys.readouterr().out
