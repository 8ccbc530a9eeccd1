"""Fuzzing every importer (``checker/orders/importers``): a clean load or a located ``OrderError``, nothing else.

For each format: lines built from the format's own syntax around odd names and free text, byte
mutations of a valid sample, and files whose format is guessed from their name and first lines.
A list that loads must give canonical names only, and an order written from it must load back.
Every run counts into the ``importers`` group of the fuzz budget (``tests/fuzzing.py``).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

from hypothesis import example, given

from checker.errors import OrderError
from checker.models import Order, TargetKind
from checker.orders.importers import FORMATS, ImportMeta, import_file, load_foreign
from checker.orders.loader import load_any, load_order
from checker.orders.names import MAX_LABEL, MAX_NAME, normalise
from tests.fuzzing import fuzz
from tests.mutate import Entropy, entropy, expect_located, frame, mutate, name, write

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)

SAMPLES: dict[str, str] = {
    "plain": "# blocked\nexample.org\n*.bücher.example\n192.0.2.1\n198.51.100.0/24\nhttps://c.example/x\n"
             "d.example # c\n",
    "hosts": "# hosts\n127.0.0.1 localhost\n::1 ip6-localhost\n0.0.0.0 a.example b.example\n0.0.0.0\tc.example # c\n",
    "csv": "host,site,note,subdomains\na.example,Site A,seen 2026,true\n\"b.example\",\"B, Inc\",,no\n192.0.2.7,,,\n",
    "citizenlab": "url,category_code,category_description,date_added,source,notes\n"
                  "https://a.example/,FILE,File-sharing,2026-06-15,src,\"Blocked, by CUII\"\n"
                  "http://b.example/deep/path?q=1,NEWS,News,2020-01-01,,\nwww.c.example,HUMR,Human Rights,,,\n",
    "adblock": "[Adblock Plus 2.0]\n! comment\n||a.example^\n||b.example^$important\n@@||c.example^\n"
               "example.net##.ad\n/ads?/\n|http://d.example\ne.example\n",
    "rpz": "$TTL 300\n$ORIGIN rpz.example.\n@ SOA ns.rpz.example. admin.rpz.example. ( 1 3600 600 86400 300 )\n"
           "@ NS ns.rpz.example.\na.example CNAME .\n*.b.example CNAME .\nok.example CNAME rpz-passthru.\n"
           "32.1.2.0.192.rpz-ip CNAME .\nc.example 60 IN A 192.0.2.1\n  TXT \"blocked; by order\"\n",
    "unbound": "server:\n  local-zone: \"a.example.\" always_nxdomain\n  local-zone: b.example refuse\n"
               "  local-zone: \"ok.example.\" transparent\n  local-data: \"c.example. A 0.0.0.0\"\n"
               "  verbosity: 1 # comment\n",
    "dnsmasq": "address=/a.example/b.example/0.0.0.0\naddress=/c.example/\nserver=/d.example/\nlocal=/e.example/\n"
               "server=/ok.example/#\naddress=/#/0.0.0.0\ncache-size=1000\n",
    "rkn": "Updated: 2026-05-01 12:00:00 +0300\n"
           "1.2.3.4 | 1.2.3.0/24;example.com | *.example.com;http://example.com?x | http://example.com?y;;;2017-01-02\n"
           "\"5.6.7.8\";\"пример.рф | *.сайт.рф\";\"https://a.ru/x;y\";\"Генпрокуратура\";\"27-31/2018\";\"2018-04-16\"\n"
           "10.0.0.1|10.0.0.2;;;Мосгорсуд;3-123/2019;2019-03-01\ngarbage without separators\n",
}
"""One valid list of each format, with comments, exemptions, IPs and URLs where the format has them."""

OPTIONS: dict[str, tuple[dict[str, str], ...]] = {
    "plain": ({}, {"subdomains": "true"}),
    "csv": ({"columns": "domain=host,site=site,note=note,subdomains=subdomains"}, {"columns": "target=1"},
            {"columns": "target=1,site=2", "has_header": "true"}, {"columns": "ip=1,url=2", "delimiter": "semicolon"}),
    "citizenlab": ({}, {"paths": "host"}),
    "rpz": ({}, {"zone": "rpz.example"}),
    "rkn": ({}, {"encoding": "utf-8"}),
}
"""Options each format is read with (one is picked for each input)."""

_N, _T = "{n}", "{t}"
LINES: dict[str, tuple[str, ...]] = {
    "plain": (_N, "*." + _N, _N + " # note", "# " + _T, "192.0.2." + _T, "https://" + _N + "/" + _T, _N + " " + _N),
    "hosts": ("0.0.0.0 " + _N, "127.0.0.1 " + _N + " " + _N, ":: " + _N, "fe80::1%eth0 " + _N, "0.0.0.0", "# " + _T,
              "1.2.3 " + _N, "0.0.0.0 localhost " + _N),
    "csv": (_N + "," + _T + "," + _T + ",true", '"' + _N + '",' + _T, _N + ";" + _N, _T + ',"' + _T, _N, ",,,",
            "host,site,note,subdomains", "192.0.2.1,https://" + _N + "/x"),
    "citizenlab": ("https://" + _N + "/," + _T + ",x,2026-01-01,," + _T, "http://" + _N + ":99999/,A,b,,,",
                   _N + ",A,b,c,d,e", '"https://' + _N + '/a,b",A,b,c,d,e', "http://[::1/,A,b,c,d,e",
                   "url,category_code,category_description,date_added,source,notes", "ftp://" + _N + "/,A,b,c,d,e"),
    "adblock": ("||" + _N + "^", "||" + _N + "^$important,all", "||" + _N + "^$third-party", "@@||" + _N + "^",
                _N + "##.ad", "/" + _T + "/", "|" + _T, "! " + _T, "[" + _T + "]", _N, "0.0.0.0 " + _N,
                "||*." + _N + "^", "||" + _N + "/path^"),
    "rpz": (_N + " CNAME .", "*." + _N + " CNAME .", _N + " CNAME rpz-passthru.", _N + " 300 IN CNAME rpz-drop.",
            "$ORIGIN " + _N + ".", "$ORIGIN " + _N, "$INCLUDE " + _T, "@ SOA " + _T, "  A 192.0.2.1", _N + " (",
            ")", _N + ' TXT "' + _T, "; " + _T, _T + ".rpz-ip CNAME .", "32." + _T + ".rpz-ip CNAME .",
            _N + ".rpz-nsdname CNAME .", _N + " CNAME " + _N + "."),
    "unbound": ('local-zone: "' + _N + '." always_nxdomain', "local-zone: " + _N + " " + _T,
                'local-zone: "' + _N + '" transparent', 'local-data: "' + _N + ' A 0.0.0.0"', "local-data: " + _T,
                "server:", _T + ": " + _T, "# " + _T, 'local-zone: "' + _T),
    "dnsmasq": ("address=/" + _N + "/0.0.0.0", "address=/" + _N + "/" + _N + "/", "server=/" + _N + "/",
                "server=/" + _N + "/#", "local=/" + _N + "/", "address=/" + _N + "/" + _T, "address=/#/",
                "--address=/" + _N + "/::", _T + "=" + _T, "server=/" + _N + "/192.0.2.53"),
    "rkn": ("192.0.2.1|" + _T + ";" + _N + "|*." + _N + ";http://" + _N + "/ | https://" + _T + ";" + _T
            + ";1;2020-01-01",
            ";" + _N + ";;" + _T + ";;", '"' + _T + '";"' + _N + '";"";"";"";""', _T + ";" + _T, ";;;;;;;;",
            "Updated: " + _T),
}
"""Line templates of each format: ``{n}`` becomes an odd name, ``{t}`` free text."""

FIRST_LINES: dict[str, str] = {
    "citizenlab": "url,category_code,category_description,date_added,source,notes",
    "rkn": "Updated: 2026-05-01 12:00:00 +0300",
    "csv": "host,site,note,subdomains",
}
"""A header the format needs (usually written first, so the rows behind it are read)."""

_FORMAT_NAMES = sorted(FORMATS)


def fill(template: str, e: Entropy) -> str:
    """A template with each ``{n}`` and ``{t}`` replaced by its own draw."""
    while _N in template:
        template = template.replace(_N, name(e), 1)
    while _T in template:
        template = template.replace(_T, e.text(12), 1)
    return template


def _options(fmt: str, e: Entropy) -> dict[str, str]:
    return dict(e.pick(OPTIONS.get(fmt, ({},))))


def list_of_lines(e: Entropy) -> tuple[str, dict[str, str], bytes]:
    """A format, its options, and a list of its lines (or of free text), framed and encoded."""
    fmt = e.pick(_FORMAT_NAMES)
    lines = [FIRST_LINES[fmt]] if fmt in FIRST_LINES and e.below(5) else []
    for _ in range(e.below(10)):
        lines.append(fill(e.pick(LINES[fmt]), e) if e.below(5) else e.text(30))
    data = frame("\n".join(lines), e)
    if fmt == "rkn" and e.below(2):
        data = "\n".join(lines).encode("cp1251", errors="replace")
    return fmt, _options(fmt, e), data


def mutated_list(e: Entropy) -> tuple[str, dict[str, str], bytes]:
    """A format, its options, and its sample with its bytes mutated."""
    fmt = e.pick(_FORMAT_NAMES)
    seed = SAMPLES[fmt].encode("cp1251" if fmt == "rkn" else "utf-8")
    return fmt, _options(fmt, e), mutate(seed, e)


# --------------------------------------------------------------------------- what a clean load must hold


def _check(order: Order, data: bytes) -> Order:
    lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + 1
    for target in (*order.targets, *order.exemptions):
        assert 1 <= target.line <= lines, f"{target} is on no line of the file"
        if target.kind is TargetKind.DOMAIN:
            assert normalise(target.value) == target.value
            assert len(target.value) <= MAX_NAME
            assert all(0 < len(label) <= MAX_LABEL for label in target.value.split("."))
    assert order.targets
    return order


def loader(fmt: str | None, options: dict[str, str], data: bytes) -> Callable[[Path], Order]:
    """Load a list as ``check`` and ``validate`` do, then check what it gave."""

    def load(path: Path) -> Order:
        if fmt is None:
            return _check(load_any(path), data)
        return _check(load_foreign(path, fmt, options=options, now=NOW), data)

    return load


def _file_name(fmt: str) -> str:
    return {"hosts": "x.hosts", "rpz": "x.rpz", "rkn": "dump.csv", "citizenlab": "de.csv", "csv": "list.csv",
            "unbound": "block.conf", "dnsmasq": "dnsmasq.conf"}.get(fmt, "list.txt")


# --------------------------------------------------------------------------- the fuzz tests


@fuzz(22_000, "importers")
@given(entropy(200).map(list_of_lines))
@example(("plain", {}, b"\xef\xbb\xbf# only comments\r\n\r\n"))  # found no target: now on a line
@example(("rkn", {}, b"Updated: 2026-05-01 12:00:00 +0300\r\n;" + b"a" * 64 + b".ru;;;;\r\n"))
def test_lines_of_each_format(case: tuple[str, dict[str, str], bytes]) -> None:
    fmt, options, data = case
    expect_located(loader(fmt, options, data), write(_file_name(fmt), data), OrderError)


@fuzz(18_000, "importers")
@given(entropy(120).map(mutated_list))
def test_mutated_samples(case: tuple[str, dict[str, str], bytes]) -> None:
    fmt, options, data = case
    expect_located(loader(fmt, options, data), write("mutated-" + _file_name(fmt), data), OrderError)


_GUESSED_NAMES = ("list.txt", "x.list", "hosts", "x.hosts", "x.rpz", "x.zone", "dump.csv", "x.conf", "x.cfg", "x")


def _guessed(e: Entropy) -> tuple[str, bytes]:
    fmt = e.pick(_FORMAT_NAMES)
    kind = e.below(3)
    if kind == 0:
        data = e.raw(200)
    elif kind == 1:
        data = mutate(SAMPLES[fmt].encode(), e)
    else:
        data = list_of_lines(e)[2]
    return e.pick(_GUESSED_NAMES), data


@fuzz(12_000, "importers")
@given(entropy(240).map(_guessed))
@example(("list.txt", b"no format here, just some prose\n"))  # cannot tell the format: now on line 1
def test_format_guessed_from_name_and_content(case: tuple[str, bytes]) -> None:
    file_name, data = case
    expect_located(loader(None, {}, data), write("guess-" + file_name, data), OrderError)


@fuzz(4_000, "importers")
@given(entropy(200).map(list_of_lines))
def test_written_order_loads_back(case: tuple[str, dict[str, str], bytes]) -> None:
    fmt, options, data = case
    source = write("round-" + _file_name(fmt), data)
    out = io.StringIO()
    try:
        summary = import_file(fmt, source, ImportMeta(jurisdiction="DE"), out, options, now=NOW)
    except OrderError as exc:
        assert str(exc).startswith(f"{source}:")  # noqa: PT017 - an allowed outcome, located
        return
    order = load_order(write("round.yaml", out.getvalue().encode()))
    assert len(order.targets) == summary.targets
    assert len(order.exemptions) == summary.exemptions
