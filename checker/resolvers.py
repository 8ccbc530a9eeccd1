"""Reading the resolver file; the machine's own resolvers; the built-in controls and canaries."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from checker import schemas
from checker.errors import ResolverConfigError
from checker.models import BlockSignals, IdentityProbe, IPAddress, Protocol, Resolver, ResolverSet, Role
from checker.orders.names import InvalidName, normalise
from checker.yamlfile import Node, load, read_text

SCHEMA = "blockaudit/resolvers/1"
DEFAULT_PORTS = {Protocol.UDP: 53, Protocol.TCP: 53, Protocol.DOT: 853, Protocol.DOH: 443}
MAX_RESOLVERS = 10_000

# Questions that make a resolver say who answered (``identity`` in the resolver file). The
# built-in ones are RFC 4892's: the server answers them itself, so they need no Internet, and
# Unbound, BIND, Knot Resolver and PowerDNS answer them unless told to hide their identity.
# A whoami name is answered with the address that asked its authoritative servers: the
# resolver's own egress address (it needs the Internet).
DEFAULT_IDENTITY: tuple[IdentityProbe, ...] = (
    IdentityProbe("id.server", "TXT", "CH"),
    IdentityProbe("hostname.bind", "TXT", "CH"),
)
WHOAMI_AKAMAI = IdentityProbe("whoami.akamai.net", "A", "IN")
WHOAMI_GOOGLE = IdentityProbe("o-o.myaddr.l.google.com", "TXT", "IN")
IDENTITY_CLASSES = ("IN", "CH")
IDENTITY_TYPES = ("A", "AAAA", "TXT")
MAX_IDENTITY_PROBES = 16

# Public resolvers used as controls when no resolver file is given. Each is run by a different
# operator, so one operator's filtering or outage does not decide a verdict. They are asked over
# plain DNS on port 53, which an ISP can intercept; the health check and the "any control resolves
# the name" rule limit the damage. Google Public DNS and Cloudflare block some names by court order
# in some countries (Google answers REFUSED with EDE 16 "Censored" in BE, FR, IN, IT and PT), and
# Quad9 has been ordered to block by a German court: a control that refuses is treated as having
# failed for that name, never as the name's true state. 9.9.9.10 is Quad9's unfiltered service.
# Each is asked who it is: RFC 4892's names (Cloudflare answers id.server with its site's code,
# Quad9 with its server's name; Google answers neither) and whoami names, whose answer is the
# address the resolver asks from. A control that answers like a subject is the ISP's resolver
# answering in its place (interception) and is left out of every judgement. All three are
# anycast and global: no country.
_CONTROL_IDENTITY = (*DEFAULT_IDENTITY, WHOAMI_AKAMAI)
BUILTIN_CONTROLS: tuple[Resolver, ...] = (
    Resolver(name="cloudflare", operator="Cloudflare", host="1.1.1.1", port=53,
             protocol=Protocol.UDP, role=Role.CONTROL, concurrency=8, identity=_CONTROL_IDENTITY),
    Resolver(name="google", operator="Google", host="8.8.8.8", port=53,
             protocol=Protocol.UDP, role=Role.CONTROL, concurrency=8,
             identity=(*_CONTROL_IDENTITY, WHOAMI_GOOGLE)),
    Resolver(name="quad9-unfiltered", operator="Quad9", host="9.9.9.10", port=53,
             protocol=Protocol.UDP, role=Role.CONTROL, concurrency=8, identity=_CONTROL_IDENTITY),
)
SYSTEM_IDENTITY: tuple[IdentityProbe, ...] = (*DEFAULT_IDENTITY, WHOAMI_AKAMAI)
"""What the machine's own resolvers are asked: the built-in controls' questions, so an ISP that
answers in a public resolver's place is seen even when it hides its server's name."""

# Names every healthy resolver resolves: stable, reserved for documentation or run by IANA,
# and not the subject of any blocking order we know of.
BUILTIN_CANARIES: tuple[str, ...] = ("example.com", "iana.org")
MAX_CANARY = 225
"""Longest canary: the random name that must not exist is 28 octets longer and must fit in 253."""

_ENTRY_KEYS = (
    "operator", "protocol", "url", "role", "block", "qps", "tls_name", "tls_ca", "doh_method", "concurrency", "note",
    "country", "identity",
)
DOH_METHODS = ("post", "get")


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """``ip``, ``ip:port``, ``ipv6``, ``[ipv6]`` or ``[ipv6]:port`` as (host, port).

    Raises ``ValueError`` with the reason; host names are refused (resolving them would ask a
    resolver we are not auditing).
    """
    text = text.strip()
    port = default_port
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", text)
    if match:
        host, port_text = match.group(1), match.group(2)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"port {port_text!r} is not a number from 1 to 65535")
        port = int(port_text)
    bare, percent, scope = host.partition("%")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        raise ValueError(
            f"{host!r} is not an IP address (write IPv6 with a port as [addr]:port)",
        ) from None
    if percent and (address.version != 6 or not scope):
        raise ValueError(f"{host!r}: only an IPv6 address can carry a %zone")
    return str(address) + (f"%{scope}" if percent else ""), port


def _block(node: Node) -> BlockSignals:
    fields = node.mapping(optional=("addresses", "cnames", "drop"))
    addresses: set[IPAddress] = set()
    if "addresses" in fields:
        for item in fields["addresses"].items():
            try:
                addresses.add(ipaddress.ip_address(item.str().strip()))
            except ValueError:
                raise item.fail(f"{item.str()!r} is not an IP address") from None
    cnames: set[str] = set()
    if "cnames" in fields:
        for item in fields["cnames"].items():
            try:
                cnames.add(normalise(item.str()))
            except InvalidName as exc:
                raise item.fail(f"{item.str()!r} is not a valid name: {exc}") from None
    drop = fields["drop"].bool() if "drop" in fields else False
    return BlockSignals(addresses=frozenset(addresses), cnames=frozenset(cnames), drop=drop)


def parse_identity_probe(text: str) -> IdentityProbe:
    """``NAME [CLASS] [TYPE]`` (class IN or CH, default IN; type A, AAAA or TXT, default TXT).

    Raises ``ValueError`` with the reason.
    """
    words = text.split()
    if not 1 <= len(words) <= 3:
        raise ValueError(f"{text.strip()!r} is not NAME [CLASS] [TYPE]")
    rest = [word.upper() for word in words[1:]]
    rdclass = rest.pop(0) if rest and rest[0] in IDENTITY_CLASSES else "IN"
    rdtype = rest.pop(0) if rest else "TXT"
    if rest:
        raise ValueError(f"{text.strip()!r} is not NAME [CLASS] [TYPE] (the class, IN or CH, comes first)")
    if rdtype not in IDENTITY_TYPES:
        classes, types = " or ".join(IDENTITY_CLASSES), ", ".join(IDENTITY_TYPES)
        what = f"a class ({classes}) or a type ({types})" if len(words) == 2 else f"a type ({types})"
        raise ValueError(f"{rdtype!r} in {text.strip()!r} is not {what}")
    try:
        name = normalise(words[0])
    except InvalidName as exc:
        raise ValueError(f"{words[0]!r} is not a valid name: {exc}") from None
    return IdentityProbe(name=name, rdtype=rdtype, rdclass=rdclass)


def _identity(node: Node) -> tuple[IdentityProbe, ...]:
    probes: list[IdentityProbe] = []
    for item in node.items():
        if len(probes) >= MAX_IDENTITY_PROBES:
            raise item.fail(f"more than {MAX_IDENTITY_PROBES} identity probes")
        try:
            probe = parse_identity_probe(item.str())
        except ValueError as exc:
            raise item.fail(str(exc), hint="for example 'id.server CH TXT' or 'whoami.akamai.net A'") from None
        if probe not in probes:
            probes.append(probe)
    return tuple(probes)


def _country(node: Node) -> str | None:
    text = node.optional_str()
    if text is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{2}", text.strip()):
        raise node.fail(f"{text!r} is not a two-letter ISO 3166 country code", hint="for example IT, DE or GB")
    return text.strip().upper()


def _tls_ca(node: Node, base: Path | None) -> str | None:
    text = node.optional_str()
    if text is None:
        return None
    path = Path(text.strip()).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        raise node.fail(
            f"CA file {text!r} does not exist" + (f" (looked for {path})" if str(path) != text else ""),
            hint="a PEM file of the CA certificates that sign the resolver's certificate",
        )
    return str(path.resolve())


def _entry(node: Node, base: Path | None = None) -> Resolver:
    fields = node.mapping(required=("name", "address"), optional=_ENTRY_KEYS)
    name = fields["name"].str().strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", name):
        raise fields["name"].fail(f"{name!r} must be letters, digits, '.', '_' or '-'")
    protocol: Protocol = Protocol.UDP
    if "protocol" in fields:
        protocol = fields["protocol"].choice(Protocol, [p.value for p in Protocol])
    try:
        host, port = parse_address(fields["address"].str(), DEFAULT_PORTS[protocol])
    except ValueError as exc:
        raise fields["address"].fail(
            str(exc), hint="for example 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53",
        ) from None
    url = fields["url"].optional_str() if "url" in fields else None
    if protocol is Protocol.DOH and not url:
        raise node.fail("a doh resolver needs 'url'", hint="for example https://dns.example/dns-query")
    if url is not None and protocol is not Protocol.DOH:
        raise fields["url"].fail("'url' is only for protocol doh")
    if url is not None and not url.startswith("https://"):
        raise fields["url"].fail(f"{url!r} is not an https:// URL")
    doh_method = "post"
    if "doh_method" in fields:
        doh_method = fields["doh_method"].choice(str, list(DOH_METHODS))
    role: Role = Role.SUBJECT
    if "role" in fields:
        role = fields["role"].choice(Role, [r.value for r in Role])
    qps = fields["qps"].number(minimum=0.1) if "qps" in fields and not fields["qps"].is_null else None
    concurrency = 16
    if "concurrency" in fields:
        value = fields["concurrency"].number(minimum=1)
        if value != int(value):
            raise fields["concurrency"].fail(f"expected a whole number, found {value:g}")
        concurrency = int(value)
    return Resolver(
        name=name,
        operator=fields["operator"].str().strip() if "operator" in fields else name,
        host=host,
        port=port,
        protocol=protocol,
        role=role,
        url=url,
        tls_name=fields["tls_name"].optional_str() if "tls_name" in fields else None,
        tls_ca=_tls_ca(fields["tls_ca"], base) if "tls_ca" in fields else None,
        doh_method=doh_method,
        block=_block(fields["block"]) if "block" in fields else BlockSignals(),
        qps=qps,
        concurrency=concurrency,
        country=_country(fields["country"]) if "country" in fields else None,
        identity=_identity(fields["identity"]) if "identity" in fields else None,
        line=node.line,
    )


def _canaries(node: Node) -> tuple[str, ...]:
    names: list[str] = []
    for item in node.items():
        try:
            name = normalise(item.str())
        except InvalidName as exc:
            raise item.fail(f"{item.str()!r} is not a valid name: {exc}") from None
        if len(name) > MAX_CANARY:
            raise item.fail(f"a canary may be at most {MAX_CANARY} octets (a random name goes below it)")
        if name not in names:
            names.append(name)
    if not names:
        raise node.fail("list at least one canary, or leave the key out for the built-in ones")
    return tuple(names)


def load_resolvers(path: Path) -> ResolverSet:
    """Read and validate a resolver file; errors name the file, line and field."""
    root = load(path, ResolverConfigError, caps={"resolvers": (MAX_RESOLVERS, "resolvers")})
    schemas.check("resolvers", root)
    fields = root.mapping(required=("schema", "resolvers"), optional=("canaries",))
    schema = fields["schema"].str()
    if schema != SCHEMA:
        raise fields["schema"].fail(f"unsupported schema {schema!r}", hint=f"expected {SCHEMA}")
    resolvers: list[Resolver] = []
    seen: dict[str, int] = {}
    for item in fields["resolvers"].items():
        if len(resolvers) >= MAX_RESOLVERS:
            raise item.fail(f"more than {MAX_RESOLVERS} resolvers")
        resolver = _entry(item, path.parent)
        if resolver.name in seen:
            raise item.fail(f"resolver name {resolver.name!r} is already used on line {seen[resolver.name]}")
        seen[resolver.name] = item.line
        resolvers.append(resolver)
    result = ResolverSet(
        resolvers=tuple(resolvers),
        canaries=_canaries(fields["canaries"]) if "canaries" in fields else BUILTIN_CANARIES,
        path=str(path),
        canaries_line=fields["canaries"].line if "canaries" in fields else None,
    )
    if not result.subjects:
        raise fields["resolvers"].fail("no resolver has role: subject; there is nothing to audit")
    if not result.controls:
        raise fields["resolvers"].fail(
            "no resolver has role: control",
            hint="without a control an NXDOMAIN cannot be told from a name that does not exist",
        )
    return result


def system_resolvers(resolv_conf: Path) -> ResolverSet:
    """The machine's own resolvers (``nameserver`` lines) as subjects, with the built-in controls."""
    text = read_text(resolv_conf, ResolverConfigError)
    subjects: list[Resolver] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#")[0].split(";")[0].split()
        if len(words) < 2 or words[0] != "nameserver":
            continue
        try:
            host, port = parse_address(words[1], 53)
        except ValueError as exc:
            raise ResolverConfigError(f"nameserver: {exc}", path=str(resolv_conf), line=number) from None
        subjects.append(Resolver(
            name=f"system-{len(subjects) + 1}", operator="system", host=host, port=port,
            protocol=Protocol.UDP, role=Role.SUBJECT, identity=SYSTEM_IDENTITY, line=number,
        ))
    if not subjects:
        raise ResolverConfigError(
            "no 'nameserver' line", path=str(resolv_conf),
            hint="pass --resolvers FILE to name the resolvers to audit",
        )
    return ResolverSet(resolvers=(*subjects, *BUILTIN_CONTROLS), canaries=BUILTIN_CANARIES)
