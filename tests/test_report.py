"""The JSON report keeps the contract's fields, is deterministic, and the summary is safe to print."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json

import dns.message
import pytest

from checker.models import Run
from checker.report import Format, RenderOptions, json_text, render, sha256, summary, terminal_safe, view_model
from tests.test_audit import blocking, run_audit


@pytest.fixture(scope="module")
def run() -> Run:
    return run_audit(blocking)


def rendered(fmt: Format, run: Run) -> bytes:
    view = view_model(run)
    options = RenderOptions(rendered_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), source_sha256=sha256(json_text(view)))
    return render(fmt, view, options)


def test_json_report_has_the_contract_fields(run: Run) -> None:
    report = json.loads(rendered(Format.JSON, run))
    assert report["schema"] == "blockaudit/report/1"
    assert report["tool"]["name"] == "blockaudit" and report["tool"]["version"]
    assert {"id", "started_at", "finished_at"} <= set(report["run"])
    assert report["run"]["started_at"].endswith("Z")
    assert {"id", "title"} <= set(report["orders"][0])
    for resolver in report["resolvers"]:
        assert {"name", "operator", "role", "address", "protocol"} <= set(resolver)
    for result in report["results"]:
        assert {"query_name", "domain", "kind", "orders", "resolver", "verdict", "method", "reason",
                "observations"} <= set(result)
        assert result["kind"] in ("ordered", "exemption", "canary")
        for obs in result["observations"]:
            assert {"qtype", "rcode", "answers", "ede", "elapsed_ms", "error", "wire"} <= set(obs)
            message = dns.message.from_wire(base64.b64decode(obs["wire"]))
            assert str(message.question[0].name).rstrip(".") == result["query_name"]
    assert report["summary"]["status"] == "compliant"
    assert set(report["summary"]["counts"]) == {"blocked", "accessible", "inconclusive", "dead", "overblocked"}


def test_the_same_run_renders_the_same_bytes(run: Run) -> None:
    assert rendered(Format.JSON, run) == rendered(Format.JSON, run)
    shuffled = dataclasses.replace(run, results=tuple(reversed(run.results)))
    # The view-model does not sort for the caller: the audit does. Results arrive sorted.
    keys = [(r["resolver"], r["kind"], r["domain"], r["query_name"]) for r in view_model(run)["results"]]
    assert keys == sorted(keys, key=lambda k: (k[0], ["ordered", "exemption", "canary"].index(k[1]), k[2], k[3]))
    assert len(view_model(shuffled)["results"]) == len(keys)


def test_every_text_format_renders(run: Run) -> None:
    for fmt in Format:
        if fmt is not Format.PDF:
            assert rendered(fmt, run)


def test_summary_has_a_line_per_resolver_and_operator(run: Run) -> None:
    text = summary(view_model(run))
    assert "resolver isp" in text and "operator ISP" in text and "overall" in text
    assert "compliant" in text


def test_terminal_safe_escapes_control_characters() -> None:
    assert terminal_safe("a\x1b[31mb\x07\u202e") == "a\\x1b[31mb\\x07\\u202e"
