"""Tests of checker.orders.names: normalising host names and matching names below a domain."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checker.orders.names import MAX_LABEL, MAX_NAME, InvalidName, checked, is_within, normalise
from tests.fuzzing import fuzz

# A name of exactly 253 octets: 63 + 1 + 63 + 1 + 63 + 1 + 61.
NAME_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("EXAMPLE.COM", "example.com"),
        ("example.com.", "example.com"),
        ("Example.Com.", "example.com"),
        ("  example.com  ", "example.com"),
        ("www.sub.example.co.uk", "www.sub.example.co.uk"),
        ("1.2.3.4.example", "1.2.3.4.example"),
        ("a-b.example", "a-b.example"),
        # IDN to A-label under IDNA 2008 (UTS 46, non-transitional)
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.DE.", "xn--bcher-kva.de"),
        ("Bücher.De", "xn--bcher-kva.de"),
        ("ß.de", "xn--zca.de"),  # IDNA 2003 / transitional would give ss.de
        ("faß.de", "xn--fa-hia.de"),
        ("straße.de", "xn--strae-oqa.de"),
        ("日本.jp", "xn--wgv71a.jp"),
        ("bücher。de", "xn--bcher-kva.de"),  # ideographic full stop is a label separator
        # A-labels stay as they are, lower-cased
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("XN--BCHER-KVA.DE", "xn--bcher-kva.de"),
        ("xn--zca.de.", "xn--zca.de"),
        # length limits are inclusive
        ("a" * MAX_LABEL + ".com", "a" * MAX_LABEL + ".com"),
        (NAME_253, NAME_253),
        (NAME_253 + ".", NAME_253),  # the trailing dot does not count
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_transitional_mapping_is_not_used() -> None:
    assert normalise("ß.de") != "ss.de"


def test_limits_are_the_dns_ones() -> None:
    assert (MAX_LABEL, MAX_NAME) == (63, 253)
    assert len(NAME_253) == 253


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty name"),
        ("   ", "empty name"),
        ("a..example.com", "empty label"),
        (".example.com", "empty label"),
        (".", "root"),
        ("a" * 64 + ".com", "64 octets"),
        (NAME_253 + "e", "254 octets"),
        (".".join(["a" * 60] * 5), "more than 253"),
        ("foo_bar.com", "foo_bar"),
        ("_dmarc.example.com", "_dmarc"),
        ("-foo.com", "-foo"),
        ("foo-.com", "foo-"),
        ("localhost", "single label"),
        ("com", "single label"),
        ("com.", "single label"),
        ("192.0.2.1", "IP address"),
        ("192.0.2.1.", "IP address"),
        ("example.123", "IP address"),
        ("2001:db8::1", "2001:db8::1"),
        ("https://example.com/", "URL"),
        ("http://example.com", "URL"),
        ("example.com/path", "URL"),
        ("*.example.com", "wildcard"),
        ("xn--zz.com", "A-label"),
        ("XN--ZZ.com", "A-label"),
        ("xn--.com", "A-label"),
        ("xn--n3h.com", "A-label"),  # the snowman: valid in IDNA 2003, not in IDNA 2008
        ("bücher.xn--zz", "IDNA 2008"),
        ("☃.com", "IDNA 2008"),
        ("a_b.bücher.de", "IDNA 2008"),
        ("exa mple.com", "white space"),
        ("example.com x", "white space"),
        ("exa\tmple.com", "white space"),
        ("exa\u3000mple.com", "white space"),
    ],
)
def test_invalid_names_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidName) as info:
        normalise(raw)
    assert reason in str(info.value)


def test_invalid_name_is_a_value_error() -> None:
    assert issubclass(InvalidName, ValueError)


@pytest.mark.parametrize(
    ("name", "domain", "expected"),
    [
        ("example.com", "example.com", True),
        ("www.example.com", "example.com", True),
        ("a.b.c.example.com", "example.com", True),
        ("notexample.com", "example.com", False),
        ("example.com.evil", "example.com", False),
        ("example.com", "www.example.com", False),
        ("example.org", "example.com", False),
        ("xn--bcher-kva.de", "xn--bcher-kva.de", True),
        ("www.xn--bcher-kva.de", "xn--bcher-kva.de", True),
    ],
)
def test_is_within(name: str, domain: str, expected: bool) -> None:
    assert is_within(name, domain) is expected


def test_reserved_double_hyphen_labels_are_refused() -> None:
    with pytest.raises(InvalidName, match="IDNA reserves"):
        normalise("ab--cd.com")
    assert normalise("xn--bcher-kva.de") == "xn--bcher-kva.de"


@fuzz(4000, "loaders")
@given(st.text(alphabet="aAzZ09-._ \t\u212a\u0130xn\u00fc", max_size=80)
       | st.lists(st.text(alphabet="ab9-", min_size=0, max_size=66), min_size=1, max_size=6).map(".".join))
@example("k.test")
@example("\u212a.test")  # KELVIN SIGN: lower() makes it ASCII "k"; IDNA decides, not the fast path
@example("a--b.test")
@example("xn--bcher-kva.de")
@example("1.2.3.4")
@example(NAME_253 + "x")
def test_the_fast_path_agrees_with_every_check(raw: str) -> None:
    """``normalise`` takes a common name at once; it must give what the checks one by one give."""
    try:
        expected: str | None = checked(raw)
    except InvalidName:
        expected = None
    try:
        got: str | None = normalise(raw)
    except InvalidName:
        got = None
    assert got == expected
