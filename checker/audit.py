"""One check, start to finish: health, every ordered name, a second health check, then verdicts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from checker import classify, deadlines, evidence, identity
from checker import fingerprints as fp
from checker.engine import Engine, Key, Observer, PhaseKey, Sink
from checker.models import (
    BlockSignals,
    Fingerprint,
    Health,
    Identity,
    Observation,
    OrderSet,
    Query,
    QueryKind,
    Resolver,
    ResolverSet,
    Result,
    Run,
)
from checker.probe.client import ProbeSettings
from checker.probe.web import WebSettings
from checker.queries import DEFAULT_SUBDOMAIN_PROBES, build_queries

QTYPES = classify.QTYPES


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """Everything a run can be tuned by."""

    probe: ProbeSettings = field(default_factory=ProbeSettings)
    """Timeouts and retries."""
    subdomain_probes: tuple[str, ...] = DEFAULT_SUBDOMAIN_PROBES
    """Labels asked below a domain ordered with subdomains."""
    recheck: bool = True
    """Ask the canaries again after the run (a resolver that broke mid-run is not trusted)."""
    random_label: Callable[[], str] = field(default=lambda: "blockaudit-" + secrets.token_hex(8))
    """Makes the label of the name that must not exist."""
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    """The time: when the run starts and ends, and when deadlines are judged."""
    run_id: str | None = None
    """The run's id; a new one when None (a resumed run passes its own)."""
    started_at: dt.datetime | None = None
    """When the run started; the clock's time when None (a resumed run passes its own)."""
    nx_label: str | None = None
    """The label of the name that must not exist; ``random_label()`` when None (resume passes it)."""
    fingerprints: tuple[Fingerprint, ...] = ()
    """Documented block pages; those in scope for a subject count as its block signals."""
    web: WebSettings | None = None
    """Gather HTTP and TLS evidence at the answered addresses (``--http``); None: do not."""


def new_run_id(started_at: dt.datetime) -> str:
    """A run id: its start time, sortable, and a random suffix."""
    return started_at.strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


def _control_views(
    controls: Sequence[Resolver], names: Sequence[str], seen: dict[Key, Observation],
) -> dict[str, classify.NameView]:
    views: dict[str, classify.NameView] = {}
    for name in names:
        by_type = {
            qtype: classify.control_view(
                seen[(c.name, name, qtype)] for c in controls if (c.name, name, qtype) in seen
            )
            for qtype in QTYPES
        }
        views[name] = classify.NameView(by_type)
    return views


async def _identify(
    engine: Engine, resolvers: Sequence[Resolver],
    prior: Mapping[PhaseKey, Observation] | None, sink: Sink | None,
) -> tuple[dict[str, object], tuple[Identity, ...]]:
    """The vantage point and who answered for each resolver (the ``identity`` phase)."""
    asked = identity.work(resolvers)
    seen = await engine.observe("identity", asked, prior, sink) if asked else {}
    sources = {r.name: identity.source_address(r) for r in resolvers}
    point = identity.vantage()
    local = identity.local_values(point, sources.values())
    return point, identity.judge(resolvers, identity.by_label(resolvers, seen), sources, local)


async def audit(
    orders: OrderSet,
    resolvers: ResolverSet,
    settings: AuditSettings | None = None,
    observer: Observer | None = None,
    prior: Mapping[PhaseKey, Observation] | None = None,
    sink: Sink | None = None,
    history: Mapping[tuple[str, str], deadlines.Verdicts] | None = None,
) -> Run:
    """Ask every resolver every query and judge each (query name, subject resolver).

    ``prior`` holds the observations of an interrupted run being resumed (not asked again),
    ``sink`` receives each new observation as it is made, and ``history`` holds earlier
    verdicts by (resolver, query name) for ``blocked_since`` and on-time judgements.
    """
    settings = settings or AuditSettings()
    started_at = settings.started_at or settings.clock()
    run_id = settings.run_id or new_run_id(started_at)
    engine = Engine(resolvers.resolvers, settings.probe, observer)
    queries = build_queries(orders, resolvers.canaries, settings.subdomain_probes)
    canaries = [q for q in queries if q.kind is QueryKind.CANARY or q.name in resolvers.canaries]
    nx_name = f"{settings.nx_label or settings.random_label()}.{resolvers.canaries[0]}"

    # 1. Health: canaries (A and AAAA) and a name that must not exist, at every resolver.
    work = [(r, q.name, t) for r in resolvers.resolvers for q in canaries for t in QTYPES]
    work += [(r, nx_name, "A") for r in resolvers.resolvers]
    seen = await engine.observe("health", work, prior, sink)

    # 1b. Identity: who answers for each resolver (id.server, whoami...). A control that answers
    #     like a subject is the ISP's server answering in its place (interception): it is left out
    #     of every judgement, like a control that fails the canaries. Timeouts and refusals here
    #     are normal (many servers hide who they are) and never make a resolver unhealthy.
    vantage, identities = await _identify(engine, resolvers.resolvers, prior, sink)
    intercepted = identity.intercepted(identities)

    all_controls = resolvers.controls
    canary_names = [q.name for q in canaries]
    healthy_controls = [
        c for c in all_controls
        if c.name not in intercepted and any(classify.resolves(seen[(c.name, n, "A")]) for n in canary_names)
    ]
    usable = frozenset(
        n for n in canary_names
        if any(classify.resolves(seen[(c.name, n, "A")]) for c in healthy_controls)
    )
    nx_view = classify.control_view(seen[(c.name, nx_name, "A")] for c in healthy_controls)
    health: dict[str, Health] = {}
    for resolver in resolvers.resolvers:
        health[resolver.name] = classify.judge_health(
            resolver.name,
            [seen[(resolver.name, n, t)] for n in canary_names for t in QTYPES],
            usable, seen[(resolver.name, nx_name, "A")], nx_view,
        )

    # 2. Every ordered and exempt name at every healthy resolver. Unhealthy subjects are not
    #    asked: every answer from them would be inconclusive anyway, and a dead resolver would
    #    cost timeout x retries per question.
    asked = [r for r in resolvers.resolvers
             if (r in healthy_controls) or (r.role.value == "subject" and health[r.name].healthy)]
    names = [q for q in queries if q.kind is not QueryKind.CANARY]
    seen.update(await engine.observe(
        "names", [(r, q.name, t) for r in asked for q in names for t in QTYPES], prior, sink))

    # 3. The canaries again at the subjects that were asked: a resolver that broke mid-run.
    subjects = [r for r in resolvers.subjects if health[r.name].healthy]
    if settings.recheck and subjects and usable:
        again = await engine.observe("recheck", [(r, n, "A") for r in subjects for n in sorted(usable)], prior, sink)
        for resolver in subjects:
            before = health[resolver.name]
            health[resolver.name] = classify.judge_health(
                resolver.name,
                [o for o in before.observations if o.qname in canary_names],
                usable, seen[(resolver.name, nx_name, "A")], nx_view,
                after=[again[(resolver.name, n, "A")] for n in sorted(usable)],
            )

    # 4. Verdicts.
    views = _control_views(healthy_controls, [q.name for q in queries], seen)
    signals = {r.name: _signals(r, settings.fingerprints) for r in resolvers.subjects}
    results: list[Result] = []
    for resolver in resolvers.subjects:
        for query in queries:
            observations = tuple(seen[k] for t in QTYPES if (k := (resolver.name, query.name, t)) in seen)
            results.append(classify.classify(
                query, resolver.name, observations, views[query.name], signals[resolver.name], health[resolver.name],
            ))

    # 5. Optional: HTTP and TLS evidence at the answered addresses settles what DNS could not.
    if settings.web is not None:
        results = await evidence.gather(results, {r.name: r for r in resolvers.subjects}, signals,
                                        settings.fingerprints, settings.web, observer)
    finished_at = settings.clock()
    results = deadlines.assess(results, orders, finished_at.date(), finished_at, history or {})
    results.sort(key=_result_key)
    controls = tuple(sorted(
        (o for (name, _, _), o in seen.items() if name in {c.name for c in all_controls}),
        key=lambda o: (o.resolver, o.qname, o.qtype),
    ))
    return Run(
        id=run_id,
        started_at=started_at,
        finished_at=finished_at,
        orders=orders,
        resolvers=resolvers,
        results=tuple(results),
        health=tuple(health[r.name] for r in resolvers.resolvers),
        controls=controls,
        vantage=socket.gethostname(),
        identities=identities,
        settings={
            "timeout_s": settings.probe.timeout,
            "retries": settings.probe.retries,
            "subdomain_probes": list(settings.subdomain_probes),
            "nxdomain_probe": nx_name,
            "http_evidence": settings.web is not None,
            "fingerprints": len(settings.fingerprints),
            "deadlines_judged_at": finished_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "vantage": vantage,
        },
    )


def _signals(resolver: Resolver, fingerprints: Sequence[Fingerprint]) -> BlockSignals:
    """The resolver's declared block signals plus the documented block pages in scope for it."""
    scoped = fp.for_resolver(fingerprints, resolver.operator, resolver.country)
    return dataclasses.replace(resolver.block, fingerprints=scoped) if scoped else resolver.block


def _result_key(result: Result) -> tuple[str, int, str, str]:
    kind_order = {QueryKind.ORDERED: 0, QueryKind.EXEMPTION: 1, QueryKind.CANARY: 2}
    return (result.resolver, kind_order[result.query.kind], result.query.domain, result.query.name)


__all__ = ["AuditSettings", "Query", "audit"]
