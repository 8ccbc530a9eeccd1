"""Done-when of HTTP/TLS evidence: answer_differs settled by what the answered address serves.

The scenario (tests/integration/http_scenario.py) runs in a network namespace of its own with
real HTTP and HTTPS servers on documentation addresses; here we only read what it wrote.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .netns import run_module, unshare_argv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    if unshare_argv() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cannot create a network namespace; CI must never skip this test", pytrace=False)
        pytest.skip("no network namespaces here (unshare --net)")
    workdir = tmp_path_factory.mktemp("http-evidence")
    done = run_module("tests.integration.http_scenario", [str(workdir)])
    if not (workdir / "report.json").exists():
        pytest.fail(f"the scenario wrote no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.returncode, workdir


def results(path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(path.read_text(encoding="utf-8"))
    return {r["query_name"]: r for r in report["results"] if r["kind"] == "ordered"}


def test_dns_alone_cannot_tell(scenario: tuple[int, Path]) -> None:
    _, workdir = scenario
    dns_only = results(workdir / "dns-only.json")
    for name in ("blocked.test", "cdn.test"):
        assert (dns_only[name]["verdict"], dns_only[name]["reason"]) == ("inconclusive", "answer_differs")
        assert dns_only[name]["web"] == []
    assert (workdir / "dns-only.status").read_text() == "3"


def test_block_page_fingerprint_settles_blocked(scenario: tuple[int, Path]) -> None:
    _, workdir = scenario
    result = results(workdir / "report.json")["blocked.test"]
    assert (result["verdict"], result["method"], result["reason"]) == ("blocked", "blockpage", None)
    assert "isp-t-block-page" in result["detail"]
    fetched = {(f["scheme"], f["address"]): f for f in result["web"]}
    assert set(fetched) == {("https", "198.51.100.10"), ("http", "198.51.100.10")}
    page = fetched[("http", "198.51.100.10")]
    assert page["status"] == 200 and page["title"] == "Access denied - ISP T"
    cert = fetched[("https", "198.51.100.10")]["certificate"]
    assert cert["valid"] is False and "block.isp-t.example" in cert["subject"]


def test_valid_certificate_settles_accessible(scenario: tuple[int, Path]) -> None:
    code, workdir = scenario
    result = results(workdir / "report.json")["cdn.test"]
    assert (result["verdict"], result["reason"]) == ("accessible", None)
    https = next(f for f in result["web"] if f["scheme"] == "https")
    assert https["address"] == "198.51.100.20" and https["certificate"]["valid"] is True
    assert "TLS shows the site itself" in result["detail"]
    assert code == 1  # cdn.test is ordered and reachable: a violation


def test_reports_show_the_web_evidence(scenario: tuple[int, Path]) -> None:
    _, workdir = scenario
    html = (workdir / "report.html").read_text(encoding="utf-8")
    court = (workdir / "court.html").read_text(encoding="utf-8")
    for text in (html, court):
        assert "Access denied - ISP T" in text
        assert "198.51.100.20" in text
