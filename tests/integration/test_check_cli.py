"""End-to-end tests of `blockaudit check`, run in-process against the Unbound resolvers of the DNS lab."""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import pytest

from .lab import EXACT_TARGETS, EXEMPTIONS, ORDER_ID, SUBTREE_TARGETS, Lab

pytestmark = pytest.mark.integration

TIMEOUT = "0.5"
RETRIES = "1"
DROP_RUN_BOUND_S = 30.0
"""Sanity bound on the wall time of a check against a resolver that drops everything."""
FULL_RUN_BOUND_S = 60.0
"""Sanity bound on the wall time of a check of the full lab (which includes the dropping resolver)."""

GONE = "gone.test"
EXISTING_TREES = tuple(domain for domain in SUBTREE_TARGETS if domain != GONE)
APEX_NAMES = (*EXISTING_TREES, *EXACT_TARGETS)
WWW_NAMES = tuple(f"www.{domain}" for domain in EXISTING_TREES)
EXISTING_ORDERED = (*APEX_NAMES, *WWW_NAMES)
GONE_NAMES = (GONE, f"www.{GONE}")
EXEMPTION = EXEMPTIONS[0]
SUBJECTS = (
    "isp-nxdomain",
    "isp-sinkhole",
    "isp-blockpage",
    "isp-partial",
    "isp-none",
    "isp-overblock",
    "isp-drop",
    "isp-refuse",
)
UNHEALTHY_REASONS = ("resolver_unhealthy", "timeout")


# --- expectations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """The result expected for one (query name, subject resolver) of the full lab."""

    query_name: str
    resolver: str
    verdict: str
    method: str | None = None
    """Checked only when set (blocked verdicts)."""
    reasons: tuple[str, ...] | None = None
    """Checked only when set: the reason must be one of these."""

    @property
    def kind(self) -> str:
        """`exemption` for the exempted name, `ordered` for the rest."""
        return "exemption" if self.query_name in EXEMPTIONS else "ordered"

    @property
    def domain(self) -> str:
        """The ordered domain the query name probes."""
        for domain in (*SUBTREE_TARGETS, *EXACT_TARGETS, *EXEMPTIONS):
            if self.query_name == domain or self.query_name.endswith(f".{domain}"):
                return domain
        raise AssertionError(f"{self.query_name} belongs to no lab domain")


def _each(resolver: str, names: Iterable[str], verdict: str, method: str | None = None) -> list[Expect]:
    return [Expect(name, resolver, verdict, method) for name in names]


def expectations() -> list[Expect]:
    """Every (query name, subject resolver) expectation of the full lab."""
    out: list[Expect] = []
    for resolver, method in (
        ("isp-nxdomain", "nxdomain"),
        ("isp-sinkhole", "sinkhole"),
        ("isp-blockpage", "blockpage"),
        ("isp-overblock", "nxdomain"),
    ):
        out += _each(resolver, EXISTING_ORDERED, "blocked", method)
        # gone.test exists nowhere: no proof either way, even where the subject answers RPZ local data.
        out += _each(resolver, GONE_NAMES, "dead")
        exemption_verdict = "overblocked" if resolver == "isp-overblock" else "accessible"
        out += _each(resolver, [EXEMPTION], exemption_verdict)
    out += _each("isp-partial", APEX_NAMES, "blocked", "nxdomain")
    out += _each("isp-partial", WWW_NAMES, "accessible")
    out += _each("isp-partial", GONE_NAMES, "dead")
    out += _each("isp-partial", [EXEMPTION], "accessible")
    out += _each("isp-none", [*EXISTING_ORDERED, EXEMPTION], "accessible")
    out += _each("isp-none", GONE_NAMES, "dead")
    every_name = [*EXISTING_ORDERED, *GONE_NAMES, EXEMPTION]
    out += [Expect(name, "isp-drop", "inconclusive", reasons=UNHEALTHY_REASONS) for name in every_name]
    out += _each("isp-refuse", every_name, "inconclusive")
    return out


EXPECTATIONS = expectations()


# --- running the CLI --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One in-process run of `blockaudit check` and what it produced."""

    status: int
    report: dict[str, Any]
    elapsed_s: float
    stdout: str
    stderr: str

    def results(self) -> list[dict[str, Any]]:
        """The report's results."""
        results: list[dict[str, Any]] = self.report["results"]
        return results

    def result(self, query_name: str, resolver: str) -> dict[str, Any]:
        """The one result for a (query name, resolver); fails the test when missing or repeated."""
        found = [r for r in self.results() if r.get("query_name") == query_name and r.get("resolver") == resolver]
        if len(found) != 1:
            pytest.fail(f"{len(found)} results for ({query_name}, {resolver}); stderr:\n{self.stderr}")
        return found[0]


def run_check(lab: Lab, workdir: Path, resolvers: Sequence[str] | None = None) -> Run:
    """Run `check` on the lab order against all lab resolvers or the named ones (plus nothing else)."""
    from checker.cli import main  # imported here so that collection works before the CLI exists

    workdir.mkdir(parents=True, exist_ok=True)
    resolvers_path = (
        lab.resolvers_path if resolvers is None else lab.write_resolver_file(workdir / "resolvers.yaml", resolvers)
    )
    report_path = workdir / "report.json"
    argv = [
        "check",
        str(lab.order_path),
        "--resolvers",
        str(resolvers_path),
        "--report",
        f"json:{report_path}",
        "--timeout",
        TIMEOUT,
        "--retries",
        RETRIES,
    ]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        # Keep any history or cache the CLI writes inside the test's own folder.
        for variable in ("HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            mp.setenv(variable, str(workdir / "home"))
        mp.chdir(workdir)
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:
                pytest.fail(f"main() raised SystemExit({exc.code}) instead of returning; stderr:\n{err.getvalue()}")
        elapsed = time.monotonic() - started
    if not report_path.exists():
        pytest.fail(f"main() returned {status!r} and wrote no report; stderr:\n{err.getvalue()}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return Run(int(status), report, elapsed, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def full_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A check of the lab order against every lab resolver."""
    return run_check(lab, tmp_path_factory.mktemp("full-run"))


@pytest.fixture(scope="module")
def compliant_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A check against resolvers that block everything they must."""
    return run_check(lab, tmp_path_factory.mktemp("compliant-run"), ["control", "isp-nxdomain", "isp-blockpage"])


@pytest.fixture(scope="module")
def drop_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A check against a resolver that never answers."""
    return run_check(lab, tmp_path_factory.mktemp("drop-run"), ["control", "isp-drop"])


@pytest.fixture(scope="module")
def partial_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A check against a resolver that blocks the apex names only."""
    return run_check(lab, tmp_path_factory.mktemp("partial-run"), ["control", "isp-partial"])


def describe(result: dict[str, Any]) -> str:
    """A result without its wire data, for assertion messages."""
    slim = dict(result)
    slim["observations"] = [
        {key: value for key, value in obs.items() if key != "wire"} for obs in result.get("observations", [])
    ]
    return json.dumps(slim, indent=1, sort_keys=True)


# --- one test per (query name, subject resolver) ------------------------------------------------


@pytest.mark.parametrize("expect", EXPECTATIONS, ids=[f"{e.resolver}:{e.query_name}" for e in EXPECTATIONS])
def test_result(full_run: Run, expect: Expect) -> None:
    result = full_run.result(expect.query_name, expect.resolver)
    shown = describe(result)
    assert result["kind"] == expect.kind, shown
    assert result["verdict"] == expect.verdict, shown
    if expect.method is not None:
        assert result["method"] == expect.method, shown
    if expect.reasons is not None:
        assert result["reason"] in expect.reasons, shown
    if expect.kind == "ordered":
        assert result["domain"] == expect.domain, shown
        assert ORDER_ID in result["orders"], shown


# --- the whole run ------------------------------------------------------------------------------


def test_full_lab_exit_status_is_violation(full_run: Run) -> None:
    assert full_run.status == 1, full_run.stderr
    assert full_run.report["summary"]["status"] == "noncompliant"


def test_full_lab_finishes_within_bound(full_run: Run) -> None:
    assert full_run.elapsed_s < FULL_RUN_BOUND_S


def test_report_is_blockaudit_report_1(full_run: Run) -> None:
    report = full_run.report
    assert report["schema"] == "blockaudit/report/1"
    assert report["tool"]["name"] == "blockaudit"
    assert report["run"]["started_at"].endswith("Z")
    assert report["run"]["finished_at"].endswith("Z")
    assert [order["id"] for order in report["orders"]] == [ORDER_ID]
    roles = {resolver["name"]: resolver["role"] for resolver in report["resolvers"]}
    assert roles == {"control": "control", **dict.fromkeys(SUBJECTS, "subject")}
    assert isinstance(report["summary"]["counts"], dict)


def test_report_has_results_for_subject_resolvers_only(full_run: Run) -> None:
    resolvers = {result["resolver"] for result in full_run.results()}
    assert resolvers == set(SUBJECTS)


def test_report_has_one_result_per_query_name_and_resolver(full_run: Run) -> None:
    keys = [(result["query_name"], result["resolver"]) for result in full_run.results()]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    assert repeated == []


def test_every_result_carries_the_response_on_the_wire(full_run: Run) -> None:
    problems: list[str] = []
    for result in full_run.results():
        if result["reason"] == "resolver_unhealthy":
            continue
        wires = [obs.get("wire") for obs in result["observations"] if obs.get("wire")]
        if not wires:
            problems.append(f"{result['resolver']}:{result['query_name']}: no observation with wire data")
            continue
        for wire in wires:
            try:
                dns.message.from_wire(base64.b64decode(wire, validate=True))
            except (binascii.Error, ValueError, dns.exception.DNSException) as exc:
                problems.append(f"{result['resolver']}:{result['query_name']}: wire is not a DNS message: {exc}")
    assert problems == []


def test_both_a_and_aaaa_are_asked(full_run: Run) -> None:
    problems: list[str] = []
    for result in full_run.results():
        if result["reason"] == "resolver_unhealthy":
            continue
        qtypes = {obs["qtype"] for obs in result["observations"]}
        if not {"A", "AAAA"} <= qtypes:
            problems.append(f"{result['resolver']}:{result['query_name']}: asked {sorted(qtypes)}")
    assert problems == []


@pytest.mark.parametrize("resolver", ["isp-drop", "isp-refuse"])
def test_unanswering_resolver_is_never_blocked(full_run: Run, resolver: str) -> None:
    results = [result for result in full_run.results() if result["resolver"] == resolver]
    assert results
    wrong = [describe(result) for result in results if result["verdict"] != "inconclusive"]
    assert wrong == []


def test_stdout_stays_empty_without_a_dash_report(full_run: Run) -> None:
    assert full_run.stdout == ""


# --- smaller resolver sets ----------------------------------------------------------------------


def test_compliant_resolvers_exit_zero(compliant_run: Run) -> None:
    assert compliant_run.status == 0, compliant_run.stderr
    assert compliant_run.report["summary"]["status"] == "compliant"
    assert {result["resolver"] for result in compliant_run.results()} == {"isp-nxdomain", "isp-blockpage"}


def test_partial_blocking_alone_exits_one(partial_run: Run) -> None:
    assert partial_run.status == 1, partial_run.stderr
    leaked = sorted(
        r["query_name"] for r in partial_run.results() if r["verdict"] == "accessible" and r["kind"] == "ordered"
    )
    assert leaked == sorted(WWW_NAMES)


def test_dropping_resolver_exits_three(drop_run: Run) -> None:
    assert drop_run.status == 3, drop_run.stderr
    assert drop_run.report["summary"]["status"] == "inconclusive"
    verdicts = {result["verdict"] for result in drop_run.results()}
    assert verdicts == {"inconclusive"}
    reasons = {result["reason"] for result in drop_run.results()}
    assert reasons <= set(UNHEALTHY_REASONS)


def test_dropping_resolver_is_checked_within_bound(drop_run: Run) -> None:
    assert drop_run.elapsed_s < DROP_RUN_BOUND_S
