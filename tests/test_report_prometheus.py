"""The Prometheus textfile report: valid exposition format, values from the view, hostile names, deadlines."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checker.cli import ExitStatus, main
from checker.report.present import outcome
from checker.report.prometheus import label

GOLDEN = Path(__file__).resolve().parent / "golden"
INPUT = GOLDEN / "input.json"
HOSTILE = 'evil "quoted" \\back\\slash\nsecond line'

SCOPES = {"": (), "resolver_": ("resolver", "operator"), "operator_": ("operator",), "order_": ("order",)}
MEASURES = ("results", "compliant", "status", "violations", "overdue", "pending")
FAMILIES = {f"blockaudit_{scope}{measure}" for scope in SCOPES for measure in MEASURES} | {
    "blockaudit_last_run_timestamp_seconds", "blockaudit_last_run_duration_seconds", "blockaudit_last_run_info",
    "blockaudit_names_checked", "blockaudit_order_in_force",
}

# One line of the text format 0.0.4, strictly: a sample has no timestamp, label values only the
# three escapes the format defines.
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf"({_NAME})(\{{(?:[a-zA-Z_][a-zA-Z0-9_]*={_VALUE})(?:,[a-zA-Z_][a-zA-Z0-9_]*={_VALUE})*\}})? "
                     r"(-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)")
_META = re.compile(rf"# (HELP|TYPE) ({_NAME}) (.+)")

View = dict[str, Any]
Keep = Callable[[View], bool]


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def render(tmp_path: Path, view: View | None = None) -> str:
    source = INPUT
    if view is not None:
        source = tmp_path / "input.json"
        source.write_text(json.dumps(view, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "blockaudit.prom"
    assert main(["render", str(source), "--report", f"prometheus:{out}"]) == ExitStatus.COMPLIANT
    return out.read_bytes().decode("utf-8")


def golden() -> View:
    data: View = json.loads(INPUT.read_text(encoding="utf-8"))
    return data


def check_exposition(text: str) -> None:
    """The file as node_exporter's parser wants it: HELP and TYPE once per family and before its
    samples, families not interleaved, no duplicate series, no timestamps, a final newline."""
    assert text.endswith("\n") and not text.endswith("\n\n")
    helps: list[str] = []
    types: list[str] = []
    current = None
    series: set[tuple[str, str]] = set()
    for number, line in enumerate(text.split("\n")[:-1], 1):
        meta = _META.fullmatch(line)
        if meta:
            kind, name, rest = meta.groups()
            if kind == "HELP":
                assert name not in helps, f"line {number}: second HELP for {name}"
                helps.append(name)
                current = name
            else:
                assert name not in types and name == current, f"line {number}: TYPE for {name} out of place"
                assert rest == "gauge"
                types.append(name)
            continue
        sample = _SAMPLE.fullmatch(line)
        assert sample, f"line {number} is not a sample without a timestamp: {line!r}"
        name, labels, _ = sample.groups()
        assert name == current and name in types, f"line {number}: {name} outside its family"
        assert (name, labels or "") not in series, f"line {number}: duplicate series {line!r}"
        series.add((name, labels or ""))
    assert helps == types


def families(text: str) -> dict[str, Any]:
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    for family in parsed.values():
        assert family.type == "gauge" and family.documentation, family.name
    return parsed


def value(parsed: dict[str, Any], name: str, **labels: str) -> float:
    matches = [s.value for s in parsed[name].samples if s.labels == labels]
    assert len(matches) == 1, (name, labels, parsed[name].samples)
    return float(matches[0])


def test_golden_is_valid_and_every_family_has_help_and_type(tmp_path: Path) -> None:
    text = render(tmp_path)
    check_exposition(text)
    assert set(families(text)) == FAMILIES


def test_every_scope_has_its_own_names_and_labels(tmp_path: Path) -> None:
    parsed = families(render(tmp_path))
    for scope, keys in SCOPES.items():
        for measure in MEASURES:
            extra = {"results": ("verdict",), "status": ("status",)}.get(measure, ())
            for sample in parsed[f"blockaudit_{scope}{measure}"].samples:
                assert tuple(sample.labels) == keys + extra, sample


def fails(view: View, keep: Keep) -> int:
    """Violations among the results ``keep`` selects, by the rule every report uses."""
    return sum(1 for r in view["results"] if keep(r) and outcome(r) == "fail")


def deadlines(view: View, keep: Keep) -> dict[str, int]:
    statuses = [(r.get("deadline") or {}).get("status") for r in view["results"] if keep(r)]
    return {"overdue": statuses.count("overdue"), "pending": statuses.count("pending")}


def test_values_match_the_view(tmp_path: Path) -> None:
    view = golden()
    parsed = families(render(tmp_path))
    resolvers = [r for r in view["resolvers"] if r["role"] == "subject"]
    assert {s.labels["resolver"] for s in parsed["blockaudit_resolver_compliant"].samples} == {
        r["name"] for r in resolvers}
    checked: list[tuple[str, dict[str, str], View, Keep]] = []
    for r in resolvers:
        checked.append(("blockaudit_resolver_", {"resolver": r["name"], "operator": r["operator"]}, r,
                        partial(lambda name, x: x["resolver"] == name, r["name"])))
    for o in view["operators"]:
        checked.append(("blockaudit_operator_", {"operator": o["name"]}, o,
                        partial(lambda names, x: x["resolver"] in names, o["resolvers"])))
    for o in view["orders"]:
        checked.append(("blockaudit_order_", {"order": o["id"]}, o,
                        partial(lambda id_, x: id_ in x["orders"], o["id"])))
    checked.append(("blockaudit_", {}, view["summary"], lambda x: True))
    for prefix, labels, scope, keep in checked:
        for verdict in ("blocked", "accessible", "inconclusive", "dead", "overblocked"):
            assert value(parsed, prefix + "results", **labels, verdict=verdict) == scope["counts"][verdict]
        assert value(parsed, prefix + "compliant", **labels) == (scope["status"] == "compliant")
        for status in ("compliant", "noncompliant", "inconclusive"):
            assert value(parsed, prefix + "status", **labels, status=status) == (scope["status"] == status)
        assert value(parsed, prefix + "violations", **labels) == fails(view, keep)
        expected = deadlines(view, keep)
        assert expected == scope.get("deadlines", expected), "the view counts deadlines as this test does"
        assert value(parsed, prefix + "overdue", **labels) == expected["overdue"]
        assert value(parsed, prefix + "pending", **labels) == expected["pending"]
    # A few values from the golden run, by hand.
    assert value(parsed, "blockaudit_resolver_violations", resolver="isp-partial", operator="ISP A") == 3
    assert value(parsed, "blockaudit_operator_results", operator="ISP A", verdict="accessible") == 3
    assert value(parsed, "blockaudit_operator_compliant", operator="isp-blockpage") == 1
    assert value(parsed, "blockaudit_order_status", order="lab-order", status="noncompliant") == 1
    assert value(parsed, "blockaudit_order_in_force", order="lab-order") == 1
    assert value(parsed, "blockaudit_violations") == view["summary"]["violations"] == 4
    assert value(parsed, "blockaudit_names_checked") == view["summary"]["names"] == 10


def test_a_report_older_than_deadlines_counts_none_overdue_or_pending(tmp_path: Path) -> None:
    view = golden()
    for result in view["results"]:
        result.pop("deadline", None)
    for scope in [*view["resolvers"], *view["operators"], *view["orders"], view["summary"]]:
        scope.pop("deadlines", None)
    text = render(tmp_path, view)
    check_exposition(text)
    parsed = families(text)
    for scope in SCOPES:
        assert {s.value for s in parsed[f"blockaudit_{scope}overdue"].samples} == {0}
        assert {s.value for s in parsed[f"blockaudit_{scope}pending"].samples} == {0}
    assert value(parsed, "blockaudit_violations") == 4


def test_run_metrics(tmp_path: Path) -> None:
    view = golden()
    parsed = families(render(tmp_path))
    started, finished = (dt.datetime.fromisoformat(view["run"][k].replace("Z", "+00:00"))
                         for k in ("started_at", "finished_at"))
    assert value(parsed, "blockaudit_last_run_timestamp_seconds") == finished.timestamp()
    assert value(parsed, "blockaudit_last_run_duration_seconds") == pytest.approx(
        (finished - started).total_seconds(), abs=1e-9)
    assert 0 < value(parsed, "blockaudit_last_run_duration_seconds") < 3600
    assert value(parsed, "blockaudit_last_run_info", run_id=view["run"]["id"], version=view["tool"]["version"],
                 vantage=view["run"]["vantage"]) == 1


def test_a_report_without_times_leaves_those_samples_out(tmp_path: Path) -> None:
    view = golden()
    view["run"]["finished_at"] = None
    text = render(tmp_path, view)
    check_exposition(text)
    parsed = families(text)
    assert parsed["blockaudit_last_run_timestamp_seconds"].samples == []
    assert parsed["blockaudit_last_run_duration_seconds"].samples == []


def rename_resolver(view: View, old: str, new: str) -> None:
    for resolver in view["resolvers"]:
        if resolver["name"] == old:
            resolver["name"] = new
    for operator in view["operators"]:
        operator["resolvers"] = [new if r == old else r for r in operator["resolvers"]]
    for result in view["results"]:
        if result["resolver"] == old:
            result["resolver"] = new


def test_hostile_names_are_escaped_and_the_file_still_parses(tmp_path: Path) -> None:
    view = golden()
    rename_resolver(view, "isp-partial", HOSTILE)
    for resolver in view["resolvers"]:
        if resolver["operator"] == "ISP A":
            resolver["operator"] = HOSTILE + " operator"
    for operator in view["operators"]:
        if operator["name"] == "ISP A":
            operator["name"] = HOSTILE + " operator"
    view["orders"][0]["id"] = HOSTILE + " order"
    for result in view["results"]:
        result["orders"] = [HOSTILE + " order" if o == "lab-order" else o for o in result["orders"]]
    view["run"]["vantage"] = HOSTILE
    text = render(tmp_path, view)
    check_exposition(text)
    assert 'resolver="evil \\"quoted\\" \\\\back\\\\slash\\nsecond line"' in text
    parsed = families(text)
    operator = HOSTILE + " operator"
    assert value(parsed, "blockaudit_resolver_results", resolver=HOSTILE, operator=operator, verdict="accessible") == 3
    partial = fails(view, lambda r: r["resolver"] == HOSTILE)
    assert value(parsed, "blockaudit_resolver_violations", resolver=HOSTILE, operator=operator) == partial == 3
    assert value(parsed, "blockaudit_operator_violations", operator=operator) == partial
    assert value(parsed, "blockaudit_order_violations", order=HOSTILE + " order") == 4
    assert value(parsed, "blockaudit_last_run_info", run_id=view["run"]["id"], version="0.1.0", vantage=HOSTILE) == 1


def test_control_characters_cannot_make_duplicate_series(tmp_path: Path) -> None:
    view = golden()
    for operator, name in zip(view["operators"][1:3], ("ISP\x01\x1b[31m", "ISP\x02\x1b[31m"), strict=True):
        for resolver in view["resolvers"]:
            if resolver["operator"] == operator["name"]:
                resolver["operator"] = name
        operator["name"] = name
    text = render(tmp_path, view)
    check_exposition(text)
    assert "\x1b" not in text and "\x01" not in text
    parsed = families(text)
    assert value(parsed, "blockaudit_operator_compliant", operator="ISP\ufffd\ufffd[31m") == 1
    assert value(parsed, "blockaudit_operator_compliant", operator="ISP\ufffd\ufffd[31m", duplicate="2") == 0


def set_deadline(result: View, status: str) -> None:
    result["deadline"] = {"due_at": "2026-11-20T00:00:00Z", "status": status, "seconds_left": 0,
                          "blocked_since": None, "on_time": None}


def test_overdue_and_pending_results_are_counted(tmp_path: Path) -> None:
    view = golden()
    for result in view["results"]:
        result.pop("deadline", None)
    for scope in [*view["resolvers"], *view["operators"], *view["orders"], view["summary"]]:
        scope.pop("deadlines", None)
    accessible = [r for r in view["results"]
                  if r["resolver"] == "isp-partial" and r["verdict"] == "accessible" and r["kind"] == "ordered"]
    assert len(accessible) == 3
    set_deadline(accessible[0], "overdue")
    set_deadline(accessible[1], "overdue")
    set_deadline(accessible[2], "pending")
    blocked = [r for r in view["results"] if r["resolver"] == "isp-nxdomain" and r["kind"] == "ordered"]
    set_deadline(blocked[0], "met")
    set_deadline(blocked[1], "late")
    set_deadline(blocked[2], "none")
    blocked[3]["deadline"] = None
    other = next(r for r in view["results"] if r["resolver"] == "isp-blockpage" and r["kind"] == "ordered")
    set_deadline(other, "pending")
    text = render(tmp_path, view)
    check_exposition(text)
    parsed = families(text)
    assert value(parsed, "blockaudit_resolver_overdue", resolver="isp-partial", operator="ISP A") == 2
    assert value(parsed, "blockaudit_resolver_pending", resolver="isp-partial", operator="ISP A") == 1
    assert value(parsed, "blockaudit_resolver_overdue", resolver="isp-nxdomain", operator="ISP A") == 0
    assert value(parsed, "blockaudit_resolver_pending", resolver="isp-nxdomain", operator="ISP A") == 0
    assert value(parsed, "blockaudit_resolver_pending", resolver="isp-blockpage", operator="isp-blockpage") == 1
    assert value(parsed, "blockaudit_operator_overdue", operator="ISP A") == 2
    assert value(parsed, "blockaudit_operator_pending", operator="ISP A") == 1
    assert value(parsed, "blockaudit_operator_pending", operator="isp-blockpage") == 1
    assert value(parsed, "blockaudit_order_overdue", order="lab-order") == 2
    assert value(parsed, "blockaudit_order_pending", order="lab-order") == 2
    assert value(parsed, "blockaudit_overdue") == 2
    assert value(parsed, "blockaudit_pending") == 2
    # Violations follow the rule every report uses (present.outcome), deadlines included.
    partial = [r for r in view["results"] if r["resolver"] == "isp-partial"]
    assert value(parsed, "blockaudit_resolver_violations", resolver="isp-partial", operator="ISP A") == sum(
        outcome(r) == "fail" for r in partial)


def test_two_renders_are_byte_identical_and_ignore_the_render_clock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = render(tmp_path / "a")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert render(tmp_path / "b") == first


def test_output_order_does_not_depend_on_the_input_order(tmp_path: Path) -> None:
    view = golden()
    shuffled = copy.deepcopy(view)
    for key in ("resolvers", "operators", "orders"):
        shuffled[key].reverse()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert render(tmp_path / "a", view) == render(tmp_path / "b", shuffled)


def test_label_escaping() -> None:
    assert label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert label("tab\tkept, cr\rand nul\x00 and esc\x1b replaced") == (
        "tab\tkept, cr\ufffdand nul\ufffd and esc\ufffd replaced")
    assert label(None) == ""
    assert label("\ud800") == "\ufffd"
