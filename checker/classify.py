"""Pure judgement: observations (subject and controls) to a verdict with a named method or reason.

Nothing here does I/O. The rules, in the order they are tried for each record type:

1. No response: a timeout is a block only when the resolver declares ``drop: true`` and the
   controls resolve the name; otherwise ``inconclusive/timeout`` (or ``network_error``).
2. REFUSED is ``blocked/refused`` only with an Extended DNS Error 15-18; otherwise
   ``inconclusive/refused``. SERVFAIL and other error codes are always inconclusive.
3. A configured block CNAME anywhere on the answer's CNAME chain is ``blocked/blockpage``; so is
   a CNAME of a block-page fingerprint in scope for the resolver (``checker.fingerprints``).
4. NXDOMAIN is ``blocked/nxdomain`` only when a control resolves the name; when the controls say
   the name does not exist (or has no address) it is ``dead``.
5. Addresses: only configured block addresses (or addresses of a fingerprint in scope) is
   ``blockpage``; only sinkholes (0.0.0.0/8,
   127.0.0.0/8, ::, ::1) is ``sinkhole`` (``dead`` when the controls give the same sinkhole);
   any address the controls also give is ``accessible``; anything else is
   ``inconclusive/answer_differs``.
6. No address (NODATA): ``blocked/nodata`` when the controls have addresses of that type;
   neutral when they have none either (an IPv4-only site has no AAAA).

The result for a name is the worst of A and AAAA. For exemptions and canaries a block is
``overblocked``. An unhealthy resolver makes every result ``inconclusive/resolver_unhealthy``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import assert_never

from checker import fingerprints as fp
from checker.models import (
    BlockSignals,
    Health,
    IPAddress,
    Method,
    Observation,
    Query,
    QueryKind,
    Reason,
    Result,
    Status,
    Verdict,
    address_text,
)

SINKHOLE_NETWORKS = (
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::/128"),
    ipaddress.ip_network("::1/128"),
)
BLOCKING_EDE = frozenset({15, 16, 17, 18})
"""RFC 8914 Blocked, Censored, Filtered, Prohibited."""

QTYPES = ("A", "AAAA")


_SINKHOLE_RANGES = {
    version: tuple((int(n.network_address), int(n.broadcast_address)) for n in SINKHOLE_NETWORKS
                   if n.version == version)
    for version in (4, 6)
}


def is_sinkhole(address: IPAddress) -> bool:
    """Whether an address is one resolvers hand out instead of a real one (in ``SINKHOLE_NETWORKS``)."""
    value = int(address)
    return any(low <= value <= high for low, high in _SINKHOLE_RANGES[address.version])


# --------------------------------------------------------------------------- control answers


@dataclass(frozen=True, slots=True)
class ControlView:
    """What the healthy controls said about one (name, type)."""

    addresses: frozenset[IPAddress]
    """Real (non-sinkhole) addresses any control gave."""
    sinkholes: frozenset[IPAddress]
    """Sinkhole addresses controls gave (the real record can be 127.0.0.1)."""
    nxdomain: int
    """Controls that answered NXDOMAIN."""
    noerror: int
    """Controls that answered NOERROR (with or without addresses)."""
    failed: int
    """Controls with no usable answer (timeout, SERVFAIL, REFUSED...)."""

    @property
    def answered(self) -> bool:
        """At least one control gave a usable answer."""
        return self.nxdomain + self.noerror > 0


def control_view(observations: Iterable[Observation]) -> ControlView:
    """Summarise the control observations for one (name, type)."""
    addresses: set[IPAddress] = set()
    sinkholes: set[IPAddress] = set()
    nxdomain = noerror = failed = 0
    for obs in observations:
        if obs.rcode == "NOERROR":
            noerror += 1
            for address in obs.addresses:
                (sinkholes if is_sinkhole(address) else addresses).add(address)
        elif obs.rcode == "NXDOMAIN":
            nxdomain += 1
        else:
            failed += 1
    return ControlView(frozenset(addresses), frozenset(sinkholes), nxdomain, noerror, failed)


@dataclass(frozen=True, slots=True)
class NameView:
    """What the controls said about one name, over both record types."""

    by_type: dict[str, ControlView]
    """One view per record type."""

    @property
    def resolves(self) -> bool:
        """Some control gave a real address for the name."""
        return any(v.addresses for v in self.by_type.values())

    @property
    def exists(self) -> bool:
        """Some control answered NOERROR for the name."""
        return any(v.noerror for v in self.by_type.values())

    @property
    def failed(self) -> bool:
        """No control gave a usable answer for any type."""
        return not any(v.answered for v in self.by_type.values())

    def addresses(self) -> frozenset[IPAddress]:
        """Every real address the controls gave for the name."""
        return frozenset().union(*(v.addresses for v in self.by_type.values()))


# --------------------------------------------------------------------------- one record type


@dataclass(frozen=True, slots=True)
class Outcome:
    """The judgement on one observation; ``verdict`` None means neutral (no record anywhere)."""

    verdict: Verdict | None
    method: Method | None = None
    reason: Reason | None = None
    detail: str = ""


def _fmt(addresses: Iterable[IPAddress]) -> str:
    items = sorted({address_text(a) for a in addresses})
    return ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")


def judge_answer(
    obs: Observation, name: NameView, signals: BlockSignals, rewrites_nxdomain: bool | None = None,
) -> Outcome:
    """Judge one subject observation against the controls' view of the name.

    A block answer (sinkhole, block page, REFUSED with EDE) for a name the controls say does
    not exist, or has no address, is ``dead``: there was nothing to block. With no control
    answering it is ``inconclusive/control_failed``: a block is only claimed for a name known
    to exist.
    """
    outcome = _judge(obs, name, signals, rewrites_nxdomain)
    if outcome.verdict is not Verdict.BLOCKED or name.resolves:
        return outcome
    if name.failed:
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.CONTROL_FAILED,
                       detail=f"{outcome.detail}; no control answered, so the name may not exist")
    if name.exists:
        return Outcome(Verdict.DEAD, reason=Reason.NO_ADDRESS,
                       detail=f"{outcome.detail}; the controls find the name but no address")
    return Outcome(Verdict.DEAD, reason=Reason.NOT_FOUND,
                   detail=f"{outcome.detail}; the controls say the name does not exist")


def _judge(
    obs: Observation, name: NameView, signals: BlockSignals, rewrites_nxdomain: bool | None,
) -> Outcome:
    view = name.by_type.get(obs.qtype) or control_view(())
    t = obs.qtype
    if obs.rcode is None:
        if obs.error == "timeout":
            # Replies came but were rejected (malformed, or not the answer): not the silence of a drop.
            if signals.drop and name.resolves and not obs.rejected:
                return Outcome(Verdict.BLOCKED, Method.DROP, detail=f"{t}: no answer after "
                               f"{obs.attempts} attempts, and the resolver declares that it drops blocked queries")
            bad = f"; {obs.rejected} replies rejected (malformed, or not the answer to it)" if obs.rejected else ""
            return Outcome(Verdict.INCONCLUSIVE, reason=Reason.TIMEOUT,
                           detail=f"{t}: no answer after {obs.attempts} attempts{bad}")
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.NETWORK_ERROR, detail=f"{t}: {obs.error}")
    codes = sorted({e.code for e in obs.ede})
    if obs.rcode == "REFUSED":
        blocking = [c for c in codes if c in BLOCKING_EDE]
        if blocking:
            return Outcome(Verdict.BLOCKED, Method.REFUSED,
                           detail=f"{t}: REFUSED with Extended DNS Error {blocking[0]}")
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.REFUSED,
                       detail=f"{t}: REFUSED without a blocking Extended DNS Error")
    if obs.rcode == "SERVFAIL":
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.SERVFAIL, detail=f"{t}: SERVFAIL")
    if obs.rcode not in ("NOERROR", "NXDOMAIN"):
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.RCODE, detail=f"{t}: {obs.rcode}")
    chain = obs.chain()
    hit = next((c for c in chain[1:] if c in signals.cnames), None)
    if hit is not None:
        return Outcome(Verdict.BLOCKED, Method.BLOCKPAGE, detail=f"{t}: CNAME to the block name {hit}")
    known = fp.match_answer(signals.fingerprints, (), chain) if signals.fingerprints else None
    if known is not None:
        return Outcome(Verdict.BLOCKED, Method.BLOCKPAGE, detail=f"{t}: CNAME {known.describe()}")
    if obs.rcode == "NXDOMAIN":
        # judge_answer turns this into dead or control_failed when no control resolves the name.
        seen = f" while the controls resolve it to {_fmt(name.addresses())}" if name.resolves else ""
        return Outcome(Verdict.BLOCKED, Method.NXDOMAIN, detail=f"{t}: NXDOMAIN{seen}")
    addresses = obs.addresses_along(chain)
    if addresses:
        listed = {a: m for a in addresses if signals.fingerprints
                  and (m := fp.match_answer(signals.fingerprints, (a,), ())) is not None}
        real = [a for a in addresses if a not in signals.addresses and not is_sinkhole(a) and a not in listed]
        if not real:
            configured = [a for a in addresses if a in signals.addresses]
            if configured:
                return Outcome(Verdict.BLOCKED, Method.BLOCKPAGE,
                               detail=f"{t}: the resolver's block address {_fmt(configured)}")
            if listed:
                return Outcome(Verdict.BLOCKED, Method.BLOCKPAGE,
                               detail=f"{t}: address {next(iter(listed.values())).describe()}")
            if set(addresses) <= view.sinkholes:
                return Outcome(Verdict.DEAD, reason=Reason.CONTROL_SINKHOLE,
                               detail=f"{t}: {_fmt(addresses)}, the same answer the controls give")
            return Outcome(Verdict.BLOCKED, Method.SINKHOLE, detail=f"{t}: sinkhole address {_fmt(addresses)}")
        shared = [a for a in real if a in view.addresses]
        if shared:
            return Outcome(Verdict.ACCESSIBLE,
                           detail=f"{t}: {_fmt(real)}, which the controls also give")
        if name.failed:
            return Outcome(Verdict.INCONCLUSIVE, reason=Reason.CONTROL_FAILED,
                           detail=f"{t}: {_fmt(real)}, and no control answered")
        if not name.resolves and not name.exists and rewrites_nxdomain:
            return Outcome(Verdict.DEAD, reason=Reason.NOT_FOUND,
                           detail=f"{t}: {_fmt(real)} from a resolver that rewrites NXDOMAIN; "
                                  "the controls say the name does not exist")
        seen = f"the controls give {_fmt(view.addresses)}" if view.addresses else "the controls give none"
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.ANSWER_DIFFERS,
                       detail=f"{t}: {_fmt(real)}, none of which the controls give ({seen})")
    # NOERROR without an address on the chain from the query name.
    stray = [r for r in obs.answers if r.type in ("A", "AAAA", "CNAME") and r.name not in chain]
    cnames = {r.name for r in obs.answers if r.type == "CNAME"}
    if stray or chain[-1] in cnames:
        what = "records for other names" if stray else "a CNAME chain that does not end"
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.ANSWER_DIFFERS,
                       detail=f"{t}: no address for the name, but {what} ({len(obs.answers)} answer records)")
    if view.addresses and "tc" in obs.flags:
        # Still truncated (TC even over TCP): what was cut off is unknown, so it proves no NODATA.
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.ANSWER_DIFFERS,
                       detail=f"{t}: no address in a truncated answer, while the controls give {_fmt(view.addresses)}")
    if view.addresses:
        return Outcome(Verdict.BLOCKED, Method.NODATA,
                       detail=f"{t}: no address while the controls give {_fmt(view.addresses)}")
    if not view.answered:
        return Outcome(Verdict.INCONCLUSIVE, reason=Reason.CONTROL_FAILED,
                       detail=f"{t}: no address, and no control answered")
    if not name.exists:
        return Outcome(Verdict.DEAD, reason=Reason.NOT_FOUND,
                       detail=f"{t}: no address, and the controls say the name does not exist")
    return Outcome(None, detail=f"{t}: no address here or at the controls")


# --------------------------------------------------------------------------- one result

_ORDERED_RANK = {Verdict.ACCESSIBLE: 4, Verdict.INCONCLUSIVE: 3, Verdict.DEAD: 2, Verdict.BLOCKED: 1,
                 Verdict.OVERBLOCKED: 0}
_EXEMPT_RANK = {Verdict.OVERBLOCKED: 4, Verdict.INCONCLUSIVE: 3, Verdict.DEAD: 2, Verdict.ACCESSIBLE: 1,
                Verdict.BLOCKED: 0}
_METHOD_RANK = {Method.BLOCKPAGE: 6, Method.SINKHOLE: 5, Method.REFUSED: 4, Method.NXDOMAIN: 3,
                Method.DROP: 2, Method.NODATA: 1}


def _as_kind(outcome: Outcome, kind: QueryKind) -> Outcome:
    if kind is QueryKind.ORDERED or outcome.verdict is not Verdict.BLOCKED:
        return outcome
    return Outcome(Verdict.OVERBLOCKED, outcome.method, outcome.reason, outcome.detail)


def _worst(outcomes: Sequence[Outcome], kind: QueryKind) -> Outcome:
    decided = [o for o in outcomes if o.verdict is not None]
    if not decided:
        return Outcome(Verdict.DEAD, reason=Reason.NO_ADDRESS,
                       detail="no address of any type here or at the controls")
    rank = _ORDERED_RANK if kind is QueryKind.ORDERED else _EXEMPT_RANK

    def key(o: Outcome) -> tuple[int, int]:
        assert o.verdict is not None
        return rank[o.verdict], _METHOD_RANK.get(o.method, 0) if o.method else 0

    return max(decided, key=key)


def classify(
    query: Query,
    resolver: str,
    observations: Sequence[Observation],
    name: NameView,
    signals: BlockSignals,
    health: Health,
) -> Result:
    """The verdict on one (query name, subject resolver): worst of A and AAAA, with its evidence."""
    if not health.healthy:
        return Result(query, resolver, Verdict.INCONCLUSIVE, None, Reason.RESOLVER_UNHEALTHY,
                      f"resolver unhealthy: {health.detail}", tuple(observations))
    judged = [judge_answer(o, name, signals, health.rewrites_nxdomain) for o in observations]
    if query.kind is not QueryKind.ORDERED and any(o.verdict is Verdict.ACCESSIBLE for o in judged):
        # A reachable name with no address of one family (BIND filter-aaaa, say) is not an
        # order's block: no order block leaves the other family reachable.
        judged = [Outcome(None, detail=o.detail + " (not counted: the other address family is reachable)")
                  if o.method is Method.NODATA else o for o in judged]
    outcomes = [_as_kind(o, query.kind) for o in judged]
    worst = _worst(outcomes, query.kind)
    assert worst.verdict is not None
    detail = "; ".join(o.detail for o in outcomes if o.detail) or worst.detail
    verdict, method, reason = worst.verdict, worst.method, worst.reason
    if verdict not in (Verdict.BLOCKED, Verdict.OVERBLOCKED):
        method = None
    if verdict not in (Verdict.INCONCLUSIVE, Verdict.DEAD):
        reason = None
    result = Result(query, resolver, verdict, method, reason, detail, tuple(observations))
    return distrust(result, "after the run") if health.healthy_after is False else result


def distrust(result: Result, when: str) -> Result:
    """A block answer from a resolver that failed its canary check ``when`` is not trusted:
    ``blocked`` and ``overblocked`` become ``inconclusive/resolver_unhealthy``; others stand."""
    if result.verdict not in (Verdict.BLOCKED, Verdict.OVERBLOCKED):
        return result
    detail = f"resolver failed its canary {when}, so its block answers are not trusted; {result.detail}"
    return dataclasses.replace(result, verdict=Verdict.INCONCLUSIVE, method=None, reason=Reason.RESOLVER_UNHEALTHY,
                               detail=detail)


# --------------------------------------------------------------------------- health


def resolves(obs: Observation) -> bool:
    """The observation carries a real (non-sinkhole) address."""
    return obs.rcode == "NOERROR" and any(not is_sinkhole(a) for a in obs.addresses)


def judge_health(
    resolver: str,
    canaries: Sequence[Observation],
    usable: frozenset[str],
    nx_probe: Observation | None,
    nx_controls: ControlView | None,
    after: Sequence[Observation] = (),
) -> Health:
    """Whether a resolver can be judged: it resolves every canary the controls resolve.

    ``usable`` are the canaries the controls resolve (when empty, the resolver must resolve at
    least one canary). ``nx_probe`` is its answer for a random name under a canary; it rewrites
    NXDOMAIN when it gives an address there while the controls say NXDOMAIN.
    """
    a_answers = [o for o in canaries if o.qtype == "A"]
    checked = [o for o in a_answers if o.qname in usable] if usable else a_answers
    if usable:
        failing = [o for o in checked if not resolves(o)]
        healthy = bool(checked) and not failing
    else:
        failing = [o for o in checked if not resolves(o)]
        healthy = any(resolves(o) for o in checked)
    if healthy:
        detail = "resolved " + ", ".join(sorted({o.qname for o in checked if resolves(o)}))
    else:
        parts = [f"{o.qname}: {o.rcode or o.error}" for o in failing] or ["no canary to check"]
        detail = "canary failed (" + "; ".join(parts) + ")"
    rewrites: bool | None = None
    if nx_probe is not None and nx_controls is not None and nx_controls.nxdomain and not nx_controls.noerror:
        if nx_probe.rcode == "NXDOMAIN":
            rewrites = False
        elif resolves(nx_probe):
            rewrites = True
            detail += f"; rewrites NXDOMAIN (answered {nx_probe.qname} with {_fmt(nx_probe.addresses)})"
    healthy_after: bool | None = None
    if after:
        after_checked = [o for o in after if o.qname in usable] if usable else list(after)
        healthy_after = bool(after_checked) and all(resolves(o) for o in after_checked)
        if not healthy_after:
            detail += "; canary failed after the run"
    observations = (*canaries, *((nx_probe,) if nx_probe else ()), *after)
    return Health(resolver, healthy, healthy_after, rewrites, detail, tuple(observations))


# --------------------------------------------------------------------------- roll-ups


def violates(result: Result) -> bool:
    """An ordered name accessible (unless still ``pending`` before its due time), or an
    exemption or canary blocked."""
    if result.verdict is Verdict.OVERBLOCKED:
        return True
    pending = result.deadline is not None and result.deadline.status == "pending"
    return result.verdict is Verdict.ACCESSIBLE and result.query.kind is QueryKind.ORDERED and not pending


def rollup(results: Iterable[Result]) -> Status:
    """``noncompliant`` on any violation, else ``inconclusive`` on any inconclusive result or when
    no ordered name was checked at all (nothing proves compliance), else ``compliant``."""
    status = Status.COMPLIANT
    ordered = False
    for result in results:
        ordered = ordered or result.query.kind is QueryKind.ORDERED
        if violates(result):
            return Status.NONCOMPLIANT
        match result.verdict:
            case Verdict.INCONCLUSIVE:
                status = Status.INCONCLUSIVE
            case Verdict.BLOCKED | Verdict.ACCESSIBLE | Verdict.DEAD | Verdict.OVERBLOCKED:
                pass
            case _:
                assert_never(result.verdict)
    return status if ordered else Status.INCONCLUSIVE


def counts(results: Iterable[Result]) -> dict[str, int]:
    """How many results have each verdict, leaving out exemptions and canaries that are
    ``accessible`` (their good state), so that ``accessible`` counts violations only."""
    out = {v.value: 0 for v in Verdict}
    for result in results:
        if result.verdict is Verdict.ACCESSIBLE and result.query.kind is not QueryKind.ORDERED:
            continue
        out[result.verdict.value] += 1
    return out
