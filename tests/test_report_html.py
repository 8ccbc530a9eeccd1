"""The HTML report: self-contained, escaped, complete without script, and working in a real browser."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from checker.cli import main
from checker.report.present import outcome

GOLDEN = Path(__file__).resolve().parent / "golden" / "input.json"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Elements that load something by themselves: the report must have none of them.
LOADING_TAGS = {"link", "img", "iframe", "frame", "object", "embed", "audio", "video", "source", "track",
                "picture", "base", "portal", "applet"}
# Attributes that make the browser fetch or navigate on their own.
LOADING_ATTRS = {"src", "srcset", "poster", "background", "data", "action", "formaction", "ping", "xlink:href",
                 "manifest", "codebase", "longdesc"}

HOSTILE_TITLE = "<script>alert(1)</script>\" onmouseover=x '"
HOSTILE_DATA = "<img src=x onerror=alert(2)>"
HOSTILE_RESOLVER = "isp-partial\"><svg onload=alert(4)>"


# --------------------------------------------------------------------------- rendering and parsing


def render_html(source: Path, out: Path) -> str:
    """The HTML report of a saved JSON report, rendered through the command line."""
    assert main(["render", str(source), "--report", f"html:{out}"]) == 0
    return out.read_text(encoding="utf-8")


class Page(HTMLParser):
    """What a test needs of a page: its start tags in order, text, styles, scripts, and the matrix cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self.cells: dict[tuple[str, str], str] = {}
        """Summary text of each matrix cell, by (query name, resolver)."""
        self.row_names: list[str] = []
        self._raw: str | None = None
        self._row: str | None = None
        self._in_row_header = False
        self._cell: str | None = None
        self._summary_depth = 0
        self._in_matrix = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in ("style", "script"):
            self._raw = ""
        if tag == "table" and attributes.get("id") == "matrix":
            self._in_matrix = True
        if not self._in_matrix:
            return
        if tag == "th" and attributes.get("scope") == "row":
            self._in_row_header, self._row = True, ""
        elif tag == "td" and attributes.get("data-resolver") is not None and self._row is not None:
            self._cell = attributes["data-resolver"]
            self.cells[(self._row, self._cell or "")] = ""
        elif tag == "summary" and self._cell is not None:
            self._summary_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script") and self._raw is not None:
            (self.styles if tag == "style" else self.scripts).append(self._raw)
            self._raw = None
        if tag == "table":
            self._in_matrix = False
        elif tag == "th" and self._in_row_header:
            self._in_row_header = False
            self._row = (self._row or "").split()[0]
            self.row_names.append(self._row)
        elif tag == "td":
            self._cell = None
        elif tag == "summary" and self._summary_depth:
            self._summary_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._raw is not None:
            self._raw += data
            return
        self.text.append(data)
        if self._in_row_header:
            self._row = (self._row or "") + data
        if self._summary_depth and self._cell is not None and self._row is not None:
            self.cells[(self._row, self._cell)] += data

    def index(self, tag: str, **attrs: str) -> int:
        """Position of the first start tag with these attributes."""
        for position, (name, attributes) in enumerate(self.tags):
            if name == tag and all(attributes.get(k) == v for k, v in attrs.items()):
                return position
        raise AssertionError(f"no <{tag} {attrs}> in the page")

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def csp_hashes(page: Page) -> tuple[str, list[str]]:
    """The Content-Security-Policy of the page and the script hashes it allows."""
    policies = [a.get("content") or "" for t, a in page.tags
                if t == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy"]
    assert len(policies) == 1, "the report sets exactly one Content-Security-Policy"
    return policies[0], re.findall(r"'sha256-([A-Za-z0-9+/=]+)'", policies[0])


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    render_html(GOLDEN, path)
    return path


@pytest.fixture(scope="module")
def html(report_path: Path) -> str:
    return report_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(html: str) -> Page:
    return parse(html)


# --------------------------------------------------------------------------- the static page


def test_nothing_is_loaded_from_anywhere(page: Page) -> None:
    for tag, attrs in page.tags:
        assert tag not in LOADING_TAGS, f"<{tag}> would load a resource"
        for name, value in attrs.items():
            assert name not in LOADING_ATTRS, f"<{tag} {name}={value!r}> would load a resource"
            assert not name.startswith("on"), f"<{tag} {name}> is an inline event handler"
            if name == "href":
                target = (value or "").strip()
                assert tag == "a", f"<{tag} href={target!r}>: only plain links may have an href"
                assert target.startswith(("#", "https://", "http://")), f"link to {target!r}"
            if name == "style":
                assert "url(" not in (value or "").lower()
    for css in page.styles:
        assert "url(" not in css.lower() and "@import" not in css.lower()
        assert "//" not in re.sub(r"/\*.*?\*/", "", css, flags=re.S).replace("http://www.w3.org", "")
    policy, _ = csp_hashes(page)
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]


def test_the_csp_pins_the_inline_script(page: Page) -> None:
    _, allowed = csp_hashes(page)
    assert page.scripts, "the report has its filter script"
    for script in page.scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        assert digest in allowed, (
            f"the script changed: put 'sha256-{digest}' in the Content-Security-Policy of templates/report.html")
    assert all(not a.get("src") for t, a in page.tags if t == "script")


def test_the_script_does_not_carry_report_data(page: Page, golden: dict[str, Any]) -> None:
    script = "\n".join(page.scripts)
    for value in [golden["run"]["id"], *(r["name"] for r in golden["resolvers"]),
                  *(r["query_name"] for r in golden["results"])]:
        assert value not in script


def test_headline_first_then_violations_then_matrix(page: Page, golden: dict[str, Any]) -> None:
    headline = page.index("h1", id="status")
    violations = page.index("h2", id="violations")
    matrix = page.index("table", id="matrix")
    orders = page.index("h2", id="orders")
    run = page.index("h2", id="run")
    chart = page.index("svg")
    assert headline < violations < matrix < orders < run < chart
    status = golden["summary"]["status"]
    assert status.capitalize() in page.all_text()
    tiles = page.all_text()
    failures = sum(1 for r in golden["results"] if outcome(r) == "fail")
    assert f"✘ {failures} violations" in tiles


def test_every_result_has_a_cell_with_its_verdict_and_evidence(page: Page, golden: dict[str, Any]) -> None:
    results = golden["results"]
    for result in results:
        summary = " ".join(page.cells[(result["query_name"], result["resolver"])].split())
        symbol = {"pass": "✔", "fail": "✘", "unknown": "?", "none": "∅"}[outcome(result)]
        assert summary.startswith(f"{symbol} {result['verdict']}"), (result["query_name"], result["resolver"], summary)
    assert len(page.cells) == len(results)
    details = sum(1 for t, _ in page.tags if t == "details")
    assert details >= len(results)
    text = page.all_text()
    for result in results:
        if result.get("detail"):
            assert " ".join(result["detail"].split()) in text


def test_matrix_groups_resolvers_by_operator(page: Page, golden: dict[str, Any]) -> None:
    subjects = [r for r in golden["resolvers"] if r["role"] == "subject"]
    groups = [(a.get("colspan"), a) for t, a in page.tags if t == "th" and a.get("scope") == "colgroup"]
    operators = {r["operator"] for r in subjects}
    assert len(groups) == len(operators)
    assert sum(int(span or 1) for span, _ in groups) == len(subjects)
    kinds = {r["query_name"]: r["kind"] for r in golden["results"]}
    assert sorted(page.row_names) == sorted(kinds)
    row_kinds = [a.get("class") or "" for t, a in page.tags if t == "span" and "kind " in (a.get("class") or "")]
    assert {c.split("k-")[1] for c in row_kinds} >= set(kinds.values())


def test_evidence_shows_each_observation(page: Page, golden: dict[str, Any]) -> None:
    text = page.all_text()
    for result in golden["results"]:
        for obs in result["observations"]:
            for answer in obs["answers"]:
                assert answer["data"] in text
    hexdumps = [t for t, a in page.tags if t == "pre" and "hex" in (a.get("class") or "")]
    wires = sum(1 for r in golden["results"] for o in r["observations"] if o["wire"])
    assert len(hexdumps) >= wires
    for label in ("Rcode", "Flags", "Answers", "Authority", "EDE", "Time", "Attempts", "Error"):
        assert label in text


def test_orders_and_run_are_described(page: Page, golden: dict[str, Any]) -> None:
    text = page.all_text()
    order = golden["orders"][0]
    for value in (order["title"], order["authority"], order["jurisdiction"], order["path"]):
        assert value in text
    if order["case_number"] is None:
        assert "Case number not stated" in text
    links = [a.get("href") for t, a in page.tags if t == "a"]
    for source in order["sources"]:
        assert source["url"] in links
    run = golden["run"]
    assert run["id"] in text and run["started_at"] in text and run["finished_at"] in text
    for resolver in golden["resolvers"]:
        assert resolver["address"] in text and resolver["health"]["detail"] in text


def test_accessible_markup(page: Page) -> None:
    assert page.tags[0] == ("html", {"lang": "en"})
    for tag, attrs in page.tags:
        if tag == "th":
            assert attrs.get("scope") in ("row", "col", "colgroup", "rowgroup"), attrs
    ids = [a["id"] for _, a in page.tags if a.get("id")]
    assert len(ids) == len(set(ids)), "ids are unique"
    svg = next(a for t, a in page.tags if t == "svg")
    assert svg.get("role") == "img" and svg.get("aria-labelledby")
    assert sum(1 for t, _ in page.tags if t == "title") > 1, "the chart's segments have titles"


def test_complete_without_script(page: Page) -> None:
    """The filter box and buttons are made by the script; without it nothing is missing or dead."""
    assert not [t for t, _ in page.tags if t in ("input", "button", "form", "noscript")]
    tools = next(a for t, a in page.tags if a.get("id") == "matrix-tools")
    assert "hidden" in tools
    assert not [a for t, a in page.tags if t == "details" and "open" in a]


def test_no_markup_is_escaped_twice(page: Page) -> None:
    """Macro output is markup, not text: a template's own tags never show as text."""
    text = page.all_text()
    assert "<span" not in text and "<details" not in text and "&lt;" not in text


def test_the_same_report_renders_the_same_bytes(tmp_path: Path, html: str) -> None:
    assert render_html(GOLDEN, tmp_path / "again.html") == html


# --------------------------------------------------------------------------- hostile input


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace_strings(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    return new if value == old else value


def hostile_report(golden: dict[str, Any]) -> dict[str, Any]:
    """The golden report with markup, a script URL and control characters wherever text goes."""
    report: dict[str, Any] = _replace_strings(copy.deepcopy(golden), "isp-partial", HOSTILE_RESOLVER)
    order = report["orders"][0]
    order["title"] = HOSTILE_TITLE
    order["notes"] = "bell\x07 and escape\x1b[31m"
    order["sources"].append({"url": "javascript:alert(3)", "note": HOSTILE_DATA})
    order["case_number"] = "</dd></dl><script>alert(5)</script>"
    result = next(r for r in report["results"] if r["observations"] and r["observations"][0]["answers"])
    result["observations"][0]["answers"][0]["data"] = HOSTILE_DATA
    result["observations"][0]["ede"] = [{"code": 16, "text": HOSTILE_DATA}]
    result["detail"] = HOSTILE_DATA
    report["run"]["vantage"] = "</title></style><script>alert(6)</script>"
    return report


def test_hostile_text_stays_text(tmp_path: Path, golden: dict[str, Any]) -> None:
    source = tmp_path / "hostile.json"
    source.write_text(json.dumps(hostile_report(golden), ensure_ascii=False), encoding="utf-8")
    html = render_html(source, tmp_path / "hostile.html")
    for raw in ("<script>alert", "<img src=x", "<svg onload", "\x07", "\x1b"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34; onmouseover=x &#39;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    page = parse(html)
    text = page.all_text()
    assert HOSTILE_TITLE in text and HOSTILE_DATA in text and HOSTILE_RESOLVER in text
    assert sum(1 for t, _ in page.tags if t == "script") == 1
    assert sum(1 for t, _ in page.tags if t == "svg") == 1
    for tag, attrs in page.tags:
        assert tag not in LOADING_TAGS
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "a":
            assert (attrs.get("href") or "").startswith(("#", "https://", "http://"))
    cells = [r for (row, r) in page.cells if r == HOSTILE_RESOLVER]
    assert cells, "the hostile resolver name is kept intact in the data-resolver attribute"
    test_the_csp_pins_the_inline_script(page)


# --------------------------------------------------------------------------- a real browser


def _browser_tools() -> None:
    """Skip when headless Chromium and Selenium are missing, except in CI, where that is a failure."""
    problems = [f"{path} is missing" for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append("Python package selenium is missing")
    if problems:
        message = "; ".join(problems) + " (apt-get install chromium chromium-driver; pip install selenium)"
        if os.environ.get("CI") == "true":
            pytest.fail("browser test cannot run in CI: " + message)
        pytest.skip(message)


@pytest.fixture
def chrome() -> Iterator[Any]:
    """Start headless Chromium sessions (``chrome(js=...)``) and stop them all afterwards."""
    _browser_tools()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []
    profiles: list[str] = []

    def start(js: bool = True) -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        profiles.append(tempfile.mkdtemp(prefix="blockaudit-chrome-"))
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--disable-extensions", "--window-size=1400,1000",
                         f"--user-data-dir={profiles[-1]}"):
            options.add_argument(argument)
        if not js:
            options.add_argument("--blink-settings=scriptEnabled=false")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(60)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


def _severe(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _rendered(driver: Any, element: Any) -> bool:
    """Whether the element is laid out and visible (Selenium's is_displayed() calls everything inside a
    closed <details> hidden, even where CSS shows it)."""
    return bool(driver.execute_script(
        "return arguments[0].checkVisibility() && arguments[0].getBoundingClientRect().height > 0", element))


def _visible_names(driver: Any) -> set[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    return {row.find_element(By.CSS_SELECTOR, "th .mono").text for row in rows if row.is_displayed()}


@pytest.mark.slow
def test_in_a_browser(chrome: Any, report_path: Path, golden: dict[str, Any], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = chrome()
    driver.get(report_path.as_uri())
    assert _severe(driver) == []
    names = {r["query_name"] for r in golden["results"]}
    assert _visible_names(driver) == names

    box = driver.find_element(By.ID, "matrix-filter")
    assert box.is_displayed()
    target = next(r for r in golden["results"] if r["query_name"].startswith("www."))["query_name"]
    box.send_keys(target)
    assert _visible_names(driver) == {target}
    box.clear()
    box.send_keys("isp-partial accessible")
    expected = {r["query_name"] for r in golden["results"]
                if r["resolver"] == "isp-partial" and r["verdict"] == "accessible"}
    assert expected and _visible_names(driver) == expected
    box.send_keys(Keys.ESCAPE)
    assert _visible_names(driver) == names
    box.send_keys("no-such-name.invalid")
    assert _visible_names(driver) == set()
    assert driver.find_element(By.ID, "matrix-empty").is_displayed()
    box.send_keys(Keys.ESCAPE)

    cell = driver.find_element(By.CSS_SELECTOR, "#matrix td.cell details")
    evidence = cell.find_element(By.CSS_SELECTOR, ".ev")
    assert not evidence.is_displayed()
    cell.find_element(By.TAG_NAME, "summary").click()
    assert cell.get_attribute("open") is not None and evidence.is_displayed()
    raw = cell.find_element(By.CSS_SELECTOR, "details.raw")
    raw.find_element(By.TAG_NAME, "summary").click()
    assert re.match(r"0000  [0-9a-f]{2} ", raw.find_element(By.CSS_SELECTOR, "pre.hex").text)

    buttons = {b.text: b for b in driver.find_elements(By.CSS_SELECTOR, "#matrix-tools button")}
    buttons["Expand all evidence"].click()
    assert all(d.get_attribute("open") is not None for d in driver.find_elements(By.CSS_SELECTOR, "details.evidence"))
    buttons["Collapse all"].click()
    assert all(d.get_attribute("open") is None for d in driver.find_elements(By.CSS_SELECTOR, "details.evidence"))

    screenshot = tmp_path / "report.png"
    assert driver.save_screenshot(str(screenshot))
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert _severe(driver) == []


@pytest.mark.slow
def test_in_a_browser_without_script_and_in_print(chrome: Any, report_path: Path, golden: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = chrome(js=False)
    driver.get(report_path.as_uri())
    assert driver.find_elements(By.ID, "matrix-filter") == []
    assert not driver.find_element(By.ID, "matrix-tools").is_displayed()
    assert _visible_names(driver) == {r["query_name"] for r in golden["results"]}
    cell = driver.find_element(By.CSS_SELECTOR, "#matrix td.cell details")
    cell.find_element(By.TAG_NAME, "summary").click()
    assert cell.find_element(By.CSS_SELECTOR, ".ev").is_displayed()

    # Print: the violations' evidence is expanded by CSS alone; the rest stays as the reader left it.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    violations = driver.find_elements(By.CSS_SELECTOR, ".finding details.evidence")
    assert len(violations) == sum(1 for r in golden["results"] if outcome(r) == "fail")
    for details in violations:
        assert details.get_attribute("open") is None
        assert _rendered(driver, details.find_element(By.CSS_SELECTOR, ".ev"))
        assert _rendered(driver, details.find_element(By.CSS_SELECTOR, "pre.hex"))
    closed = driver.find_elements(By.CSS_SELECTOR, "#matrix td.cell details:not([open]) .ev")
    assert closed and not _rendered(driver, closed[0])
    assert not driver.find_element(By.CSS_SELECTOR, "nav.toc").is_displayed()
    pdf = base64.b64decode(driver.print_page())
    assert pdf.startswith(b"%PDF")
    assert _severe(driver) == []
