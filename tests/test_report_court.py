"""The court report: caption, who and where, method, results, statement, evidence and digest, as HTML
and as PDF; inert on hostile input; one line of error when the pdf extra is missing."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from checker.bundled import templates_dir
from checker.cli import main
from checker.report import pdf_available
from checker.report.present import hexdump, in_words, outcome

GOLDEN = Path(__file__).resolve().parent / "golden" / "input.json"
BLOCKS = {"p", "div", "li", "ol", "ul", "td", "th", "tr", "table", "pre", "br", "h1", "h2", "h3", "section", "header",
          "main", "title"}


class Page(HTMLParser):
    """Every start tag with its attributes, every id, the style text, and the text a reader sees."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.style = ""
        self._chunks: list[str] = []
        self._in_style = False
        self.feed(text)
        self.close()
        self.text = " ".join("".join(self._chunks).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if dict(attrs).get("id"):
            self.ids.add(str(dict(attrs)["id"]))
        self._in_style = tag == "style"
        if tag in BLOCKS:
            self._chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag in BLOCKS:
            self._chunks.append(" ")

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self._chunks.append(data)


@pytest.fixture(autouse=True)
def _report_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports state the run's end as their render time unless SOURCE_DATE_EPOCH says otherwise."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture(scope="module")
def view() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


def render(source: Path, target: Path, fmt: str = "court") -> bytes:
    assert main(["render", str(source), "--report", f"{fmt}:{target}"]) == 0
    return target.read_bytes()


@pytest.fixture(scope="module")
def court(tmp_path_factory: pytest.TempPathFactory) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        return render(GOLDEN, tmp_path_factory.mktemp("court") / "court.html").decode("utf-8")


@pytest.fixture(scope="module")
def page(court: str) -> Page:
    return Page(court)


def section(court: str, marker: str) -> str:
    """The reader's text of the element that starts with ``marker`` up to the end of its paragraph."""
    start = court.index(marker)
    end = court.index("</p>", start)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", court[start:end])).split())


def require(available: bool, what: str) -> None:
    """Skip when a tool is missing, except in CI, where a missing tool must fail the run."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required when CI=true")
    pytest.skip(f"{what} is not installed")


# --------------------------------------------------------------------------- the HTML document


def test_caption_names_the_order_as_the_report_states_it(view: dict[str, Any], page: Page) -> None:
    order = view["orders"][0]
    assert order["case_number"] is None, "the golden order has no case number"
    assert order["authority"] in page.text
    assert order["title"] in page.text
    assert "Case No. not stated" in page.text
    assert "Permanent injunction" in page.text
    assert f"Judge: {order['judge'] or 'not stated'}" in page.text
    assert f"{in_words(order['issued'])} ({order['issued']})" in page.text
    assert "Unverified." in page.text and "known only from the" in page.text
    if order["deadline"] == {"within": "P5D", "from": "issued"}:
        assert "Compliance deadline within 5 days (P5D) of the date of issue" in page.text


def test_who_ran_it_and_from_where(view: dict[str, Any], page: Page) -> None:
    run = view["run"]
    assert run["vantage"] and f"from the host {run['vantage']}" in page.text
    assert f"{view['tool']['name']} version {view['tool']['version']}" in page.text
    assert run["id"] in page.text
    for resolver in view["resolvers"]:
        assert resolver["address"] in page.text
        assert resolver["name"] in page.text and resolver["operator"] in page.text
    assert "subject (audited)" in page.text and "control (reference)" in page.text


def test_every_date_is_given_in_iso_8601_and_in_words(view: dict[str, Any], court: str, page: Page) -> None:
    run = view["run"]
    for stamp in (run["started_at"], run["finished_at"], view["orders"][0]["issued"]):
        assert f"{in_words(stamp)} ({stamp})" in page.text
    assert "21 November 2026 at" in in_words(run["started_at"])
    # Every <time> element is preceded by the same moment in words.
    times = re.findall(r'([^<>]*) \(<time datetime="([^"]+)">([^<]+)</time>\)', court)
    assert len(times) >= 5
    for before, stamp, shown in times:
        assert stamp == shown
        assert html.unescape(before).endswith(in_words(stamp)), (before, stamp)


def test_the_digest_is_that_of_the_source_file(page: Page) -> None:
    digest = hashlib.sha256(GOLDEN.read_bytes()).hexdigest()
    assert digest in page.text
    verify = page.text[page.text.index("How to verify this report"):]
    assert digest in verify and "sha256sum report.json" in verify


def test_statement_of_compliance_is_generated_from_the_counts(view: dict[str, Any], court: str) -> None:
    statement = section(court, '<p class="n statement">')
    ordered = Counter(r["verdict"] for r in view["results"] if r["kind"] == "ordered")
    assert dict(ordered) == {k: v for k, v in view["summary"]["counts_by_kind"]["ordered"].items() if v}
    assert statement.startswith(f"Overall status: {view['summary']['status'].upper()}.")
    assert f"Of the {sum(ordered.values())} results for ordered names, {ordered['blocked']} were blocked" in statement
    accessible = ordered["accessible"]
    assert f"{accessible} accessible ({accessible} violation{'' if accessible == 1 else 's'})" in statement
    for resolver in view["resolvers"]:
        if resolver["role"] == "subject":
            label = resolver["status"].capitalize()
            assert re.search(rf"{label}: [^.]*\b{re.escape(resolver['name'])}\b", statement), resolver["name"]
    for limit in ("DNS only", "one snapshot in time", "one vantage point", "may filter or fail"):
        assert limit in statement
    assert ("no IP address or URL target" in statement) == (not view["not_checkable"])
    for control in (r["name"] for r in view["resolvers"] if r["role"] == "control"):
        assert control in statement
    for order in view["orders"]:
        unverified = f"The order “{order['title']}” is unverified: it is known only from the reports listed"
        assert (unverified in statement) == (order["verification"] == "unverified")
    assert f"from the host {view['run']['vantage']}" in statement


def test_method_is_in_plain_words(page: Page) -> None:
    method = page.text[page.text.index("Method"):page.text.index("Results by resolver")]
    for phrase in ("subject", "control", "IPv4", "IPv6", "AAAA", "Health checks before and after",
                   "A silence or failure is never counted as blocked", "www."):
        assert phrase in method


def test_results_findings_and_evidence_cover_every_result(view: dict[str, Any], court: str, page: Page) -> None:
    results = view["results"]
    for number, result in enumerate(results, start=1):
        head = f"A.{number} {result['query_name']} ({result['kind']}) at {result['resolver']}: "
        assert head in page.text
        assert page.text[page.text.index(head) + len(head):].split(" ", 2)[1].rstrip(",") == result["verdict"]
        assert f'href="#ev-{number}"' in court and f"ev-{number}" in page.ids
    failures = [r for r in results if outcome(r) == "fail"]
    unknown = [r for r in results if outcome(r) == "unknown"]
    findings = page.text[page.text.index("Violations and inconclusive results"):page.text.index("How to verify")]
    assert f"Violations ({len(failures)})" in findings and f"Inconclusive results ({len(unknown)})" in findings
    for result in failures + unknown:
        assert result["detail"] in findings
    assert failures and court.count('class="mark">violation<') >= 2 * len(failures)  # in the table and the evidence


def test_raw_responses_are_in_hex(view: dict[str, Any], page: Page) -> None:
    observations = [o for r in view["results"] for o in r["observations"] if o["wire"]]
    observations += [o for o in view["controls"] if o["wire"]]
    assert observations
    for observation in observations:
        for line in hexdump(observation["wire"]).splitlines():
            assert " ".join(line.split()) in page.text
    assert "(no response bytes: nothing was received)" in page.text  # the timeouts of the unhealthy resolver


def test_no_script_and_nothing_fetched(court: str, page: Page) -> None:
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "img", "link", "iframe", "object", "embed", "svg", "base", "form", "video", "audio"}
    assert "<script" not in court.lower()
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs and "srcset" not in attrs
        if "href" in attrs:
            href = str(attrs["href"])
            assert href.startswith("#") and href[1:] in page.ids, href
    assert "url(" not in page.style and "@import" not in page.style
    assert "size: A4" in page.style and "counter(pages)" in page.style
    assert "|safe" not in (templates_dir() / "court.html").read_text(encoding="utf-8")


def test_the_same_report_renders_the_same_bytes(court: str, tmp_path: Path) -> None:
    assert render(GOLDEN, tmp_path / "again.html").decode("utf-8") == court


# --------------------------------------------------------------------------- hostile input


def test_hostile_report_renders_inert(view: dict[str, Any], tmp_path: Path) -> None:
    hostile = json.loads(json.dumps(view))
    hostile["orders"][0]["title"] = "<script>alert(1)</script>\x07"
    answered = next(o for r in hostile["results"] for o in r["observations"] if o["answers"])
    answered["answers"][0]["data"] = '"><img src=x onerror=alert(2)>'
    source = tmp_path / "hostile.json"
    source.write_text(json.dumps(hostile, indent=2), encoding="utf-8")
    text = render(source, tmp_path / "hostile.html").decode("utf-8")
    parsed = Page(text)
    assert "<script" not in text.lower() and "<img" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "<script>alert(1)</script>\ufffd" in parsed.text  # shown as text; the bell is not passed on
    assert '"><img src=x onerror=alert(2)>' in parsed.text
    assert "\x07" not in text
    assert not {tag for tag, _ in parsed.tags} & {"script", "img"}
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)


# --------------------------------------------------------------------------- PDF


@pytest.mark.slow
def test_pdf_says_what_the_html_says(view: dict[str, Any], tmp_path: Path) -> None:
    require(pdf_available(), "WeasyPrint (pip install 'blockaudit[pdf]')")
    require(shutil.which("pdftotext") is not None, "pdftotext (Debian package poppler-utils)")
    target = tmp_path / "court.pdf"
    data = render(GOLDEN, target, "pdf")
    assert data.startswith(b"%PDF")
    extracted = subprocess.run(["pdftotext", "-enc", "UTF-8", str(target), "-"], capture_output=True, text=True,
                               check=True).stdout
    text = " ".join(unicodedata.normalize("NFKC", extracted).split())
    order = view["orders"][0]
    assert order["authority"].upper() in text  # the caption sets the authority in capitals
    assert order["title"] in text
    assert "Case No. not stated" in text
    assert "blocked" in text and "accessible" in text and "inconclusive" in text
    assert hashlib.sha256(GOLDEN.read_bytes()).hexdigest() in text
    assert "Page 1 of" in text


def test_pdf_without_weasyprint_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint now raises ImportError
    monkeypatch.chdir(tmp_path)
    assert main(["render", str(GOLDEN), "--report", "pdf:x.pdf"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.endswith("\n")
    assert "blockaudit[pdf]" in err and "Traceback" not in err
    assert not (tmp_path / "x.pdf").exists()
