"""Every report format against one hostile corpus (tests/hostile.py), through the real command line.

Each format is rendered twice by ``blockaudit render``: from a report whose every outside text
(order files, resolver files, DNS answers, identity TXT strings, EDE text, HTTP evidence) is an
attack, and from its benign twin with plain words in the same places. The hostile rendering must
have exactly the twin's structure (elements, attributes, rows, cells, lines, samples): an attack
that added a tag, an attribute, a table cell, a line or a metric would show as a difference. A
real ``check`` against a hostile loopback resolver covers what arrives from the network.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from checker.cli import ExitStatus, main
from checker.report import CSV_COLUMNS, Format, github_annotations
from checker.report.escape import xml_safe
from tests import hostile
from tests.fakedns import fake_dns

FORMATS = ("json", "html", "md", "junit", "csv", "github", "court", "prometheus")
GOLDEN = Path(__file__).resolve().parent / "golden"
# Characters no document format may carry raw: what XML 1.0 forbids, DEL and C1 controls, bidi
# embeddings/overrides/isolates, U+FFFE/U+FFFF (lone surrogates cannot even be encoded).
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
SAFE_LINK = ("#", "https://", "http://")
LOADING_ATTRS = {"src", "srcset", "action", "formaction", "poster", "background", "data", "ping", "xlink:href"}


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def render_all(source: Path, folder: Path) -> dict[str, bytes]:
    specs = [arg for fmt in FORMATS for arg in ("--report", f"{fmt}:{folder / ('out.' + fmt)}")]
    assert main(["render", str(source), *specs]) == ExitStatus.COMPLIANT
    return {fmt: (folder / f"out.{fmt}").read_bytes() for fmt in FORMATS}


@pytest.fixture(scope="module")
def views() -> dict[str, dict[str, Any]]:
    return {"hostile": hostile.hostile_view(), "plain": hostile.hostile_view(plain=True)}


@pytest.fixture(scope="module")
def sources(views: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-sources")
    return {kind: hostile.write_view(view, folder / f"{kind}.json") for kind, view in views.items()}


@pytest.fixture(scope="module")
def out(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    rendered = {}
    for kind, source in sources.items():
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("SOURCE_DATE_EPOCH", raising=False)
            rendered[kind] = render_all(source, tmp_path_factory.mktemp(kind))
    return rendered


def test_every_format_is_covered() -> None:
    assert {f.value for f in Format} - {"pdf"} == set(FORMATS)


def strings(value: object) -> list[str]:
    """Every string in a JSON value, keys too."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_the_corpus_reaches_every_kind_of_field(views: dict[str, dict[str, Any]]) -> None:
    text = "\n".join(strings(views["hostile"]))
    for attack in ("<script>", "\x1b[31m", "\x9b", "\u202e", "=cmd|", "::error::", "\ud800", "\x00", "| a | b |"):
        assert attack in text, attack
    resolver = views["hostile"]["resolvers"][0]
    assert "<script>" in resolver["name"] + resolver["operator"] + resolver["identity"]["detail"]
    web = next(r["web"][0] for r in views["hostile"]["results"] if r["web"])
    assert "\x1b" in "".join(strings(web))


# --------------------------------------------------------------------------- HTML and the court report


class Elements(HTMLParser):
    """Start tags with their attributes, and the text, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def shape(self) -> Counter[tuple[str, tuple[str, ...]]]:
        return Counter((tag, tuple(sorted(attrs))) for tag, attrs in self.tags)


def elements(data: bytes) -> Elements:
    parser = Elements()
    parser.feed(data.decode("utf-8"))
    parser.close()
    return parser


@pytest.mark.parametrize("fmt", ["html", "court"])
def test_markup_gains_no_element_and_no_attribute(out: dict[str, dict[str, bytes]], fmt: str) -> None:
    page, twin = elements(out["hostile"][fmt]), elements(out["plain"][fmt])
    assert page.shape() == twin.shape()
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == (1 if fmt == "html" else 0)
    assert all(attrs == {} for attrs in scripts), "the one script is ours, inline, pinned by the CSP"
    for tag, attrs in page.tags:
        assert tag not in {"img", "iframe", "object", "embed", "link", "base", "form", "meta"} or (
            tag == "meta" and set(attrs) <= {"charset", "name", "content", "http-equiv"}), tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not LOADING_ATTRS & set(attrs), (tag, attrs)
        if tag == "a":
            assert (attrs.get("href") or "").startswith(SAFE_LINK), attrs
        for value in attrs.values():
            assert not (value or "").lstrip().lower().startswith("javascript:"), (tag, attrs)

    def csp(parsed: Elements) -> list[str | None]:
        return [a["content"] for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy"]

    assert csp(page) == csp(twin)


@pytest.mark.parametrize("fmt", ["html", "court"])
def test_markup_shows_the_attacks_as_text(out: dict[str, dict[str, bytes]], fmt: str) -> None:
    text = "".join(elements(out["hostile"][fmt]).text)
    for attack in (hostile.SCRIPT, hostile.CLOSE_SCRIPT, hostile.ATTRIBUTE, hostile.ENTITIES):
        assert attack in text, attack
    raw = out["hostile"][fmt].decode("utf-8")
    assert "<script>alert" not in raw and "<img" not in raw and "</script><script>" not in raw


@pytest.mark.parametrize("fmt", ["html", "court", "junit", "md", "csv", "prometheus", "github"])
def test_no_control_bidi_or_forbidden_character_is_written(out: dict[str, dict[str, bytes]], fmt: str) -> None:
    text = out["hostile"][fmt].decode("utf-8")  # strict: a lone surrogate could not have been encoded
    found = sorted({f"U+{ord(c):04X}" for c in FORBIDDEN.findall(text)})
    assert not found, f"{fmt}: {found}"


def test_json_keeps_every_string_exactly(out: dict[str, dict[str, bytes]], views: dict[str, dict[str, Any]]) -> None:
    assert json.loads(out["hostile"]["json"]) == views["hostile"]


# --------------------------------------------------------------------------- JUnit XML


def xml_shape(data: bytes) -> Counter[tuple[str, tuple[str, ...]]]:
    return Counter((e.tag, tuple(sorted(e.attrib))) for e in ET.fromstring(data).iter())


def test_junit_is_well_formed_with_the_same_elements(out: dict[str, dict[str, bytes]],
                                                     views: dict[str, dict[str, Any]]) -> None:
    assert xml_shape(out["hostile"]["junit"]) == xml_shape(out["plain"]["junit"])
    root = ET.fromstring(out["hostile"]["junit"])
    title = next(p.get("value") for p in root.iter("property") if p.get("name") == "order.title")
    assert title is not None and hostile.SCRIPT in title and "\x1b" not in title
    expected = str(xml_safe(views["hostile"]["orders"][0]["title"]))
    # An XML parser turns CR LF into LF and then white space in an attribute into spaces.
    assert title == re.sub(r"[\t\n]", " ", expected.replace("\r\n", "\n").replace("\r", "\n"))


def test_junit_is_valid_against_the_schema(out: dict[str, dict[str, bytes]]) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(GOLDEN / "junit.xsd")).validate(io.BytesIO(out["hostile"]["junit"]))


# --------------------------------------------------------------------------- Markdown


def unescaped(line: str, chars: str) -> list[int]:
    """Positions of ``chars`` not escaped by a backslash (an odd run of backslashes before them)."""
    found, run = [], 0
    for i, char in enumerate(line):
        if char in chars and run % 2 == 0:
            found.append(i)
        run = run + 1 if char == "\\" else 0
    return found


def cells(line: str) -> int:
    """Table cells of a GFM row: GFM splits on every pipe that is not right after a backslash."""
    return len(re.findall(r"(?<!\\)\|", line)) - 1 if line.startswith("|") else 0


TEMPLATE_HTML = ("<details><summary>All results: names \u00d7 resolvers</summary>", "</details>")


@pytest.mark.parametrize("fmt", ["md", "github"])
def test_markdown_keeps_its_lines_tables_and_text(out: dict[str, dict[str, bytes]], fmt: str) -> None:
    lines = out["hostile"][fmt].decode("utf-8").split("\n")
    twin = out["plain"][fmt].decode("utf-8").split("\n")

    def shape(line: str) -> tuple[str, int, int, int]:
        """How a line starts, its table cells, its Markdown syntax (code, links, emphasis) and HTML."""
        return line[:2], cells(line), len(unescaped(line, "`[]*_~")), line.count("<")

    assert len(lines) == len(twin)
    assert Counter(map(shape, lines)) == Counter(map(shape, twin))
    for line in lines:
        if line not in TEMPLATE_HTML:
            assert "<" not in line, line[:200]  # no HTML: every < is &lt;


def test_markdown_escapes_round_trip() -> None:
    from checker.report.escape import md_cell

    assert md_cell("a | b") == "a \\| b"
    assert md_cell("a\\|b") == "a\\\\\\|b"  # a literal backslash before a pipe: still one cell
    assert cells("| " + md_cell("x\\|y|z") + " |") == 1
    assert md_cell("# h\n> q\n- i") == "\\# h &gt; q - i"
    assert md_cell("<b>`c`</b>[l](javascript:x)") == "&lt;b&gt;\\`c\\`&lt;/b&gt;\\[l\\](javascript:x)"


# --------------------------------------------------------------------------- CSV


def test_csv_has_the_same_cells_and_no_formula(out: dict[str, dict[str, bytes]]) -> None:
    rows = list(csv.reader(io.StringIO(out["hostile"]["csv"].decode("utf-8"), newline="")))
    twin = list(csv.reader(io.StringIO(out["plain"]["csv"].decode("utf-8"), newline="")))
    assert len(rows) == len(twin) and all(len(row) == len(CSV_COLUMNS) for row in rows)
    starts = set()
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell[:80]
            starts.add(cell[:2])
    assert {"'=", "'+", "'-", "'@", "'\t", "'\r"} <= starts, "every formula start was met and guarded"


# --------------------------------------------------------------------------- Prometheus


def test_prometheus_parses_to_the_same_series(out: dict[str, dict[str, bytes]]) -> None:
    parser = pytest.importorskip("prometheus_client.parser")

    def series(data: bytes) -> list[tuple[str, int]]:
        families = parser.text_string_to_metric_families(data.decode("utf-8"))
        return sorted((f.name, len(f.samples)) for f in families)

    assert series(out["hostile"]["prometheus"]) == series(out["plain"]["prometheus"])
    assert not any(line.startswith("forged_metric") for line in out["hostile"]["prometheus"].decode().splitlines())


# --------------------------------------------------------------------------- GitHub annotations


def test_annotations_cannot_forge_commands(views: dict[str, dict[str, Any]], sources: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    lines = github_annotations(views["hostile"]).split("\n")
    twin = github_annotations(views["plain"]).split("\n")
    assert len(lines) == len(twin) > 2
    assert [line.split(" ", 1)[0] for line in lines] == [line.split(" ", 1)[0] for line in twin]
    for line in lines[:-1]:
        assert line.startswith(("::error ", "::warning ", "::notice::")), line[:100]
        head, sep, _ = line.partition("::")[2].partition("::")
        assert sep and "\n" not in head and "\r" not in head
        assert "##[" not in line, "the runner runs ##[command] anywhere in a line"
        assert not hostile.TERMINAL_CONTROLS_RE.search(line), line[:200]
    # Through the command line: stdout is strict UTF-8, so a lone surrogate must not crash it.
    assert main(["render", str(sources["hostile"]), "--report", "github:-"]) == ExitStatus.COMPLIANT
    assert capsys.readouterr().out.split("\n") == lines


# --------------------------------------------------------------------------- a real check


def test_a_real_check_with_hostile_files_and_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(hostile.ORDER_YAML, encoding="utf-8")
    resolvers = tmp_path / "resolvers.yaml"
    specs = [arg for fmt in FORMATS for arg in ("--report", f"{fmt}:{tmp_path / ('out.' + fmt)}")]
    with fake_dns(hostile.hostile_resolver) as s, fake_dns(hostile.hostile_control) as c, \
            fake_dns(hostile.hostile_control) as h:
        resolvers.write_text(hostile.resolvers_yaml(s.address, c.address, h.address), encoding="utf-8")
        code = main(["check", str(order), "--resolvers", str(resolvers), "--no-db", "--timeout", "0.5",
                     "--retries", "0", "-q", *specs])
    assert code == ExitStatus.VIOLATION
    report = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    said = strings(report)
    assert hostile.NETWORK in said, "the JSON keeps the identity TXT strings and EDE text exactly"
    assert any(hostile.CNAME in s for s in said)
    assert "\x1b[31mRED" in report["orders"][0]["title"]
    page = elements((tmp_path / "out.html").read_bytes())
    assert [t for t, _ in page.tags].count("script") == 1
    assert not [a for _, attrs in page.tags for a in attrs if a.startswith("on")]
    assert "<script>alert(7)</script>" in "".join(page.text)
    court = elements((tmp_path / "out.court").read_bytes())
    assert "script" not in [t for t, _ in court.tags] and "img" not in [t for t, _ in court.tags]
    ET.fromstring((tmp_path / "out.junit").read_bytes())
    for fmt in ("html", "court", "junit", "md", "csv", "prometheus", "github"):
        assert not FORBIDDEN.search((tmp_path / f"out.{fmt}").read_text(encoding="utf-8")), fmt
    rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"), newline="")))
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
    md = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "FAKE" in md and "\nFAKE" not in md
    assert capsys.readouterr().out == ""
