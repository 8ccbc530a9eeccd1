"""Tests of checker.resolvers: addresses, the resolver file, and the machine's own resolvers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from checker import schemas
from checker.errors import ResolverConfigError
from checker.models import BlockSignals, Protocol, Role
from checker.resolvers import (
    BUILTIN_CANARIES,
    BUILTIN_CONTROLS,
    DEFAULT_IDENTITY,
    SYSTEM_IDENTITY,
    load_resolvers,
    parse_address,
    parse_identity_probe,
    system_resolvers,
)

# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4", ("1.2.3.4", 53)),
        ("1.2.3.4:5353", ("1.2.3.4", 5353)),
        (" 1.2.3.4:5353 ", ("1.2.3.4", 5353)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("127.0.0.1:65535", ("127.0.0.1", 65535)),
        ("[2001:db8::1]:53", ("2001:db8::1", 53)),
        ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("2001:DB8:0:0:0:0:0:1", ("2001:db8::1", 53)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("[2001:db8::1]", ("2001:db8::1", 53)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text, 53) == expected


def test_parse_address_uses_the_default_port() -> None:
    assert parse_address("192.0.2.1", 853) == ("192.0.2.1", 853)
    assert parse_address("[::1]", 443) == ("::1", 443)
    assert parse_address("192.0.2.1:53", 853) == ("192.0.2.1", 53)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("dns.google", "is not an IP address"),
        ("dns.google:53", "is not an IP address"),
        ("localhost", "is not an IP address"),
        ("1.2.3", "is not an IP address"),
        ("1.2.3.256", "is not an IP address"),
        ("", "is not an IP address"),
        ("1.2.3.4:0", "port '0'"),
        ("1.2.3.4:70000", "port '70000'"),
        ("1.2.3.4:65536", "port '65536'"),
        ("1.2.3.4:x", "port 'x'"),
        ("1.2.3.4:", "port ''"),
        ("1.2.3.4:-1", "port '-1'"),
        ("[::1]:0", "port '0'"),
        ("[2001:db8::1]:x", "is not an IP address"),
        ("[dns.google]:53", "is not an IP address"),
    ],
)
def test_parse_address_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r".") as info:
        parse_address(text, 53)
    assert reason in str(info.value)


# --------------------------------------------------------------------------- the resolver file

RESOLVERS = """\
schema: blockaudit/resolvers/1
resolvers:
  - name: isp-a-1
    operator: ISP A
    address: 127.0.0.1:5302
    protocol: udp
    role: subject
    block:
      addresses: [203.0.113.10, "2001:DB8::10"]
      cnames: [Blocked.ISP-A.example., blöckpage.example]
      drop: true
    qps: 50
  - {name: isp-b-1, address: "[::1]"}
  - {name: control-1, address: 127.0.0.1:5301, role: control}
canaries: [Example.COM., bücher.de, example.com]
"""
#  3 resolvers[0] / 5 its address / 7 its role / 9 block.addresses / 10 block.cnames
# 13 resolvers[1] / 14 resolvers[2] / 15 canaries


def write(tmp_path: Path, text: str, name: str = "resolvers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_resolver_file(tmp_path: Path) -> None:
    path = write(tmp_path, RESOLVERS)
    loaded = load_resolvers(path)
    assert loaded.path == str(path)
    assert [r.name for r in loaded.resolvers] == ["isp-a-1", "isp-b-1", "control-1"]
    assert [r.name for r in loaded.subjects] == ["isp-a-1", "isp-b-1"]
    assert [r.name for r in loaded.controls] == ["control-1"]
    first = loaded.resolvers[0]
    assert (first.operator, first.host, first.port, first.protocol, first.role) == (
        "ISP A", "127.0.0.1", 5302, Protocol.UDP, Role.SUBJECT,
    )
    assert first.qps == 50
    assert first.line == 3
    assert loaded.resolvers[2].line == 14


def test_defaults(tmp_path: Path) -> None:
    second = load_resolvers(write(tmp_path, RESOLVERS)).resolvers[1]
    assert second.host == "::1"
    assert second.port == 53
    assert second.address == "[::1]:53"
    assert second.protocol is Protocol.UDP
    assert second.role is Role.SUBJECT
    assert second.operator == "isp-b-1"
    assert second.url is None
    assert second.qps is None
    assert second.block == BlockSignals()
    assert second.block.drop is False


def test_block_signals(tmp_path: Path) -> None:
    block = load_resolvers(write(tmp_path, RESOLVERS)).resolvers[0].block
    assert block.addresses == {ipaddress.ip_address("203.0.113.10"), ipaddress.ip_address("2001:db8::10")}
    assert block.cnames == {"blocked.isp-a.example", "xn--blckpage-o4a.example"}
    assert block.drop is True


@pytest.mark.parametrize(
    ("protocol", "extra", "port"),
    [
        ("udp", "", 53),
        ("tcp", "", 53),
        ("dot", "", 853),
        ("doh", ", url: 'https://dns.example/dns-query'", 443),
    ],
)
def test_default_port_follows_the_protocol(tmp_path: Path, protocol: str, extra: str, port: int) -> None:
    text = RESOLVERS.replace('{name: isp-b-1, address: "[::1]"}',
                             f'{{name: isp-b-1, address: "[::1]", protocol: {protocol}{extra}}}')
    second = load_resolvers(write(tmp_path, text)).resolvers[1]
    assert second.protocol is Protocol(protocol)
    assert second.port == port


def test_doh_url_is_kept(tmp_path: Path) -> None:
    text = RESOLVERS.replace(
        '{name: isp-b-1, address: "[::1]"}',
        "{name: isp-b-1, address: 192.0.2.1, protocol: doh, url: 'https://dns.example/dns-query'}",
    )
    assert load_resolvers(write(tmp_path, text)).resolvers[1].url == "https://dns.example/dns-query"


def test_canaries_are_normalised_and_deduplicated(tmp_path: Path) -> None:
    assert load_resolvers(write(tmp_path, RESOLVERS)).canaries == ("example.com", "xn--bcher-kva.de")


def test_canaries_default_to_the_built_in_list(tmp_path: Path) -> None:
    text = RESOLVERS.replace("canaries: [Example.COM., bücher.de, example.com]\n", "")
    assert load_resolvers(write(tmp_path, text)).canaries == BUILTIN_CANARIES
    assert BUILTIN_CANARIES


B = '{name: isp-b-1, address: "[::1]"}'

RESOLVER_ERRORS = [
    # (id, old, new, line, fragments); old may be a list of (old, new) edits with new None
    ("duplicate-name", "name: isp-b-1", "name: isp-a-1", 13,
     ["field 'resolvers[1]'", "'isp-a-1' is already used on line 3"]),
    ("doh-without-url", B, '{name: isp-b-1, address: "[::1]", protocol: doh}', 13,
     ["field 'resolvers[1]'", "needs 'url'"]),
    ("url-without-doh", B, "{name: isp-b-1, address: 192.0.2.1, url: 'https://dns.example/q'}", 13,
     ["field 'resolvers[1].url'", "only for protocol doh"]),
    ("url-not-https", B, "{name: isp-b-1, address: 192.0.2.1, protocol: doh, url: 'http://dns.example/q'}", 13,
     ["field 'resolvers[1].url'", "not an https:// URL"]),
    ("no-subject", [("role: subject", "role: control"), (B, B[:-1] + ", role: control}")], None, 3,
     ["field 'resolvers'", "no resolver has role: subject"]),
    ("no-control", "role: control}", "role: subject}", 3,
     ["field 'resolvers'", "no resolver has role: control"]),
    ("host-name", "127.0.0.1:5302", "dns.isp-a.example", 5,
     ["field 'resolvers[0].address'", "'dns.isp-a.example' is not an IP address"]),
    ("port-out-of-range", "127.0.0.1:5302", "127.0.0.1:70000", 5,
     ["field 'resolvers[0].address'", "port '70000'"]),
    ("ipv6-without-brackets-and-port", B, "{name: isp-b-1, address: '2001:db8::1:5353:x'}", 13,
     ["field 'resolvers[1].address'"]),
    ("block-address", "203.0.113.10", "203.0.113.300", 9,
     ["field 'resolvers[0].block.addresses[0]'", "'203.0.113.300' is not an IP address"]),
    ("block-cname", "Blocked.ISP-A.example.", "bad_name.example", 10,
     ["field 'resolvers[0].block.cnames[0]'", "bad_name.example"]),
    ("block-drop", "drop: true", "drop: 'yes'", 11,
     ["field 'resolvers[0].block.drop'", "expected true or false"]),
    ("role", "role: subject", "role: subjet", 7,
     ["field 'resolvers[0].role'", "did you mean 'subject'?"]),
    ("protocol", "protocol: udp", "protocol: dns", 6,
     ["field 'resolvers[0].protocol'", "expected one of udp, tcp, dot, doh"]),
    ("qps", "qps: 50", "qps: 0", 12,
     ["field 'resolvers[0].qps'", "at least"]),
    ("name", "name: isp-a-1", "name: 'isp a'", 3,
     ["field 'resolvers[0].name'", "'isp a'"]),
    ("unknown-key", "    qps: 50\n", "    qps: 50\n    prot: udp\n", 13,
     ["unknown key 'resolvers[0].prot'"]),
    ("missing-address", B, "{name: isp-b-1}", 13,
     ["missing required key 'resolvers[1].address'"]),
    ("empty-canaries", "canaries: [Example.COM., bücher.de, example.com]", "canaries: []", 15,
     ["field 'canaries'", "at least one canary"]),
    ("bad-canary", "bücher.de", "bad_canary.example", 15,
     ["field 'canaries[1]'", "bad_canary.example"]),
    ("schema", "blockaudit/resolvers/1", "blockaudit/resolvers/9", 1,
     ["field 'schema'", "expected blockaudit/resolvers/1"]),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in RESOLVER_ERRORS],
)
def test_resolver_file_errors(
    tmp_path: Path, old: str | list[tuple[str, str]], new: str | None, line: int, fragments: list[str],
) -> None:
    edits = old if isinstance(old, list) else [(old, new or "")]
    text = RESOLVERS
    for before, after in edits:
        assert before in text
        text = text.replace(before, after, 1)
    path = write(tmp_path, text)
    with pytest.raises(ResolverConfigError) as info:
        load_resolvers(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    for fragment in fragments:
        assert fragment in message


def test_missing_resolver_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ResolverConfigError) as info:
        load_resolvers(path)
    assert str(info.value) == f"{path}: no such file"


def test_empty_resolver_list(tmp_path: Path) -> None:
    path = write(tmp_path, "schema: blockaudit/resolvers/1\nresolvers: []\n")
    with pytest.raises(ResolverConfigError, match="no resolver has role: subject"):
        load_resolvers(path)


# --------------------------------------------------------------------------- system resolvers

RESOLV_CONF = """\
# Generated by NetworkManager
search example.net
nameserver 192.0.2.53
; a comment in the other style
options edns0 trust-ad
nameserver 2001:db8::53   # trailing comment
#nameserver 10.9.9.9
nameserver
  nameserver 198.51.100.53
options ndots:2 nameserver 10.8.8.8
"""


def test_system_resolvers(tmp_path: Path) -> None:
    resolvers = system_resolvers(write(tmp_path, RESOLV_CONF, "resolv.conf"))
    subjects = resolvers.subjects
    assert [(r.name, r.host, r.port, r.line) for r in subjects] == [
        ("system-1", "192.0.2.53", 53, 3),
        ("system-2", "2001:db8::53", 53, 6),
        ("system-3", "198.51.100.53", 53, 9),
    ]
    assert all(r.role is Role.SUBJECT and r.protocol is Protocol.UDP for r in subjects)
    assert all(r.operator == "system" for r in subjects)
    assert resolvers.canaries == BUILTIN_CANARIES
    assert resolvers.path is None


def test_system_resolvers_use_the_built_in_controls(tmp_path: Path) -> None:
    resolvers = system_resolvers(write(tmp_path, "nameserver 127.0.0.53\n", "resolv.conf"))
    assert resolvers.controls == BUILTIN_CONTROLS
    assert len(BUILTIN_CONTROLS) >= 2
    assert all(r.role is Role.CONTROL for r in resolvers.controls)
    assert len({r.operator for r in BUILTIN_CONTROLS}) == len(BUILTIN_CONTROLS)
    assert resolvers.resolvers[0].host == "127.0.0.53"


@pytest.mark.parametrize(
    "text",
    ["", "search example.net\noptions edns0\n", "# nameserver 192.0.2.1\n; nameserver 192.0.2.2\n", "nameserver\n"],
)
def test_no_nameserver_is_an_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text, "resolv.conf")
    with pytest.raises(ResolverConfigError) as info:
        system_resolvers(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "nameserver" in str(info.value)


def test_bad_nameserver_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "search x\nnameserver dns.example\n", "resolv.conf")
    with pytest.raises(ResolverConfigError) as info:
        system_resolvers(path)
    assert str(info.value).startswith(f"{path}:2: nameserver: ")


def test_missing_resolv_conf(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    with pytest.raises(ResolverConfigError) as info:
        system_resolvers(path)
    assert str(info.value) == f"{path}: no such file"


def test_unknown_key_hint_lists_each_key_once(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    # 'flavour' resembles no key ('colour' is close to 'country'), so the hint lists them all.
    path.write_text("schema: blockaudit/resolvers/1\nresolvers:\n  - {name: a, address: 192.0.2.1, flavour: red}\n")
    with pytest.raises(ResolverConfigError) as caught:
        load_resolvers(path)
    assert "allowed:" in str(caught.value)
    assert str(caught.value).count("address") == 1


def test_fractional_concurrency_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("schema: blockaudit/resolvers/1\nresolvers:\n  - {name: a, address: 192.0.2.1, concurrency: 2.5}\n")
    with pytest.raises(ResolverConfigError, match=r"r\.yaml:3: .*whole number"):
        load_resolvers(path)


# --------------------------------------------------------------------------- country and identity

IDENTITY_FILE = """\
schema: blockaudit/resolvers/1
resolvers:
  - name: isp-a-1
    address: 127.0.0.1:5302
    country: it
    identity:
      - id.server CH TXT
      - "whoami.akamai.net A"
      - o-o.myaddr.l.google.com
      - Hostname.Bind. ch
      - id.server CH TXT
  - {name: isp-b-1, address: "[::1]", identity: [], country: null}
  - {name: control-1, address: 127.0.0.1:5301, role: control}
"""
#  3 resolvers[0] / 5 country / 6 identity / 7-11 identity[0..4] / 12 resolvers[1] / 13 resolvers[2]


def test_country_and_identity(tmp_path: Path) -> None:
    first, second, third = load_resolvers(write(tmp_path, IDENTITY_FILE)).resolvers
    assert first.country == "IT"
    assert [p.label for p in first.identity or ()] == [
        "id.server CH TXT", "whoami.akamai.net IN A", "o-o.myaddr.l.google.com IN TXT", "hostname.bind CH TXT",
    ]
    assert (second.country, second.identity) == (None, ())
    assert (third.country, third.identity) == (None, None), "absent: the built-in probes"


@pytest.mark.parametrize(("text", "label"), [
    ("id.server CH TXT", "id.server CH TXT"),
    ("id.server ch txt", "id.server CH TXT"),
    ("id.server CH", "id.server CH TXT"),
    ("id.server", "id.server IN TXT"),
    ("whoami.akamai.net A", "whoami.akamai.net IN A"),
    ("whoami.akamai.net IN AAAA", "whoami.akamai.net IN AAAA"),
    ("  WhoAmI.Akamai.NET.   aaaa ", "whoami.akamai.net IN AAAA"),
])
def test_parse_identity_probe(text: str, label: str) -> None:
    assert parse_identity_probe(text).label == label


def test_system_resolvers_and_built_in_controls_say_who_they_are(tmp_path: Path) -> None:
    resolvers = system_resolvers(write(tmp_path, "nameserver 127.0.0.53\n", "resolv.conf"))
    subject = resolvers.subjects[0]
    assert subject.identity == SYSTEM_IDENTITY
    assert DEFAULT_IDENTITY[0] in SYSTEM_IDENTITY
    for control in BUILTIN_CONTROLS:
        assert set(SYSTEM_IDENTITY) <= set(control.identity or ()), "the same questions, so answers compare"


IDENTITY_ERRORS = [
    # (id, old, new, line, fragments): the schema and the loader alike refuse it at file:line
    ("country-name", "country: it", "country: Italy", 5,
     ["field 'resolvers[0].country'", "'Italy'", "two-letter ISO 3166 country code"]),
    ("country-three-letters", "country: it", "country: ITA", 5, ["two-letter ISO 3166 country code"]),
    ("country-subdivision", "country: it", "country: GB-ENG", 5, ["two-letter ISO 3166 country code"]),
    ("country-norway-unquoted", "country: it", "country: NO", 5,
     ["field 'resolvers[0].country'", "boolean"]),
    ("country-number", "country: it", "country: 39", 5, ["field 'resolvers[0].country'", "number 39"]),
    ("identity-type", "      - o-o.myaddr.l.google.com\n", "      - o-o.myaddr.l.google.com MX\n", 9,
     ["field 'resolvers[0].identity[2]'", "MX"]),
    ("identity-class-after-type", "      - id.server CH TXT\n  - {", "      - id.server TXT CH\n  - {", 11,
     ["field 'resolvers[0].identity[4]'", "NAME [CLASS] [TYPE]"]),
    ("identity-class-hs", '"whoami.akamai.net A"', '"whoami.akamai.net HS A"', 8,
     ["field 'resolvers[0].identity[1]'"]),
    ("identity-bad-name", '"whoami.akamai.net A"', '"who_ami.example A"', 8,
     ["field 'resolvers[0].identity[1]'", "who_ami.example"]),
    ("identity-url", '"whoami.akamai.net A"', '"https://whoami.example/ A"', 8,
     ["field 'resolvers[0].identity[1]'"]),
    ("identity-scalar", 'identity: [], country: null}', 'identity: id.server, country: null}', 12,
     ["field 'resolvers[1].identity'", "expected a list"]),
    ("identity-null", 'identity: [], country: null}', 'identity: null, country: null}', 12,
     ["field 'resolvers[1].identity'"]),
    ("identity-number", "      - id.server CH TXT\n    ", "      - 42\n    ", 7,
     ["field 'resolvers[0].identity[0]'"]),
    ("identity-empty-string", "      - id.server CH TXT\n    ", "      - ''\n    ", 7,
     ["field 'resolvers[0].identity[0]'"]),
    ("identity-too-many", "identity: [], country: null}",
     "identity: [" + ", ".join(f"n{i}.example" for i in range(17)) + "], country: null}", 12,
     ["field 'resolvers[1].identity", "16"]),
]


@pytest.mark.parametrize("schema_check", [True, False], ids=["schema", "loader-only"])
@pytest.mark.parametrize(
    ("old", "new", "line", "fragments"), [pytest.param(*case[1:], id=case[0]) for case in IDENTITY_ERRORS],
)
def test_country_and_identity_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema_check: bool,
    old: str, new: str, line: int, fragments: list[str],
) -> None:
    if not schema_check:
        monkeypatch.setattr(schemas, "check", lambda kind, root: None)
    assert IDENTITY_FILE.count(old) == 1, old
    path = write(tmp_path, IDENTITY_FILE.replace(old, new))
    with pytest.raises(ResolverConfigError) as info:
        load_resolvers(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    for fragment in fragments:
        assert fragment in message, message
