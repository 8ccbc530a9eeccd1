"""One renderer per format, all from the JSON view: Jinja templates for markup, csv for CSV."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, assert_never

import jinja2
import orjson

from checker.bundled import templates_dir
from checker.errors import UsageError
from checker.report import present as presentation
from checker.report import prometheus
from checker.report.escape import (
    annotation_message,
    annotation_property,
    csv_cell,
    md_cell,
    terminal_safe,
    xml_safe,
)

View = dict[str, Any]

MARKDOWN_LIMIT = 1024 * 1024
"""GitHub's job summary and comment limit (1 MiB); longer Markdown is truncated with a note."""
ANNOTATION_LIMIT = 50
"""GitHub shows at most this many annotations per job; the rest are counted in one notice."""


class Format(StrEnum):
    """Report formats that ``--report FORMAT:PATH`` accepts."""

    JSON = "json"
    HTML = "html"
    MD = "md"
    JUNIT = "junit"
    CSV = "csv"
    GITHUB = "github"
    COURT = "court"
    PDF = "pdf"
    PROMETHEUS = "prometheus"


TEMPLATES = {
    Format.HTML: "report.html",
    Format.MD: "report.md",
    Format.GITHUB: "report.md",
    Format.JUNIT: "junit.xml",
    Format.COURT: "court.html",
    Format.PDF: "court.html",
    Format.PROMETHEUS: "prometheus.prom",
}
"""The template each format renders (a ``--templates DIR`` file of the same name wins)."""

CSV_COLUMNS = (
    "run_id", "resolver", "operator", "address", "query_name", "domain", "kind", "orders",
    "verdict", "method", "reason", "violation", "a_rcode", "a_answers", "aaaa_rcode", "aaaa_answers",
    "ede", "elapsed_ms", "detail", "deadline_status", "due_at", "blocked_since", "on_time",
)
"""CSV columns, in order; documented in the README and never renamed."""


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What a render depends on besides the view: nothing else, so output is reproducible."""

    rendered_at: dt.datetime
    """The time reports state they were rendered (injected: the run's end, or SOURCE_DATE_EPOCH)."""
    source_sha256: str
    """SHA-256 of the JSON report the render comes from."""
    templates: Path | None = None
    """A folder whose templates override the bundled ones."""


LISTS = ("results", "controls")
"""The report's long lists: one entry a line, so a million results stay readable and quick to write."""


_ITEM_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""What writes an entry orjson refuses (a lone surrogate, an integer over 64 bits), the same way."""


def json_item_bytes(item: Any) -> bytes:
    """One entry of a long list, on one line, compact, as UTF-8: orjson writes it ten times faster
    than ``json`` (a million-name report is millions of entries), byte for byte as
    ``_ITEM_ENCODER`` would but for NaN (``null``: JSON has no NaN)."""
    try:
        return orjson.dumps(item)
    except orjson.JSONEncodeError:
        return _ITEM_ENCODER.encode(item).encode("utf-8")


def json_item(item: Any) -> str:
    """``json_item_bytes`` as text."""
    return json_item_bytes(item).decode("utf-8")


ITEM_SEPARATOR = ",\n    "
"""What comes before every entry of a long list but the first."""


def list_opening(name: str) -> str:
    """What comes before the first entry of the long list ``name``."""
    return f'\n  "{name}": [\n    '


def list_closing(name: str, empty: bool) -> str:
    """What ends the long list ``name``."""
    return f'\n  "{name}": [],' if empty else "\n  ],"


def json_frame(header: View) -> list[str]:
    """``header`` (whose ``results`` and ``controls`` are empty) indented by two, cut where each
    long list goes: one piece more than ``LISTS``. The report is the pieces with each list's
    ``list_opening``, its entries joined by ``ITEM_SEPARATOR`` and its ``list_closing`` between them."""
    rest = json.dumps(header, indent=2, ensure_ascii=False) + "\n"
    pieces = []
    for name in LISTS:
        marker = f'\n  "{name}": [],\n'
        before, found, rest = rest.partition(marker)
        if not found:
            raise ValueError(f"the report header has no empty {name!r} list")
        pieces.append(before)
        rest = "\n" + rest
    pieces.append(rest)
    return pieces


def json_chunks(header: View, lists: Mapping[str, Iterable[str]]) -> Iterator[str]:
    """The JSON report in pieces: ``json_frame(header)`` with each list's entries (already
    ``json_item`` text) spliced in, one a line."""
    pieces = json_frame(header)
    for name, before in zip(LISTS, pieces, strict=False):
        yield before
        first = True
        for line in lists.get(name, ()):
            yield (list_opening(name) if first else ITEM_SEPARATOR) + line
            first = False
        yield list_closing(name, first)
    yield pieces[-1]


def json_text(view: View) -> str:
    """The JSON report, exactly as written to disk (its bytes are what ``source_sha256`` hashes)."""
    header = {key: ([] if key in LISTS else value) for key, value in view.items()}
    if not all(key in view for key in LISTS):
        return json.dumps(view, indent=2, ensure_ascii=False) + "\n"
    return "".join(json_chunks(header, {name: map(json_item, view[name]) for name in LISTS}))


def sha256(text: str) -> str:
    """Hex SHA-256 of text encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def environment(extra: Path | None = None) -> jinja2.Environment:
    """The Jinja environment: strict, autoescaped for HTML/XML, user templates before ours."""
    folders = [str(extra)] if extra else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(templates_dir())]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "xml", "htm"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=xml_safe,
    )
    env.filters.update({
        "term": terminal_safe,
        "md": md_cell,
        "words": presentation.in_words,
        "hexdump": presentation.hexdump,
        "answers": presentation.answers_text,
        "outcome": presentation.outcome,
        "prom_label": prometheus.label,
        "prom_metrics": prometheus.metrics,
    })
    return env


def _context(view: View, options: RenderOptions, **extra: object) -> dict[str, object]:
    return {
        "report": view,
        "p": presentation.present(view),
        "meta": {
            "source_sha256": options.source_sha256,
            "rendered_at": options.rendered_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace(
                "+00:00", "Z"),
            "rendered_at_words": presentation.in_words(options.rendered_at),
        },
        **extra,
    }


def _template(env: jinja2.Environment, fmt: Format) -> jinja2.Template:
    name = TEMPLATES[fmt]
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(f"template error: {exc.message}", path=exc.filename or name, line=exc.lineno) from None


def _markdown(env: jinja2.Environment, view: View, options: RenderOptions, fmt: Format) -> str:
    template = _template(env, fmt)
    total = len(view["results"])
    limit = total
    while True:
        text = template.render(_context(view, options, limit=limit, total=total))
        if len(text.encode("utf-8")) <= MARKDOWN_LIMIT or limit == 0:
            return text
        limit //= 2


def _csv(view: View) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    resolvers = {r["name"]: r for r in view["resolvers"]}
    for result in view["results"]:
        by_type = {o["qtype"]: o for o in result["observations"]}
        a, aaaa = by_type.get("A", {}), by_type.get("AAAA", {})
        resolver = resolvers.get(result["resolver"], {})
        deadline = result.get("deadline") or {}
        ede = sorted({f"{e['code']}" + (f" {e['text']}" if e.get("text") else "")
                      for o in result["observations"] for e in o["ede"]})
        row = {
            "run_id": view["run"]["id"],
            "resolver": result["resolver"],
            "operator": resolver.get("operator", ""),
            "address": resolver.get("address", ""),
            "query_name": result["query_name"],
            "domain": result["domain"],
            "kind": result["kind"],
            "orders": ";".join(result["orders"]),
            "verdict": result["verdict"],
            "method": result["method"] or "",
            "reason": result["reason"] or "",
            "violation": "yes" if presentation.outcome(result) == "fail" else "no",
            "a_rcode": a.get("rcode") or a.get("error") or "",
            "a_answers": "; ".join(f"{x['type']} {x['data']}" for x in a.get("answers", [])),
            "aaaa_rcode": aaaa.get("rcode") or aaaa.get("error") or "",
            "aaaa_answers": "; ".join(f"{x['type']} {x['data']}" for x in aaaa.get("answers", [])),
            "ede": ";".join(ede),
            "elapsed_ms": max((o["elapsed_ms"] for o in result["observations"]), default=""),
            "detail": result.get("detail", ""),
            "deadline_status": deadline.get("status") or "",
            "due_at": deadline.get("due_at") or "",
            "blocked_since": deadline.get("blocked_since") or "",
            "on_time": "yes" if deadline.get("on_time") is True else "no" if deadline.get("on_time") is False else "",
        }
        writer.writerow([csv_cell(xml_safe(row[c])) for c in CSV_COLUMNS])
    return buffer.getvalue()


def _pdf(html: str) -> bytes:
    try:
        import weasyprint  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: PLC0415
    except ImportError:
        raise UsageError(
            "the pdf report needs WeasyPrint", hint="pip install 'blockaudit[pdf]'",
        ) from None
    # No base URL and a fetcher that refuses everything: the court report is self-contained,
    # and a PDF render must never reach the network.
    def no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
        raise ValueError(f"blockaudit does not fetch {url!r} while rendering a PDF")

    document = weasyprint.HTML(string=html, url_fetcher=no_fetch)
    data = document.write_pdf()
    assert isinstance(data, bytes)
    return data


def pdf_available() -> bool:
    """Whether WeasyPrint can be imported (the ``pdf`` extra is installed)."""
    try:
        import weasyprint  # type: ignore[import-not-found, import-untyped, unused-ignore]  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def render(fmt: Format, view: View, options: RenderOptions) -> bytes:
    """The report in one format, as the bytes to write."""
    env = environment(options.templates)
    match fmt:
        case Format.JSON:
            return json_text(view).encode("utf-8")
        case Format.CSV:
            return _csv(view).encode("utf-8")
        case Format.MD | Format.GITHUB:
            return _markdown(env, view, options, fmt).encode("utf-8")
        case Format.HTML | Format.JUNIT | Format.COURT | Format.PROMETHEUS:
            return _template(env, fmt).render(_context(view, options)).encode("utf-8")
        case Format.PDF:
            return _pdf(_template(env, fmt).render(_context(view, options)))
        case _:
            assert_never(fmt)


def github_annotations(view: View) -> str:
    """GitHub ``::error``/``::warning`` lines for violations and inconclusive results.

    Each points at the order file and the line of the target when the report knows it. At most
    ``ANNOTATION_LIMIT`` are written; a last ``::notice`` counts the rest.
    """
    lines: list[str] = []
    targets: dict[str, tuple[str, int | None]] = {}
    for order in view["orders"]:
        for item in order["targets"] + [t for a in order["amendments"] for t in a["targets"]]:
            if "domain" in item:
                targets.setdefault(item["domain"], (order["path"], item.get("line")))
        for name in order["exemptions"]:
            targets.setdefault(name, (order["path"], order.get("line")))
    findings = [(r, "error") for r in view["results"] if presentation.outcome(r) == "fail"]
    findings += [(r, "warning") for r in view["results"] if presentation.outcome(r) == "unknown"]
    for result, level in findings[:ANNOTATION_LIMIT]:
        path, line = targets.get(result["domain"], (None, None))
        props = []
        if path:
            props.append(f"file={annotation_property(path)}")
            if line:
                props.append(f"line={line}")
        title = f"{result['verdict']}: {result['query_name']} @ {result['resolver']}"
        props.append(f"title={annotation_property(title)}")
        lines.append(f"::{level} {','.join(props)}::{annotation_message(result.get('detail', ''))}")
    if len(findings) > ANNOTATION_LIMIT:
        lines.append(f"::notice::{len(findings) - ANNOTATION_LIMIT} more findings are in the job summary and reports")
    return "".join(line + "\n" for line in lines)


def summary(view: View, templates: Path | None = None) -> str:
    """The short stderr summary: one line per resolver and per operator, then the run."""
    context = dict(view)
    context["violations"] = [r for r in view["results"] if presentation.outcome(r) == "fail"]
    context["counts"] = {
        "names": view["summary"]["names"],
        "subjects": sum(1 for r in view["resolvers"] if r["role"] == "subject"),
        "controls": sum(1 for r in view["resolvers"] if r["role"] == "control"),
    }
    return environment(templates).get_template("summary.txt").render(context)
