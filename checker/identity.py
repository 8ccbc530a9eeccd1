"""Who answered for each resolver, from where it was asked, and whether a control is answered by a subject."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from checker.models import Identity, IdentityProbe, IPAddress, Observation, Resolver, Role
from checker.probe.message import question_type, split_question_type
from checker.resolvers import DEFAULT_IDENTITY

ECS_PREFIX = "edns0-client-subnet"
"""Google's whoami (``o-o.myaddr.l.google.com``) adds a string naming the asking client's subnet:
it says who asked, not who answered, and is never compared."""
GENERIC_NAMES = frozenset({"localhost"})
"""Identity answers that name no server in particular."""
MAX_SHOWN = 3
"""Values listed in a detail sentence before "and N more"."""
SIOCGIFADDR = 0x8915
"""Linux ioctl: the IPv4 address of an interface."""


# --------------------------------------------------------------------------- what is asked


def probes(resolver: Resolver) -> tuple[IdentityProbe, ...]:
    """The identity questions a resolver is asked: its own list, or the built-in ones."""
    return DEFAULT_IDENTITY if resolver.identity is None else resolver.identity


def probe_qtype(probe: IdentityProbe) -> str:
    """The observation's ``qtype`` for a probe: ``A``, ``TXT`` (class IN) or ``CH TXT``."""
    return question_type(probe.rdtype, probe.rdclass)


def work(resolvers: Iterable[Resolver]) -> list[tuple[Resolver, str, str]]:
    """Every (resolver, name, qtype) the identity phase asks, in resolver and probe order."""
    return [(r, p.name, probe_qtype(p)) for r in resolvers for p in probes(r)]


def by_label(
    resolvers: Iterable[Resolver], seen: Mapping[tuple[str, str, str], Observation],
) -> dict[tuple[str, str], Observation]:
    """The identity observations keyed (resolver, probe label), from the engine's keys."""
    out: dict[tuple[str, str], Observation] = {}
    for resolver in resolvers:
        for probe in probes(resolver):
            obs = seen.get((resolver.name, probe.name, probe_qtype(probe)))
            if obs is not None:
                out[(resolver.name, probe.label)] = obs
    return out


# --------------------------------------------------------------------------- what was said


def _txt(data: str) -> str:
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, data)
    except (dns.exception.DNSException, ValueError):
        return data.strip().strip('"').strip()
    strings: Iterable[bytes] = getattr(rdata, "strings", ())
    return b"".join(strings).decode("utf-8", errors="replace").strip()


def answer_strings(obs: Observation) -> tuple[str, ...]:
    """What an identity answer says: each TXT record's strings joined and unquoted, or each address.

    Only NOERROR answers of the asked type on the CNAME chain from the name count; empty strings
    and Google's ``edns0-client-subnet …`` string are left out. Unique, in answer order.
    """
    if obs.rcode != "NOERROR":
        return ()
    try:
        rdtype, _ = split_question_type(obs.qtype)
    except ValueError:
        return ()
    chain = set(obs.chain())
    out: list[str] = []
    for record in obs.answers:
        if record.name not in chain or record.type != rdtype:
            continue
        if rdtype == "TXT":
            text = _txt(record.data)
            if text and not text.startswith(ECS_PREFIX):
                out.append(text)
        elif rdtype in ("A", "AAAA"):
            try:
                out.append(str(ipaddress.ip_address(record.data)))
            except ValueError:
                continue
    return tuple(dict.fromkeys(out))


def _outcome(obs: Observation) -> str:
    if obs.rcode is None:
        return obs.error or "no answer"
    return obs.rcode if obs.rcode != "NOERROR" else "no answer"


def _quote(values: Sequence[str]) -> str:
    shown = ", ".join(f"'{v}'" for v in values[:MAX_SHOWN])
    return shown + (f" and {len(values) - MAX_SHOWN} more" if len(values) > MAX_SHOWN else "")


def _said(answers: Sequence[tuple[str, tuple[str, ...]]]) -> str:
    return "; ".join(f"{label} {_quote(values)}" for label, values in answers)


# --------------------------------------------------------------------------- judgement


def judge(
    resolvers: Sequence[Resolver],
    observations: Mapping[tuple[str, str], Observation],
    sources: Mapping[str, str | None],
    local: Collection[str] = (),
) -> tuple[Identity, ...]:
    """One ``Identity`` per resolver, in order; for each control, whether a subject answers for it.

    ``observations`` are keyed (resolver, probe label), ``sources`` give the local address each
    resolver is reached from, and ``local`` holds this host's own names and addresses.

    A control is ``intercepted`` when, for one probe, it gives the same non-empty answer as a
    subject (the same ``id.server`` text, the same whoami egress address): the ISP's server
    answers in its place, and a control answered by the ISP cannot tell what a name really is.
    Answers that are this host's own name or address (every server on this host says it; a lab,
    a local forwarder) or ``localhost`` show no such thing: sharing only those leaves it
    unknown (``None``). It is ``False`` when it answered a probe a subject answered too and
    they share nothing, and ``None`` when it said nothing or no subject answered its probes.
    Subjects are never judged (``None``); their detail says what they answered.
    """
    ignored = frozenset(local) | GENERIC_NAMES
    said: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {}
    failed: dict[str, list[str]] = {}
    for resolver in resolvers:
        told: list[tuple[str, tuple[str, ...]]] = []
        for probe in probes(resolver):
            obs = observations.get((resolver.name, probe.label))
            if obs is None:
                continue
            values = answer_strings(obs)
            if values:
                told.append((probe.label, values))
            else:
                failed.setdefault(resolver.name, []).append(f"{probe.label}: {_outcome(obs)}")
        said[resolver.name] = tuple(told)
    subjects = [r for r in resolvers if r.role is Role.SUBJECT]
    out: list[Identity] = []
    for resolver in resolvers:
        evidence = tuple(
            obs for p in probes(resolver) if (obs := observations.get((resolver.name, p.label))) is not None
        )
        answers = said[resolver.name]
        intercepted: bool | None = None
        if not probes(resolver):
            detail = "not asked: its identity probes are switched off (identity: [])"
        elif not evidence:
            detail = "not asked"
        elif not answers:
            detail = "did not say who it is (" + "; ".join(failed.get(resolver.name, [])) + ")"
        elif resolver.role is Role.SUBJECT:
            detail = "said " + _said(answers)
        else:
            intercepted, detail = _control(dict(answers), subjects, said, ignored)
        out.append(Identity(
            resolver=resolver.name, source_address=sources.get(resolver.name), answers=answers,
            observations=evidence, intercepted=intercepted, detail=detail,
        ))
    return tuple(out)


def _control(
    answers: Mapping[str, tuple[str, ...]], subjects: Sequence[Resolver],
    said: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]], ignored: frozenset[str],
) -> tuple[bool | None, str]:
    same: list[tuple[str, str, list[str]]] = []
    only_local: list[tuple[str, str, list[str]]] = []
    compared: list[str] = []
    for subject in subjects:
        theirs = dict(said[subject.name])
        for label, values in answers.items():
            if label not in theirs:
                continue
            shared = [v for v in values if v in theirs[label]]
            real = [v for v in shared if v not in ignored]
            if real:
                same.append((subject.name, label, real))
            elif shared:
                only_local.append((subject.name, label, shared))
            else:
                compared.append(subject.name)
    mine = _said(tuple(answers.items()))
    if same:
        name, label, shared = same[0]
        others = sorted({s for s, _, _ in same} - {name})
        also = f" (also like {', '.join(others)})" if others else ""
        return True, (
            f"answers like subject {name}: {label} {_quote(shared)}{also}; the ISP's server seems to "
            "answer in its place (interception), so it is left out of every judgement"
        )
    if only_local:
        name, label, shared = only_local[0]
        return None, (
            f"said {mine}; it shares only this host's own name or address ({label} {_quote(shared)}) "
            f"with subject {name}, which every server on this host gives: cannot tell"
        )
    if compared:
        return False, f"said {mine}, unlike every subject asked the same ({', '.join(sorted(set(compared)))})"
    return None, f"said {mine}, but no subject answered the same questions: nothing to compare"


def intercepted(identities: Iterable[Identity]) -> frozenset[str]:
    """Names of the controls judged intercepted."""
    return frozenset(i.resolver for i in identities if i.intercepted)


# --------------------------------------------------------------------------- where we ask from


def source_address(resolver: Resolver) -> str | None:
    """The local address the system would send from to reach the resolver; ``None`` on error.

    A UDP socket is connected (routing only, nothing is sent) and asked for its own address.
    """
    try:
        infos = socket.getaddrinfo(
            resolver.host, resolver.port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST,
        )
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            return str(sock.getsockname()[0])
    except (OSError, IndexError, UnicodeError):
        return None


def _fqdn(host: str, hosts_file: Path) -> str:
    """The host's fully qualified name from its own name or ``/etc/hosts``; no DNS query (that would
    ask a resolver under audit about the vantage point)."""
    if "." in host:
        return host
    try:
        text = hosts_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return host
    for line in text.splitlines():
        names = line.split("#", 1)[0].split()[1:]
        if host.lower() in (n.lower() for n in names):
            for name in names:
                if name.lower().startswith(host.lower() + "."):
                    return name
    return host


def _ipv6_addresses(if_inet6: Path) -> list[IPAddress]:
    out: list[IPAddress] = []
    try:
        text = if_inet6.read_text(encoding="ascii", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or len(fields[0]) != 32:
            continue
        try:
            address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        except ValueError:
            continue
        if address.is_link_local:
            address = ipaddress.IPv6Address(f"{address}%{fields[5]}")
        out.append(address)
    return out


def _ipv4_addresses() -> list[IPAddress]:
    out: list[IPAddress] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in interfaces:
            try:
                packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
                out.append(ipaddress.IPv4Address(packed[20:24]))
            except (OSError, ValueError):
                continue  # no IPv4 address on it
    return out


def local_addresses(if_inet6: Path = Path("/proc/net/if_inet6")) -> list[str]:
    """This host's interface addresses (IPv4 by ioctl, IPv6 from ``/proc/net/if_inet6``), unique,
    sorted (loopback last), loopback ones marked ``(loopback)``. Empty where neither works."""
    found = set(_ipv4_addresses()) | set(_ipv6_addresses(if_inet6))
    ordered = sorted(found, key=lambda a: (a.is_loopback, a.version, int(a), str(a)))
    return [f"{a} (loopback)" if a.is_loopback else str(a) for a in ordered]


def vantage(hosts_file: Path = Path("/etc/hosts"), if_inet6: Path = Path("/proc/net/if_inet6")) -> dict[str, object]:
    """Where the check runs from: ``host`` (the host name), ``fqdn`` and ``addresses`` (see
    :func:`local_addresses`). Reads local files and interfaces only; never sends a packet."""
    host = socket.gethostname()
    return {"host": host, "fqdn": _fqdn(host, hosts_file), "addresses": local_addresses(if_inet6)}


def local_values(point: Mapping[str, object], sources: Iterable[str | None] = ()) -> frozenset[str]:
    """This host's own names and addresses as an identity answer would give them (for ``judge``)."""
    values: set[str] = set()
    for key in ("host", "fqdn"):
        name = point.get(key)
        if isinstance(name, str) and name:
            values |= {name, name.split(".", 1)[0], name.lower(), name.split(".", 1)[0].lower()}
    addresses = point.get("addresses")
    texts = [a for a in addresses if isinstance(a, str)] if isinstance(addresses, list) else []
    for text in [*texts, *(s for s in sources if s)]:
        bare = text.removesuffix(" (loopback)").split("%", 1)[0]
        values.add(bare)
    return frozenset(values)
