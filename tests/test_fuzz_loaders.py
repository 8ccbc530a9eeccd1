"""Fuzzing the YAML loaders (orders, resolvers, fingerprints): a clean load or a located error, nothing else.

Three kinds of input for each loader: valid documents with one to three fields broken (a wrong
type, a missing or unknown key, an odd name, a huge number, unicode), byte mutations of valid
files, and text or bytes of no shape at all. Every run counts into the ``loaders`` group of the
fuzz budget (``tests/fuzzing.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from checker import yamlfile
from checker.deadlines import order_dues
from checker.errors import BlockauditError, FingerprintError, OrderError, ResolverConfigError
from checker.fingerprints import BUNDLED, load_fingerprints
from checker.models import Fingerprint, Order, ResolverSet, TargetKind
from checker.orders.loader import load_order, merge
from checker.orders.names import MAX_LABEL, MAX_NAME, normalise
from checker.resolvers import load_resolvers
from checker.yamlfile import read_text
from tests.fuzzing import fuzz
from tests.mutate import HUGE, Entropy, broken, dump, entropy, expect_located, frame, mutate, write

# --------------------------------------------------------------------------- seeds

ORDER_MINIMAL: dict[str, Any] = {
    "schema": "blockaudit/order/1", "id": "de-test-1", "title": "Test v. Site", "authority": "LG Test",
    "jurisdiction": "DE", "order_type": "preliminary_injunction", "issued": dt.date(2026, 4, 14),
    "verification": "unverified", "targets": [{"domain": "example.org", "subdomains": True, "site": "site"}],
}
ORDER_FULL: dict[str, Any] = {
    **ORDER_MINIMAL,
    "judge": "J. Doe", "case_number": None,
    "sources": [{"url": "https://example.net/a", "note": "report"}],
    "valid": {"from": dt.date(2026, 4, 14), "until": None},
    "deadline": {"within": "P5D", "from": "issued"},
    "served": "2026-04-15T09:00:00Z", "notified": dt.date(2026, 4, 16),
    "targets": [
        {"domain": "bücher.example", "subdomains": True, "site": "buecher"},
        {"domain": "b.example.org"}, {"ip": "192.0.2.10"}, {"ip": "2001:db8::/32"}, {"url": "https://c.example/x"},
    ],
    "exemptions": ["example.com", {"domain": "ok.example.org", "note": "must stay"}],
    "amendments": [
        {"id": "add-1", "date": dt.date(2026, 5, 1), "kind": "add", "deadline": {"due": "2026-05-03T00:00:00Z"},
         "notified": "2026-05-01T10:00:00+02:00", "sources": [{"url": "http://example.net/b"}], "note": "more",
         "targets": [{"domain": "d.example", "subdomains": True}]},
        {"id": "rm-1", "date": dt.date(2026, 6, 1), "kind": "remove", "targets": [{"domain": "b.example.org"}]},
    ],
    "inferred": ["issued", "valid.from"], "events": [{"date": dt.date(2026, 1, 2), "what": "TRO", "inferred": True}],
    "notes": "free text", "parties": {"plaintiffs": ["A"], "defendants": ["B", "Does 1-10"]},
}
RESOLVERS_MINIMAL: dict[str, Any] = {
    "schema": "blockaudit/resolvers/1",
    "resolvers": [{"name": "isp-a-1", "address": "127.0.0.1:5302"},
                  {"name": "control-1", "address": "127.0.0.1:5301", "role": "control"}],
}
RESOLVERS_FULL: dict[str, Any] = {
    "schema": "blockaudit/resolvers/1",
    "resolvers": [
        {"name": "isp-a-1", "operator": "ISP A", "address": "127.0.0.1:5302", "protocol": "udp", "url": None,
         "role": "subject",
         "block": {"addresses": ["203.0.113.10"], "cnames": ["blocked.isp-a.example"], "drop": False},
         "qps": 50, "concurrency": 4, "country": "IT", "identity": ["id.server CH TXT", "whoami.akamai.net A"],
         "note": "n"},
        {"name": "isp-a-dot", "address": "[2001:db8::53]:853", "protocol": "dot", "tls_name": "dns.isp-a.example",
         "role": "subject"},
        {"name": "isp-a-doh", "address": "192.0.2.53", "protocol": "doh", "url": "https://dns.example/dns-query",
         "doh_method": "get"},
        {"name": "control-1", "address": "127.0.0.1:5301", "role": "control", "qps": None},
    ],
    "canaries": ["example.com", "iana.org"],
}
FINGERPRINTS_MINIMAL: dict[str, Any] = {
    "schema": "blockaudit/fingerprints/1",
    "fingerprints": [{"id": "fp-1", "description": "d", "match": {"addresses": ["192.0.2.1"]},
                      "source": {"url": "https://example.net/fp"}}],
}
FINGERPRINTS_FULL: dict[str, Any] = {
    "schema": "blockaudit/fingerprints/1",
    "fingerprints": [
        {"id": "it-test", "description": "Italian block page", "scope": {"countries": ["IT"], "operators": ["ISP A"]},
         "match": {"addresses": ["83.224.65.74", "2001:db8::/48"], "cnames": ["notice.example"],
                   "body": ["sito (?:oscurato|bloccato)"], "cert_subject": ["CN=blocked"]},
         "source": {"url": "https://example.net/fp", "note": "documented"}},
        {"id": "de-test", "description": "CUII", "match": {"cnames": ["notice.cuii.example"]},
         "source": {"url": "http://example.net/cuii"}},
    ],
}


def _seed_bytes(*documents: dict[str, Any]) -> list[bytes]:
    return [dump(d, style) for d in documents for style in (1, 3, 4)]


ORDER_SEEDS = [*_seed_bytes(ORDER_MINIMAL, ORDER_FULL),
               (Path(__file__).resolve().parent.parent / "blocklists" / "us-sdny-annas-archive.yaml").read_bytes()]
RESOLVER_SEEDS = _seed_bytes(RESOLVERS_MINIMAL, RESOLVERS_FULL)
FINGERPRINT_SEEDS = [*_seed_bytes(FINGERPRINTS_MINIMAL, FINGERPRINTS_FULL), BUNDLED.read_bytes()]


def broken_documents(*seeds: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Valid documents (the first seed most often: the smaller, the faster) with fields broken."""
    weighted = (seeds[0], *seeds)
    return entropy().map(lambda e: broken(e.pick(weighted), e))


def mutated_files(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid files with their bytes mutated."""
    return entropy().map(lambda e: mutate(e.pick(seeds), e))


# --------------------------------------------------------------------------- what a clean load must hold


def _names_are_canonical(values: list[str]) -> None:
    for value in values:
        assert normalise(value) == value
        assert len(value) <= MAX_NAME
        assert all(0 < len(label) <= MAX_LABEL for label in value.split("."))


def load_order_file(path: Path) -> Order:
    """The order, checked as ``check`` will use it: canonical names, its names merged, its deadlines computed."""
    order = load_order(path)
    merge([order], order.valid_from)
    order_dues(order)
    domains = [t.value for t in order.targets if t.kind is TargetKind.DOMAIN]
    domains += [t.value for a in order.amendments for t in a.targets if t.kind is TargetKind.DOMAIN]
    _names_are_canonical(domains + [t.value for t in order.exemptions])
    return order


def load_resolver_file(path: Path) -> ResolverSet:
    resolvers = load_resolvers(path)
    assert resolvers.subjects
    assert resolvers.controls
    _names_are_canonical(list(resolvers.canaries))
    return resolvers


def load_fingerprint_file(path: Path) -> tuple[Fingerprint, ...]:
    fingerprints = load_fingerprints([path], bundled=False)
    _names_are_canonical([c for f in fingerprints for c in f.cnames])
    return fingerprints


# --------------------------------------------------------------------------- orders


@fuzz(3500, "loaders")
@given(broken_documents(ORDER_MINIMAL, ORDER_FULL))
@example(b'{"schema": "blockaudit/order/1", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")  # segfault
@example(b"- " * 40_000 + b"x\n")  # segfault: libyaml's composer recursed in C
@example(dump({**ORDER_MINIMAL, "served": "0001-01-01T00:00:00+05:00"}, 1))  # OverflowError in astimezone
@example(dump({**ORDER_MINIMAL, "issued": "9999-12-30", "deadline": {"within": "P5D", "from": "issued"}}, 1))
def test_order_with_broken_fields(data: bytes) -> None:
    expect_located(load_order_file, write("order.yaml", data), OrderError)


@fuzz(2500, "loaders")
@given(mutated_files(ORDER_SEEDS))
@example(b"\xef\xbb\xbfschema: blockaudit/order/1\ni")  # libyaml put the end of the file on line 3 of 2
@example(b"schema: blockaudit/order/1\n'\xe2\x80\xa8': 1\nx: [")  # U+2028 is a line break to YAML only
def test_order_mutated(data: bytes) -> None:
    expect_located(load_order_file, write("mutated-order.yaml", data), OrderError)


# --------------------------------------------------------------------------- resolvers


@fuzz(2500, "loaders")
@given(broken_documents(RESOLVERS_MINIMAL, RESOLVERS_FULL))
@example(dump({**RESOLVERS_MINIMAL, "resolvers": [
    {**RESOLVERS_MINIMAL["resolvers"][0], "qps": HUGE}, RESOLVERS_MINIMAL["resolvers"][1]]}, 1))  # OverflowError
def test_resolvers_with_broken_fields(data: bytes) -> None:
    expect_located(load_resolver_file, write("resolvers.yaml", data), ResolverConfigError)


@fuzz(1500, "loaders")
@given(mutated_files(RESOLVER_SEEDS))
def test_resolvers_mutated(data: bytes) -> None:
    expect_located(load_resolver_file, write("mutated-resolvers.yaml", data), ResolverConfigError)


# --------------------------------------------------------------------------- fingerprints


@fuzz(2000, "loaders")
@given(broken_documents(FINGERPRINTS_MINIMAL, FINGERPRINTS_FULL))
def test_fingerprints_with_broken_fields(data: bytes) -> None:
    expect_located(load_fingerprint_file, write("fingerprints.yaml", data), FingerprintError)


@fuzz(1500, "loaders")
@given(mutated_files(FINGERPRINT_SEEDS))
def test_fingerprints_mutated(data: bytes) -> None:
    expect_located(load_fingerprint_file, write("mutated-fingerprints.yaml", data), FingerprintError)


# --------------------------------------------------------------------------- no shape at all

_LOADERS: tuple[tuple[Callable[[Path], object], type[BlockauditError]], ...] = (
    (load_order_file, OrderError), (load_resolver_file, ResolverConfigError), (load_fingerprint_file, FingerprintError),
)
_FRAGMENTS = ("a:", "a: b", "- ", "  - x", "? ", ": ", "{", "}", "[", "]", "&a x", "*a", "---", "...", "!!str", "'",
              '"', "#", "|", ">", "schema: blockaudit/order/1", "schema: blockaudit/resolvers/1", "targets:",
              "resolvers:", "fingerprints:", "  - {domain: a.example}")


def _shapeless(e: Entropy) -> tuple[int, bytes]:
    which = e.below(len(_LOADERS))
    if e.below(2):
        return which, e.raw(300)
    lines = [e.pick(_FRAGMENTS) + e.text(8) if e.below(2) else e.text(30) for _ in range(e.below(12))]
    return which, frame("\n".join(lines), e)


@fuzz(1500, "loaders")
@given(entropy(400).map(_shapeless))
def test_any_bytes(case: tuple[int, bytes]) -> None:
    which, data = case
    load, error = _LOADERS[which]
    expect_located(load, write("any.yaml", data), error)


# --------------------------------------------------------------------------- the pass before composing


def _over_cap(path: Path, key: str, most: int) -> bool:
    """Whether the composed document has a top-level list under ``key`` of more than ``most`` items."""
    root = yaml.compose(read_text(path, ResolverConfigError), Loader=yaml.CSafeLoader)
    return isinstance(root, yaml.MappingNode) and any(
        isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.SequenceNode) and len(v.value) > most
        for k, v in root.value
    )


@fuzz(1000, "loaders")
@given(st.one_of(broken_documents(RESOLVERS_FULL, RESOLVERS_MINIMAL), mutated_files(RESOLVER_SEEDS)))
def test_the_pass_before_composing_agrees_with_the_composer(data: bytes) -> None:
    """With the pass forced on (it is skipped for small files) and a cap of 2 resolvers, a file is
    refused exactly when composing it fails, or when it lists more than 2 resolvers."""
    path = write("prescan.yaml", data)
    try:
        yamlfile.load(path, ResolverConfigError)
        composed = True
    except ResolverConfigError:
        composed = False
    saved = yamlfile.SAFE_NESTING
    yamlfile.SAFE_NESTING = -1
    try:
        yamlfile.load(path, ResolverConfigError, caps={"resolvers": (2, "resolvers")})
        error = None
    except ResolverConfigError as exc:
        error = str(exc)
    finally:
        yamlfile.SAFE_NESTING = saved
    if not composed:
        assert error is not None
    elif _over_cap(path, "resolvers", 2):
        assert error is not None
        assert "more than 2 resolvers" in error, error
    else:
        assert error is None, error
