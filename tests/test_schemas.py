"""Tests of checker.schemas and schemas/*.schema.json: the schemas and the loaders agree.

Every valid file passes both the schema and the loader; every invalid document here is refused by
both, the schema at the line of the offending value; the schemas name exactly the keys, enums and
patterns the loaders accept. The loaders are run with ``schemas.check`` switched off, so that
their own checks are tested whether or not they call the schema first.
"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from checker import fingerprints, schemas
from checker import resolvers as resolver_file
from checker.bundled import orders_dir
from checker.errors import BlockauditError, FingerprintError, OrderError, ResolverConfigError
from checker.models import AmendmentKind, DeadlineStart, OrderType, Protocol, Role, TargetKind, Verification
from checker.orders import loader
from checker.orders.durations import parse_duration
from checker.yamlfile import load
from tests.integration import lab

ROOT = Path(__file__).resolve().parents[1]
LOADERS: dict[str, Callable[[Path], object]] = {
    "order": loader.load_order, "resolvers": resolver_file.load_resolvers,
}


def schema(kind: schemas.Kind) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schemas.schema_path(kind).read_text(encoding="utf-8"))
    return data


def write(folder: Path, text: str, name: str = "file.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


CHECK = schemas.check
"""The schema check itself: ``loader_only`` switches off ``schemas.check``."""


def check_file(kind: schemas.Kind, path: Path) -> None:
    """The schema check alone, on a file."""
    CHECK(kind, load(path, schemas.ERRORS[kind]))


@pytest.fixture
def loader_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[schemas.Kind, Path], object]:
    """The loader with the schema check switched off: its own checks only."""
    monkeypatch.setattr(schemas, "check", lambda kind, root: None)

    def run(kind: schemas.Kind, path: Path) -> object:
        return LOADERS[kind](path)

    return run


# --------------------------------------------------------------------------- valid files

# Every optional key, in every form the loader accepts. Line numbers on the right.
ORDER = """\
schema: blockaudit/order/1
id: full-order
title: "Full v. Example"
authority: "Example Court"
jurisdiction: GB-ENG
judge: "A. Judge"
case_number: "IL-2026-000001"
order_type: tro
issued: 2026-01-10
verification: verified
sources:
  - {url: "https://court.example/orders/1", note: "the order"}
  - url: "http://press.example/story"
valid: {from: 2026-01-11, until: 2027-01-10}
deadline: {within: P1DT12H, from: served}
served: 2026-01-11T09:30:00Z
notified: "2026-01-11 10:00"
targets:
  - {domain: Example-Blocked.COM., subdomains: true, site: example, note: "main domain"}
  - {domain: bücher.example, subdomains: false}
  - {ip: 192.0.2.10, site: example}
  - {ip: "2001:db8::/32", note: null}
  - {url: "https://example-blocked.com/page"}
exemptions:
  - example.org
  - {domain: help.example, note: "must stay up"}
amendments:
  - id: add-1
    date: 2026-02-01
    kind: add
    deadline: {due: 2026-02-03T00:00:00Z}
    notified: 2026-02-01
    sources: [{url: "https://court.example/orders/1a"}]
    note: "added later"
    targets: [{domain: added-blocked.org}]
  - {id: rm-1, date: 2026-03-01, kind: remove, targets: [{ip: 192.0.2.10}]}
inferred: [served, valid.until]
parties: {plaintiffs: [Plaintiff Ltd], defendants: ["Doe 1", "Doe 2"]}
events:
  - {date: 2026-01-02, what: "Application filed"}
  - {date: 2026-01-10, what: "Order issued", inferred: true}
notes: |
  Free text.
"""
#  1 schema / 2 id / 5 jurisdiction / 9 issued / 11 sources / 12-13 sources[0..1] / 14 valid
# 15 deadline / 16 served / 17 notified / 18 targets / 19-23 targets[0..4] / 24 exemptions
# 25-26 exemptions[0..1] / 27 amendments / 28 amendments[0] / 31 its deadline / 35 its targets
# 36 amendments[1] / 37 inferred / 38 parties / 39 events / 40-41 events[0..1] / 42 notes

MINIMAL_ORDER = """\
schema: blockaudit/order/1
id: minimal
title: T
authority: A
jurisdiction: DE
order_type: other
issued: "2026-01-10"
verification: unverified
targets: [{domain: blocked.example}]
"""

RESOLVERS = """\
schema: blockaudit/resolvers/1
resolvers:
  - name: isp-a-1
    operator: ISP A
    address: 127.0.0.1:5302
    protocol: udp
    url: null
    role: subject
    block:
      addresses: [203.0.113.10, "2001:db8::10"]
      cnames: [blocked.isp-a.example]
      drop: false
    qps: 25.5
    concurrency: 4
    tls_name: null
    note: "the ISP's main resolver"
  - {name: isp-a-dot, operator: ISP A, address: "[2001:db8::53]:853", protocol: dot, tls_name: dns.isp-a.example}
  - {name: isp-a-doh, address: 192.0.2.53, protocol: doh, url: "https://dns.isp-a.example/dns-query", qps: null}
  - {name: control-1, address: 127.0.0.1:5301, role: control}
canaries: [example.com, iana.org.]
"""
#  2 resolvers / 3 resolvers[0] / 5 address / 6 protocol / 7 url / 9 block / 10 block.addresses
# 11 block.cnames / 12 block.drop / 13 qps / 14 concurrency / 17-19 resolvers[1..3] / 20 canaries

MINIMAL_RESOLVERS = """\
schema: blockaudit/resolvers/1
resolvers:
  - {name: isp, address: "::1"}
  - {name: control, address: "[::1]:5301", role: control, concurrency: 2.0}
"""

LAB_PORTS = {spec.name: 5301 + index for index, spec in enumerate(lab.INSTANCES)}


def valid_files() -> Iterator[Any]:
    for path in sorted(orders_dir().glob("*.yaml")):
        yield pytest.param("order", path.read_text(encoding="utf-8"), id=f"bundled-{path.stem}")
    yield pytest.param("order", lab.order_text(), id="lab-order")
    yield pytest.param("resolvers", lab.resolvers_text(LAB_PORTS), id="lab-resolvers")
    yield pytest.param("resolvers", lab.resolvers_text(LAB_PORTS, ["control", "isp-blockpage"]),
                       id="lab-resolvers-two")
    yield pytest.param("order", ORDER, id="full-order")
    yield pytest.param("order", MINIMAL_ORDER, id="minimal-order")
    yield pytest.param("resolvers", RESOLVERS, id="full-resolvers")
    yield pytest.param("resolvers", MINIMAL_RESOLVERS, id="minimal-resolvers")


@pytest.mark.parametrize(("kind", "text"), list(valid_files()))
def test_valid_files_pass_the_schema_and_the_loader(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object], kind: schemas.Kind, text: str,
) -> None:
    path = write(tmp_path, text)
    check_file(kind, path)
    loader_only(kind, path)


# --------------------------------------------------------------------------- invalid documents

APPEND = "<append>"

# (id, kind, old, new, line, fragment): ``old`` replaced by ``new`` once in ORDER or RESOLVERS (or
# ``new`` appended); the schema must refuse it at ``line`` with ``fragment`` in its message, and
# the loader must refuse it too.
INVALID: list[tuple[str, schemas.Kind, str, str, int, str]] = [
    # unknown keys, at every level
    ("order-unknown-key", "order", "judge:", "juge:", 6, "unknown key 'juge' (did you mean 'judge'?)"),
    ("order-unknown-key-last", "order", APPEND, "colour: red\n", 44, "unknown key 'colour' (allowed: schema, "),
    ("source-unknown-key", "order", 'note: "the order"}', 'not: "the order"}', 12,
     "unknown key 'sources[0].not' (did you mean 'note'?)"),
    ("valid-unknown-key", "order", "until: 2027-01-10}", "till: 2027-01-10}", 14, "unknown key 'valid.till'"),
    ("deadline-unknown-key", "order", "from: served}", "form: served}", 15,
     "unknown key 'deadline.form' (did you mean 'from'?)"),
    ("target-unknown-key", "order", "subdomains: false}", "subdomain: false}", 20,
     "unknown key 'targets[1].subdomain' (did you mean 'subdomains'?)"),
    ("target-unknown-key-alone", "order", "{url: \"https://example-blocked.com/page\"}", "{uri: x}", 23,
     "unknown key 'targets[4].uri' (did you mean 'url'?)"),
    ("exemption-unknown-key", "order", 'note: "must stay up"}', 'why: "must stay up"}', 26,
     "unknown key 'exemptions[1].why'"),
    ("amendment-unknown-key", "order", "    note: \"added later\"", "    notes: \"added later\"", 34,
     "unknown key 'amendments[0].notes' (did you mean 'note'?)"),
    ("amendment-target-unknown-key", "order", "[{domain: added-blocked.org}]",
     "[{domain: added-blocked.org, sub: true}]", 35, "unknown key 'amendments[0].targets[0].sub'"),
    ("amendment-deadline-unknown-key", "order", "{due: 2026-02-03T00:00:00Z}", "{due: 2026-02-03, by: x}", 31,
     "unknown key 'amendments[0].deadline.by'"),
    ("parties-unknown-key", "order", "{plaintiffs:", "{plaintifs:", 38,
     "unknown key 'parties.plaintifs' (did you mean 'plaintiffs'?)"),
    ("event-unknown-key", "order", '"Application filed"}', '"Application filed", who: x}', 40,
     "unknown key 'events[0].who'"),
    # missing keys
    ("order-missing-key", "order", "order_type: tro\n", "", 1, "missing required key 'order_type'"),
    ("source-missing-url", "order", '  - url: "http://press.example/story"\n', "  - note: x\n", 13,
     "missing required key 'sources[1].url'"),
    ("amendment-missing-kind", "order", "    kind: add\n", "", 28, "missing required key 'amendments[0].kind'"),
    ("event-missing-what", "order", '{date: 2026-01-02, what: "Application filed"}', "{date: 2026-01-02}", 40,
     "missing required key 'events[0].what'"),
    ("exemption-missing-domain", "order", '{domain: help.example, note: "must stay up"}', "{note: x}", 26,
     "field 'exemptions[1]': expected a domain name, or a mapping"),
    # wrong types
    ("schema-wrong", "order", "blockaudit/order/1", "blockaudit/order/2", 1,
     "field 'schema': unsupported schema 'blockaudit/order/2' (expected blockaudit/order/1)"),
    ("title-number", "order", 'title: "Full v. Example"', "title: 42", 3,
     "field 'title': expected a string, found number 42"),
    ("title-empty", "order", 'title: "Full v. Example"', 'title: ""', 3, "field 'title': must not be empty"),
    ("title-blank", "order", 'title: "Full v. Example"', 'title: "   "', 3, "must not be empty"),
    ("judge-list", "order", 'judge: "A. Judge"', "judge: [A, B]", 6, "field 'judge': expected a string or null"),
    ("case-number-number", "order", 'case_number: "IL-2026-000001"', "case_number: 12345", 7,
     "field 'case_number': expected a string or null, found number 12345"),
    ("jurisdiction-norway", "order", "jurisdiction: GB-ENG", "jurisdiction: NO", 5,
     "field 'jurisdiction': expected a string, found boolean False (quote it)"),
    ("subdomains-string", "order", "subdomains: true", "subdomains: 'yes'", 19,
     "field 'targets[0].subdomains': expected true or false, found string 'yes'"),
    ("targets-mapping", "order", "targets: [{domain: added-blocked.org}]", "targets: {domain: added-blocked.org}", 35,
     "field 'amendments[0].targets': expected a list, found a mapping"),
    ("exemptions-scalar", "order", 'exemptions:\n  - example.org\n  - {domain: help.example, note: "must stay up"}\n',
     "exemptions: example.org\n", 24, "field 'exemptions': expected a list, found string 'example.org'"),
    ("amendment-sources-string", "order", 'sources: [{url: "https://court.example/orders/1a"}]',
     'sources: "https://court.example/orders/1a"', 33, "field 'amendments[0].sources': expected a list, found string"),
    ("exemption-number", "order", "  - example.org\n", "  - 42\n", 25,
     "field 'exemptions[0]': expected a domain name, or a mapping"),
    ("valid-list", "order", "valid: {from: 2026-01-11, until: 2027-01-10}", "valid: [2026-01-11]", 14,
     "field 'valid': expected a mapping, found a list"),
    ("inferred-scalar", "order", "inferred: [served, valid.until]", "inferred: served", 37,
     "field 'inferred': expected a list"),
    ("plaintiffs-string", "order", "{plaintiffs: [Plaintiff Ltd]", "{plaintiffs: Plaintiff Ltd", 38,
     "field 'parties.plaintiffs': expected a list"),
    ("event-scalar", "order", '  - {date: 2026-01-02, what: "Application filed"}', "  - Application filed", 40,
     "field 'events[0]': expected a mapping, found string 'Application filed'"),
    ("event-inferred-string", "order", "inferred: true}", "inferred: maybe}", 41,
     "field 'events[1].inferred': expected true or false"),
    ("notes-list", "order", "notes: |\n  Free text.\n", "notes: [a]\n", 42, "field 'notes': expected a string or null"),
    # dates and times
    ("issued-short-date", "order", "issued: 2026-01-10", 'issued: "2026-1-10"', 9,
     "field 'issued': expected a date like 2026-04-14, found '2026-1-10'"),
    ("issued-impossible", "order", "issued: 2026-01-10", "issued: 2026-02-30", 9,
     "field 'issued': cannot read '2026-02-30'"),
    ("issued-impossible-quoted", "order", "issued: 2026-01-10", 'issued: "2026-02-30"', 9,
     "field 'issued': expected a date like 2026-04-14, found '2026-02-30'"),
    ("issued-number", "order", "issued: 2026-01-10", "issued: 2026", 9, "field 'issued': expected a string"),
    ("until-word", "order", "until: 2027-01-10", "until: forever", 14,
     "field 'valid.until': expected a date like 2026-04-14, found 'forever'"),
    ("from-null", "order", "{from: 2026-01-11,", "{from: null,", 14, "field 'valid.from': expected a string"),
    ("served-word", "order", "served: 2026-01-11T09:30:00Z", "served: soon", 16,
     "field 'served': expected a time like 2026-04-20T00:00:00Z, found 'soon'"),
    ("event-date-word", "order", "{date: 2026-01-02,", "{date: yesterday,", 40,
     "field 'events[0].date': expected a date like 2026-04-14"),
    # enums
    ("order-type", "order", "order_type: tro", "order_type: TRO", 8,
     "field 'order_type': expected one of tro, preliminary_injunction, permanent_injunction, administrative,"
     " ticket, other; found 'TRO'"),
    ("verification", "order", "verification: verified", "verification: checked", 10,
     "field 'verification': expected one of verified, unverified; found 'checked'"),
    ("deadline-from", "order", "from: served}", "from: service}", 15,
     "field 'deadline.from': expected one of issued, served, notified; found 'service' (did you mean 'served'?)"),
    ("amendment-kind", "order", "    kind: add", "    kind: append", 30,
     "field 'amendments[0].kind': expected one of add, remove; found 'append'"),
    ("inferred-field", "order", "inferred: [served, valid.until]", "inferred: [served, title]", 37,
     "field 'inferred[1]': 'title' cannot be marked inferred (one of issued, valid.from,"),
    # ids and other patterns
    ("order-id", "order", "id: full-order", "id: Full_Order", 2,
     "field 'id': 'Full_Order' must be lower-case letters, digits and inner '-'"),
    ("order-id-dash", "order", "id: full-order", "id: full-order-", 2, "'full-order-' must be lower-case"),
    ("order-id-number", "order", "id: full-order", "id: 2026", 2, "field 'id': expected a string, found number 2026"),
    ("site-slug", "order", "site: example,", "site: Example Site,", 19, "field 'targets[0].site': 'Example Site'"),
    ("amendment-id", "order", "  - id: add-1", "  - id: add 1", 28, "field 'amendments[0].id': 'add 1' must be"),
    ("jurisdiction", "order", "jurisdiction: GB-ENG", "jurisdiction: England", 5,
     "field 'jurisdiction': 'England' is not an ISO 3166 code"),
    ("jurisdiction-long", "order", "jurisdiction: GB-ENG", "jurisdiction: GB-ENGL", 5, "is not an ISO 3166 code"),
    ("domain-url", "order", "{domain: bücher.example,", "{domain: 'https://bücher.example/',", 20,
     "field 'targets[1].domain': 'https://bücher.example/' is not a valid domain name"),
    ("domain-wildcard", "order", "{domain: bücher.example,", "{domain: '*.bücher.example',", 20,
     "is not a valid domain name"),
    ("exemption-underscore", "order", "  - example.org", "  - ex_ample.org", 25,
     "field 'exemptions[0]': 'ex_ample.org' is not a valid domain name"),
    ("target-url-ftp", "order", '{url: "https://example-blocked.com/page"}', "{url: 'ftp://x.example/'}", 23,
     "field 'targets[4].url': 'ftp://x.example/' is not an http(s) URL"),
    ("source-url-bare", "order", '{url: "https://court.example/orders/1",', "{url: court.example,", 12,
     "field 'sources[0].url': 'court.example' is not an http(s) URL"),
    ("target-ip-name", "order", "{ip: 192.0.2.10,", "{ip: host.example,", 21,
     "field 'targets[2].ip': 'host.example' is not an IP address or CIDR network"),
    # durations
    ("duration-months", "order", "within: P1DT12H", "within: P1M", 15,
     "field 'deadline.within': 'P1M' is not an ISO 8601 duration like P5D, PT30M or P1W"),
    ("duration-years", "order", "within: P1DT12H", "within: P1Y", 15, "'P1Y' is not an ISO 8601 duration"),
    ("duration-no-p", "order", "within: P1DT12H", "within: 5D", 15, "'5D' is not an ISO 8601 duration"),
    ("duration-empty-time", "order", "within: P1DT12H", "within: P1DT", 15, "'P1DT' is not an ISO 8601 duration"),
    ("duration-fraction-of-days", "order", "within: P1DT12H", "within: P1.5D", 15, "is not an ISO 8601 duration"),
    ("duration-zero", "order", "within: P1DT12H", "within: PT0H0.0S", 15, "'PT0H0.0S' is not a positive duration"),
    ("duration-number", "order", "within: P1DT12H", "within: 5", 15,
     "field 'deadline.within': expected a string, found number 5"),
    # targets and deadlines: the alternatives
    ("subdomains-on-ip", "order", "{ip: 192.0.2.10, site: example}", "{ip: 192.0.2.10, subdomains: true}", 21,
     "field 'targets[2].subdomains': only a 'domain' target can have subdomains"),
    ("subdomains-on-url", "order", '{url: "https://example-blocked.com/page"}',
     '{url: "https://example-blocked.com/page", subdomains: false}', 23,
     "field 'targets[4].subdomains': only a 'domain' target can have subdomains"),
    ("target-two-kinds", "order", "{ip: 192.0.2.10, site: example}", "{ip: 192.0.2.10, domain: x.example}", 21,
     "field 'targets[2]': a target needs exactly one of 'domain', 'ip' or 'url'"),
    ("target-no-kind", "order", "{ip: 192.0.2.10, site: example}", "{site: example}", 21,
     "field 'targets[2]': a target needs exactly one of 'domain', 'ip' or 'url'"),
    ("target-string", "order", "  - {ip: 192.0.2.10, site: example}", "  - 192.0.2.10", 21,
     "field 'targets[2]': expected a mapping, found string '192.0.2.10'"),
    ("deadline-due-and-within", "order", "deadline: {within: P1DT12H, from: served}",
     "deadline: {due: 2026-01-20T00:00:00Z, within: P1DT12H}", 15,
     "field 'deadline': a deadline needs 'within' and 'from', or 'due', not both"),
    ("deadline-all-three", "order", "deadline: {within: P1DT12H, from: served}",
     "deadline: {within: P1DT12H, from: served, due: 2026-01-20}", 15, "field 'deadline': a deadline needs"),
    ("deadline-without-from", "order", "deadline: {within: P1DT12H, from: served}", "deadline: {within: P1DT12H}",
     15, "field 'deadline': a deadline needs 'within' and 'from', or 'due'"),
    ("deadline-empty", "order", "deadline: {within: P1DT12H, from: served}", "deadline: {}", 15,
     "field 'deadline': a deadline needs"),
    ("deadline-string", "order", "deadline: {within: P1DT12H, from: served}", "deadline: P5D", 15,
     "field 'deadline': expected a mapping, found string 'P5D'"),
    ("deadline-due-word", "order", "{due: 2026-02-03T00:00:00Z}", "{due: soon}", 31,
     "field 'amendments[0].deadline.due': expected a time like 2026-04-20T00:00:00Z, found 'soon'"),
    # YAML the loader refuses too
    ("duplicate-key", "order", "judge:", "title: again\njudge:", 6, "key 'title' appears twice"),
    ("complex-key", "order", APPEND, "? [a, b]\n: c\n", 44, "keys must be plain strings"),
    ("tagged-garbage", "order", "issued: 2026-01-10", "issued: !!timestamp abc", 9, "field 'issued': cannot read"),
    # resolver files
    ("resolvers-unknown-key", "resolvers", "canaries:", "canary:", 20,
     "unknown key 'canary' (did you mean 'canaries'?)"),
    ("resolver-unknown-key", "resolvers", "    qps: 25.5", "    qsp: 25.5", 13,
     "unknown key 'resolvers[0].qsp' (did you mean 'qps'?)"),
    ("block-unknown-key", "resolvers", "      drop: false", "      dropped: false", 12,
     "unknown key 'resolvers[0].block.dropped' (did you mean 'drop'?)"),
    ("resolvers-missing", "resolvers", "resolvers:\n", "resolvrs:\n", 2,
     "unknown key 'resolvrs' (did you mean 'resolvers'?)"),
    ("resolver-missing-name", "resolvers", "{name: control-1, address:", "{address:", 19,
     "missing required key 'resolvers[3].name'"),
    ("resolvers-schema", "resolvers", "blockaudit/resolvers/1", "blockaudit/order/1", 1,
     "unsupported schema 'blockaudit/order/1' (expected blockaudit/resolvers/1)"),
    ("block-string", "resolvers",
     '    block:\n      addresses: [203.0.113.10, "2001:db8::10"]\n      cnames: [blocked.isp-a.example]\n'
     "      drop: false\n", "    block: drop\n", 9,
     "field 'resolvers[0].block': expected a mapping, found string 'drop'"),
    ("canaries-mapping", "resolvers", "canaries: [example.com, iana.org.]", "canaries: {example.com: 1}", 20,
     "field 'canaries': expected a list, found a mapping"),
    ("resolver-name", "resolvers", "name: isp-a-1", "name: isp/a", 3,
     "field 'resolvers[0].name': 'isp/a' must be letters, digits"),
    ("resolver-name-number", "resolvers", "name: isp-a-1", "name: 1", 3,
     "field 'resolvers[0].name': expected a string, found number 1"),
    ("resolver-address-name", "resolvers", "address: 127.0.0.1:5302", "address: dns.isp.example", 5,
     "field 'resolvers[0].address': 'dns.isp.example' is not an IP address"),
    ("resolver-address-url", "resolvers", "address: 127.0.0.1:5302", "address: 'udp://127.0.0.1'", 5,
     "is not an IP address"),
    ("resolver-operator-empty", "resolvers", "operator: ISP A", "operator: ''", 4,
     "field 'resolvers[0].operator': must not be empty"),
    ("resolver-protocol", "resolvers", "protocol: udp", "protocol: UDP", 6,
     "field 'resolvers[0].protocol': expected one of udp, tcp, dot, doh; found 'UDP'"),
    ("resolver-role", "resolvers", "role: subject", "role: subjects", 8,
     "field 'resolvers[0].role': expected one of subject, control; found 'subjects'"),
    ("url-without-doh", "resolvers", "url: null", "url: 'https://dns.example/q'", 7,
     "field 'resolvers[0].url': 'url' is only for protocol doh"),
    ("doh-without-url", "resolvers", ', url: "https://dns.isp-a.example/dns-query"', "", 18,
     "field 'resolvers[2]': a doh resolver needs 'url'"),
    ("doh-null-url", "resolvers", 'url: "https://dns.isp-a.example/dns-query"', "url: null", 18,
     "field 'resolvers[2].url': a doh resolver needs 'url'"),
    ("doh-http-url", "resolvers", 'url: "https://dns.isp-a.example/dns-query"', "url: 'http://dns.example/q'", 18,
     "field 'resolvers[2].url': 'http://dns.example/q' is not an https:// URL"),
    ("qps-zero", "resolvers", "qps: 25.5", "qps: 0", 13, "field 'resolvers[0].qps': must be at least 0.1, found 0"),
    ("qps-string", "resolvers", "qps: 25.5", "qps: fast", 13,
     "field 'resolvers[0].qps': expected a number or null, found string 'fast'"),
    ("concurrency-zero", "resolvers", "concurrency: 4", "concurrency: 0", 14,
     "field 'resolvers[0].concurrency': must be at least 1, found 0"),
    ("concurrency-fraction", "resolvers", "concurrency: 4", "concurrency: 2.5", 14,
     "field 'resolvers[0].concurrency': expected a whole number, found number 2.5"),
    ("concurrency-null", "resolvers", "concurrency: 4", "concurrency: null", 14,
     "field 'resolvers[0].concurrency': expected a whole number, found null"),
    ("drop-string", "resolvers", "drop: false", "drop: 'no'", 12,
     "field 'resolvers[0].block.drop': expected true or false, found string 'no'"),
    ("block-addresses-scalar", "resolvers", 'addresses: [203.0.113.10, "2001:db8::10"]', "addresses: 203.0.113.10",
     10, "field 'resolvers[0].block.addresses': expected a list"),
    ("block-address-name", "resolvers", "[203.0.113.10,", "[blockpage.example,", 10,
     "field 'resolvers[0].block.addresses[0]': 'blockpage.example' is not an IP address"),
    ("block-cname-url", "resolvers", "[blocked.isp-a.example]", "['https://blocked.isp-a.example/']", 11,
     "field 'resolvers[0].block.cnames[0]'"),
    ("canaries-empty", "resolvers", "canaries: [example.com, iana.org.]", "canaries: []", 20,
     "field 'canaries': list at least one canary, or leave the key out for the built-in ones"),
    ("canary-wildcard", "resolvers", "iana.org.]", "'*.iana.org']", 20,
     "field 'canaries[1]': '*.iana.org' is not a valid domain name"),
    ("no-control", "resolvers", "role: control}", "role: subject}", 3,
     "field 'resolvers': no resolver has role: control"),
]


def edited(kind: schemas.Kind, old: str, new: str) -> str:
    base = ORDER if kind == "order" else RESOLVERS
    if old == APPEND:
        return base + new
    assert old in base, old
    return base.replace(old, new, 1)


@pytest.mark.parametrize(
    ("kind", "old", "new", "line", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_documents_are_refused_by_the_schema_and_the_loader(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object],
    kind: schemas.Kind, old: str, new: str, line: int, fragment: str,
) -> None:
    path = write(tmp_path, edited(kind, old, new))
    error = schemas.ERRORS[kind]
    with pytest.raises(error) as by_schema:
        check_file(kind, path)
    message = str(by_schema.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert (by_schema.value.path, by_schema.value.line) == (str(path), line)
    assert fragment in message, message
    assert "\n" not in message
    with pytest.raises(error):
        loader_only(kind, path)


def test_the_invalid_table_has_unique_ids() -> None:
    ids = [case[0] for case in INVALID]
    assert len(ids) == len(set(ids))


# Whole documents: (id, kind, text, line, fragment), refused by both like INVALID.
WHOLE: list[tuple[str, schemas.Kind, str, int, str]] = [
    ("root-list", "order", "- schema: blockaudit/order/1\n", 1, "expected a mapping, found a list"),
    ("root-text", "order", "just text\n", 1, "expected a mapping, found string 'just text'"),
    ("order-schema-only", "order", "schema: blockaudit/order/1\n", 1, "missing required key 'id'"),
    ("resolvers-schema-only", "resolvers", "schema: blockaudit/resolvers/1\n", 1, "missing required key 'resolvers'"),
    ("resolvers-mapping", "resolvers", "schema: blockaudit/resolvers/1\nresolvers: {}\n", 2,
     "field 'resolvers': expected a list, found a mapping"),
    ("resolvers-empty", "resolvers", "schema: blockaudit/resolvers/1\nresolvers: []\n", 2,
     "field 'resolvers': no resolver has role: subject"),
    ("no-subject", "resolvers", MINIMAL_RESOLVERS.replace('"::1"}', '"::1", role: control}'), 3,
     "field 'resolvers': no resolver has role: subject; there is nothing to audit"),
    ("no-control", "resolvers", MINIMAL_RESOLVERS.replace("role: control", "role: subject"), 3,
     "field 'resolvers': no resolver has role: control"),
]


@pytest.mark.parametrize(("kind", "text", "line", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in WHOLE])
def test_invalid_whole_documents(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object],
    kind: schemas.Kind, text: str, line: int, fragment: str,
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(schemas.ERRORS[kind]) as by_schema:
        check_file(kind, path)
    assert str(by_schema.value).startswith(f"{path}:{line}: ")
    assert fragment in str(by_schema.value)
    with pytest.raises(schemas.ERRORS[kind]):
        loader_only(kind, path)


# What a schema cannot say: these pass the schema and are refused by the loader alone.
LOADER_ONLY: list[tuple[str, schemas.Kind, str, str, str]] = [
    ("duplicate-target", "order", "{domain: bücher.example,", "{domain: EXAMPLE-blocked.com,", "listed twice"),
    ("invalid-idn", "order", "{domain: bücher.example,", "{domain: xn--abc.example,", "not a valid A-label"),
    ("single-label", "order", "{domain: bücher.example,", "{domain: localhost,", "single label"),
    ("ip-out-of-range", "order", "{ip: 192.0.2.10,", "{ip: 192.0.2.300,", "not an IP address"),
    ("until-before-from", "order", "until: 2027-01-10", "until: 2026-01-01", "before it starts"),
    ("amendments-out-of-order", "order", "date: 2026-03-01", "date: 2026-01-01", "oldest first"),
    ("remove-unknown", "order", "targets: [{ip: 192.0.2.10}]", "targets: [{ip: 192.0.2.11}]", "does not name"),
    ("exempt-and-ordered", "order", "  - example.org\n", "  - added-blocked.org\n", "both ordered blocked and exempt"),
    ("impossible-time", "order", "served: 2026-01-11T09:30:00Z", "served: '2026-01-11T25:00'", "expected a time"),
    ("port-out-of-range", "resolvers", "127.0.0.1:5302", "127.0.0.1:70000", "port '70000'"),
    ("address-out-of-range", "resolvers", "127.0.0.1:5302", "127.0.0.300", "is not an IP address"),
    ("duplicate-resolver", "resolvers", "name: control-1", "name: isp-a-1", "already used"),
    ("block-address-out-of-range", "resolvers", "[203.0.113.10,", "[203.0.113.300,", "is not an IP address"),
    ("canary-single-label", "resolvers", "iana.org.]", "iana]", "single label"),
]


@pytest.mark.parametrize(
    ("kind", "old", "new", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in LOADER_ONLY],
)
def test_what_only_the_loader_refuses(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object],
    kind: schemas.Kind, old: str, new: str, fragment: str,
) -> None:
    path = write(tmp_path, edited(kind, old, new))
    check_file(kind, path)
    with pytest.raises(schemas.ERRORS[kind], match=fragment):
        loader_only(kind, path)


def test_an_order_without_targets_passes_the_schema_only(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object],
) -> None:
    path = write(tmp_path, MINIMAL_ORDER.replace("targets: [{domain: blocked.example}]", "targets: []"))
    check_file("order", path)
    with pytest.raises(OrderError, match="the order names no target"):
        loader_only("order", path)


# Where the schema is stricter than the loader, on purpose: values the loader tolerates but an
# editor should flag. If the loader tightens, move the case to INVALID.
SCHEMA_ONLY: list[tuple[str, schemas.Kind, str, str, str]] = [
    ("time-for-a-date", "order", "issued: 2026-01-10", "issued: 2026-01-10T08:00:00Z", "expected a date like"),
    ("compact-date", "order", "issued: 2026-01-10", "issued: '20260110'", "expected a date like"),
    ("compact-time", "order", "served: 2026-01-11T09:30:00Z", "served: '2026-01-11T0930'", "expected a time like"),
    ("hour-only-time", "order", "served: 2026-01-11T09:30:00Z", "served: '2026-01-11T09'", "expected a time like"),
    ("target-note-list", "order", 'note: "main domain"}', "note: [a, b]}", "expected a string or null"),
    ("resolver-note-number", "resolvers", "note: \"the ISP's main resolver\"", "note: 5", "expected a string or null"),
]


@pytest.mark.parametrize(
    ("kind", "old", "new", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in SCHEMA_ONLY],
)
def test_what_only_the_schema_refuses(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object],
    kind: schemas.Kind, old: str, new: str, fragment: str,
) -> None:
    path = write(tmp_path, edited(kind, old, new))
    with pytest.raises(schemas.ERRORS[kind], match=fragment):
        check_file(kind, path)
    loader_only(kind, path)


# --------------------------------------------------------------------------- which error comes first


def test_outer_problems_come_before_inner_ones(tmp_path: Path) -> None:
    text = ORDER.replace("subdomains: true", "subdomains: 'yes'") + "colour: red\n"
    with pytest.raises(OrderError, match=r":44: unknown key 'colour'"):
        check_file("order", write(tmp_path, text))


def test_an_unknown_key_comes_before_the_missing_key_it_misspells(tmp_path: Path) -> None:
    with pytest.raises(OrderError, match=r":8: unknown key 'ordertype' \(did you mean 'order_type'\?\)"):
        check_file("order", write(tmp_path, ORDER.replace("order_type:", "ordertype:")))


def test_at_one_level_the_first_line_wins(tmp_path: Path) -> None:
    text = ORDER.replace("id: full-order", "id: Full").replace("verification: verified", "verification: x")
    with pytest.raises(OrderError, match=r":2: field 'id'"):
        check_file("order", write(tmp_path, text))


def test_a_problem_inside_the_list_comes_before_a_missing_control(tmp_path: Path) -> None:
    text = RESOLVERS.replace("role: control}", "role: subject}").replace("qps: 25.5", "qps: -1")
    with pytest.raises(ResolverConfigError, match=r":13: field 'resolvers\[0\]\.qps'"):
        check_file("resolvers", write(tmp_path, text))


def test_the_loader_error_types() -> None:
    assert dict(schemas.ERRORS) == {
        "order": OrderError, "resolvers": ResolverConfigError, "fingerprints": FingerprintError,
    }
    assert all(issubclass(error, BlockauditError) for error in schemas.ERRORS.values())


def test_long_values_are_shortened(tmp_path: Path) -> None:
    text = ORDER.replace("id: full-order", "id: " + "X" * 300)
    with pytest.raises(OrderError) as info:
        check_file("order", write(tmp_path, text))
    assert len(str(info.value)) < 300 + len(str(tmp_path)) and "..." in str(info.value)


@pytest.mark.parametrize(
    ("at", "name"),
    [((), ""), (("id",),  "id"), (("targets", 2, "subdomains"), "targets[2].subdomains"), ((0, "a"), "[0].a")],
)
def test_field_names(at: tuple[str | int, ...], name: str) -> None:
    assert schemas.field_name(at) == name


# --------------------------------------------------------------------------- the schema files


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_schema_files(kind: schemas.Kind) -> None:
    path = schemas.schema_path(kind)
    assert path.is_file()
    assert path == ROOT / "schemas" / f"{kind}.schema.json" or "_bundled" in path.parts
    data = schema(kind)
    Draft202012Validator.check_schema(data)
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert data["$id"] == f"https://blockaudit.invalid/schemas/{kind}-1.schema.json"
    expected = {"order": loader.SCHEMA, "resolvers": resolver_file.SCHEMA, "fingerprints": fingerprints.SCHEMA}[kind]
    assert data["properties"]["schema"]["const"] == expected == f"blockaudit/{kind}/1"


def test_unknown_schema_kind() -> None:
    with pytest.raises(ValueError, match="unknown schema kind"):
        schemas.schema_path("report")  # type: ignore[arg-type]


def walk(node: object, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema (dict) in a schema, with a JSON pointer."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


CONDITIONS = ("/if", "/then", "/else", "/contains")
"""Subschemas that only test a value (``if``, ``contains``): they describe no mapping of their own."""


def mappings(kind: schemas.Kind) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema that describes a mapping's keys."""
    for where, sub in walk(schema(kind)):
        if isinstance(sub.get("properties"), dict) and not any(c in where for c in CONDITIONS):
            yield where, sub


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_every_property_has_a_description(kind: schemas.Kind) -> None:
    missing = [
        f"{where}/properties/{name}"
        for where, sub in mappings(kind) for name, prop in sub["properties"].items() if not prop.get("description")
    ]
    assert missing == []
    definitions = schema(kind)["$defs"]
    assert [name for name, sub in definitions.items() if not sub.get("description")] == []


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_every_mapping_refuses_unknown_keys(kind: schemas.Kind) -> None:
    """Like the loader: every mapping with named keys has ``additionalProperties: false``."""
    assert [where for where, sub in mappings(kind) if sub.get("additionalProperties") is not False] == []


@pytest.mark.parametrize("kind", schemas.KINDS)
def test_the_custom_messages_read_after_a_value(kind: schemas.Kind) -> None:
    for where, sub in walk(schema(kind)):
        for key in ("patternErrorMessage", "errorMessage"):
            if key in sub:
                message = sub[key]
                assert isinstance(message, str) and message and "\n" not in message, where
                assert message == message.strip() and not message.endswith("."), where


# --------------------------------------------------------------------------- schema and loader agree


def pointer(data: dict[str, Any], where: str) -> dict[str, Any]:
    node: Any = data
    for part in where.removeprefix("#").strip("/").split("/"):
        if part:
            node = node[int(part)] if isinstance(node, list) else node[part]
    assert isinstance(node, dict)
    return node


def mapping_calls(module: object) -> dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every ``X.mapping(required=..., optional=...)`` in a loader: (function, X) -> (required, optional).

    X is the variable (``item``) or the key a ``fields[...]`` subscript reads (``valid``).
    """
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    found: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def value(node: ast.expr) -> tuple[str, ...]:
        result = getattr(module, node.id) if isinstance(node, ast.Name) else ast.literal_eval(node)
        assert isinstance(result, tuple)
        return result

    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        for call in ast.walk(function):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "mapping"):
                continue
            receiver = call.func.value
            if isinstance(receiver, ast.Subscript):
                assert isinstance(receiver.slice, ast.Constant)
                name = str(receiver.slice.value)
            else:
                assert isinstance(receiver, ast.Name)
                name = receiver.id
            arguments = {keyword.arg: value(keyword.value) for keyword in call.keywords}
            found[(function.name, name)] = (arguments.get("required", ()), arguments.get("optional", ()))
    return found


# Where in the schema each mapping the loaders read is described.
ORDER_MAPPINGS = {
    ("load_order", "root"): "#",
    ("load_order", "valid"): "#/properties/valid",
    ("load_order", "parties"): "#/properties/parties",
    ("_sources", "item"): "#/$defs/source",
    ("_targets", "item"): "#/$defs/target",
    ("_exemptions", "item"): "#/$defs/exemption/oneOf/1",
    ("_deadline", "node"): "#/$defs/deadline",
    ("_amendments", "item"): "#/$defs/amendment",
    ("_events", "item"): "#/$defs/event",
}
RESOLVER_MAPPINGS = {
    ("load_resolvers", "root"): "#",
    ("_entry", "node"): "#/$defs/resolver",
    ("_block", "node"): "#/$defs/resolver/properties/block",
}


def keys_of(sub: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(required, allowed) keys of an object schema; alternatives (oneOf) pooled, required only if shared."""
    alternatives = [a for a in sub.get("oneOf", []) if "properties" in a] or [sub]
    allowed = {k for a in alternatives for k in a["properties"]}
    required = set.intersection(*(set(a.get("required", ())) for a in alternatives))
    return required, allowed


@pytest.mark.parametrize(
    ("kind", "module", "table"),
    [("order", loader, ORDER_MAPPINGS), ("resolvers", resolver_file, RESOLVER_MAPPINGS)],
)
def test_the_schema_allows_exactly_the_loaders_keys(
    kind: schemas.Kind, module: object, table: dict[tuple[str, str], str],
) -> None:
    calls = mapping_calls(module)
    assert set(calls) == set(table), "a mapping the loader reads is missing from the table (or gone)"
    data = schema(kind)
    for call, where in table.items():
        required, optional = calls[call]
        schema_required, schema_allowed = keys_of(pointer(data, where))
        assert schema_allowed == set(required) | set(optional), (call, where)
        assert schema_required == set(required), (call, where)


def test_the_named_key_sets() -> None:
    order, resolvers = schema("order"), schema("resolvers")
    assert set(order["required"]) == set(loader._REQUIRED)
    assert set(order["properties"]) == set(loader._REQUIRED) | set(loader._OPTIONAL)
    entry = resolvers["$defs"]["resolver"]
    assert set(entry["properties"]) == {"name", "address"} | set(resolver_file._ENTRY_KEYS)


def test_the_alternatives_of_a_target_are_its_kinds() -> None:
    target = schema("order")["$defs"]["target"]
    assert [branch["required"] for branch in target["oneOf"]] == [[kind.value] for kind in TargetKind]
    for branch in target["oneOf"]:
        assert "subdomains" in branch["properties"]
        assert ("not" in branch["properties"]["subdomains"]) == (branch["required"] != ["domain"])


def test_the_enums_are_the_models() -> None:
    order, resolvers = schema("order"), schema("resolvers")
    defs = order["$defs"]
    assert order["properties"]["order_type"]["enum"] == [e.value for e in OrderType]
    assert order["properties"]["verification"]["enum"] == [e.value for e in Verification]
    assert defs["deadline"]["oneOf"][0]["properties"]["from"]["enum"] == [e.value for e in DeadlineStart]
    assert defs["amendment"]["properties"]["kind"]["enum"] == [e.value for e in AmendmentKind]
    assert order["properties"]["inferred"]["items"]["enum"] == list(loader._INFERABLE)
    entry = resolvers["$defs"]["resolver"]["properties"]
    assert entry["protocol"]["enum"] == [e.value for e in Protocol]
    assert entry["role"]["enum"] == [e.value for e in Role]
    assert resolvers["properties"]["resolvers"]["maxItems"] == resolver_file.MAX_RESOLVERS


def test_the_patterns_are_the_loaders() -> None:
    order = schema("order")
    assert order["$defs"]["slug"]["pattern"] == loader._ID.pattern
    assert order["properties"]["jurisdiction"]["pattern"] == loader._JURISDICTION.pattern
    for name in ("text", "optionalText", "domain"):
        ours, theirs = schema("order")["$defs"][name], schema("resolvers")["$defs"][name]
        assert (ours["type"], ours["pattern"], ours["patternErrorMessage"]) == (
            theirs["type"], theirs["pattern"], theirs["patternErrorMessage"])


def accepts(kind: schemas.Kind, definition: str, value: object) -> bool:
    data = schema(kind)
    return Draft202012Validator(
        {"$defs": data["$defs"], "$ref": f"#/$defs/{definition}"},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    ).is_valid(value)


def loader_accepts_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


DURATIONS = [
    "P5D", "p5d", " P5D ", "P1W", "P1W2D", "PT30M", "PT36H", "P1DT12H", "PT0.5S", "PT1.25S", "P0DT1S", "P01D",
    "P", "PT", "P1DT", "P1M", "P1Y", "P1Y2M", "5D", "P5", "PT5", "P1.5D", "PT1.5M", "P0D", "PT0S", "PT0.0S",
    "P-1D", "P1D1W", "PT1S1M", "P1H", "", "P5D\n",
]


@pytest.mark.parametrize("text", DURATIONS)
def test_durations_agree(text: str) -> None:
    assert accepts("order", "duration", text) == loader_accepts_duration(text)


@given(st.text(alphabet="PTpt WDHMSwdhms0123456789.", max_size=10))
def test_durations_agree_on_any_text(text: str) -> None:
    assert accepts("order", "duration", text) == loader_accepts_duration(text)


@pytest.mark.parametrize(
    "text",
    ["2026-04-20T00:00:00Z", "2026-04-20", "2026-04-20 10:00", "2026-04-20T10:00:00+02:00", "2026-04-20T10:00:00.5",
     "2026-04-20T10:00+0200", " 2026-04-20T10:00Z "],
)
def test_times_the_schema_accepts_the_loader_reads(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object], text: str,
) -> None:
    assert accepts("order", "dateTime", text)
    path = write(tmp_path, ORDER.replace("served: 2026-01-11T09:30:00Z", f"served: {text!r}"))
    loader_only("order", path)


@pytest.mark.parametrize("text", ["2026-04-20T10:00:00z", "tomorrow", "2026-04-20T", "2026-04-20 at 10", "04/20/2026"])
def test_times_both_refuse(
    tmp_path: Path, loader_only: Callable[[schemas.Kind, Path], object], text: str,
) -> None:
    assert not accepts("order", "dateTime", text)
    path = write(tmp_path, ORDER.replace("served: 2026-01-11T09:30:00Z", f"served: {text!r}"))
    with pytest.raises(OrderError, match="expected a time"):
        loader_only("order", path)


@pytest.mark.parametrize(
    ("text", "valid"),
    [("127.0.0.1", True), ("127.0.0.1:5353", True), ("[2001:db8::1]:53", True), ("2001:db8::1", True),
     ("[::1]", True), ("fe80::1%eth0", True), ("[fe80::1%eth0]:53", True), (" 192.0.2.1 ", True),
     ("dns.example", False), ("dns.example:53", False), ("[dns.example]:53", False), ("", False),
     ("udp://192.0.2.1", False)],
)
def test_addresses_the_schema_accepts_the_loader_may_accept(text: str, valid: bool) -> None:
    address = schema("resolvers")["$defs"]["resolver"]["properties"]["address"]
    assert Draft202012Validator(address).is_valid(text) == valid
    if valid:
        resolver_file.parse_address(text, 53)
