"""Tests of checker.fingerprints: the bundled file, reading fingerprint files, scope and matching."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from checker import fingerprints as fpmod
from checker.errors import BlockauditError, FingerprintError
from checker.fingerprints import (
    BUNDLED,
    MAX_BODY_SEARCH,
    MAX_SNIPPET,
    SCHEMA,
    Match,
    bundled_path,
    for_resolver,
    in_scope,
    load_fingerprints,
    match_answer,
    match_fetch,
)
from checker.models import Certificate, Fetch, Fingerprint, IPAddress, Source

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "fp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def user_file(entries: str) -> str:
    return f"schema: {SCHEMA}\nfingerprints:\n{entries}"


ONE = """\
  - id: test-one
    description: "Test block page one"
    match:
      addresses: [198.51.100.7]
    source: {url: "https://fp.example/one", note: "test source"}
"""

TWO = """\
  - id: test-two
    description: "Test block page two"
    scope: {countries: [it], operators: [" ISP A "]}
    match:
      addresses: [198.51.100.0/24, "2001:db8:1::/48"]
      cnames: [Blocked.ISP-A.Example., bücher.example]
      body: ['access (to this site )?(is )?blocked']
      cert_subject: ['CN=block\\.isp-a\\.example']
    source:
      url: "https://fp.example/two"
      note: >-
        folded
        note
"""


def fp(ident: str = "x", **kwargs: Any) -> Fingerprint:
    """A fingerprint record built directly."""
    kwargs.setdefault("source", Source(url=f"https://fp.example/{ident}", note="n"))
    kwargs.setdefault("description", f"Block page {ident}")
    return Fingerprint(id=ident, **kwargs)


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def fetch(body: bytes = b"", address: str = "198.51.100.200", subject: str | None = None) -> Fetch:
    certificate = None
    if subject is not None:
        certificate = Certificate(
            subject=subject, issuer="CN=Test CA", names=("blocked.test",), not_before=None, not_after=None,
            sha256="00" * 32, valid=False, error="self-signed",
        )
    return Fetch(
        name="blocked.test", address=address, port=443 if certificate else 80,
        scheme="https" if certificate else "http", started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        elapsed_ms=12.5, status=200, body=body, certificate=certificate,
    )


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, needle
    return hits[occurrence - 1]


def fails(paths: list[Path], *, bundled: bool = False) -> FingerprintError:
    with pytest.raises(FingerprintError) as info:
        load_fingerprints(paths, bundled=bundled)
    assert isinstance(info.value, BlockauditError)
    return info.value


# --------------------------------------------------------------------------- the bundled file


def test_bundled_path() -> None:
    assert bundled_path() == BUNDLED
    assert BUNDLED.is_file()
    assert BUNDLED.name == "blockpages.yaml"
    assert BUNDLED == ROOT / "fingerprints" / "blockpages.yaml" or "_bundled" in BUNDLED.parts


def test_the_bundled_file_loads() -> None:
    loaded = load_fingerprints([])
    assert loaded == load_fingerprints([], bundled=True)
    assert len(loaded) >= 5
    ids = [f.id for f in loaded]
    assert len(ids) == len(set(ids))
    for entry in loaded:
        assert entry.source.url.startswith("https://"), entry.id
        assert entry.source.note, entry.id
        assert entry.description, entry.id
        assert entry.path == str(BUNDLED) and entry.line is not None
        assert entry.addresses or entry.cnames or entry.body or entry.cert_subject, entry.id
        assert entry.countries, f"{entry.id}: every seeded block page belongs to one country"


def test_the_bundled_file_conforms_to_the_schema() -> None:
    data = yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))
    Draft202012Validator(json.loads(fpmod.schema_path().read_text(encoding="utf-8"))).validate(data)


def test_the_bundled_file_holds_the_documented_block_pages() -> None:
    by_id = {f.id: f for f in load_fingerprints([])}
    agcom = by_id["it-agcom-copyright"]
    assert agcom.addresses == (net("83.224.65.74/32"),)
    assert agcom.countries == ("IT",)
    assert "ooni/blocking-fingerprints" in agcom.source.url
    cuii = by_id["de-cuii-notice"]
    assert cuii.cnames == ("notice.cuii.info",)
    assert cuii.countries == ("DE",)


SINKHOLES_AND_DOCUMENTATION = [
    net(n) for n in (
        "0.0.0.0/8", "127.0.0.0/8", "1.2.3.4/32", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::/128", "::1/128", "2001:db8::/32",
    )
]


def test_the_bundled_file_lists_no_sinkhole_private_or_documentation_address() -> None:
    text = BUNDLED.read_text(encoding="utf-8")
    for entry in load_fingerprints([]):
        for network in entry.addresses:
            assert network.is_global, (entry.id, network)
            assert not any(network.overlaps(bad) for bad in SINKHOLES_AND_DOCUMENTATION
                           if bad.version == network.version), (entry.id, network)
    for needle in ("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8", ".example", "146.112.61.106"):
        assert needle not in text


# --------------------------------------------------------------------------- the schema file


def schema() -> dict[str, Any]:
    data = json.loads(fpmod.schema_path().read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_schema_file() -> None:
    path = fpmod.schema_path()
    assert path == ROOT / "schemas" / "fingerprints.schema.json" or "_bundled" in path.parts
    data = schema()
    Draft202012Validator.check_schema(data)
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert data["$id"] == "https://blockaudit.invalid/schemas/fingerprints-1.schema.json"
    assert data["properties"]["schema"]["const"] == SCHEMA == "blockaudit/fingerprints/1"


def walk(node: object, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((where, node))
        for key, value in node.items():
            out += walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += walk(value, f"{where}/{index}")
    return out


def test_every_schema_mapping_refuses_unknown_keys_and_describes_its_keys() -> None:
    mappings = [(w, s) for w, s in walk(schema()) if isinstance(s.get("properties"), dict)]
    assert mappings
    for where, sub in mappings:
        assert sub.get("additionalProperties") is False, where
        for name, prop in sub["properties"].items():
            assert prop.get("description"), f"{where}/properties/{name}"
    assert [name for name, sub in schema()["$defs"].items() if not sub.get("description")] == []
    for where, sub in walk(schema()):
        for key in ("patternErrorMessage", "errorMessage"):
            if key in sub:
                assert sub[key] == sub[key].strip() and not sub[key].endswith("."), where


def test_schema_keys_equal_the_loader_keys() -> None:
    data = schema()
    entry = data["$defs"]["fingerprint"]
    assert set(data["properties"]) == {"schema", "fingerprints"}
    assert set(entry["properties"]) == set(fpmod._ENTRY_KEYS + fpmod._ENTRY_OPTIONAL)
    assert set(entry["required"]) == set(fpmod._ENTRY_KEYS)
    assert tuple(entry["properties"]["match"]["properties"]) == fpmod._MATCH_KEYS
    assert tuple(entry["properties"]["scope"]["properties"]) == fpmod._SCOPE_KEYS
    source = entry["properties"]["source"]
    assert tuple(source["properties"]) == fpmod._SOURCE_REQUIRED + fpmod._SOURCE_OPTIONAL
    assert tuple(source["required"]) == fpmod._SOURCE_REQUIRED


# --------------------------------------------------------------------------- reading files


def test_a_user_file_extends_the_bundled_one(tmp_path: Path) -> None:
    path = write(tmp_path, user_file(ONE + TWO))
    bundled = load_fingerprints([])
    loaded = load_fingerprints([path])
    assert loaded[: len(bundled)] == bundled
    assert [f.id for f in loaded[len(bundled):]] == ["test-one", "test-two"]


def test_without_the_bundled_file(tmp_path: Path) -> None:
    path = write(tmp_path, user_file(ONE))
    loaded = load_fingerprints([str(path)], bundled=False)
    assert [f.id for f in loaded] == ["test-one"]
    assert load_fingerprints([], bundled=False) == ()


def test_files_are_read_in_order_and_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    first = write(tmp_path, user_file(TWO), "first.yaml")
    second = write(tmp_path, user_file(ONE), "second.yaml")
    loaded = load_fingerprints([first, second, str(first)], bundled=False)
    assert [f.id for f in loaded] == ["test-two", "test-one"]
    assert len(load_fingerprints([BUNDLED])) == len(load_fingerprints([]))


def test_values_are_normalised(tmp_path: Path) -> None:
    text = user_file(ONE + TWO)
    path = write(tmp_path, text)
    one, two = load_fingerprints([path], bundled=False)
    assert one == Fingerprint(
        id="test-one", description="Test block page one",
        source=Source(url="https://fp.example/one", note="test source"),
        addresses=(net("198.51.100.7/32"),), path=str(path), line=line_of(text, "id: test-one"),
    )
    assert two.countries == ("IT",)
    assert two.operators == ("ISP A",)
    assert two.addresses == (net("198.51.100.0/24"), net("2001:db8:1::/48"))
    assert two.cnames == ("blocked.isp-a.example", "xn--bcher-kva.example")
    assert two.body == ("access (to this site )?(is )?blocked",)  # the record keeps the text
    assert two.cert_subject == ("CN=block\\.isp-a\\.example",)
    assert two.source.note == "folded note"
    assert two.line == line_of(text, "id: test-two")


def test_an_empty_list_of_fingerprints_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, f"schema: {SCHEMA}\nfingerprints: []\n")
    assert load_fingerprints([path], bundled=False) == ()


def test_a_duplicate_value_is_kept_once(tmp_path: Path) -> None:
    path = write(tmp_path, user_file(ONE.replace("[198.51.100.7]", "[198.51.100.7, 198.51.100.7]")))
    (one,) = load_fingerprints([path], bundled=False)
    assert one.addresses == (net("198.51.100.7/32"),)


def test_patterns_are_compiled_once(tmp_path: Path) -> None:
    fpmod._compiled.cache_clear()
    path = write(tmp_path, user_file(TWO))
    (two,) = load_fingerprints([path], bundled=False)
    match_fetch([two], fetch(b"ACCESS BLOCKED"))
    match_fetch([two], fetch(b"nothing"))
    info = fpmod._compiled.cache_info()
    assert info.misses == 2  # body and cert_subject, at load
    assert info.hits >= 2


# --------------------------------------------------------------------------- bad files

# (what to change in ONE, the text on the line the error must name, words of the message)
BAD = {
    "schema": ("schema: blockaudit/fingerprints/1\n", "schema: blockaudit/fingerprints/2\n",
               "schema: blockaudit/fingerprints/2", "unsupported schema"),
    "unknown key": ('    description: "Test block page one"\n',
                    '    description: "Test block page one"\n    colour: red\n', "colour: red", "unknown key"),
    "missing source": ('    source: {url: "https://fp.example/one", note: "test source"}\n', "",
                       "id: test-one", "missing required key 'fingerprints[0].source'"),
    "missing match": ("    match:\n      addresses: [198.51.100.7]\n", "", "id: test-one",
                      "missing required key 'fingerprints[0].match'"),
    "missing source url": ('{url: "https://fp.example/one", note: "test source"}', '{note: "test source"}',
                           "source:", "missing required key 'fingerprints[0].source.url'"),
    "empty match": ("    match:\n      addresses: [198.51.100.7]\n", "    match: {}\n", "match: {}",
                    "at least one criterion"),
    "empty address list": ("[198.51.100.7]", "[]", "addresses: []", "at least 1 item"),
    "bad address": ("[198.51.100.7]", "[198.51.100.300]", "198.51.100.300", "not an IP address or network"),
    "letters for an address": ("[198.51.100.7]", "[blocked.example]", "blocked.example",
                               "not an IP address or network"),
    "host bits": ("[198.51.100.7]", "[198.51.100.7/24]", "198.51.100.7/24", "host bits set"),
    "too wide": ("[198.51.100.7]", "[0.0.0.0/0]", "0.0.0.0/0", "too many addresses"),
    "bad cname": ("      addresses: [198.51.100.7]\n", "      cnames: [-bad.example]\n", "-bad.example",
                  "not a valid domain name"),
    "cname as URL": ("      addresses: [198.51.100.7]\n", "      cnames: ['https://blocked.example/']\n",
                     "https://blocked.example/", "not a valid domain name"),
    "wildcard cname": ("      addresses: [198.51.100.7]\n", "      cnames: ['*.blocked.example']\n",
                       "*.blocked.example", "not a valid domain name"),
    "single-label cname": ("      addresses: [198.51.100.7]\n", "      cnames: [localhost]\n", "localhost",
                           "not a valid domain name"),
    "regex does not compile": ("      addresses: [198.51.100.7]\n", "      body: ['blocked (by order']\n",
                               "blocked (by order", "not a valid regular expression"),
    "regex matches everything": ("      addresses: [198.51.100.7]\n", "      body: ['.*']\n", "'.*'",
                                 "matches empty text"),
    "subject regex does not compile": ("      addresses: [198.51.100.7]\n", "      cert_subject: ['CN=[']\n",
                                       "CN=[", "not a valid regular expression"),
    "regex repeats too often": ("      addresses: [198.51.100.7]\n", "      body: ['a{4294967296}']\n",
                                "a{4294967296}", "not a usable regular expression"),
    "regex nested too deeply": ("      addresses: [198.51.100.7]\n",
                                f"      body: ['{'(' * 499}a{')' * 499}']\n", "((((", "nested too deeply"),
    "regex too long": ("      addresses: [198.51.100.7]\n", f"      body: ['{'a' * 1001}']\n", "aaaa",
                       "longer than 1000 characters"),
    "bad country": ("    match:\n", "    scope: {countries: [ITA]}\n    match:\n", "countries: [ITA]",
                    "ISO 3166-1 alpha-2"),
    "UK": ("    match:\n", "    scope: {countries: [UK]}\n    match:\n", "countries: [UK]", "GB"),
    "empty scope": ("    match:\n", "    scope: {}\n    match:\n", "scope: {}", "leave 'scope' out"),
    "empty operator": ("    match:\n", "    scope: {operators: ['']}\n    match:\n", "operators:",
                       "must not be empty"),
    "bad id": ("id: test-one", "id: Test_One", "id: Test_One", "lower-case letters"),
    "number as description": ('description: "Test block page one"', "description: 42", "description: 42",
                              "expected a string"),
    "bad source url": ("https://fp.example/one", "ftp://fp.example/one", "ftp://", "not an http(s) URL"),
    "empty note": ('note: "test source"', 'note: " "', "note:", "must not be empty"),
}


@pytest.mark.parametrize("schema_check", [True, False], ids=["schema", "loader-only"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, schema_check: bool,
) -> None:
    """Each problem is one located error, whether the schema or the loader's own checks find it."""
    if not schema_check:
        monkeypatch.setattr(fpmod, "_check_schema", lambda root: None)
    old, new, needle, words = BAD[case]
    text = user_file(ONE)
    assert old in text, case
    text = text.replace(old, new)
    path = write(tmp_path, text)
    error = fails([path])
    line = line_of(text, needle)
    assert str(error).startswith(f"{path}:{line}: "), str(error)
    assert error.path == str(path) and error.line == line
    assert words in str(error)
    assert "\n" not in str(error)


def test_fingerprints_must_be_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, f"schema: {SCHEMA}\nfingerprints: {{id: x}}\n")
    assert str(fails([path])).startswith(f"{path}:2: field 'fingerprints': expected a list")


def test_missing_schema_key(tmp_path: Path) -> None:
    path = write(tmp_path, "fingerprints: []\n")
    assert str(fails([path])).startswith(f"{path}:1: missing required key 'schema'")


def test_duplicate_id_in_one_file(tmp_path: Path) -> None:
    text = user_file(ONE + ONE)
    path = write(tmp_path, text)
    error = str(fails([path]))
    first, second = line_of(text, "id: test-one"), line_of(text, "id: test-one", 2)
    assert error.startswith(f"{path}:{second}: field 'fingerprints[1].id': ")
    assert f"'test-one' is already used at {path}:{first}" in error


def test_duplicate_id_across_files_names_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, user_file(TWO + ONE), "first.yaml")
    second = write(tmp_path, user_file(ONE), "second.yaml")
    error = str(fails([first, second]))
    assert error.startswith(f"{second}:3: field 'fingerprints[0].id': ")
    assert f"already used at {first}:{line_of(user_file(TWO + ONE), 'id: test-one')}" in error


def test_a_user_file_cannot_reuse_a_bundled_id(tmp_path: Path) -> None:
    path = write(tmp_path, user_file(ONE.replace("test-one", "it-agcom-copyright")))
    error = str(fails([path], bundled=True))
    agcom = next(f for f in load_fingerprints([]) if f.id == "it-agcom-copyright")
    assert error.startswith(f"{path}:3: ")
    assert f"already used at {BUNDLED}:{agcom.line}" in error
    assert load_fingerprints([path], bundled=False)[0].id == "it-agcom-copyright"


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert str(fails([missing])) == f"{missing}: no such file"
    broken = write(tmp_path, "schema: [\n", "broken.yaml")
    assert str(fails([broken])).startswith(f"{broken}:")
    assert "malformed YAML" in str(fails([broken]))
    empty = write(tmp_path, "", "empty.yaml")
    assert str(fails([empty])) == f"{empty}:1: the file is empty"


# --------------------------------------------------------------------------- scope

EVERYWHERE = fp("everywhere")
ITALY = fp("italy", countries=("IT",))
ISP_A = fp("isp-a", operators=("ISP A",))
ISP_A_IN_ITALY = fp("isp-a-it", operators=("ISP A",), countries=("IT", "SM"))


@pytest.mark.parametrize(
    ("fingerprint", "operator", "country", "expected"),
    [
        (EVERYWHERE, "anyone", None, True),
        (EVERYWHERE, "anyone", "DE", True),
        (ITALY, "anyone", "IT", True),
        (ITALY, "anyone", "it", True),
        (ITALY, "anyone", "DE", False),
        (ITALY, "anyone", None, False),  # a country-scoped entry needs a known country
        (ISP_A, "ISP A", None, True),
        (ISP_A, "isp a", "DE", True),
        (ISP_A, " ISP A ", None, True),
        (ISP_A, "ISP B", None, False),
        (ISP_A, "ISP AB", None, False),
        (ISP_A_IN_ITALY, "isp a", "SM", True),
        (ISP_A_IN_ITALY, "isp a", "DE", False),
        (ISP_A_IN_ITALY, "ISP B", "IT", False),
        (ISP_A_IN_ITALY, "ISP A", None, False),
    ],
)
def test_in_scope(fingerprint: Fingerprint, operator: str, country: str | None, expected: bool) -> None:
    assert in_scope(fingerprint, operator, country) is expected


def test_for_resolver_keeps_the_order() -> None:
    everything = [ISP_A_IN_ITALY, EVERYWHERE, ITALY, ISP_A]
    assert for_resolver(everything, "ISP A", "IT") == (ISP_A_IN_ITALY, EVERYWHERE, ITALY, ISP_A)
    assert for_resolver(everything, "ISP B", "IT") == (EVERYWHERE, ITALY)
    assert for_resolver(everything, "ISP B", None) == (EVERYWHERE,)
    assert for_resolver([], "ISP A", "IT") == ()


def test_bundled_italian_entries_apply_only_in_italy() -> None:
    bundled = load_fingerprints([])
    italian = {f.id for f in for_resolver(bundled, "Any ISP", "IT")}
    assert "it-agcom-copyright" in italian
    assert "de-cuii-notice" not in italian
    assert for_resolver(bundled, "Any ISP", None) == ()


# --------------------------------------------------------------------------- DNS answers

ADDR = fp("addr", addresses=(net("198.51.100.7/32"), net("203.0.113.0/28"), net("2001:db8:b::/48")))
CUII = fp("cuii", cnames=("notice.cuii.info",))


@pytest.mark.parametrize(
    ("address", "matched"),
    [
        ("198.51.100.7", True),
        ("198.51.100.8", False),
        ("198.51.100.6", False),
        ("203.0.113.0", True),
        ("203.0.113.15", True),
        ("203.0.113.16", False),
        ("2001:db8:b::1", True),
        ("2001:db8:b:ffff::1", True),
        ("2001:db8:c::1", False),
        ("::ffff:198.51.100.7", True),  # an IPv4-mapped answer is the IPv4 address
        ("::198.51.100.7", False),
    ],
)
def test_match_answer_by_address(address: str, matched: bool) -> None:
    found = match_answer([ADDR], [ip("192.0.2.1"), ip(address)], ["blocked.test"])
    if matched:
        assert found == Match(ADDR, "address", str(ip(address)))
    else:
        assert found is None


@pytest.mark.parametrize(
    ("chain", "value"),
    [
        (["blocked.test", "notice.cuii.info"], "notice.cuii.info"),
        (["blocked.test", "a.notice.cuii.info"], "a.notice.cuii.info"),
        (["blocked.test", "hop.isp.test", "NOTICE.CUII.INFO."], "notice.cuii.info"),
        (["blocked.test", "notcuii.info"], None),
        (["blocked.test", "cuii.info"], None),
        (["blocked.test", "notice.cuii.info.evil.test"], None),
        (["blocked.test", "xnotice.cuii.info"], None),
        (["notice.cuii.info"], None),  # the query name itself is not an answer
        (["a.notice.cuii.info", "real.cdn.test"], None),
        ([], None),
    ],
)
def test_match_answer_by_cname(chain: list[str], value: str | None) -> None:
    found = match_answer([CUII], [ip("192.0.2.1")], chain)
    assert found == (Match(CUII, "cname", value) if value else None)


def test_match_answer_takes_any_iterable_of_addresses() -> None:
    found = match_answer([ADDR], (ip(a) for a in ("192.0.2.1", "198.51.100.7")), ["blocked.test"])
    assert found is not None and found.value == "198.51.100.7"


def test_the_first_fingerprint_in_file_order_wins() -> None:
    both = fp("both", addresses=(net("198.51.100.7/32"),), cnames=("notice.cuii.info",))
    chain = ["blocked.test", "notice.cuii.info"]
    assert match_answer([CUII, both], [ip("198.51.100.7")], chain) == Match(CUII, "cname", "notice.cuii.info")
    assert match_answer([both, CUII], [ip("198.51.100.7")], chain) == Match(both, "address", "198.51.100.7")
    assert match_answer([ADDR, both], [ip("198.51.100.7")], chain) == Match(ADDR, "address", "198.51.100.7")


def test_nothing_matches_without_criteria_of_that_kind() -> None:
    body_only = fp("body", body=("blocked",))
    assert match_answer([body_only], [ip("198.51.100.7")], ["a.test", "notice.cuii.info"]) is None
    assert match_answer([], [ip("198.51.100.7")], ["a.test", "notice.cuii.info"]) is None


def test_the_bundled_agcom_and_cuii_entries_match() -> None:
    bundled = load_fingerprints([])
    italy = for_resolver(bundled, "ISP", "IT")
    found = match_answer(italy, [ip("83.224.65.74")], ["blocked.test"])
    assert found is not None and found.fingerprint.id == "it-agcom-copyright"
    assert found.describe().startswith(
        "matches fingerprint it-agcom-copyright (AGCOM copyright block page (Italy); source https://github.com/",
    )
    assert found.describe().endswith("): address 83.224.65.74")
    assert match_answer(italy, [ip("83.224.65.75")], ["blocked.test"]) is None
    germany = for_resolver(bundled, "ISP", "DE")
    found = match_answer(germany, [], ["blocked.test", "notice.cuii.info"])
    assert found is not None and found.fingerprint.id == "de-cuii-notice"
    assert match_answer(germany, [ip("83.224.65.74")], ["blocked.test"]) is None


# --------------------------------------------------------------------------- fetches

PAGE = fp("page", body=("access (to this site )?(is )?blocked", "ordinanza[^<]{0,40}agcom"))
CERT = fp("cert", cert_subject=(r"CN=block\.isp-a\.test",))


def test_match_fetch_by_body_ignores_case() -> None:
    found = match_fetch([PAGE], fetch(b"<html><h1>ACCESS TO THIS SITE IS BLOCKED</h1></html>"))
    assert found == Match(PAGE, "body", "ACCESS TO THIS SITE IS BLOCKED")
    found = match_fetch([PAGE], fetch("<p>Accesso negato: ordinanza n. 12 dell\u2019AGCOM</p>".encode()))
    assert found is not None and found.value == "ordinanza n. 12 dell\u2019AGCOM"
    assert match_fetch([PAGE], fetch(b"<html>welcome to the real site</html>")) is None
    assert match_fetch([PAGE], fetch(b"")) is None


def test_match_fetch_survives_bad_utf8() -> None:
    found = match_fetch([PAGE], fetch(b"\xff\xfe access \xc3 blocked"))
    assert found is None
    found = match_fetch([PAGE], fetch(b"\xff\xfe access blocked \xc3"))
    assert found is not None and found.value == "access blocked"


def test_the_matched_text_is_short_and_on_one_line() -> None:
    long = fp("long", body=(r"blocked[\s\S]*end",))
    body = b"blocked\n\t" + b"x" * 500 + b"\x00 end"
    found = match_fetch([long], fetch(body))
    assert found is not None
    assert len(found.value) <= MAX_SNIPPET
    assert found.value.startswith("blocked x") and found.value.endswith("…")
    assert "\n" not in found.value and "\x00" not in found.value


def test_a_match_of_no_text_shows_where_it_matched() -> None:
    ahead = fp("ahead", body=("(?=blocked by order)",))
    found = match_fetch([ahead], fetch(b"<p>blocked by order 12</p>"))
    assert found is not None and found.value.startswith("blocked by order 12")


def test_only_the_first_mib_of_a_body_is_searched() -> None:
    inside = b"x" * (MAX_BODY_SEARCH - len(b"access blocked")) + b"access blocked"
    assert match_fetch([PAGE], fetch(inside)) is not None
    outside = b"x" * MAX_BODY_SEARCH + b"access blocked"
    assert match_fetch([PAGE], fetch(outside)) is None


def test_match_fetch_by_certificate_subject() -> None:
    subject = "CN=block.isp-a.test,O=ISP A"
    assert match_fetch([CERT], fetch(subject=subject)) == Match(CERT, "cert_subject", subject)
    assert match_fetch([CERT], fetch(subject="cn=BLOCK.ISP-A.TEST")) is not None
    assert match_fetch([CERT], fetch(subject="CN=blockXisp-a.test")) is None
    assert match_fetch([CERT], fetch(subject="CN=real.site.test")) is None
    assert match_fetch([CERT], fetch()) is None  # plain HTTP: no certificate


@pytest.mark.parametrize(
    ("address", "matched"),
    [
        ("198.51.100.7", "198.51.100.7"),
        (" 198.51.100.7 ", "198.51.100.7"),
        ("[2001:db8:b::1]", "2001:db8:b::1"),
        ("2001:db8:b::1%eth0", "2001:db8:b::1"),
        ("198.51.100.9", None),
        ("not-an-address", None),
        ("", None),
    ],
)
def test_match_fetch_by_address(address: str, matched: str | None) -> None:
    found = match_fetch([ADDR], fetch(b"some page", address=address))
    assert found == (Match(ADDR, "address", matched) if matched else None)


def test_match_fetch_order() -> None:
    both = fp("both", body=("blocked",), addresses=(net("198.51.100.7/32"),))
    page = fetch(b"blocked", address="198.51.100.7", subject="CN=block.isp-a.test")
    assert match_fetch([both, PAGE, CERT], page) == Match(both, "body", "blocked")
    assert match_fetch([CERT, both], page) == Match(CERT, "cert_subject", "CN=block.isp-a.test")
    assert match_fetch([ADDR, both], page) == Match(ADDR, "address", "198.51.100.7")
    other = fetch(b"a real page", address="198.51.100.7")
    assert match_fetch([both], other) == Match(both, "address", "198.51.100.7")


def test_loaded_patterns_match(tmp_path: Path) -> None:
    (two,) = load_fingerprints([write(tmp_path, user_file(TWO))], bundled=False)
    assert match_fetch([two], fetch(b"Access to this site is BLOCKED", address="192.0.2.1")) is not None
    assert match_fetch([two], fetch(subject="CN=block.isp-a.example", address="192.0.2.1")) is not None
    chain = ["blocked.test", "www.bücher.example".encode("idna").decode()]
    assert match_answer([two], [], chain) == Match(two, "cname", "www.xn--bcher-kva.example")


# --------------------------------------------------------------------------- describing a match


def test_describe() -> None:
    source = Source(url="https://fp.example/agcom", note="n")
    agcom = Fingerprint(id="it-agcom-copyright", description="AGCOM copyright block page (Italy)", source=source)
    assert Match(agcom, "address", "83.224.65.74").describe() == (
        "matches fingerprint it-agcom-copyright (AGCOM copyright block page (Italy); "
        "source https://fp.example/agcom): address 83.224.65.74"
    )
    assert Match(agcom, "cname", "a.notice.cuii.info").describe().endswith("): CNAME a.notice.cuii.info")
    assert Match(agcom, "body", "Accesso negato").describe().endswith('): body text "Accesso negato"')
    assert Match(agcom, "cert_subject", "CN=x").describe().endswith('): certificate subject "CN=x"')
