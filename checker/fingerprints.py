"""Block-page fingerprints as data: reading fingerprint files and matching answers and fetches to them.

A fingerprint file (``schema: blockaudit/fingerprints/1``, described by
``schemas/fingerprints.schema.json``) lists known block pages: the addresses they are served
from, the CNAMEs blocked names are pointed at, text of their HTTP body and the subject of their
TLS certificate, each entry with a scope (countries, operators) and the source that documents
it. blockaudit ships ``fingerprints/blockpages.yaml``; users add files with ``--fingerprints``.

Regular expressions (``body``, ``cert_subject``) come from those files and are trusted
configuration, like the resolver file: Python's ``re`` has no time limit, so a pathological
pattern can be slow. What is searched is capped instead: at most ``MAX_BODY_SEARCH`` bytes of a
body, at most ``MAX_SUBJECT_SEARCH`` characters of a subject.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from checker import schemas
from checker.bundled import fingerprints_dir
from checker.errors import FingerprintError
from checker.models import Fetch, Fingerprint, IPAddress, IPNetwork, Source
from checker.orders.names import InvalidName, is_within, normalise
from checker.yamlfile import Node, load

SCHEMA = "blockaudit/fingerprints/1"
MAX_FINGERPRINTS = 10_000
"""Most entries in one file."""
MAX_PATTERN = 1000
"""Longest regular expression, in characters."""
MAX_BODY_SEARCH = 1 << 20
"""Bytes of an HTTP body searched by ``body`` patterns (1 MiB)."""
MAX_SUBJECT_SEARCH = 4096
"""Characters of a certificate subject searched by ``cert_subject`` patterns."""
MAX_SNIPPET = 120
"""Longest matched text kept on a :class:`Match`."""
MIN_PREFIX = {4: 8, 6: 16}
"""Shortest network prefix accepted per IP version: a wider network is not one block page."""

_ENTRY_KEYS = ("id", "description", "match", "source")
_ENTRY_OPTIONAL = ("scope",)
_MATCH_KEYS = ("addresses", "cnames", "body", "cert_subject")
_SCOPE_KEYS = ("countries", "operators")
_SOURCE_REQUIRED = ("url",)
_SOURCE_OPTIONAL = ("note",)
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,126}[a-z0-9])?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_URL = re.compile(r"^https?://[^\s/]+")
_FLAGS = re.IGNORECASE
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_SPACE = re.compile(r"\s+")


# --------------------------------------------------------------------------- the bundled file


def bundled_path() -> Path:
    """The fingerprint file shipped with blockaudit, installed (wheel) or in a source checkout."""
    return fingerprints_dir() / "blockpages.yaml"


BUNDLED: Path = bundled_path()
"""The bundled ``fingerprints/blockpages.yaml``."""


def schema_path() -> Path:
    """``schemas/fingerprints.schema.json``, installed (wheel) or in a source checkout."""
    return schemas.schema_path("fingerprints")


def _check_schema(root: Node) -> None:
    """Validate against the JSON Schema first, with the same located messages as the other files."""
    schemas.check("fingerprints", root)


# --------------------------------------------------------------------------- reading


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """A pattern compiled once (``re.error`` escapes for the loader to locate)."""
    return re.compile(pattern, _FLAGS)


def _pattern(node: Node) -> str:
    text = node.str()
    if len(text) > MAX_PATTERN:
        raise node.fail(f"{text[:20]!r}... is longer than {MAX_PATTERN} characters")
    try:
        compiled = _compiled(text)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise node.fail(f"{text!r} is not a valid regular expression: {exc.msg}{where}") from None
    except (OverflowError, RecursionError) as exc:  # a{4294967296}; hundreds of nested groups
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise node.fail(f"{text[:40]!r} is not a usable regular expression: {reason}") from None
    if compiled.search("") is not None:
        raise node.fail(
            f"{text!r} matches empty text, so it would match every page",
            hint="make the pattern require some text",
        )
    return text


def _network(node: Node) -> IPNetwork:
    text = node.str().strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        hint = None
        if "host bits set" in str(exc):
            hint = f"did you mean {ipaddress.ip_network(text, strict=False)}?"
        elif "%" in text:
            hint = "leave out the %zone"
        raise node.fail(f"{text!r} is not an IP address or network: {exc}", hint=hint) from None
    shortest = MIN_PREFIX[network.version]
    if network.prefixlen < shortest:
        raise node.fail(
            f"{text!r} covers too many addresses to be one block page",
            hint=f"give a prefix of at least /{shortest}",
        )
    return network


def _cname(node: Node) -> str:
    text = node.str()
    stripped = text.strip()
    reason: str | None = None
    if "/" in stripped:
        reason = "looks like a URL; give the host name only"
    elif stripped.startswith("*."):
        reason = "wildcards are not needed: a name already matches every name below it"
    else:
        try:
            return normalise(stripped)
        except InvalidName as exc:
            reason = str(exc)
    raise node.fail(f"{text!r} is not a valid domain name: {reason}")


def _country(node: Node) -> str:
    code = node.str().strip().upper()
    if not _COUNTRY.match(code):
        raise node.fail(f"{node.str()!r} is not an ISO 3166-1 alpha-2 code", hint="for example IT, DE or GB")
    if code == "UK":
        raise node.fail("'UK' is not an ISO 3166-1 code", hint="the United Kingdom is GB")
    return code


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _entry(node: Node) -> Fingerprint:
    fields = node.mapping(required=_ENTRY_KEYS, optional=_ENTRY_OPTIONAL)
    ident = fields["id"].str().strip()
    if not _ID.match(ident):
        raise fields["id"].fail(
            f"{ident!r} must be lower-case letters, digits and inner '-'", hint="for example it-agcom-copyright",
        )
    description = fields["description"].str().strip()

    countries: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    if "scope" in fields:
        scope = fields["scope"].mapping(optional=_SCOPE_KEYS)
        if not scope:
            raise fields["scope"].fail("give countries, operators or both, or leave 'scope' out for every resolver")
        for key in _SCOPE_KEYS:
            if key in scope and not list(scope[key].items()):
                raise scope[key].fail("must list at least 1 item", hint=f"or leave '{key}' out")
        if "countries" in scope:
            countries = _unique(_country(n) for n in scope["countries"].items())
        if "operators" in scope:
            operators = _unique(n.str().strip() for n in scope["operators"].items())

    criteria = fields["match"].mapping(optional=_MATCH_KEYS)
    if not criteria:
        raise fields["match"].fail("give at least one criterion: addresses, cnames, body or cert_subject")
    lists: dict[str, list[Node]] = {}
    for key in _MATCH_KEYS:
        if key in criteria:
            lists[key] = list(criteria[key].items())
            if not lists[key]:
                raise criteria[key].fail("must list at least 1 item", hint=f"or leave '{key}' out")
    addresses = tuple(dict.fromkeys(_network(n) for n in lists.get("addresses", [])))
    cnames = _unique(_cname(n) for n in lists.get("cnames", []))
    body = _unique(_pattern(n) for n in lists.get("body", []))
    cert_subject = _unique(_pattern(n) for n in lists.get("cert_subject", []))

    source_fields = fields["source"].mapping(required=_SOURCE_REQUIRED, optional=_SOURCE_OPTIONAL)
    url = source_fields["url"].str().strip()
    if not _URL.match(url):
        raise source_fields["url"].fail(f"{url!r} is not an http(s) URL")
    note = source_fields["note"].optional_str() if "note" in source_fields else None
    source = Source(url=url, note=" ".join(note.split()) if note is not None else None)

    return Fingerprint(
        id=ident, description=description, source=source, addresses=addresses, cnames=cnames, body=body,
        cert_subject=cert_subject, operators=operators, countries=countries, path=node.path, line=node.line,
    )


def _load_file(path: Path, seen: dict[str, Fingerprint]) -> list[Fingerprint]:
    root = load(path, FingerprintError, caps={"fingerprints": (MAX_FINGERPRINTS, "fingerprints")})
    _check_schema(root)
    fields = root.mapping(required=("schema", "fingerprints"))
    schema = fields["schema"].str()
    if schema != SCHEMA:
        raise fields["schema"].fail(f"unsupported schema {schema!r}", hint=f"expected {SCHEMA}")
    out: list[Fingerprint] = []
    for item in fields["fingerprints"].items():
        if len(out) >= MAX_FINGERPRINTS:
            raise item.fail(f"more than {MAX_FINGERPRINTS} fingerprints")
        fingerprint = _entry(item)
        earlier = seen.get(fingerprint.id)
        if earlier is not None:
            raise item.mapping(required=_ENTRY_KEYS, optional=_ENTRY_OPTIONAL)["id"].fail(
                f"fingerprint id {fingerprint.id!r} is already used at {earlier.path}:{earlier.line}",
                hint="give each fingerprint its own id",
            )
        seen[fingerprint.id] = fingerprint
        out.append(fingerprint)
    return out


def load_fingerprints(paths: Sequence[Path | str], *, bundled: bool = True) -> tuple[Fingerprint, ...]:
    """The bundled fingerprints (when ``bundled``), then those of each file of ``paths`` in order.

    Every problem raises :class:`FingerprintError` naming the file, the line and the field; ids
    must be unique across all the files. A file named twice is read once.
    """
    files = ([BUNDLED] if bundled else []) + [Path(p) for p in paths]
    seen: dict[str, Fingerprint] = {}
    read: set[Path] = set()
    out: list[Fingerprint] = []
    for path in files:
        key = path.resolve()
        if key in read:
            continue
        read.add(key)
        out.extend(_load_file(path, seen))
    return tuple(out)


# --------------------------------------------------------------------------- scope


def in_scope(fingerprint: Fingerprint, operator: str, country: str | None) -> bool:
    """Whether ``fingerprint`` applies to a resolver run by ``operator`` in ``country``.

    Without a scope it applies everywhere. Operators are compared without regard to case. A
    country-scoped fingerprint applies only when the resolver's country is known and listed.
    """
    if fingerprint.operators:
        wanted = operator.strip().casefold()
        if all(o.casefold() != wanted for o in fingerprint.operators):
            return False
    return not fingerprint.countries or (country is not None and country.strip().upper() in fingerprint.countries)


def for_resolver(fingerprints: Sequence[Fingerprint], operator: str, country: str | None) -> tuple[Fingerprint, ...]:
    """The fingerprints that apply to one resolver, in their order."""
    return tuple(f for f in fingerprints if in_scope(f, operator, country))


# --------------------------------------------------------------------------- matching

_LABELS = {"address": "address", "cname": "CNAME", "body": "body text", "cert_subject": "certificate subject"}


@dataclass(frozen=True, slots=True)
class Match:
    """Why an answer or a fetch is a known block page: which fingerprint, which criterion, what matched."""

    fingerprint: Fingerprint
    """The fingerprint that matched (the first in file order)."""
    criterion: str
    """``address``, ``cname``, ``body`` or ``cert_subject``."""
    value: str
    """What matched: the address, the CNAME of the chain, the matched body text (at most 120 characters)
    or the certificate subject."""

    def describe(self) -> str:
        """One sentence for reports: the fingerprint, its source and what matched."""
        fp = self.fingerprint
        label = _LABELS.get(self.criterion, self.criterion)
        value = f'"{self.value}"' if self.criterion in ("body", "cert_subject") else self.value
        return f"matches fingerprint {fp.id} ({fp.description}; source {fp.source.url}): {label} {value}"


def _snippet(text: str, limit: int = MAX_SNIPPET) -> str:
    """Text fit for a one-line report: no control characters, spaces collapsed, at most ``limit`` characters."""
    clean = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return clean


def _found_text(text: str, found: re.Match[str]) -> str:
    """What a pattern matched; for a match of no text (a lookahead), the text where it matched."""
    snippet = _snippet(found.group(0))
    return snippet or _snippet(text[found.start(): found.start() + MAX_SNIPPET * 2])


def _ip(text: str) -> IPAddress | None:
    """An address as a fetch records it (``[::1]``, ``fe80::1%eth0`` are fine); ``None`` if it is not one."""
    bare = text.strip().removeprefix("[").removesuffix("]").partition("%")[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        return None


def _in_networks(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(a in n for a in candidates for n in networks if a.version == n.version)


def _below(name: str, cnames: Sequence[str]) -> bool:
    return any(is_within(name, c) for c in cnames)


def match_answer(
    fingerprints: Sequence[Fingerprint], addresses: Iterable[IPAddress], chain: Sequence[str],
) -> Match | None:
    """The first fingerprint a DNS answer matches: an answer address in one of its networks, or a
    name of the CNAME chain (``chain[0]``, the query name, is skipped) equal to or below one of its
    CNAMEs. Within one fingerprint, addresses are tried before names."""
    answer = tuple(addresses)
    names = [n.strip().rstrip(".").lower() for n in chain[1:]]
    for fp in fingerprints:
        if fp.addresses:
            for address in answer:
                if _in_networks(address, fp.addresses):
                    return Match(fp, "address", str(address))
        if fp.cnames:
            for name in names:
                if _below(name, fp.cnames):
                    return Match(fp, "cname", name)
    return None


def match_fetch(fingerprints: Sequence[Fingerprint], fetch: Fetch) -> Match | None:
    """The first fingerprint an HTTP(S) fetch matches: a body pattern found in the first
    ``MAX_BODY_SEARCH`` bytes of the body, a ``cert_subject`` pattern found in the certificate's
    subject, or the address connected to in one of its networks (tried in that order)."""
    body = fetch.body[:MAX_BODY_SEARCH].decode("utf-8", errors="replace") if fetch.body else ""
    subject = fetch.certificate.subject[:MAX_SUBJECT_SEARCH] if fetch.certificate is not None else None
    address = _ip(fetch.address)
    for fp in fingerprints:
        if body:
            for pattern in fp.body:
                found = _compiled(pattern).search(body)
                if found is not None:
                    return Match(fp, "body", _found_text(body, found))
        if subject is not None:
            for pattern in fp.cert_subject:
                if _compiled(pattern).search(subject) is not None:
                    return Match(fp, "cert_subject", _snippet(subject, MAX_SUBJECT_SEARCH))
        if address is not None and fp.addresses and _in_networks(address, fp.addresses):
            return Match(fp, "address", str(address))
    return None
