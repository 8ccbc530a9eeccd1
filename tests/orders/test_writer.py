"""Tests of checker.orders.writer: order files the loader reads back, byte for byte deterministic."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.errors import UsageError
from checker.models import Order, OrderType, Source, Target, TargetKind, Verification
from checker.orders.loader import load_order
from checker.orders.writer import OrderMeta, quote, scalar, sort_key, write_order

META = OrderMeta(
    id="test-import", title="Test v. Example", authority="Test Court", jurisdiction="DE",
    order_type=OrderType.TRO, issued=dt.date(2026, 1, 10),
)


def dom(value: str, subdomains: bool = False, site: str | None = None) -> Target:
    return Target(kind=TargetKind.DOMAIN, value=value, subdomains=subdomains, site=site)


def ip(value: str) -> Target:
    return Target(kind=TargetKind.IP, value=value)


def link(value: str) -> Target:
    return Target(kind=TargetKind.URL, value=value)


def write(tmp_path: Path, meta: OrderMeta = META, targets: list[Target] | None = None,
          exemptions: list[Target] | None = None, **kwargs: object) -> tuple[str, Order]:
    out = io.StringIO()
    write_order(out, meta, targets if targets is not None else [dom("example.com")], exemptions or [],
                **kwargs)  # type: ignore[arg-type]
    path = tmp_path / "order.yaml"
    path.write_text(out.getvalue(), encoding="utf-8")
    return out.getvalue(), load_order(path)


def test_minimal_order_round_trips(tmp_path: Path) -> None:
    text, order = write(tmp_path)
    assert order.id == "test-import"
    assert order.title == "Test v. Example"
    assert order.jurisdiction == "DE"
    assert order.order_type is OrderType.TRO
    assert order.issued == dt.date(2026, 1, 10)
    assert order.verification is Verification.UNVERIFIED
    assert order.case_number is None
    assert [(t.kind, t.value) for t in order.targets] == [(TargetKind.DOMAIN, "example.com")]
    assert "case_number: null\n" in text


def test_targets_are_sorted_one_a_line_in_flow_style(tmp_path: Path) -> None:
    targets = [
        link("https://b.example/x"), ip("10.0.0.0/8"), dom("b.example"), ip("2001:db8::1"),
        dom("a.example", subdomains=True, site="site-a"), ip("9.9.9.9"), link("https://a.example/"),
    ]
    text, order = write(tmp_path, targets=targets)
    lines = text.split("targets:\n", 1)[1].splitlines()
    assert lines == [
        "  - {domain: a.example, subdomains: true, site: site-a}",
        "  - {domain: b.example}",
        '  - {ip: "9.9.9.9"}',
        '  - {ip: "10.0.0.0/8"}',
        '  - {ip: "2001:db8::1"}',
        '  - {url: "https://a.example/"}',
        '  - {url: "https://b.example/x"}',
    ]
    assert [t.value for t in order.targets] == [
        "a.example", "b.example", "9.9.9.9", "10.0.0.0/8", "2001:db8::1", "https://a.example/",
        "https://b.example/x",
    ]
    assert order.targets[0].subdomains is True
    assert order.targets[0].site == "site-a"


def test_same_input_in_any_order_gives_the_same_bytes(tmp_path: Path) -> None:
    targets = [dom(f"n{i}.example", subdomains=i % 3 == 0) for i in range(50)] + [ip(f"192.0.2.{i}") for i in range(9)]
    first, _ = write(tmp_path, targets=targets, exemptions=[dom("keep.example"), dom("also.example")])
    second, _ = write(tmp_path, targets=targets[::-1], exemptions=[dom("also.example"), dom("keep.example")])
    assert first == second


def test_duplicates_are_written_once_with_subdomains_if_either_has_them(tmp_path: Path) -> None:
    text, order = write(tmp_path, targets=[dom("a.example"), dom("a.example", subdomains=True), dom("a.example")])
    assert text.count("a.example") == 1
    assert order.targets[0].subdomains is True


def test_exemptions_block_list_sorted(tmp_path: Path) -> None:
    text, order = write(tmp_path, exemptions=[dom("z.example"), dom("b.example"), dom("b.example")])
    assert text.endswith("exemptions:\n  - b.example\n  - z.example\n")
    assert [t.value for t in order.exemptions] == ["b.example", "z.example"]


def test_target_and_exemption_of_one_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"example\.com is both a target and an exemption"):
        write(tmp_path, exemptions=[dom("example.com")])


def test_an_order_without_targets_is_refused_before_writing() -> None:
    out = io.StringIO()
    with pytest.raises(UsageError, match="at least one target"):
        write_order(out, META, [])
    assert out.getvalue() == ""


@pytest.mark.parametrize(("field", "value", "message"), [
    ("id", "Bad_Id", "order id"),
    ("jurisdiction", "ZZZ", "ISO 3166"),
    ("jurisdiction", "", "ISO 3166"),
    ("title", "  ", "title must not be empty"),
    ("authority", "", "authority must not be empty"),
    ("inferred", ("title",), "cannot be marked inferred"),
    ("sources", (Source(url="ftp://x"),), "not an http"),
])
def test_metadata_the_loader_would_refuse_is_refused(field: str, value: object, message: str) -> None:
    meta = OrderMeta(**{**{f: getattr(META, f) for f in OrderMeta.__slots__}, field: value})  # type: ignore[arg-type]
    out = io.StringIO()
    with pytest.raises(UsageError, match=message):
        write_order(out, meta, [dom("example.com")])
    assert out.getvalue() == ""


def test_full_metadata_round_trips(tmp_path: Path) -> None:
    meta = OrderMeta(
        id="full", title='Title with "quotes", a colon: and # hash', authority="Суд «Москва»\\",
        jurisdiction="GB-ENG", order_type=OrderType.ADMINISTRATIVE, issued=dt.date(2024, 2, 29),
        verification=Verification.VERIFIED, case_number="2:24-cv-1", judge="J. Doe",
        sources=(Source(url="https://example.org/a?b=c#d", note="note: with colon"), Source(url="http://x.example")),
        notes="line one\nline two\ttab\x07bell \u2028 sep", inferred=("issued",),
    )
    _, order = write(tmp_path, meta=meta)
    assert order.title == meta.title
    assert order.authority == meta.authority
    assert order.jurisdiction == "GB-ENG"
    assert order.case_number == "2:24-cv-1"
    assert order.judge == "J. Doe"
    assert order.sources == meta.sources
    assert order.notes == meta.notes
    assert order.inferred == ("issued",)
    assert order.verification is Verification.VERIFIED


def test_comments_come_first_and_cannot_break_out(tmp_path: Path) -> None:
    text, order = write(tmp_path, comments=["first line", "two\nlines", "ctl \x1b[31m"])
    assert text.startswith("# first line\n# two\n# lines\n# ctl ?[31m\nschema: blockaudit/order/1\n")
    assert order.id == "test-import"


def test_notes_per_target_are_written_and_accepted(tmp_path: Path) -> None:
    notes = {"a.example": 'Blocked by the "CUII"; added 2026-06-15'}
    text, order = write(tmp_path, targets=[dom("a.example"), dom("b.example")], note_of=lambda t: notes.get(t.value))
    assert '  - {domain: a.example, note: "Blocked by the \\"CUII\\"; added 2026-06-15"}' in text
    assert len(order.targets) == 2


@pytest.mark.parametrize("name", ["1.5e-3", "yes.no", "true.example", "null.example", "0x1f.example", "1-2.a3"])
def test_names_yaml_would_read_as_other_types_are_quoted(tmp_path: Path, name: str) -> None:
    _, order = write(tmp_path, targets=[dom(name)])
    assert order.targets[0].value == name


def test_scalar_and_quote() -> None:
    assert scalar("example.com") == "example.com"
    assert scalar("1.5e-3") == '"1.5e-3"'
    assert scalar("Has Upper") == '"Has Upper"'
    assert quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert quote("\x00\x85\ufeff\ud800") == '"\\x00\\x85\\ufeff\\ud800"'


def test_sort_key_orders_kinds_then_values() -> None:
    targets = [link("https://a/"), ip("::1"), ip("10.0.0.1"), dom("z.example"), ip("9.0.0.0/8")]
    assert [t.value for t in sorted(targets, key=sort_key)] == ["z.example", "9.0.0.0/8", "10.0.0.1", "::1", "https://a/"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "" and "\x00" not in s))
def test_any_title_and_note_round_trip(tmp_path: Path, text: str) -> None:
    meta = OrderMeta(**{**{f: getattr(META, f) for f in OrderMeta.__slots__}, "title": text, "notes": text})  # type: ignore[arg-type]
    _, order = write(tmp_path, meta=meta)
    assert order.title == text
    assert order.notes == text


def test_presorted_targets_stream_from_a_generator_and_are_checked(tmp_path: Path) -> None:
    def rows() -> Iterator[Target]:
        yield dom("a.example", subdomains=True)
        yield dom("b.example")
        yield ip("192.0.2.1")
        yield ip("2001:db8::/32")
        yield link("https://a.example/")

    out = io.StringIO()
    assert write_order(out, META, rows(), presorted=True) == 5
    sorted_out = io.StringIO()
    write_order(sorted_out, META, list(rows())[::-1])
    assert out.getvalue() == sorted_out.getvalue()
    with pytest.raises(ValueError, match=r"not sorted: a\.example after b\.example"):
        write_order(io.StringIO(), META, iter([dom("b.example"), dom("a.example")]), presorted=True)
    with pytest.raises(UsageError, match="at least one target"):
        write_order(io.StringIO(), META, iter([]), presorted=True)
