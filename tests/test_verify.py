"""Static verification of candidate configs: parsing with file:line errors, the matching semantics of
RPZ (as Unbound matches), Unbound local-zones, dnsmasq and hosts files, verdicts in check's words,
and a Run every report format renders."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from checker import classify
from checker.models import Method, OrderSet, QueryKind, Status, Verdict
from checker.orders.loader import load_orders
from checker.report import Format, RenderOptions, pdf_available, render, view_model
from checker.verify import (
    ConfigError,
    ConfigFormat,
    load_dnsmasq,
    load_hosts,
    load_rpz,
    load_unbound,
    verify,
)

ON = dt.date(2026, 7, 1)
FIXED = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)

ORDER = """\
schema: blockaudit/order/1
id: test-order
title: "Test order"
authority: "Test court"
jurisdiction: US
order_type: permanent_injunction
issued: 2026-04-14
verification: unverified
targets:
  - {domain: annas-archive.org, subdomains: true}
  - {domain: annas-archive.se, subdomains: true}
  - {domain: exact.example, subdomains: false}
  - {ip: 192.0.2.10}
exemptions: [help.annas-archive.org, unrelated.example]
"""

RPZ_HEAD = """\
$ORIGIN rpz.zone.
$TTL 300
@ SOA localhost. hostmaster.localhost. 1 3600 600 604800 300
@ NS localhost.
"""


@pytest.fixture
def orders(tmp_path: Path) -> OrderSet:
    path = tmp_path / "order.yaml"
    path.write_text(ORDER, encoding="utf-8")
    return load_orders([path], ON)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def by_name(run: object) -> dict[str, tuple[str, str | None, str]]:
    results = run.results  # type: ignore[attr-defined]
    return {r.query.name: (r.verdict.value, r.method.value if r.method else None, r.detail) for r in results}


def verdicts(run: object) -> dict[str, str]:
    return {name: v for name, (v, _, _) in by_name(run).items()}


# --------------------------------------------------------------------------- RPZ


def test_rpz_complete_zone_is_compliant(orders: OrderSet, tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + """\
annas-archive.org CNAME .
*.annas-archive.org CNAME .
annas-archive.se CNAME .
*.annas-archive.se CNAME .
exact.example CNAME .
help.annas-archive.org CNAME rpz-passthru.
32.10.2.0.192.rpz-ip CNAME .
""")
    run = verify("rpz", zone, orders, clock=lambda: FIXED)
    assert verdicts(run) == {
        "annas-archive.org": "blocked", "www.annas-archive.org": "blocked",
        "annas-archive.se": "blocked", "www.annas-archive.se": "blocked",
        "exact.example": "blocked",
        "help.annas-archive.org": "accessible", "unrelated.example": "accessible",
    }
    assert classify.rollup(run.results) is Status.COMPLIANT
    details = by_name(run)
    assert details["www.annas-archive.org"] == ("blocked", "nxdomain", f"{zone}:6: *.annas-archive.org CNAME .")
    assert details["annas-archive.org"][2] == f"{zone}:5: annas-archive.org CNAME ."
    assert details["help.annas-archive.org"][2] == (
        f"{zone}:10: help.annas-archive.org CNAME rpz-passthru. (passthru: resolved normally)")
    assert details["unrelated.example"][2] == "no rule covers it"
    assert run.settings["notes"] == [
        f"{zone}:11: 32.10.2.0.192.rpz-ip CNAME .: Response IP trigger, not judged (it depends on the answers)"]


def test_rpz_forgotten_wildcards_and_domain(orders: OrderSet, tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + "annas-archive.org CNAME .\nexact.example CNAME .\n")
    run = verify("rpz", zone, orders)
    missed = {r.query.name for r in run.results
              if r.verdict is Verdict.ACCESSIBLE and r.query.kind is QueryKind.ORDERED}
    assert missed == {"www.annas-archive.org", "annas-archive.se", "www.annas-archive.se"}
    assert by_name(run)["annas-archive.se"][2] == "no rule covers it"
    assert classify.rollup(run.results) is Status.NONCOMPLIANT


def test_rpz_wildcard_does_not_match_the_apex(orders: OrderSet, tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + "*.annas-archive.org CNAME .\n")
    names = verdicts(verify("rpz", zone, orders))
    assert names["annas-archive.org"] == "accessible"
    assert names["www.annas-archive.org"] == "blocked"


def test_rpz_wildcard_stops_at_a_more_specific_trigger(tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + """\
d.example CNAME .
*.d.example CNAME .
x.d.example CNAME rpz-passthru.
a.x.y.d.example A 0.0.0.7
*.test CNAME .
""")
    policy = load_rpz(zone)
    assert policy.match("www.d.example") == "*.d.example"
    assert policy.match("x.d.example") == "x.d.example"
    assert policy.match("y.x.d.example") is None  # needs *.x.d.example
    # Unbound takes the closest encloser from the trigger that sorts just before the name, so an
    # empty non-terminal (y.d.example) only counts for the names that sort after a trigger below it:
    assert policy.match("y.d.example") == "*.d.example"
    assert policy.match("b.y.d.example") == "*.d.example"  # sorts before a.x.y.d.example
    assert policy.match("z.y.d.example") is None  # sorts after it: the encloser is y.d.example
    assert policy.match("test") is None
    assert policy.match("zz.test") == "*.test"
    decision = policy.decide("y.x.d.example")
    assert decision.rules == ()
    assert "does not reach it" in decision.note
    assert "*.x.d.example" in decision.note


def test_rpz_exact_beats_wildcard(tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + "*.d.example CNAME .\nwww.d.example A 203.0.113.5\n")
    decision = load_rpz(zone).decide("www.d.example")
    assert decision.answers == {"A": Method.BLOCKPAGE, "AAAA": Method.NODATA}


@pytest.mark.parametrize(("rdata", "a", "aaaa"), [
    ("CNAME .", Method.NXDOMAIN, Method.NXDOMAIN),
    ("CNAME *.", Method.NODATA, Method.NODATA),
    ("CNAME rpz-drop.", Method.DROP, Method.DROP),
    ("CNAME rpz-passthru.", None, None),
    ("CNAME rpz-tcp-only.", None, None),
    ("CNAME walled-garden.isp.example.", Method.BLOCKPAGE, Method.BLOCKPAGE),
    ("A 0.0.0.0", Method.SINKHOLE, Method.NODATA),
    ("AAAA ::", Method.NODATA, Method.SINKHOLE),
    ("A 203.0.113.10", Method.BLOCKPAGE, Method.NODATA),
    ('TXT "blocked"', Method.NODATA, Method.NODATA),
])
def test_rpz_actions(rdata: str, a: Method | None, aaaa: Method | None, tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + f"d.example {rdata}\n")
    assert load_rpz(zone).decide("d.example").answers == {"A": a, "AAAA": aaaa}


def test_rpz_overblocked_exemption(orders: OrderSet, tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + "*.annas-archive.org A 0.0.0.0\nunrelated.example CNAME .\n")
    results = by_name(verify("rpz", zone, orders))
    assert results["help.annas-archive.org"][:2] == ("overblocked", "sinkhole")
    assert results["unrelated.example"] == ("overblocked", "nxdomain", f"{zone}:6: unrelated.example CNAME .")


def test_rpz_zone_file_syntax(tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", """\
; a comment
$TTL 1h
rpz.zone. 300 IN SOA localhost. hostmaster.localhost. (
    1 ; serial
    3600 600 604800 300 )
rpz.zone. IN NS localhost.
$ORIGIN rpz.zone.
d.example 60 IN CNAME .   ; trailing comment
          IN 60 A 0.0.0.0
e.example.rpz.zone. CNAME *.
$INCLUDE more.zone
outside.example. CNAME .
""")
    policy = load_rpz(zone)
    assert policy.origin == "rpz.zone."
    assert sorted(policy.triggers) == ["d.example", "e.example"]
    rules = [r.rule for r in policy.triggers["d.example"].records]
    assert [(r.line, r.text) for r in rules] == [(8, "d.example CNAME ."), (9, "d.example A 0.0.0.0")]
    assert policy.decide("e.example").answers["A"] is Method.NODATA
    assert policy.notes == [
        f"{zone}:11: $INCLUDE more.zone was not followed; its records are not part of this check",
        f"{zone}:12: outside.example. is outside the policy zone rpz.zone.; skipped",
    ]


def test_rpz_origin_option_and_relative_names(tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", "@ SOA localhost. h.localhost. 1 2 3 4 5\nd.example CNAME .\n")
    with pytest.raises(ConfigError, match=r"rpz.zone:1: relative owner name before any \$ORIGIN"):
        load_rpz(zone)
    assert sorted(load_rpz(zone, "policy.example").triggers) == ["d.example"]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("d.example CNAME\n", 5, "not a zone file record"),
    ("d.example BOGUS x\n", 5, "unknown record type 'BOGUS'"),
    ("d.example CH TXT x\n", 5, "class CH is not IN"),
    ("ok.example CNAME .\nd.example A 999.1.1.1\n", 6, "not a zone file record"),
    ("$FOO bar\n", 5, "unknown directive $FOO"),
])
def test_rpz_errors_name_file_and_line(text: str, line: int, message: str, tmp_path: Path) -> None:
    zone = write(tmp_path, "bad.zone", RPZ_HEAD + text)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_rpz(zone)
    assert str(caught.value).startswith(f"{zone}:{line}: ")


def test_rpz_without_origin_or_soa(tmp_path: Path) -> None:
    zone = write(tmp_path, "bad.zone", "d.example. CNAME .\n")
    with pytest.raises(ConfigError, match="no \\$ORIGIN and no SOA"):
        load_rpz(zone)


# --------------------------------------------------------------------------- Unbound

UNBOUND = """\
server:
  verbosity: 1
  local-zone: "annas-archive.org." always_nxdomain   # trailing comment
  local-zone: "help.annas-archive.org." transparent
  local-zone: annas-archive.se. redirect
  local-data: "annas-archive.se. A 203.0.113.10"
  local-data: 'exact.example. TXT "blocked by blockaudit"'
  include: "/etc/unbound/more.conf"
view:
  name: "kids"
  local-zone: "unrelated.example." always_nxdomain
"""


def test_unbound_semantics(orders: OrderSet, tmp_path: Path) -> None:
    conf = write(tmp_path, "unbound.conf", UNBOUND)
    run = verify("unbound", conf, orders)
    results = by_name(run)
    assert results["annas-archive.org"] == (
        "blocked", "nxdomain", f'{conf}:3: local-zone: "annas-archive.org." always_nxdomain')
    assert results["www.annas-archive.org"][:2] == ("blocked", "nxdomain")
    assert results["help.annas-archive.org"][:2] == ("accessible", None)
    assert results["www.annas-archive.se"][:2] == ("blocked", "blockpage")
    assert f'{conf}:6: local-data: "annas-archive.se. A 203.0.113.10"' in results["www.annas-archive.se"][2]
    assert results["exact.example"][:2] == ("blocked", "nodata")
    assert results["unrelated.example"][:2] == ("accessible", None)  # the view's rule is not judged
    assert run.settings["notes"] == [
        f'{conf}:8: include: "/etc/unbound/more.conf" was not followed; its rules are not part of this check',
        f"{conf}:11: local-zone in a view: clause is not judged",
    ]
    assert classify.rollup(run.results) is Status.COMPLIANT
    assert [str(a) for a in run.resolvers.subjects[0].block.addresses] == ["203.0.113.10"]


@pytest.mark.parametrize(("zone_type", "data", "a", "aaaa"), [
    ("always_nxdomain", 'd.example. A 1.2.3.4', Method.NXDOMAIN, Method.NXDOMAIN),
    ("always_nodata", "", Method.NODATA, Method.NODATA),
    ("always_refuse", "", Method.REFUSED, Method.REFUSED),
    ("always_deny", "", Method.DROP, Method.DROP),
    ("always_null", "", Method.SINKHOLE, Method.SINKHOLE),
    ("always_transparent", 'd.example. A 1.2.3.4', None, None),
    ("transparent", "", None, None),
    ("transparent", "d.example. A 1.2.3.4", Method.BLOCKPAGE, Method.NODATA),
    ("typetransparent", "d.example. A 1.2.3.4", Method.BLOCKPAGE, None),
    ("static", "", Method.NXDOMAIN, Method.NXDOMAIN),
    ("deny", "", Method.DROP, Method.DROP),
    ("refuse", "", Method.REFUSED, Method.REFUSED),
    ("redirect", "", Method.NODATA, Method.NODATA),
    ("block_a", "", Method.NODATA, None),
    ("block_aaaa", "", None, Method.NODATA),
])
def test_unbound_zone_types(zone_type: str, data: str, a: Method | None, aaaa: Method | None,
                            tmp_path: Path) -> None:
    text = f'server:\n  local-zone: "d.example." {zone_type}\n'
    if data:
        text += f'  local-data: "{data}"\n'
    policy = load_unbound(write(tmp_path, "u.conf", text))
    assert policy.decide("d.example").answers == {"A": a, "AAAA": aaaa}


def test_unbound_most_specific_zone_wins_and_local_data_is_exact(tmp_path: Path) -> None:
    policy = load_unbound(write(tmp_path, "u.conf", """\
local-zone: "example." always_nxdomain
local-zone: "ok.example." transparent
local-zone: "bad.ok.example." always_null
local-data: "exact.test. AAAA ::"
"""))
    assert policy.decide("www.example").answers["A"] is Method.NXDOMAIN
    assert policy.decide("a.ok.example").answers["A"] is None
    assert policy.decide("x.bad.ok.example").answers["A"] is Method.SINKHOLE
    assert policy.decide("exact.test").answers == {"A": Method.NODATA, "AAAA": Method.SINKHOLE}
    assert policy.decide("www.exact.test").rules == ()


def test_unbound_static_zone_with_data_below(tmp_path: Path) -> None:
    policy = load_unbound(write(tmp_path, "u.conf", 'local-zone: "s.example." static\n'
                                                    'local-data: "a.b.s.example. A 192.0.2.1"\n'))
    assert policy.decide("b.s.example").answers["A"] is Method.NODATA
    assert policy.decide("c.s.example").answers["A"] is Method.NXDOMAIN


@pytest.mark.parametrize(("line", "message"), [
    ('local-zone: "d.example." blackhole', "unknown local-zone type 'blackhole'"),
    ('local-zone: "d.example."', "local-zone needs a name and a type"),
    ('local-data: "d.example. A"', "is not a record"),
    ('local-data: "d.example. A 1.2.3.4', "unbalanced quotes"),
])
def test_unbound_errors(line: str, message: str, tmp_path: Path) -> None:
    conf = write(tmp_path, "u.conf", f"server:\n  {line}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_unbound(conf)
    assert str(caught.value).startswith(f"{conf}:2: ")


# --------------------------------------------------------------------------- dnsmasq


def test_dnsmasq_semantics(orders: OrderSet, tmp_path: Path) -> None:
    conf = write(tmp_path, "dnsmasq.conf", """\
# blocklist
address=/annas-archive.org/exact.example/
server=/help.annas-archive.org/#
address=/annas-archive.se/#
conf-dir=/etc/dnsmasq.d
server=192.0.2.53
""")
    run = verify("dnsmasq", conf, orders)
    results = by_name(run)
    assert results["www.annas-archive.org"] == (
        "blocked", "nxdomain", f"{conf}:2: address=/annas-archive.org/exact.example/")
    assert results["exact.example"][:2] == ("blocked", "nxdomain")
    assert results["help.annas-archive.org"] == (
        "accessible", None, f"{conf}:3: server=/help.annas-archive.org/# (forwarded as usual)")
    assert results["www.annas-archive.se"][:2] == ("blocked", "sinkhole")
    assert run.settings["notes"] == [
        f"{conf}:5: conf-dir=/etc/dnsmasq.d was not followed; its rules are not part of this check"]


def test_dnsmasq_matching(tmp_path: Path) -> None:
    policy = load_dnsmasq(write(tmp_path, "d.conf", """\
address=/google.com/
address=/*oogle.org/0.0.0.0
address=/.blockpage.example/203.0.113.10
local=/local.example/
server=/fwd.example/192.0.2.1
address=/#/::
host-record=exact.google.com,192.0.2.7
"""))
    assert policy.decide("www.google.com").answers["A"] is Method.NXDOMAIN
    assert policy.decide("supergoogle.com").answers == {"A": Method.NODATA, "AAAA": Method.SINKHOLE}  # /#/
    assert policy.decide("google.org").answers["A"] is Method.SINKHOLE
    assert policy.decide("www.froogle.org").answers["A"] is Method.SINKHOLE
    assert policy.decide("a.blockpage.example").answers == {"A": Method.BLOCKPAGE, "AAAA": Method.NODATA}
    assert policy.decide("local.example").answers["A"] is Method.NXDOMAIN
    assert policy.decide("fwd.example").answers["A"] is None
    assert policy.decide("exact.google.com").answers == {"A": Method.BLOCKPAGE, "AAAA": Method.NODATA}


def test_dnsmasq_errors(tmp_path: Path) -> None:
    conf = write(tmp_path, "d.conf", "\naddress=/d.example/not-an-address\n")
    with pytest.raises(ConfigError, match="address 'not-an-address' is not an IP address") as caught:
        load_dnsmasq(conf)
    assert str(caught.value).startswith(f"{conf}:2: ")


# --------------------------------------------------------------------------- hosts


def test_hosts_semantics(orders: OrderSet, tmp_path: Path) -> None:
    hosts = write(tmp_path, "hosts", """\
127.0.0.1 localhost
0.0.0.0 annas-archive.org www.annas-archive.org   # the site
:: annas-archive.org
203.0.113.10 Exact.Example.
""")
    results = by_name(verify("hosts", hosts, orders))
    assert results["annas-archive.org"][:2] == ("blocked", "sinkhole")
    assert results["annas-archive.org"][2] == f"{hosts}:2: 0.0.0.0 annas-archive.org; {hosts}:3: :: annas-archive.org"
    assert results["www.annas-archive.org"][:2] == ("blocked", "sinkhole")
    assert results["exact.example"][:2] == ("blocked", "blockpage")
    assert results["annas-archive.se"] == ("accessible", None, "no rule covers it")


def test_hosts_errors(tmp_path: Path) -> None:
    hosts = write(tmp_path, "hosts", "0.0.0.0 ok.example\nnot-an-ip d.example\n")
    with pytest.raises(ConfigError, match="'not-an-ip' is not an IP address") as caught:
        load_hosts(hosts)
    assert str(caught.value).startswith(f"{hosts}:2: ")


# --------------------------------------------------------------------------- the run


def test_the_run_stands_for_the_config(orders: OrderSet, tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + "annas-archive.org CNAME .\n")
    run = verify(ConfigFormat.RPZ, zone, orders, clock=lambda: FIXED)
    (resolver,) = run.resolvers.resolvers
    assert resolver.name == "config:rpz.zone"
    assert resolver.operator == "candidate config"
    assert resolver.role.value == "subject"
    assert run.resolvers.controls == ()
    assert run.resolvers.canaries == ()
    assert run.controls == ()
    assert all(r.observations == () and r.resolver == "config:rpz.zone" and r.reason is None for r in run.results)
    assert run.settings["mode"] == "verify-config"
    assert run.settings["config"] == str(zone)
    assert run.settings["format"] == "rpz"
    assert run.settings["origin"] == "rpz.zone."
    assert run.started_at == FIXED
    assert run.id.startswith("20260701T120000Z-")
    assert [r.query.kind for r in run.results] == sorted(
        (r.query.kind for r in run.results), key=lambda k: k is not QueryKind.ORDERED)
    assert {r.query.kind for r in run.results} == {QueryKind.ORDERED, QueryKind.EXEMPTION}


@pytest.mark.parametrize("fmt", [f for f in Format if f is not Format.PDF or pdf_available()])
def test_every_report_format_renders_a_verify_run(fmt: Format, orders: OrderSet, tmp_path: Path) -> None:
    zone = write(tmp_path, "rpz.zone", RPZ_HEAD + "annas-archive.org CNAME .\nunrelated.example CNAME .\n")
    run = verify("rpz", zone, orders, clock=lambda: FIXED)
    view = view_model(run)
    out = render(fmt, view, RenderOptions(rendered_at=FIXED, source_sha256="0" * 64))
    assert out
    if fmt is Format.JSON:
        report = json.loads(out)
        assert report["summary"]["status"] == "noncompliant"
        assert report["run"]["settings"]["mode"] == "verify-config"
        assert {r["query_name"] for r in report["results"] if r["verdict"] == "accessible" and
                r["kind"] == "ordered"} == {"www.annas-archive.org", "annas-archive.se", "www.annas-archive.se",
                                            "exact.example"}
        assert {r["query_name"] for r in report["results"] if r["verdict"] == "overblocked"} == {"unrelated.example"}


def test_rollup_of_an_empty_config(orders: OrderSet, tmp_path: Path) -> None:
    run = verify("hosts", write(tmp_path, "hosts", "# nothing\n"), orders)
    assert classify.rollup(run.results) is Status.NONCOMPLIANT
    assert all(r.verdict is Verdict.ACCESSIBLE for r in run.results)


@pytest.mark.parametrize(("fmt", "path", "origin", "message"), [
    ("yaml", "x", None, "unknown config format 'yaml'"),
    ("rpz", "missing.zone", None, "no such file"),
    ("hosts", "hosts", "rpz.zone.", "a zone origin is for RPZ files only"),
])
def test_bad_calls(fmt: str, path: str, origin: str | None, message: str, orders: OrderSet, tmp_path: Path) -> None:
    write(tmp_path, "hosts", "")
    with pytest.raises(ConfigError, match=message):
        verify(fmt, tmp_path / path, orders, origin=origin)
