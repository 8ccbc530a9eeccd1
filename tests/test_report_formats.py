"""Every report format from one saved JSON report: golden files, parse-back, hostile input, limits.

Golden files are regenerated with ``python -m tests.golden.make_input --goldens`` after a
deliberate change; review the diff before committing.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from checker.cli import ExitStatus, main
from checker.report import CSV_COLUMNS, github_annotations
from checker.report.render import ANNOTATION_LIMIT, MARKDOWN_LIMIT

GOLDEN = Path(__file__).resolve().parent / "golden"
INPUT = GOLDEN / "input.json"
GOLDENS = {"md": "report.md", "junit": "junit.xml", "csv": "report.csv", "github": "github.md",
           "json": "report.json", "html": "report.html", "court": "court.html", "prometheus": "report.prom"}

HOSTILE_TITLE = "<script>alert(1)</script>\"' | =cmd|' /C calc'!A0 \x1b[31m\x00"
HOSTILE_ANSWER = "=HYPERLINK(\"http://x\")|<img src=x onerror=alert(2)>\n::error::forged"


def render_to(tmp_path: Path, fmt: str, source: Path = INPUT, *extra: str) -> bytes:
    out = tmp_path / f"out.{fmt}"
    assert main(["render", str(source), "--report", f"{fmt}:{out}", *extra]) == ExitStatus.COMPLIANT
    return out.read_bytes()


@pytest.fixture(autouse=True)
def _no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.mark.parametrize(("fmt", "name"), sorted(GOLDENS.items()))
def test_golden(tmp_path: Path, fmt: str, name: str) -> None:
    assert render_to(tmp_path, fmt) == (GOLDEN / name).read_bytes(), (
        f"{fmt} output changed; if on purpose, run: python -m tests.golden.make_input --goldens"
    )


@pytest.mark.parametrize("fmt", sorted(GOLDENS))
def test_the_same_json_renders_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert render_to(tmp_path / "a", fmt) == render_to(tmp_path / "b", fmt)


def test_json_rerenders_to_its_own_bytes(tmp_path: Path) -> None:
    assert render_to(tmp_path, "json") == INPUT.read_bytes()


def test_clock_is_injected_by_source_date_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = render_to(tmp_path, "court").decode()
    assert "2026-11-21" in default
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01T00:00:00Z
    pinned = render_to(tmp_path, "court").decode()
    assert "2026-01-01T00:00:00Z" in pinned and pinned != default


def test_junit_is_valid_against_the_common_schema(tmp_path: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    data = render_to(tmp_path, "junit")
    xmlschema.XMLSchema(str(GOLDEN / "junit.xsd")).validate(io.BytesIO(data))
    root = ET.fromstring(data)
    report = json.loads(INPUT.read_text())
    cases = root.findall(".//testcase")
    expected = sum(max(1, len(r["orders"])) for r in report["results"])
    assert len(cases) == expected == int(root.get("tests", "-1"))
    names = [(c.get("classname"), c.get("name")) for c in cases]
    assert len(names) == len(set(names)), "GitLab keys cases by classname + name: they must be unique"
    failures = {c.get("name") for c in cases if c.find("failure") is not None}
    assert "www.blocked-one.test @ isp-partial" in failures
    assert "allowed.test @ isp-overblock" in failures
    errors = [c for c in cases if c.find("error") is not None]
    assert errors and all("isp-drop" in (c.get("name") or "") for c in errors)
    assert all(c.find("system-out") is not None for c in cases)
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["order.id"] == "lab-order" and props["order.case_number"] == "not stated"


def test_csv_has_the_documented_columns_and_a_row_per_result(tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(render_to(tmp_path, "csv").decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    report = json.loads(INPUT.read_text())
    assert len(rows) - 1 == len(report["results"])
    by_key = {(r[1], r[4]): dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    leak = by_key[("isp-partial", "www.blocked-one.test")]
    assert leak["verdict"] == "accessible" and leak["violation"] == "yes"
    assert leak["a_answers"] == "A 198.51.100.11"


def test_markdown_and_github_summary(tmp_path: Path) -> None:
    text = render_to(tmp_path, "md").decode()
    assert text.startswith("# ✘ blockaudit: noncompliant")
    assert text.index("## Violations") < text.index("## Inconclusive") < text.index("All results")
    assert render_to(tmp_path, "github") == render_to(tmp_path, "md")


def test_github_to_stdout_writes_annotations_and_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    summary_file = tmp_path / "step-summary.md"
    summary_file.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary_file))
    assert main(["render", str(INPUT), "--report", "github:-"]) == ExitStatus.COMPLIANT
    out = capsys.readouterr().out.splitlines()
    assert out and all(line.startswith(("::error ", "::warning ")) for line in out)
    assert "::error file=orders/lab-order.yaml,line=15,title=accessible%3A www.blocked-one.test @ isp-partial::" in (
        "\n".join(out))
    assert summary_file.read_text().startswith("earlier step\n# ✘ blockaudit")


def hostile_report(tmp_path: Path) -> Path:
    report = json.loads(INPUT.read_text())
    report["orders"][0]["title"] = HOSTILE_TITLE
    report["orders"][0]["sources"] = [{"url": "javascript:alert(3)", "note": HOSTILE_TITLE}]
    for result in report["results"]:
        result["detail"] = HOSTILE_ANSWER
        for obs in result["observations"]:
            for answer in obs["answers"]:
                answer["data"] = HOSTILE_ANSWER
            obs["ede"] = [{"code": 15, "text": HOSTILE_TITLE}]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(report))
    return path


@pytest.mark.parametrize("fmt", ["html", "court", "junit"])
def test_hostile_text_is_inert_in_markup(tmp_path: Path, fmt: str) -> None:
    text = render_to(tmp_path, fmt, hostile_report(tmp_path)).decode()
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text or "&lt;script&gt;" in text
    assert "\x00" not in text and "\x1b" not in text
    assert 'href="javascript:' not in text
    if fmt == "junit":
        ET.fromstring(text.encode())


def test_hostile_text_is_inert_in_markdown(tmp_path: Path) -> None:
    text = render_to(tmp_path, "md", hostile_report(tmp_path)).decode()
    assert "<script>" not in text and "<img" not in text
    violations = text.split("## Violations")[1].split("##")[0]
    rows = [line for line in violations.splitlines() if line.startswith("| ") and "---" not in line]
    assert all(len(_split_unescaped_pipes(row)) == 5 for row in rows), rows


def _split_unescaped_pipes(line: str) -> list[str]:
    cells, current, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if char == "|" and not escaped:
            cells.append(current)
            current = ""
        else:
            current += char
        escaped = char == "\\" and not escaped
    cells.append(current)
    return cells


def test_hostile_text_is_inert_in_csv(tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(render_to(tmp_path, "csv", hostile_report(tmp_path)).decode())))
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
    detail = rows[1][CSV_COLUMNS.index("detail")]
    assert detail.startswith("'=HYPERLINK")


def test_hostile_text_cannot_forge_annotations(tmp_path: Path) -> None:
    report = json.loads(hostile_report(tmp_path).read_text())
    lines = github_annotations(report).splitlines()
    assert all(line.startswith(("::error ", "::warning ", "::notice::")) for line in lines)
    assert "%0A::error::forged" in lines[0]


def test_annotations_are_capped(tmp_path: Path) -> None:
    report = json.loads(INPUT.read_text())
    leak = next(r for r in report["results"] if r["verdict"] == "accessible" and r["kind"] == "ordered")
    report["results"] = [copy.deepcopy(leak) for _ in range(ANNOTATION_LIMIT + 7)]
    lines = github_annotations(report).splitlines()
    assert len(lines) == ANNOTATION_LIMIT + 1
    assert lines[-1] == "::notice::7 more findings are in the job summary and reports"


def test_markdown_is_truncated_under_one_mebibyte(tmp_path: Path) -> None:
    report = json.loads(INPUT.read_text())
    leak = next(r for r in report["results"] if r["verdict"] == "accessible" and r["kind"] == "ordered")
    many = []
    for i in range(12_000):
        item = copy.deepcopy(leak)
        item["query_name"] = f"www{i}.blocked-one.test"
        item["detail"] = "x" * 60
        many.append(item)
    report["results"] = many
    path = tmp_path / "big.json"
    path.write_text(json.dumps(report))
    text = render_to(tmp_path, "md", path)
    assert len(text) <= MARKDOWN_LIMIT
    assert b"**Truncated:**" in text and b"12000 results in all" in text


def test_templates_folder_overrides_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "report.md").write_text("custom {{ report.summary.status }}\n")
    assert render_to(tmp_path, "md", INPUT, "--templates", str(folder)) == b"custom noncompliant\n"
    assert render_to(tmp_path, "junit", INPUT, "--templates", str(folder)) == (GOLDEN / "junit.xml").read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": "blockaudit/report/1",\n  "run": }', ":2: not valid JSON"),
        ('{"schema": "something/else"}', ":1: not a blockaudit report"),
        ("[1, 2]", ":1: not a blockaudit report"),
        ('{"schema": "blockaudit/report/1"}', "report lacks a field"),
    ],
    ids=["malformed", "other-schema", "not-an-object", "missing-fields"],
)
def test_render_refuses_bad_json_with_one_line(tmp_path: Path, content: str, message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    out = tmp_path / "out.md"
    out.write_text("OLD")
    assert main(["render", str(path), "--report", f"md:{out}"]) == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and str(path) in err
    assert out.read_text() == "OLD"


def test_render_needs_a_report_and_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(INPUT)]) == ExitStatus.ERROR
    assert main(["render", str(tmp_path / "missing.json"), "--report", "md:-"]) == ExitStatus.ERROR
    assert main(["render", str(INPUT), "--report", "md:-", "--templates", str(tmp_path / "nope")]) == ExitStatus.ERROR
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "missing.json: no such file" in err[1]


def test_macro_output_is_not_escaped_twice(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "report.html").write_text(
        "{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}{{ b(report.orders[0].title) }}{{ b('\\x07<i>') }}\n")
    text = render_to(tmp_path, "html", INPUT, "--templates", str(folder)).decode()
    assert text.startswith("<b>blockaudit integration lab order</b>") and "&lt;b&gt;" not in text
    assert "<b>\ufffd&lt;i&gt;</b>" in text


@pytest.mark.parametrize("fmt", sorted(GOLDENS))
def test_reports_from_before_deadlines_still_render(tmp_path: Path, fmt: str) -> None:
    report = json.loads(INPUT.read_text())
    for result in report["results"]:
        result.pop("deadline", None)
    for scope in [report["summary"], *report["resolvers"], *report["operators"], *report["orders"]]:
        scope.pop("deadlines", None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(report))
    assert render_to(tmp_path, fmt, path)
