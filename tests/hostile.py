"""One corpus of hostile strings, and ways to plant them wherever a report or the terminal shows text.

Every string an order file, a resolver file or the network (DNS answers, identity TXT strings, EDE
text, HTTP titles, headers, certificates) can put in front of a reader is replaced by these, so
each output format is tested against the same attacks: markup and attribute injection, script
URLs, Markdown structure, terminal escape sequences, spreadsheet formulas, GitHub workflow
commands, Prometheus label breaking, characters XML forbids, lone surrogates and bidi overrides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from tests.fakedns import respond

GOLDEN_INPUT = Path(__file__).resolve().parent / "golden" / "input.json"

SCRIPT = "<script>alert(1)</script>"
CLOSE_SCRIPT = "</script><script>alert(2)</script><!--"
ATTRIBUTE = "\"><img src=x onerror=alert(3)>'"
JS_URL = "javascript:alert(4)"
ENTITIES = "&amp; &lt;b&gt; ]]> <![CDATA[x]]> &#0; &unknown;"
MD_TABLE = "| a | b |"
MD_SYNTAX = "# head\n> quote\n- item `code` **bold** [link](javascript:alert(5)) ![i](http://x/i.png) <b>html</b>"
ANSI = "\x1b[31mRED\x1b]0;pwned title\x07\x1b[2J\x1b[0m"
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
CURSOR = "ok\rFORGED\x08\x08\x08\x1b[1A\x1b[K"
C1 = "\x9b31mC1\x9d0;title\x9c\x85"
FORMULAS = ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1,2)", "\t=1+1", "\r=1+1")
ANNOTATION = "::error::forged%0A\n::warning file=x.yaml,line=1::forged\r\n::add-mask::x"
PROMETHEUS = '"} 1\nforged_metric{a="b"} 1\n# TYPE x counter'
NUL = "nul\x00byte"
XML_FORBIDDEN = "\x01\x02\x0b\x0c\x1f\ufffe\uffff"
SURROGATE = "lone\ud800surrogate\udfff"
BIDI = "abc\u202edcba\u2066x\u2069\u200f"
SEPARATORS = "line\u2028sep\u2029par\x85nel\x0bvt\x0cff"
LONG = "A" * 20_000 + "<script>alert(6)</script>"

STRINGS: tuple[str, ...] = (
    SCRIPT, CLOSE_SCRIPT, ATTRIBUTE, JS_URL, ENTITIES, MD_TABLE, MD_SYNTAX, ANSI, OSC8, CURSOR, C1,
    *FORMULAS, ANNOTATION, PROMETHEUS, NUL, XML_FORBIDDEN, SURROGATE, BIDI, SEPARATORS, LONG,
)
"""Each attack on its own."""

ALL = "=" + " ".join(s for s in STRINGS if s is not LONG)
"""Every attack in one string (a formula first, so CSV guards are tested on it too)."""

TERMINAL_CONTROLS_RE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""What must never reach a terminal or a CI log raw, inside a line: C0 controls (newline too),
DEL, C1 controls (U+009B is CSI), the bidi marks, embeddings, overrides and isolates that
reorder the text around them, and lone surrogates."""


def hostile(i: int) -> str:
    """A hostile string for the i-th field: the attacks rotate so every field meets every kind,
    and each field's text is unique (reports group equal texts)."""
    return f"{ALL} {i}" if i % 3 == 0 else f"{STRINGS[i % len(STRINGS)]} {ALL} {i}"


def benign(i: int) -> str:
    """The plain twin of ``hostile(i)``: a report made with these has the structure the hostile
    one must keep (the same elements, rows, cells and lines)."""
    return f"text {i}"


# Fields of a report that carry text from an order file, a resolver file or the network. Fields
# the renderer branches on (verdict, kind, role, rcode, qtype, dates…) are the program's own words.
_ORDER_TEXT = ("title", "authority", "jurisdiction", "judge", "case_number", "notes", "path")
_RESOLVER_TEXT = ("address", "url", "country")


def _observation(obs: dict[str, Any], text: Callable[[], str]) -> None:
    for record in [*obs.get("answers", []), *obs.get("authority", [])]:
        record["name"] = text()
        record["data"] = text()
    obs["ede"] = [{"code": 15, "text": text()}, {"code": 99, "text": text()}]
    if obs.get("error") is not None or obs.get("rcode") is None:
        obs["error"] = text()


def _web(text: Callable[[], str], script_url: str) -> list[dict[str, Any]]:
    return [{
        "name": text(), "address": text(), "port": 443, "scheme": "https", "started_at": "2026-11-21T23:50:11.000Z",
        "elapsed_ms": 3.5, "status": 200, "headers": [[text(), text()], ["Location", script_url]], "title": text(),
        "body_sha256": "0" * 64, "body_size": 12, "body_truncated": False, "body": "PHNjcmlwdD4=",
        "redirects": [script_url, text()], "redirect_elsewhere": text(),
        "certificate": {"subject": text(), "issuer": text(), "names": [text(), text()],
                        "not_before": "2026-01-01T00:00:00.000Z", "not_after": "2027-01-01T00:00:00.000Z",
                        "sha256": "1" * 64, "valid": False, "error": text()},
        "error": text(),
    }]


def hostile_view(source: Path = GOLDEN_INPUT, *, plain: bool = False) -> dict[str, Any]:
    """The golden report with a hostile string in every field that shows outside text.

    Resolver names, operators, order ids and query names are renamed consistently (they are keys
    the report joins on); identity answers, HTTP evidence, parties, events, amendments and IP and
    URL targets are added so that they are rendered too. ``plain=True`` gives the benign twin:
    the same report with plain words where the attacks are.
    """
    view: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    make = benign if plain else hostile
    counter = [0]

    def text() -> str:
        counter[0] += 1
        return make(counter[0])

    script_url = "no-url" if plain else JS_URL
    resolvers = {r["name"]: f"{r['name']}{make(1000 + k)}" for k, r in enumerate(view["resolvers"])}
    operators = {r["operator"]: f"{r['operator']}{make(2000 + k)}" for k, r in enumerate(view["resolvers"])}
    orders = {o["id"]: f"{o['id']}{make(3000 + k)}" for k, o in enumerate(view["orders"])}
    names: dict[str, str] = {}
    for result in view["results"]:
        for key in ("query_name", "domain"):
            names.setdefault(result[key], f"{result[key]}{make(4000 + len(names))}")

    run = view["run"]
    run["id"] = run["id"] + ("-plain" if plain else ANSI + ATTRIBUTE)
    run["vantage"] = text()
    run["vantage_host"] = text()
    run["vantage_addresses"] = [text(), text()]
    run["resolver_file"] = text()
    run["canaries"] = [text()]
    run["settings"] = {**run["settings"], "note": text(), text()[:50]: [text()], "nested": {"x": text()}}
    for order in view["orders"]:
        order["id"] = orders[order["id"]]
        for key in _ORDER_TEXT:
            order[key] = text()
        order["parties"] = {"plaintiffs": [text()], "defendants": [text(), text()]}
        order["sources"] = [{"url": script_url, "note": text()},
                            {"url": "https://x.example/" + ("plain" if plain else ATTRIBUTE), "note": text()},
                            {"url": text(), "note": None}]
        order["events"] = [{"date": "2026-01-02", "what": text(), "inferred": False}]
        for target in order["targets"]:
            target["domain"] = names.get(target["domain"], target["domain"] + text())
            target["site"] = text()
        order["targets"] += [{"ip": text(), "line": 30}, {"url": text(), "line": 31}]
        order["exemptions"] = [names.get(e, e + text()) for e in order["exemptions"]]
        order["amendments"] = [{"id": text(), "date": "2026-02-01", "kind": "add", "deadline": None,
                                "notified": None, "sources": [{"url": script_url, "note": text()}],
                                "note": text(), "targets": [{"domain": text(), "line": 40, "subdomains": True}],
                                "target_count": 1}]
    view["not_checkable"] = [{"order": order_id, "kind": "url", "value": text(), "reason": text()}
                             for order_id in orders.values()]
    for resolver in view["resolvers"]:
        resolver["name"] = resolvers[resolver["name"]]
        resolver["operator"] = operators[resolver["operator"]]
        for key in _RESOLVER_TEXT:
            resolver[key] = text()
        resolver["block"] = {"addresses": [text()], "cnames": [text()], "drop": False}
        health = resolver.get("health")
        if health:
            health["detail"] = text()
            for obs in health["observations"]:
                obs["resolver"] = resolver["name"]
                obs["qname"] = text()
                _observation(obs, text)
        resolver["identity"] = {
            "source_address": text(), "answers": {text()[:80]: [text(), text()], "hostname.bind": [text()]},
            "intercepted": resolver["role"] == "control", "detail": text(), "observations": [],
        }
    for operator in view["operators"]:
        operator["name"] = operators.get(operator["name"], operator["name"])
        operator["resolvers"] = [resolvers.get(r, r) for r in operator["resolvers"]]
    for result in view["results"]:
        result["resolver"] = resolvers[result["resolver"]]
        result["query_name"] = names[result["query_name"]]
        result["domain"] = names[result["domain"]]
        result["orders"] = [orders.get(o, o) for o in result["orders"]]
        result["detail"] = text()
        if result.get("deadline"):
            result["deadline"]["basis"] = text()
            result["deadline"]["order"] = orders.get(result["deadline"]["order"], result["deadline"]["order"])
        for obs in result["observations"]:
            obs["resolver"] = result["resolver"]
            obs["qname"] = result["query_name"]
            _observation(obs, text)
        result["web"] = _web(text, script_url) if result["verdict"] == "accessible" else []
    for obs in view.get("controls", []):
        obs["resolver"] = resolvers.get(obs["resolver"], obs["resolver"])
        obs["qname"] = names.get(obs["qname"], obs["qname"])
        _observation(obs, text)
    return view


def write_view(view: dict[str, Any], path: Path) -> Path:
    """The view as a JSON report file (lone surrogates kept as ``\\ud800`` escapes, as JSON allows)."""
    path.write_text(json.dumps(view, indent=2), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- a real run

# Text a hostile resolver sends: identity TXT strings (``id.server CH TXT``, ``hostname.bind``),
# EDE extra text and a CNAME target. DNS carries any octet in a TXT string or EDE text.
NETWORK = ("\x1b[31mRED\x1b]0;pwned\x07 <script>alert(7)</script> | =cmd|' /C calc'!A0 \r\nFAKE line "
           "\x9b2J \u202eabc ::error::forged ##[add-mask]x %0A")
CNAME = "x=cmd|calc<script>.evil.test"
ADDRESSES = {"site.test": ("198.51.100.2", "2001:db8::2"), "www.site.test": ("198.51.100.2", "2001:db8::2"),
             "ok.test": ("198.51.100.3", "2001:db8::3"), "canary.test": ("198.51.100.1", "2001:db8::1")}

EVIL_YAML = r"\e[31mRED\e]0;t\a <script>alert(8)</script> | a | b | \x9b2J \u202eabc ::error::x ##[add-mask]y \r\nFAKE"
"""Hostile text as YAML double-quoted escapes: control characters in a file that has none raw."""
ORDER_YAML = f"""\
schema: blockaudit/order/1
id: hostile-order
title: "{EVIL_YAML} title"
authority: "\\"><img src=x onerror=alert(9)> {EVIL_YAML}"
jurisdiction: US
judge: "::error::judge%0A {EVIL_YAML}"
case_number: "=1+1 {EVIL_YAML}"
order_type: other
issued: 2026-01-01
verification: unverified
sources: [{{url: "https://e.test/\\"><script>alert(10)</script>", note: "{EVIL_YAML} note"}}]
notes: "# head\\n> quote\\n- item `x` {EVIL_YAML}"
targets: [{{domain: site.test, subdomains: true}}, {{url: "https://x.test/<script>{EVIL_YAML}"}}]
exemptions: [ok.test]
"""
"""An order whose free text is hostile (names themselves are checked strictly by the loader)."""


def resolvers_yaml(subject: str, intercepted: str, honest: str) -> str:
    """A resolver file with hostile operator names (resolver names are checked strictly): the
    subject, a control it intercepts and an honest control."""
    return ("schema: blockaudit/resolvers/1\nresolvers:\n"
            f'  - {{name: isp, operator: "ISP {EVIL_YAML}", address: "{subject}", role: subject}}\n'
            f'  - {{name: ctl, operator: "Control {EVIL_YAML}", address: "{intercepted}", role: control}}\n'
            f'  - {{name: honest, address: "{honest}", role: control, identity: []}}\n'
            "canaries: [canary.test]\n")


def _txt(query: dns.message.Message, text: str) -> dns.message.Message:
    response = respond(query)
    question = query.question[0]
    rrset = dns.rrset.RRset(question.name, question.rdclass, dns.rdatatype.TXT)
    rrset.add(dns.rdtypes.ANY.TXT.TXT(question.rdclass, dns.rdatatype.TXT, [text.encode("utf-8")[:255]]), 60)
    response.answer.append(rrset)
    return response


def hostile_resolver(query: dns.message.Message, transport: str) -> dns.message.Message:
    """A subject that leaks site.test through a hostile CNAME, with hostile EDE text, and answers
    identity probes with hostile TXT strings."""
    question = query.question[0]
    name = str(question.name).rstrip(".")
    if question.rdtype == dns.rdatatype.TXT:
        return _txt(query, NETWORK)
    if name not in ADDRESSES:
        return respond(query, rcode=3, soa=True)
    v4, v6 = ADDRESSES[name]
    cname = CNAME if name.endswith("site.test") else None
    response = respond(query, a=[v4], aaaa=[v6], cname=cname)
    if cname:
        response.use_edns(0, 0, 1232, options=[dns.edns.EDEOption(dns.edns.EDECode.FILTERED, NETWORK)])
    return response


def hostile_control(query: dns.message.Message, transport: str) -> dns.message.Message:
    """A control that tells the truth but answers identity probes as the subject does (so it is
    reported as intercepted, with the hostile strings in the warning); honest on its own."""
    question = query.question[0]
    name = str(question.name).rstrip(".")
    if question.rdtype == dns.rdatatype.TXT:
        return _txt(query, NETWORK)
    if name not in ADDRESSES:
        return respond(query, rcode=3, soa=True)
    v4, v6 = ADDRESSES[name]
    return respond(query, a=[v4], aaaa=[v6])
