"""Tests of checker.orders.importers: every foreign format, skipped lines, merging, and the loader round trip."""

from __future__ import annotations

import datetime as dt
import io
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.errors import BlockauditError, OrderError, UsageError
from checker.models import Order, OrderType, Source, TargetKind, Verification
from checker.orders.importers import (
    FORMATS,
    ImportMeta,
    ImportSummary,
    Skipped,
    SkipReason,
    guess_format,
    import_file,
    load_foreign,
    parse_options,
)
from checker.orders.importers.base import Context, read_lines
from checker.orders.loader import load_order, merge

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
DE = ImportMeta(jurisdiction="DE")


class Result:
    """One import: the summary, the YAML written, the order read back, every skipped record."""

    def __init__(self, summary: ImportSummary, text: str, order: Order, skipped: list[Skipped]) -> None:
        self.summary = summary
        self.text = text
        self.order = order
        self.skipped = skipped

    @property
    def targets(self) -> dict[str, bool]:
        """Domain -> subdomains."""
        return {t.value: t.subdomains for t in self.order.targets if t.kind is TargetKind.DOMAIN}

    def values(self, kind: TargetKind) -> list[str]:
        return [t.value for t in self.order.targets if t.kind is kind]

    @property
    def exemptions(self) -> list[str]:
        return [t.value for t in self.order.exemptions]

    def skips(self) -> list[tuple[int, str]]:
        """(line, reason) of every skipped record."""
        return [(s.line, s.reason.value) for s in self.skipped]


def run(
    tmp_path: Path, fmt: str, content: str | bytes, *, name: str = "list.txt", meta: ImportMeta = DE,
    options: dict[str, str] | None = None,
) -> Result:
    """Import ``content`` (text is written as UTF-8) and read the written order back with the loader."""
    source = tmp_path / name
    source.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    skipped: list[Skipped] = []
    out = io.StringIO()
    summary = import_file(fmt, source, meta, out, options, on_skip=skipped.append, now=NOW)
    order_path = tmp_path / "imported.yaml"
    order_path.write_text(out.getvalue(), encoding="utf-8")
    order = load_order(order_path)
    assert summary.skipped == len(skipped)
    assert summary.targets == len(order.targets)
    assert summary.exemptions == len(order.exemptions)
    return Result(summary, out.getvalue(), order, skipped)


# --------------------------------------------------------------------------- plain


PLAIN = """\
# a comment
Example.COM

*.wild.example
wild.example
пример.рф
bad..name
two names.example here
192.0.2.7
2001:db8::/32
https://example.org/page?x=1
ftp://example.org/
trailing.example   # with a comment
example.com.
"""


def test_plain(tmp_path: Path) -> None:
    r = run(tmp_path, "plain", PLAIN)
    assert r.targets == {"example.com": False, "wild.example": True, "xn--e1afmkfd.xn--p1ai": False,
                         "trailing.example": False}
    assert r.values(TargetKind.IP) == ["192.0.2.7", "2001:db8::/32"]
    assert r.values(TargetKind.URL) == ["https://example.org/page?x=1"]
    assert r.skips() == [(7, "invalid name"), (8, "unrecognised line"), (12, "invalid url")]
    assert r.summary.duplicates == 2  # wild.example and example.com. merged into earlier entries
    assert r.summary.lines == 14


def test_plain_subdomains_option(tmp_path: Path) -> None:
    r = run(tmp_path, "plain", "a.example\nb.example\n", options={"subdomains": "yes"})
    assert r.targets == {"a.example": True, "b.example": True}


def test_skipped_records_name_line_reason_and_text(tmp_path: Path) -> None:
    r = run(tmp_path, "plain", "ok.example\nbad_name.example\n")
    assert r.skipped[0].describe(str(tmp_path / "list.txt")).endswith(
        "list.txt:2: invalid name: label 'bad_name' has characters other than a-z, 0-9 and inner '-' "
        "[bad_name.example]")


# --------------------------------------------------------------------------- hosts


HOSTS = """\
127.0.0.1 localhost localhost.localdomain
::1 ip6-localhost ip6-loopback
255.255.255.255 broadcasthost
0.0.0.0 ads.example tracker.example  # two names
127.0.0.1 Ads.Example
:: v6.example
0.0.0.0
example.net
0.0.0.0 *.wild.example
0.0.0.0 xn--e1afmkfd.xn--p1ai
"""


def test_hosts(tmp_path: Path) -> None:
    r = run(tmp_path, "hosts", HOSTS, name="list.hosts")
    assert r.targets == {"ads.example": False, "tracker.example": False, "v6.example": False,
                         "xn--e1afmkfd.xn--p1ai": False}
    assert r.skips() == [
        (1, "local name"), (1, "local name"), (2, "local name"), (2, "local name"), (3, "local name"),
        (7, "unrecognised line"), (8, "unrecognised line"), (9, "invalid name"),
    ]
    assert r.summary.duplicates == 1


# --------------------------------------------------------------------------- csv


def test_csv_by_column_numbers_without_header(tmp_path: Path) -> None:
    content = '1,a.example,x,Site A\n2,"b.example",y,"Site, B"\n3,bad..example,z,\n4\n5,,w,\n'
    r = run(tmp_path, "csv", content, name="l.csv", options={"columns": "domain=2,site=4"})
    assert r.targets == {"a.example": False, "b.example": False}
    assert {t.value: t.site for t in r.order.targets} == {"a.example": "site-a", "b.example": "site-b"}
    assert r.skips() == [(3, "invalid name"), (4, "malformed row"), (5, "malformed row")]


def test_csv_by_header_names(tmp_path: Path) -> None:
    content = ("host;Comment;all\nA.example;first;yes\n192.0.2.1;an ip;\nhttps://x.example/p;a url;no\n"
               "c.example;;maybe\n")
    r = run(tmp_path, "csv", content, name="l.csv",
            options={"columns": "target=host,note=comment,subdomains=ALL", "delimiter": "semicolon"})
    assert r.targets == {"a.example": True}
    assert r.values(TargetKind.IP) == ["192.0.2.1"]
    assert r.values(TargetKind.URL) == ["https://x.example/p"]
    assert '{domain: a.example, subdomains: true, note: "first"}' in r.text
    assert r.skips() == [(5, "malformed row")]


def test_csv_header_with_numbers(tmp_path: Path) -> None:
    r = run(tmp_path, "csv", "name\nexample.com\n", name="l.csv", options={"columns": "domain=1", "has_header": "true"})
    assert r.targets == {"example.com": False}
    assert r.skipped == []


def test_csv_mapping_naming_a_missing_column_is_an_order_error_at_the_header(tmp_path: Path) -> None:
    with pytest.raises(OrderError) as info:
        run(tmp_path, "csv", "host,comment\na.example,x\n", name="l.csv", options={"columns": "domain=hostname"})
    assert info.value.line == 1
    assert str(info.value).startswith(f"{tmp_path / 'l.csv'}:1: option columns: no column named 'hostname'")
    with pytest.raises(OrderError, match="the header has 2 columns") as info:
        run(tmp_path, "csv", "host,comment\na.example,x\n", name="l.csv",
            options={"columns": "domain=3", "has_header": "true"})
    assert info.value.line == 1


@pytest.mark.parametrize(("options", "message"), [
    ({}, "needs option columns"),
    ({"columns": "domain"}, "is not FIELD=COLUMN"),
    ({"columns": "host=1"}, "unknown field 'host'"),
    ({"columns": "domain=1,domain=2"}, "mapped twice"),
    ({"columns": "domain=0"}, "count from 1"),
    ({"columns": "domain=\u00b2", "has_header": "no"}, "needs a header"),
    ({"columns": "site=1"}, "must map one of domain"),
    ({"columns": "domain=host", "has_header": "false"}, "needs a header"),
    ({"columns": "domain=1", "has_header": "perhaps"}, "must be true or false"),
    ({"columns": "domain=1", "delimiter": "::"}, "one character"),
    ({"columns": "domain=1", "zone": "x"}, "takes no option 'zone'"),
    ({"columns": "domain=1", "encoding": "klingon"}, "unknown encoding"),
])
def test_csv_option_errors_are_usage_errors(tmp_path: Path, options: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run(tmp_path, "csv", "a.example\n", name="l.csv", options=options)


# --------------------------------------------------------------------------- citizenlab


CITIZENLAB = """\
url,category_code,category_description,date_added,source,notes
https://annas-archive.gd/,FILE,File-sharing,2026-06-15,cuiiliste.de/lina.sh,Blocked by the CUII
https://annas-archive.org/,CULTR,Culture,2025-07-10,test-lists.ooni.org contribution,"The largest, truly open library"
http://torrentroom.com/,FILE,File-sharing,2017-04-12,,Site reported to be blocked by AGCOM
https://en.wikipedia.org/wiki/Page,POLR,Political Criticism,2019-01-01,,
https://пример.рф/,NEWS,News,2020-01-01,,
http://192.0.2.5/,HOST,Hosting,2020-01-01,,
https://annas-archive.gd/,FILE,File-sharing,2026-06-16,,duplicate
mailto:someone@example.org,COMM,Communication,2020-01-01,,
https://short.example/,FILE
"""


def test_citizenlab(tmp_path: Path) -> None:
    r = run(tmp_path, "citizenlab", CITIZENLAB, name="de.csv")
    assert r.targets == {"annas-archive.gd": False, "annas-archive.org": False, "torrentroom.com": False,
                         "xn--e1afmkfd.xn--p1ai": False}
    assert r.values(TargetKind.URL) == ["https://en.wikipedia.org/wiki/Page"]
    assert r.values(TargetKind.IP) == ["192.0.2.5"]
    assert r.skips() == [(9, "invalid url"), (10, "malformed row")]
    assert r.summary.duplicates == 1
    assert ('{domain: annas-archive.gd, note: "FILE File-sharing; added 2026-06-15; source: cuiiliste.de/lina.sh; '
            'Blocked by the CUII"}') in r.text
    assert ('"CULTR Culture; added 2025-07-10; source: test-lists.ooni.org contribution; The largest, truly open'
            in r.text)


def test_citizenlab_paths_host_and_the_old_official_format(tmp_path: Path) -> None:
    old = ("url,name,category_code,date_added,date_published,data_format_version,source,authority,notes\n"
           "www.ddlstorage.com,official/it/bofh,HACK,2014-07-01,2015-04-12,0.1,censura.bofh.it,"
           "Tribunale di Cagliari (Procura),IP futuri\n"
           "http://a.example/deep/path,official/it/bofh,HACK,2014-07-01,2015-04-12,0.1,x,y,z\n")
    r = run(tmp_path, "citizenlab", old, name="bofh.csv", options={"paths": "host"})
    assert r.targets == {"www.ddlstorage.com": False, "a.example": False}
    assert "authority: Tribunale di Cagliari (Procura); source: censura.bofh.it; IP futuri" in r.text


def test_citizenlab_needs_its_header(tmp_path: Path) -> None:
    with pytest.raises(OrderError, match="not a Citizen Lab test list") as info:
        run(tmp_path, "citizenlab", "https://a.example/,FILE,x,2020-01-01,,\n", name="x.csv")
    assert info.value.line == 1
    with pytest.raises(UsageError, match="paths"):
        run(tmp_path, "citizenlab", CITIZENLAB, name="x.csv", options={"paths": "all"})


# --------------------------------------------------------------------------- adblock


ADBLOCK = """\
[Adblock Plus 2.0]
! Title: test list
||ads.example^
||Tracker.example^$important
||both.example^$important,all
@@||allowed.example^
example.com##.banner
##.generic-ad
/ads[0-9]+\\.example/
||thirdparty.example^$third-party
|https://x.example/
||path.example/ads^
plain.example
||*.wild.example^
||ads.example^$document
# a hash comment
0.0.0.0 hosts.example
||пример.рф^
"""


def test_adblock(tmp_path: Path) -> None:
    r = run(tmp_path, "adblock", ADBLOCK)
    assert r.targets == {"ads.example": True, "tracker.example": True, "both.example": True,
                         "plain.example": False, "wild.example": True, "xn--e1afmkfd.xn--p1ai": True}
    assert r.skips() == [
        (6, "exception rule"), (7, "unsupported rule"), (8, "unsupported rule"), (9, "unsupported rule"),
        (10, "unsupported rule"), (11, "unsupported rule"), (12, "unsupported rule"), (17, "unsupported rule"),
    ]
    assert r.skipped[0].detail == "exception rule"
    assert r.skipped[4].detail == "modifier $third-party"
    assert r.summary.duplicates == 1


# --------------------------------------------------------------------------- rpz


RPZ = """\
$TTL 300
@   IN  SOA localhost. root.localhost. (
        2026050101 ; serial
        3600 900 2592000 300 )
    IN  NS  localhost.
; QNAME triggers
bad.example         CNAME   .
*.bad.example       CNAME   .
*.sub.example       CNAME   *.
nodata.example  60  IN CNAME *.
drop.example        CNAME   rpz-drop.
walled.example      A       192.0.2.1
                    AAAA    2001:db8::1
txt.example         TXT     "a ; quoted ; text"
ok.bad.example      CNAME   rpz-passthru.
legacy.example      CNAME   legacy.example.
tcp.example         CNAME   rpz-tcp-only.
rel.example         CNAME   rpz-passthru
32.10.2.0.192.rpz-ip      CNAME .
24.0.100.51.198.rpz-ip    CNAME .
128.1.zz.db8.2001.rpz-ip  CNAME .
32.1.1.1.1.rpz-ip         CNAME rpz-passthru.
bad-ip.rpz-ip             CNAME .
ns.example.rpz-nsdname    CNAME .
Bad..Name                 CNAME .
$INCLUDE other.zone
$ORIGIN sub2.rpz.example.
www                       CNAME .
*                         CNAME .
"""


def test_rpz_with_zone_option(tmp_path: Path) -> None:
    r = run(tmp_path, "rpz", RPZ, name="block.rpz", options={"zone": "rpz.example."})
    assert r.targets == {
        "bad.example": True, "sub.example": True, "nodata.example": False, "drop.example": False,
        "walled.example": False, "txt.example": False, "www.sub2": False,
    }
    assert r.exemptions == ["legacy.example", "ok.bad.example"]
    assert r.values(TargetKind.IP) == ["192.0.2.10", "198.51.100.0/24", "2001:db8::1"]
    assert r.skips() == [
        (17, "unsupported rule"), (18, "unsupported rule"), (22, "unsupported rule"), (23, "invalid address"),
        (24, "unsupported rule"), (25, "invalid name"), (26, "unsupported rule"), (29, "invalid name"),
    ]
    assert "rpz-tcp-only does not block" in r.skipped[0].detail
    assert "trailing dot" in r.skipped[1].detail
    assert "only domains" in r.skipped[2].detail
    assert r.summary.duplicates == 2  # bad.example + *.bad.example; walled.example A + AAAA


def test_rpz_origin_from_soa_and_names_outside_the_zone(tmp_path: Path) -> None:
    zone = """\
rpz.example. 300 IN SOA ns.rpz.example. hostmaster.rpz.example. 1 3600 900 86400 300
rpz.example. NS ns.rpz.example.
a.example.rpz.example. CNAME .
b.example CNAME .
c.example.other.zone. CNAME .
"""
    r = run(tmp_path, "rpz", zone, name="z.zone")
    assert r.targets == {"a.example": False, "b.example": False}
    assert r.skips() == [(5, "unsupported rule")]
    assert "outside the policy zone rpz.example" in r.skipped[0].detail


def test_rpz_first_origin_is_the_zone(tmp_path: Path) -> None:
    zone = "$ORIGIN rpz.local.\n@ SOA a. b. 1 2 3 4 5\nx.example CNAME .\n$ORIGIN example.rpz.local.\ny CNAME .\n"
    r = run(tmp_path, "rpz", zone, name="z.rpz")
    assert r.targets == {"x.example": False, "y.example": False}


def test_rpz_absolute_owner_in_a_zone_of_unknown_name_and_unbalanced_records(tmp_path: Path) -> None:
    zone = 'a.example CNAME .\nb.example.rpz. CNAME .\nc.example TXT "open\nd.example ( CNAME .\n'
    r = run(tmp_path, "rpz", zone, name="z.rpz")
    assert r.targets == {"a.example": False}
    assert r.skips() == [(2, "unsupported rule"), (3, "malformed row"), (4, "malformed row")]
    assert "pass option zone=NAME" in r.skipped[0].detail


# --------------------------------------------------------------------------- unbound


UNBOUND = """\
server:
    # blocklist
    local-zone: "nx.example." always_nxdomain
    local-zone: "refuse.example." always_refuse
    local-zone: 'null.example.' always_null
    local-zone: static.example static
    local-zone: "redirect.example." redirect
    local-data: "redirect.example. A 192.0.2.1"
    local-data: "one.example. IN AAAA ::"   # comment
    local-data: 'txt.example. TXT "has # hash"'
    local-zone: "deny.example." deny
    local-zone: "open.example." transparent
    local-zone: "type.example." typetransparent
    local-zone: "inform.example." inform
    local-zone: "broken"
    interface: 0.0.0.0
    local-zone: "bad..example." always_nxdomain
    local-data: "lonely"
remote-control:
    control-enable: no
"""


def test_unbound(tmp_path: Path) -> None:
    r = run(tmp_path, "unbound", UNBOUND, name="blocklist.conf")
    assert r.targets == {"nx.example": True, "refuse.example": True, "null.example": True, "static.example": True,
                         "redirect.example": True, "one.example": False, "txt.example": False, "deny.example": True}
    assert r.exemptions == ["open.example", "type.example"]
    assert r.skips() == [(14, "unsupported rule"), (15, "malformed row"), (16, "other setting"),
                         (17, "invalid name"), (18, "malformed row"), (20, "other setting")]
    assert r.summary.duplicates == 1


# --------------------------------------------------------------------------- dnsmasq


DNSMASQ = """\
# dnsmasq blocklist
address=/a.example/b.example/
address=/null.example/#
address=/sink.example/0.0.0.0
address=/v6.example/::
server=/srv.example/
local=/local.example/
server=/fwd.example/192.0.2.53
server=/keep.example/#
address=/#/
address=/bad.example/not-an-ip
cache-size=1000
address=/*.wild.example/
address=/.dot.example/
server=192.0.2.1
address=/bad..example/
"""


def test_dnsmasq(tmp_path: Path) -> None:
    r = run(tmp_path, "dnsmasq", DNSMASQ, name="dnsmasq.conf")
    assert r.targets == {"a.example": True, "b.example": True, "null.example": True, "sink.example": True,
                         "v6.example": True, "srv.example": True, "local.example": True, "wild.example": True,
                         "dot.example": True}
    assert r.exemptions == ["keep.example"]
    assert r.skips() == [(8, "other setting"), (10, "unsupported rule"), (11, "invalid address"),
                         (12, "other setting"), (15, "other setting"), (16, "invalid name")]


# --------------------------------------------------------------------------- rkn


RKN_ROWS = [
    "Updated: 2024-05-01 12:34:56 +0300",
    "1.2.3.4 | 1.2.3.0/24;example.com | *.example.com;http://example.com?test=x | http://example.com?test=y;;;2017-01-02",
    '"5.6.7.8";"пример.рф | *.сайт.рф";"https://a.ru/x;y";"Генпрокуратура";"27-31-2018/Ид2971-18";"2018-04-16"',
    "10.0.0.1|10.0.0.2;;;Мосгорсуд;3-123/2019;2019-03-01",
    ";example.com;https://example.com/a|b | http://b.example/;Генпрокуратура;1;2020-02-02",
    "garbage without separators",
    ";*example.com | test.*.example.com;;Суд;2;2021-01-01",
    "999.1.1.1;;tg://resolve?domain=x;ФНС;3;not-a-date",
    ';"unterminated;;;;',
    ";ЖУРНАЛ.РФ;;Роскомнадзор;4;2022-02-02",
    "a;b;c;d;e;f;g",
]


def rkn_bytes(rows: list[str] = RKN_ROWS) -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode("cp1251")


def test_rkn(tmp_path: Path) -> None:
    r = run(tmp_path, "rkn", rkn_bytes(), name="dump.csv", meta=ImportMeta())
    assert r.targets == {"example.com": True, "xn--e1afmkfd.xn--p1ai": False, "xn--80aswg.xn--p1ai": True,
                         "xn--80alqgor.xn--p1ai": False}
    assert r.values(TargetKind.IP) == ["1.2.3.0/24", "1.2.3.4", "5.6.7.8", "10.0.0.1", "10.0.0.2"]
    assert r.values(TargetKind.URL) == ["http://b.example/", "http://example.com?test=x", "http://example.com?test=y",
                                        "https://a.ru/x;y", "https://example.com/a|b"]
    assert r.skips() == [(6, "malformed row"), (7, "invalid name"), (7, "invalid name"), (8, "invalid address"),
                         (8, "invalid url"), (9, "malformed row"), (11, "malformed row")]
    order = r.order
    assert order.jurisdiction == "RU"
    assert order.order_type is OrderType.ADMINISTRATIVE
    assert order.authority.startswith("Roskomnadzor")
    assert order.issued == dt.date(2024, 5, 1)
    assert order.inferred == ("issued",)
    assert order.notes is not None
    assert "Updated: 2024-05-01 12:34:56 +0300; 7 rows." in order.notes
    assert "Decisions dated 2017-01-02 to 2022-02-02 (1 without a date)." in order.notes
    assert "Rows by authority: Генпрокуратура 2; Мосгорсуд 1; Роскомнадзор 1; Суд 1; ФНС 1." in order.notes


def test_rkn_needs_the_updated_line(tmp_path: Path) -> None:
    with pytest.raises(OrderError, match="not a Roskomnadzor dump") as info:
        run(tmp_path, "rkn", rkn_bytes(RKN_ROWS[1:]), name="dump.csv", meta=ImportMeta())
    assert info.value.line == 1
    assert info.value.path == str(tmp_path / "dump.csv")


def test_rkn_undecodable_bytes_skip_the_line(tmp_path: Path) -> None:
    data = rkn_bytes(RKN_ROWS[:2]) + b";bad\x98name.ru;;x;1;2020-01-01\r\n;ok.ru;;x;1;2020-01-01\r\n"
    r = run(tmp_path, "rkn", data, name="dump.csv", meta=ImportMeta())
    assert r.skips() == [(3, "not decodable")]
    assert "ok.ru" in r.targets


def test_rkn_meta_given_by_the_user_wins(tmp_path: Path) -> None:
    meta = ImportMeta(id="ru-rkn-2024-05", title="RKN registry", authority="Roskomnadzor", jurisdiction="RU",
                      order_type=OrderType.ADMINISTRATIVE, issued=dt.date(2024, 5, 2),
                      verification=Verification.VERIFIED,
                      sources=(Source(url="https://github.com/zapret-info/z-i", note="mirror"),), notes="Mine.")
    r = run(tmp_path, "rkn", rkn_bytes(), name="dump.csv", meta=meta)
    assert r.order.id == "ru-rkn-2024-05"
    assert r.order.issued == dt.date(2024, 5, 2)
    assert r.order.inferred == ()
    assert r.order.notes is not None
    assert r.order.notes.startswith("Mine.\nRoskomnadzor registry dump")
    assert r.order.sources == meta.sources


# --------------------------------------------------------------------------- shared behaviour


def test_header_comment_names_source_format_time_and_skips(tmp_path: Path) -> None:
    r = run(tmp_path, "plain", "a.example\nbad..example\n")
    assert r.text.startswith(
        "# Imported by blockaudit ")
    head = r.text.split("schema:", 1)[0]
    assert "from list.txt (format plain) at 2026-05-01T12:00:00Z." in head
    assert "2 lines read: 1 targets (1 domains, 0 IPs, 0 URLs), 0 exemptions, 0 duplicates merged, 1 lines" in head
    assert "# Skipped: invalid name 1." in head


def test_defaults_for_metadata_not_given(tmp_path: Path) -> None:
    r = run(tmp_path, "plain", "a.example\n", name="My List (v2).txt")
    order = r.order
    assert order.id == "my-list-v2"
    assert order.title == "Imported from My List (v2).txt"
    assert order.authority == "unknown"
    assert order.order_type is OrderType.OTHER
    assert order.verification is Verification.UNVERIFIED
    assert order.issued == NOW.date()
    assert order.inferred == ("issued",)
    assert order.notes == "Issued is the import date (2026-05-01): the source carries no date."


def test_jurisdiction_is_required_unless_the_format_implies_it(tmp_path: Path) -> None:
    out = io.StringIO()
    source = tmp_path / "l.txt"
    source.write_text("a.example\n")
    with pytest.raises(UsageError, match="which country"):
        import_file("plain", source, ImportMeta(), out)
    with pytest.raises(UsageError, match="ISO 3166"):
        import_file("plain", source, ImportMeta(jurisdiction="ZZZ"), out)
    with pytest.raises(UsageError, match="order id"):
        import_file("plain", source, ImportMeta(jurisdiction="DE", id="Not A Slug"), out)
    with pytest.raises(UsageError, match="unknown import format"):
        import_file("bind", source, DE, out)
    assert out.getvalue() == ""


def test_a_source_without_targets_is_an_order_error(tmp_path: Path) -> None:
    with pytest.raises(OrderError, match=r"found no target in 3 lines \(2 skipped; first: line 1: invalid name"):
        run(tmp_path, "plain", "bad..example\n# comment\nlocalhost\n")


def test_missing_file_and_directory_are_order_errors(tmp_path: Path) -> None:
    with pytest.raises(OrderError, match="no such file"):
        import_file("plain", tmp_path / "nope.txt", DE, io.StringIO())
    with pytest.raises(OrderError, match="is a directory"):
        import_file("plain", tmp_path, DE, io.StringIO())


def test_block_and_exemption_of_one_name_conflict(tmp_path: Path) -> None:
    r = run(tmp_path, "dnsmasq", "address=/a.example/\nserver=/a.example/#\nserver=/b.example/#\n"
            "address=/b.example/\nserver=/c.example/#\naddress=/d.example/\n")
    assert r.targets == {"a.example": True, "d.example": True}
    assert r.exemptions == ["b.example", "c.example"]
    assert [(s.line, s.reason.value, s.detail) for s in r.skipped] == [
        (2, "conflict", "a.example is blocked on line 1"), (4, "conflict", "b.example is exempt on line 3"),
    ]


def test_first_skipped_are_capped_but_every_skip_is_streamed(tmp_path: Path) -> None:
    r = run(tmp_path, "plain", "ok.example\n" + "bad..example\n" * 50)
    assert r.summary.skipped == 50
    assert len(r.summary.first_skipped) == 20
    assert len(r.skipped) == 50
    assert [s.line for s in r.skipped] == list(range(2, 52))
    assert r.summary.skipped_by_reason == ((SkipReason.INVALID_NAME, 50),)


def test_output_is_deterministic_whatever_the_line_order(tmp_path: Path) -> None:
    names = [f"n{i}.example" for i in range(200)] + [f"*.w{i}.example" for i in range(50)] + ["192.0.2.1"]
    first = run(tmp_path, "plain", "\n".join(names) + "\n").text
    again = run(tmp_path, "plain", "\n".join(names) + "\n").text
    random.Random(7).shuffle(names)
    shuffled = run(tmp_path, "plain", "\n".join(names) + "\n").text
    assert first == again
    assert first.split("schema:", 1)[1] == shuffled.split("schema:", 1)[1]


def test_streams_binary_and_text_file_objects(tmp_path: Path) -> None:
    binary = io.BytesIO(rkn_bytes())
    summary = import_file("rkn", binary, ImportMeta(), io.StringIO(), now=NOW)
    assert summary.source == "<stream>"
    assert summary.order_id == "stream"
    assert not binary.closed
    text = io.StringIO("0.0.0.0 a.example\n")
    assert import_file("hosts", text, DE, io.StringIO(), now=NOW).domains == 1


def test_crlf_bom_and_encoding_option(tmp_path: Path) -> None:
    r = run(tmp_path, "plain", b"\xef\xbb\xbfa.example\r\nb.example\r\n")
    assert r.targets == {"a.example": False, "b.example": False}
    r = run(tmp_path, "plain", "пример.рф\n".encode("cp1251"), options={"encoding": "cp1251"})
    assert r.targets == {"xn--e1afmkfd.xn--p1ai": False}
    r = run(tmp_path, "plain", "ok.example\n" + "bad\xff.example\n", options={"encoding": "ascii"})
    assert r.skips() == [(2, "not decodable")]


def test_nul_and_overlong_lines_are_skipped_without_holding_them() -> None:
    skipped: list[Skipped] = []
    ctx = Context(path="x", skip=skipped.append)
    text = io.StringIO("a\n" + "b" * 100 + "\nc\x00d\n" + "e" * 25 + "\nf")
    assert list(read_lines(ctx, text, limit=10)) == [(1, "a"), (5, "f")]
    assert [(s.line, s.reason) for s in skipped] == [
        (2, SkipReason.TOO_LONG), (3, SkipReason.NOT_DECODABLE), (4, SkipReason.TOO_LONG),
    ]
    assert ctx.lines == 5


def test_parse_options() -> None:
    assert parse_options(["columns=domain=2,site=4", "has-header=true"]) == {
        "columns": "domain=2,site=4", "has_header": "true"}
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_options(["zone"])
    with pytest.raises(UsageError, match="twice"):
        parse_options(["zone=a", "zone=b"])


def test_every_format_is_registered_with_a_summary() -> None:
    assert set(FORMATS) == {"plain", "hosts", "csv", "citizenlab", "adblock", "rpz", "unbound", "dnsmasq", "rkn"}
    for name, importer in FORMATS.items():
        assert importer.name == name
        assert importer.summary


# --------------------------------------------------------------------------- load_foreign and guessing


SAMPLES: dict[str, tuple[str, bytes]] = {
    "plain": ("list.txt", PLAIN.encode()),
    "hosts": ("blocked.hosts", HOSTS.encode()),
    "citizenlab": ("de.csv", CITIZENLAB.encode()),
    "adblock": ("filter.txt", ADBLOCK.encode()),
    "rpz": ("block.rpz", RPZ.encode()),
    "unbound": ("blocklist.conf", UNBOUND.encode()),
    "dnsmasq": ("dnsmasq.conf", DNSMASQ.encode()),
    "rkn": ("dump.csv", rkn_bytes()),
}


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_guess_format_and_load_foreign(tmp_path: Path, fmt: str) -> None:
    name, data = SAMPLES[fmt]
    path = tmp_path / name
    path.write_bytes(data)
    assert guess_format(path) == fmt
    order = load_foreign(path, now=NOW)
    written = run(tmp_path, fmt, data, name=name, meta=ImportMeta(jurisdiction="RU" if fmt == "rkn" else "DE"))
    assert [(t.kind, t.value, t.subdomains) for t in order.targets] == [
        (t.kind, t.value, t.subdomains) for t in written.order.targets]
    assert [t.value for t in order.exemptions] == written.exemptions
    assert order.path == str(path)
    assert order.jurisdiction == ("RU" if fmt == "rkn" else "")
    assert all(t.line is not None and t.line >= 1 for t in order.targets)
    assert merge([order], NOW.date()).names  # the loader's merge takes it as any other order


def test_guess_format_edge_cases(tmp_path: Path) -> None:
    cases = {
        "order.yaml": b"schema: blockaudit/order/1\n",
        "hosts": b"127.0.0.1 localhost\n",
        "zone.zone": b"",
        "other.csv": b"a,b,c\n1,2,3\n",
        "other.conf": b"port=53\n",
        "empty.txt": b"# only a comment\n",
        "adblock.txt": b"! Title: x\n! comment only\n",
        "dump.txt": "Updated: 2024-05-01 12:34:56 +0300\n".encode("cp1251"),
        "zonefile.txt": b"$ORIGIN rpz.example.\n",
        "prose.txt": b"this is not a list at all\nreally not\n",
    }
    expected = {"order.yaml": None, "hosts": "hosts", "zone.zone": "rpz", "other.csv": None, "other.conf": None,
                "empty.txt": None, "adblock.txt": "adblock", "dump.txt": "rkn", "zonefile.txt": "rpz",
                "prose.txt": None}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert guess_format(tmp_path / name) == expected[name], name
    assert guess_format(tmp_path / "missing.txt") is None
    with pytest.raises(OrderError, match="cannot tell the format"):
        load_foreign(tmp_path / "prose.txt")


def test_load_foreign_keeps_given_metadata(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("a.example\n")
    order = load_foreign(path, "plain", meta=ImportMeta(jurisdiction="IT", id="it-ps-1", issued=dt.date(2026, 2, 1)),
                         options={"subdomains": "true"}, now=NOW)
    assert (order.id, order.jurisdiction, order.issued, order.valid_from) == (
        "it-ps-1", "IT", dt.date(2026, 2, 1), dt.date(2026, 2, 1))
    assert order.targets[0].subdomains is True
    assert order.inferred == ()
    path.write_text("# comment\n\nb.example\na.example\nb.example\n")
    order = load_foreign(path, "plain", now=NOW)
    assert [(t.value, t.line) for t in order.targets] == [("a.example", 4), ("b.example", 3)]


# --------------------------------------------------------------------------- hostile input


_GARBAGE_LINES = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from([
            "||", "@@", "##", "$ORIGIN", "$ORIGIN .", "(", ")", '"', ";;;;;", "|||", "local-zone:", "local-data:",
            "address=/", "address=//", "server=/x/", "*.", "*", ".", "..", "@ SOA", "* CNAME .", "Updated: x",
            "url,category_code", "0.0.0.0", "::", "32.rpz-ip CNAME .", "xn--", "xn--zz.example", "a" * 70 + ".com",
            "9" * 5000 + ".1.2.3.4.rpz-ip CNAME .", "\u0663\u0662.1.2.3.4.rpz-ip CNAME .", 'local-zone: "" deny',
            "\u0661.2.3.4", "address=/\u00b2/", "*.\u0440\u0444", "||\u0440\u0444^$important",
        ]),
    ),
    max_size=12,
)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_GARBAGE_LINES, raw=st.binary(max_size=200))
def test_garbage_never_raises_anything_but_order_error(tmp_path: Path, fmt: str, lines: list[str], raw: bytes) -> None:
    options = {"columns": "target=1"} if fmt == "csv" else {}
    for data in ("\n".join(lines).encode("utf-8", errors="surrogatepass"), raw,
                 rkn_bytes(RKN_ROWS[:1]) + raw):
        source = tmp_path / "garbage.txt"
        source.write_bytes(data)
        out = io.StringIO()
        error: BlockauditError | None = None
        try:
            summary = import_file(fmt, source, ImportMeta(jurisdiction="DE"), out, options, now=NOW)
        except BlockauditError as exc:
            error = exc
        if error is not None:
            assert isinstance(error, OrderError), f"{type(error).__name__}: {error}"
            assert error.path == str(source)
            assert out.getvalue() == ""
            continue
        order_path = tmp_path / "garbage.yaml"
        order_path.write_text(out.getvalue(), encoding="utf-8")
        order = load_order(order_path)
        assert len(order.targets) == summary.targets
