"""The streamed JSON report is byte for byte the in-memory one; huge runs keep what matters."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import json

from checker.audit import AuditSettings, audit
from checker.models import Protocol, Resolver, ResolverSet, Role
from checker.orders.loader import merge
from checker.probe.client import ProbeSettings
from checker.report.render import json_text, sha256
from checker.report.stream import Evidence, ReportOutput, Spool, good
from checker.report.view import view_model
from tests.fakedns import fake_dns
from tests.test_audit import blocking, many_names_order, order, wide_zone

SETTINGS = AuditSettings(probe=ProbeSettings(timeout=0.3, retries=1, backoff=0.01), random_label=lambda: "nx-probe",
                         clock=lambda: dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC), run_id="r1")


def resolver_set(subject: int, control: int) -> ResolverSet:
    return ResolverSet(
        resolvers=(
            Resolver("isp", "ISP", "127.0.0.1", subject, Protocol.UDP, Role.SUBJECT),
            Resolver("ctl", "Control", "127.0.0.1", control, Protocol.UDP, Role.CONTROL),
        ),
        canaries=("canary.test",),
    )


def streamed_and_kept(count: int, keep: int = 20_000, evidence: Evidence = Evidence.FULL):  # type: ignore[no-untyped-def]
    orders = merge([many_names_order(count), order()], dt.date(2026, 6, 1))
    with fake_dns(blocking) as s, fake_dns(wide_zone) as c:
        resolvers = resolver_set(s.port, c.port)
        output = ReportOutput({"isp": "ISP"}, evidence, keep=keep)
        run = asyncio.run(audit(orders, resolvers, SETTINGS, output=output))
        kept = asyncio.run(audit(orders, resolvers, SETTINGS))
    return output, run, kept


def same_answers(run_a, run_b):  # type: ignore[no-untyped-def]
    """Two runs of the same fake servers differ only in timing fields; line them up."""
    return dataclasses.replace(run_b, started_at=run_a.started_at, finished_at=run_a.finished_at)


def test_streamed_json_is_the_in_memory_json() -> None:
    output, run, _ = streamed_and_kept(25)
    try:
        buffer = io.BytesIO()
        digest = output.write_json(run, buffer)
        text = buffer.getvalue().decode("utf-8")
        full = dataclasses.replace(run, results=tuple(sorted(output.kept, key=lambda r: (
            r.resolver, {"ordered": 0, "exemption": 1, "canary": 2}[r.query.kind.value], r.query.domain,
            r.query.name))), controls=tuple(sorted(output.kept_controls, key=lambda o: (o.resolver, o.qname,
                                                                                         o.qtype))))
        assert text == json_text(view_model(full))
        assert digest == sha256(text)
        assert output.view(run) == view_model(full)
        report = json.loads(text)
        assert len(report["results"]) == 25 + 5  # the names; site.test, www.site.test, gone.test, ok.test, canary
    finally:
        output.close()


def test_a_run_larger_than_memory_keeps_failures_and_every_count() -> None:
    output, run, kept = streamed_and_kept(30, keep=10)
    try:
        view = output.view(run)
        full = view_model(kept)
        assert view["summary"]["counts"] == full["summary"]["counts"]
        assert view["summary"]["status"] == full["summary"]["status"]
        assert [r.get("status") for r in view["resolvers"]] == [r.get("status") for r in full["resolvers"]]
        assert view["summary"]["listed"]["left_out"] > 0
        assert view["summary"]["listed"]["controls_left_out"] == len(full["controls"])
        assert all(not good(r) for r in output.kept)
        buffer = io.BytesIO()
        output.write_json(run, buffer)
        assert len(json.loads(buffer.getvalue())["results"]) == len(full["results"])
    finally:
        output.close()


def test_evidence_failures_drops_the_bytes_of_good_results_only() -> None:
    output, run, _ = streamed_and_kept(5, evidence=Evidence.FAILURES)
    try:
        buffer = io.BytesIO()
        output.write_json(run, buffer)
        report = json.loads(buffer.getvalue())
        for item in report["results"]:
            wires = [o["wire"] for o in item["observations"]]
            wanted = "blocked" if item["kind"] == "ordered" else "accessible"
            good_state = item["verdict"] == wanted
            assert all(w is None for w in wires) if good_state else all(w is not None for w in wires), item
            assert all(o["rcode"] for o in item["observations"])  # the parsed answers stay
    finally:
        output.close()


def test_evidence_none_keeps_no_bytes() -> None:
    output, run, _ = streamed_and_kept(3, evidence=Evidence.NONE)
    try:
        buffer = io.BytesIO()
        output.write_json(run, buffer)
        report = json.loads(buffer.getvalue())
        assert all(o["wire"] is None for r in report["results"] for o in r["observations"])
        assert all(o["wire"] is None for o in report["controls"])
    finally:
        output.close()


def joined(spool: Spool, section: str) -> list[bytes]:
    return [bytes(piece) for piece in spool.joined(section)]  # each piece is read into the same buffer


def test_the_spool_sorts_by_key_and_keeps_ties_in_arrival_order() -> None:
    spool = Spool()
    try:
        for key, body in [("b", b'"b1"'), ("a", b'"a1"'), ("c", b'"c1"'), ("a", b'"a2"')]:
            spool.add("results", key, body)
            spool.add("controls", key, body.upper())
        assert b"".join(joined(spool, "results")) == b',\n    "a1",\n    "a2",\n    "b1",\n    "c1"'
        assert b"".join(joined(spool, "controls")) == b',\n    "A1",\n    "A2",\n    "B1",\n    "C1"'
        assert joined(spool, "nothing") == []
    finally:
        spool.close()
    assert not spool.folder.exists()


def test_the_spool_reads_items_that_came_in_order_at_once_and_never_splits_one() -> None:
    spool = Spool()
    spool.READ = 64
    try:
        bodies = [f'"{n:03d}"'.encode() for n in range(100)] + [b'"' + b"x" * 200 + b'"']
        for n, body in enumerate(bodies):
            spool.add("results", f"{n:03d}", body)
        pieces = joined(spool, "results")
        assert b"".join(pieces) == b"".join(b",\n    " + body for body in bodies)
        assert 1 < len(pieces) < len(bodies) / 4  # runs read together, not an item at a time
        assert all(len(piece) <= spool.READ for piece in pieces[:-1])
        assert all(piece.startswith(b",\n    ") for piece in pieces)  # cut only between items
        assert pieces[-1].endswith(b',\n    "' + b"x" * 200 + b'"')  # an item longer than READ comes whole
    finally:
        spool.close()
