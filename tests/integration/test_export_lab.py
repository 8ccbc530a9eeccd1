"""Exports loaded into a real Unbound and checked with `check`; `verify-config` agreeing with that real Unbound.

Each test starts one more Unbound next to the lab (NSD for `test.` and the lab's control
resolver), loaded with an exported RPZ or local-zone file, and runs `blockaudit check` against it
in-process. The done-when test: an RPZ that forgets the `*.` wildcards and one domain entirely is
judged statically by `verify-config` and dynamically by `check` through a real Unbound, and both
name exactly the same accessible names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.rcode
import dns.rdatatype
import pytest

from checker.export import ExportOptions, export, parse_action
from checker.models import QueryKind, Verdict
from checker.orders.loader import load_orders
from checker.verify import load_rpz, verify

from .extra_unbound import extra_unbound, resolver_file, rpz_clause
from .lab import BLOCKPAGE_ADDRESS, EXACT_TARGETS, EXEMPTIONS, SUBTREE_TARGETS, Lab, ask

pytestmark = pytest.mark.integration

TODAY = dt.date(2026, 7, 1)
GONE = "gone.test"
EXISTING_TREES = tuple(d for d in SUBTREE_TARGETS if d != GONE)
EXISTING_ORDERED = (*EXISTING_TREES, *(f"www.{d}" for d in EXISTING_TREES), *EXACT_TARGETS)
GONE_NAMES = (GONE, f"www.{GONE}")
EXEMPTION = EXEMPTIONS[0]

ORDER_HEAD = """\
schema: blockaudit/order/1
id: {id}
title: "export lab order"
authority: "blockaudit integration lab (synthetic, not a court)"
jurisdiction: US
order_type: permanent_injunction
issued: 2026-01-01
verification: unverified
"""

DONE_WHEN_ORDER = ORDER_HEAD.format(id="done-when") + """\
targets:
  - {domain: blocked-one.test, subdomains: true}
  - {domain: blocked-two.test, subdomains: true}
  - {domain: v4only.test, subdomains: true}
  - {domain: exact-only.test, subdomains: false}
exemptions: [allowed.test]
"""

EXEMPT_BELOW_ORDER = ORDER_HEAD.format(id="exempt-below") + """\
targets:
  - {domain: blocked-one.test, subdomains: true}
exemptions: [www.blocked-one.test]
"""

IP_ORDER = ORDER_HEAD.format(id="ip-order") + """\
targets:
  - {domain: blocked-two.test, subdomains: true}
  - {ip: 198.51.100.13}
"""

FORGETFUL_RPZ = """\
$ORIGIN rpz.candidate.
$TTL 60
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60
@ NS localhost.
; the wildcards are missing, and blocked-two.test is missing entirely
blocked-one.test CNAME .
v4only.test CNAME .
exact-only.test CNAME .
"""
FORGOTTEN = {"www.blocked-one.test", "blocked-two.test", "www.blocked-two.test", "www.v4only.test"}


# --- running the CLI in-process ----------------------------------------------------------------


@dataclass(frozen=True)
class CliRun:
    """One in-process run of the command line."""

    status: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def results(self) -> dict[str, dict[str, Any]]:
        """The report's results by query name (one subject resolver)."""
        assert self.report is not None, f"no report; status {self.status}; stderr:\n{self.stderr}"
        return {r["query_name"]: r for r in self.report["results"]}

    def accessible(self) -> set[str]:
        """Ordered names the report finds accessible."""
        return {n for n, r in self.results().items() if r["kind"] == "ordered" and r["verdict"] == "accessible"}


def run_cli(argv: Sequence[str], workdir: Path, report: Path | None = None) -> CliRun:
    """`checker.cli.main(argv)` with history and caches kept inside `workdir`."""
    from checker.cli import main

    workdir.mkdir(parents=True, exist_ok=True)
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for variable in ("HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            mp.setenv(variable, str(workdir / "home"))
        mp.chdir(workdir)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(argv))
            except SystemExit as exc:
                pytest.fail(f"main() raised SystemExit({exc.code}); stderr:\n{err.getvalue()}")
    data = json.loads(report.read_text(encoding="utf-8")) if report is not None and report.exists() else None
    return CliRun(int(status), out.getvalue(), err.getvalue(), data)


def check(lab: Lab, order: Path, port: int, workdir: Path, block: str = "") -> CliRun:
    """`blockaudit check ORDER` against the lab's control and one subject on `port`."""
    workdir.mkdir(parents=True, exist_ok=True)
    resolvers = resolver_file(workdir / "resolvers.yaml", lab, "candidate", port, block)
    report = workdir / "check.json"
    return run_cli(["check", str(order), "--resolvers", str(resolvers), "--no-db", "--report", f"json:{report}",
                    "--timeout", "0.5", "--retries", "1"], workdir, report)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- expectations per action ------------------------------------------------------------------

BLOCK_SIGNALS = {"blockpage": f"{{addresses: [{BLOCKPAGE_ADDRESS}]}}", "drop": "{drop: true}"}
ACTIONS = ("nxdomain", "nodata", "sinkhole", f"blockpage:{BLOCKPAGE_ADDRESS}", "drop")


def expect_methods(action: str, unbound: bool) -> dict[str, str]:
    """The method `check` must report for each existing ordered name of the lab order."""
    kind = action.partition(":")[0]
    expected = dict.fromkeys(EXISTING_ORDERED, kind)
    if unbound and kind in ("nxdomain", "drop"):
        # An exact-only name gets NODATA from Unbound local-data (a local-zone would block its subtree).
        expected.update(dict.fromkeys(EXACT_TARGETS, "nodata"))
    return expected


def assert_round_trip(result: CliRun, action: str, unbound: bool) -> None:
    results = result.results()
    seen = {n: (r["verdict"], r["method"]) for n, r in results.items() if n in EXISTING_ORDERED}
    assert seen == {n: ("blocked", m) for n, m in expect_methods(action, unbound).items()}, result.stderr
    gone_verdict = "inconclusive" if action == "drop" else "dead"  # nothing to block; silence proves nothing
    assert {n: results[n]["verdict"] for n in GONE_NAMES} == dict.fromkeys(GONE_NAMES, gone_verdict)
    assert results[EXEMPTION]["verdict"] == "accessible"
    assert result.status == (3 if action == "drop" else 0), result.stderr


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_rpz_export_round_trip(action: str, lab: Lab, tmp_path: Path) -> None:
    orders = load_orders([lab.order_path], TODAY)
    zone = write(tmp_path / "blockaudit.rpz", export("rpz", orders, ExportOptions(action=parse_action(action))))
    with extra_unbound(lab, "rpz-export", respip=True, clauses=rpz_clause("rpz.blockaudit.", zone)) as server:
        result = check(lab, lab.order_path, server.port, tmp_path, BLOCK_SIGNALS.get(action.partition(":")[0], ""))
    assert_round_trip(result, action, unbound=False)


@pytest.mark.parametrize("action", ACTIONS)
def test_unbound_export_round_trip(action: str, lab: Lab, tmp_path: Path) -> None:
    orders = load_orders([lab.order_path], TODAY)
    text = export("unbound", orders, ExportOptions(action=parse_action(action)))
    with extra_unbound(lab, "unbound-export", clauses=text) as server:
        result = check(lab, lab.order_path, server.port, tmp_path, BLOCK_SIGNALS.get(action.partition(":")[0], ""))
    assert_round_trip(result, action, unbound=True)


@pytest.mark.parametrize("fmt", ["rpz", "unbound"])
def test_exemption_below_a_blocked_subtree_stays_reachable(fmt: str, lab: Lab, tmp_path: Path) -> None:
    order = write(tmp_path / "order.yaml", EXEMPT_BELOW_ORDER)
    text = export(fmt, load_orders([order], TODAY))
    if fmt == "rpz":
        assert "www.blocked-one.test CNAME rpz-passthru." in text
        server_cm = extra_unbound(lab, "exempt-rpz", respip=True,
                                  clauses=rpz_clause("rpz.blockaudit.", write(tmp_path / "x.rpz", text)))
    else:
        assert 'local-zone: "www.blocked-one.test." transparent' in text
        server_cm = extra_unbound(lab, "exempt-unbound", clauses=text)
    with server_cm as server:
        result = check(lab, order, server.port, tmp_path)
    results = result.results()
    assert (results["blocked-one.test"]["verdict"], results["blocked-one.test"]["kind"]) == ("blocked", "ordered")
    assert (results["www.blocked-one.test"]["verdict"], results["www.blocked-one.test"]["kind"]) == (
        "accessible", "exemption")
    assert result.status == 0, result.stderr


def test_rpz_ip_trigger_blocks_by_answer_address(lab: Lab, tmp_path: Path) -> None:
    order = write(tmp_path / "order.yaml", IP_ORDER)
    text = export("rpz", load_orders([order], TODAY))
    assert "32.13.100.51.198.rpz-ip CNAME . ; orders: ip-order" in text
    with extra_unbound(lab, "ip-rpz", respip=True,
                       clauses=rpz_clause("rpz.blockaudit.", write(tmp_path / "ip.rpz", text))) as server:
        a = ask(server.port, "exact-only.test", "A")
        aaaa = ask(server.port, "exact-only.test", "AAAA")
        canary = ask(server.port, "canary.test", "A")
    assert dns.rcode.to_text(a.rcode()) == "NXDOMAIN"  # its A is 198.51.100.13: the response-IP trigger
    assert dns.rcode.to_text(aaaa.rcode()) == "NOERROR"  # its AAAA is not a target
    assert [r.to_text() for rrset in aaaa.answer for r in rrset] == ["2001:db8::13"]
    assert [r.to_text() for rrset in canary.answer for r in rrset] == ["198.51.100.1"]


# --- verify-config agrees with the real Unbound ------------------------------------------------


def test_verify_config_finds_exactly_what_a_real_unbound_leaks(lab: Lab, tmp_path: Path) -> None:
    order = write(tmp_path / "order.yaml", DONE_WHEN_ORDER)
    zone = write(tmp_path / "rpz.zone", FORGETFUL_RPZ)
    orders = load_orders([order], TODAY)

    static = verify("rpz", zone, orders)
    statically_missed = {r.query.name for r in static.results
                         if r.query.kind is QueryKind.ORDERED and r.verdict is Verdict.ACCESSIBLE}
    assert statically_missed == FORGOTTEN
    assert {r.query.name: r.verdict for r in static.results if r.query.kind is QueryKind.EXEMPTION} == {
        EXEMPTION: Verdict.ACCESSIBLE}

    with extra_unbound(lab, "forgetful", respip=True, clauses=rpz_clause("rpz.candidate.", zone)) as server:
        dynamic = check(lab, order, server.port, tmp_path / "check")
    assert dynamic.accessible() == statically_missed
    assert dynamic.status == 1


def test_verify_config_cli_agrees_with_a_real_unbound(lab: Lab, tmp_path: Path) -> None:
    """The same, through `blockaudit verify-config --rpz ZONE ORDER --report json:OUT` (wired in cli.py)."""
    order = write(tmp_path / "order.yaml", DONE_WHEN_ORDER)
    zone = write(tmp_path / "rpz.zone", FORGETFUL_RPZ)
    out = tmp_path / "verify.json"
    static = run_cli(["verify-config", "--rpz", str(zone), str(order), "--report", f"json:{out}"], tmp_path, out)
    assert static.status == 1, static.stderr
    assert static.report is not None
    assert static.report["run"]["settings"]["mode"] == "verify-config"
    assert static.accessible() == FORGOTTEN
    with extra_unbound(lab, "forgetful-cli", respip=True, clauses=rpz_clause("rpz.candidate.", zone)) as server:
        dynamic = check(lab, order, server.port, tmp_path / "check")
    assert dynamic.accessible() == static.accessible()


def test_export_cli_writes_what_export_returns(lab: Lab, tmp_path: Path) -> None:
    """`blockaudit export rpz ORDER -o FILE --action … --zone …` (wired in cli.py) writes `export()`'s text."""
    out = tmp_path / "lab.rpz"
    result = run_cli(["export", "rpz", str(lab.order_path), "-o", str(out), "--action", "sinkhole",
                      "--zone", "rpz.isp.example"], tmp_path)
    assert result.status == 0, result.stderr
    expected = export("rpz", load_orders([lab.order_path], dt.datetime.now(dt.UTC).date()),
                      ExportOptions(action=parse_action("sinkhole"), origin="rpz.isp.example",
                                    on=dt.datetime.now(dt.UTC).date()))
    assert out.read_text(encoding="utf-8") == expected


# --- the RPZ matching model against the real Unbound -------------------------------------------

QUIRKY_TRIGGERS = {
    "*.alpha.test": 1, "x.alpha.test": 2, "a.x.y.alpha.test": 3,
    "beta.test": 4, "*.beta.test": 5, "m.n.beta.test": 6,
    "*.gamma.test": 7, "long-label.delta.test": 8, "*.b.delta.test": 9,
}
PASSTHRU_TRIGGER = "p.alpha.test"
CATCH_ALL = "0.0.0.99"
QUIRKY_NAMES = (
    "alpha.test", "x.alpha.test", "y.x.alpha.test", "y.alpha.test", "b.y.alpha.test", "z.y.alpha.test",
    "bb.y.alpha.test", "zzzzzz.y.alpha.test", "w.alpha.test", "p.alpha.test", "q.p.alpha.test",
    "a.x.y.alpha.test", "c.a.x.y.alpha.test", "beta.test", "www.beta.test", "n.beta.test", "a.n.beta.test",
    "zz.n.beta.test", "m.n.beta.test", "q.m.n.beta.test", "gamma.test", "www.gamma.test", "a.b.gamma.test",
    "delta.test", "www.delta.test", "b.delta.test", "c.b.delta.test", "zz.delta.test", "a.long-label.delta.test",
)


def test_rpz_matching_model_matches_unbound(lab: Lab, tmp_path: Path) -> None:
    """Every name resolved through a zone whose triggers answer distinct addresses: the trigger
    Unbound applies is the one `verify`'s model picks (a second zone catches names nothing matched)."""
    head = "$ORIGIN {origin}\n$TTL 60\n@ SOA localhost. h.localhost. 1 3600 600 86400 60\n@ NS localhost.\n"
    first = head.format(origin="rpz.first.") + "".join(
        f"{name} A 0.0.0.{n}\n" for name, n in QUIRKY_TRIGGERS.items()) + f"{PASSTHRU_TRIGGER} CNAME rpz-passthru.\n"
    second = head.format(origin="rpz.second.") + f"*.test A {CATCH_ALL}\n"
    first_path, second_path = write(tmp_path / "first.rpz", first), write(tmp_path / "second.rpz", second)
    model = load_rpz(first_path)
    by_address = {f"0.0.0.{n}": name for name, n in QUIRKY_TRIGGERS.items()}
    clauses = rpz_clause("rpz.first.", first_path) + rpz_clause("rpz.second.", second_path)
    seen: dict[str, str | None] = {}
    with extra_unbound(lab, "quirky", respip=True, clauses=clauses) as server:
        for name in QUIRKY_NAMES:
            response = ask(server.port, name, "A")
            addresses = [r.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset]
            if addresses == [CATCH_ALL]:
                seen[name] = None
            elif len(addresses) == 1 and addresses[0] in by_address:
                seen[name] = by_address[addresses[0]]
            else:
                seen[name] = PASSTHRU_TRIGGER  # answered from the real zone: only the passthru does that
    assert seen == {name: model.match(name) for name in QUIRKY_NAMES}
