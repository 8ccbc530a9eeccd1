"""One check, start to finish: health, every ordered name, a second health check, then verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

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
from checker.probe.mux import MuxStats
from checker.probe.web import WebSettings
from checker.queries import DEFAULT_SUBDOMAIN_PROBES, count_queries, iter_queries
from checker.worker import WorkerEngine, eligible

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
    recheck_every: int = 10_000
    """Names judged between two canary re-checks of the subjects (and the most results held back)."""
    worker_from: int | None = 5_000
    """Names from which the names phase is asked by worker processes, so that the run uses more
    than one core (``checker.worker``; plain UDP resolvers without a ``qps`` cap only); None: never."""
    workers: int = 2
    """Worker processes for the names phase (each asks some of the resolvers; at most one per resolver)."""
    fingerprints: tuple[Fingerprint, ...] = ()
    """Documented block pages; those in scope for a subject count as its block signals."""
    web: WebSettings | None = None
    """Gather HTTP and TLS evidence at the answered addresses (``--http``); None: do not."""


def new_run_id(started_at: dt.datetime) -> str:
    """A run id: its start time, sortable, and a random suffix."""
    return started_at.strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


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


History = Mapping[tuple[str, str], deadlines.Verdicts] | Callable[[Sequence[str]], Mapping[tuple[str, str],
                                                                                         deadlines.Verdicts]]
"""Earlier verdicts by (resolver, query name), or a lookup of them for some query names."""


class Output(Protocol):
    """Where a run's results and control answers go as they are made."""

    def result(self, result: Result) -> None:
        """One judged (query name, subject resolver), deadline included."""

    def control(self, observation: Observation) -> None:
        """One control resolver's answer."""


class Collector:
    """Keeps every result and control answer in memory: a run small enough to hold."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.controls: list[Observation] = []

    def result(self, result: Result) -> None:
        self.results.append(result)

    def control(self, observation: Observation) -> None:
        self.controls.append(observation)


async def audit(
    orders: OrderSet,
    resolvers: ResolverSet,
    settings: AuditSettings | None = None,
    observer: Observer | None = None,
    prior: Mapping[PhaseKey, Observation] | None = None,
    sink: Sink | None = None,
    history: History | None = None,
    output: Output | None = None,
) -> Run:
    """Ask every resolver every query and judge each (query name, subject resolver).

    ``prior`` holds the observations of an interrupted run being resumed (not asked again),
    ``sink`` receives each new observation as it is made, and ``history`` holds earlier
    verdicts by (resolver, query name) for ``blocked_since`` and on-time judgements (or looks
    them up for a batch of names: a run too large to load all history at once).

    Results are judged as soon as every answer for their name is in, and handed to ``output``
    in batches as the subjects pass their canary re-checks; the returned ``Run`` holds them
    only when no ``output`` is given (a ``Collector`` is used then).
    """
    settings = settings or AuditSettings()
    started_at = settings.started_at or settings.clock()
    run_id = settings.run_id or new_run_id(started_at)
    keep = output is None
    collector = Collector()
    out: Output = collector if output is None else output
    canary_set = set(resolvers.canaries)
    canaries = [q for q in iter_queries(orders, settings.subdomain_probes) if q.name in canary_set]
    canaries += [Query(c, c, QueryKind.CANARY, ()) for c in dict.fromkeys(resolvers.canaries)
                 if c not in {q.name for q in canaries}]
    nx_name = f"{settings.nx_label or settings.random_label()}.{resolvers.canaries[0]}"
    async with Engine(resolvers.resolvers, settings.probe, observer) as engine:
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
        for (name, _, _), observation in sorted(seen.items()):
            if name in {c.name for c in all_controls}:
                out.control(observation)

        # 2. Every ordered and exempt name at every healthy resolver, streamed: a name is judged
        #    as soon as all its answers are in. Unhealthy subjects are not asked: every answer from
        #    them would be inconclusive anyway, and a dead resolver would cost timeout x retries
        #    per question. Every `recheck_every` names the subjects are asked their canaries
        #    again; a batch of results is released once the re-check after it has passed (a
        #    subject that failed it has its block answers in that batch distrusted).
        asked = [r for r in resolvers.resolvers
                 if (r in healthy_controls) or (r.role.value == "subject" and health[r.name].healthy)]
        checked = [r for r in resolvers.subjects if health[r.name].healthy]
        signals = {r.name: _signals(r, settings.fingerprints) for r in resolvers.subjects}
        judge = _Judge(resolvers.subjects, {c.name for c in healthy_controls}, signals, health, out)
        batches = _Batches(engine, settings, orders, checked, sorted(usable), history or {}, out, prior, sink,
                           resolvers.subjects)
        for query in canaries:  # judged from the health answers, released with the first batch
            if query.kind is QueryKind.CANARY:
                judge.complete(query, [o for o in seen.values() if o.qname == query.name])

        names = iter_queries(orders, settings.subdomain_probes)
        count = count_queries(orders, settings.subdomain_probes)
        expected = len(asked) * len(QTYPES)
        open_names: dict[str, tuple[Query, list[Observation]]] = {}
        batch_size = settings.recheck_every * max(1, len(resolvers.subjects))

        def questions() -> Iterator[tuple[Resolver, str, str]]:
            for query in names:
                if not expected:
                    judge.complete(query, [])
                else:
                    open_names[query.name] = (query, [])
                    for resolver in asked:
                        for qtype in QTYPES:
                            yield resolver, query.name, qtype
                if judge.pending >= batch_size:
                    batches.close(judge.take())

        def receive(observation: Observation) -> None:
            query, got = open_names[observation.qname]
            got.append(observation)
            if len(got) == expected:
                del open_names[observation.qname]
                judge.complete(query, got)

        worker = None
        if (settings.worker_from is not None and settings.workers > 0 and count >= settings.worker_from and asked
                and eligible(asked)):
            worker = WorkerEngine(asked, settings.probe, observer, processes=settings.workers)
        async with worker or contextlib.nullcontext():
            await (worker or engine).stream("names", questions(), receive, prior=prior, sink=sink,
                                            total=count * expected)
            batches.close(judge.take())
            await batches.finish()

        traffic = _traffic(engine, worker)

        # 3. Health after the run, from the last re-check.
        for resolver in checked:
            if batches.last is not None:
                before = health[resolver.name]
                health[resolver.name] = classify.judge_health(
                    resolver.name,
                    [o for o in before.observations if o.qname in canary_names],
                    usable, seen[(resolver.name, nx_name, "A")], nx_view,
                    after=[batches.last[(resolver.name, n, "A")] for n in sorted(usable)],
                )
            failed = batches.failed.get(resolver.name)
            if failed:
                item = health[resolver.name]
                health[resolver.name] = dataclasses.replace(
                    item, detail=f"{item.detail}; canary failed at re-check {', '.join(map(str, failed))}")
    finished_at = settings.clock()
    results: tuple[Result, ...] = ()
    controls: tuple[Observation, ...] = ()
    if keep:
        results = tuple(sorted(collector.results, key=_result_key))
        controls = tuple(sorted(collector.controls, key=lambda o: (o.resolver, o.qname, o.qtype)))
    return Run(
        id=run_id,
        started_at=started_at,
        finished_at=finished_at,
        orders=orders,
        resolvers=resolvers,
        results=results,
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
            "rechecks": batches.count,
            "traffic": traffic,
            "worker": worker.usage if worker is not None else None,
            "vantage": vantage,
        },
    )


class _Judge:
    """Judges each name once all its answers are in; holds the results until their batch closes."""

    def __init__(self, subjects: Sequence[Resolver], controls: set[str], signals: Mapping[str, BlockSignals],
                 health: Mapping[str, Health], out: Output) -> None:
        self.subjects = subjects
        self.controls = controls
        self.signals = signals
        self.health = health
        self.out = out
        self.held: list[Result] = []
        self.held_controls: list[Observation] = []

    @property
    def pending(self) -> int:
        return len(self.held)

    def complete(self, query: Query, observations: Sequence[Observation]) -> None:
        by_type: dict[str, list[Observation]] = {t: [] for t in QTYPES}
        mine: dict[str, list[Observation]] = {}
        for observation in observations:
            if observation.resolver in self.controls:
                if observation.qtype in by_type:
                    by_type[observation.qtype].append(observation)
                if query.kind is not QueryKind.CANARY:
                    self.held_controls.append(observation)
            else:
                mine.setdefault(observation.resolver, []).append(observation)
        view = classify.NameView({t: classify.control_view(items) for t, items in by_type.items()})
        for subject in self.subjects:
            own = sorted(mine.get(subject.name, ()), key=lambda o: QTYPES.index(o.qtype) if o.qtype in QTYPES else 9)
            self.held.append(classify.classify(query, subject.name, tuple(own), view, self.signals[subject.name],
                                               self.health[subject.name]))

    def take(self) -> tuple[list[Result], list[Observation]]:
        held, self.held = self.held, []
        controls, self.held_controls = self.held_controls, []
        return held, controls


class _Batches:
    """Releases batches of results in order, each once the canary re-check after it has passed."""

    def __init__(self, engine: Engine, settings: AuditSettings, orders: OrderSet, checked: Sequence[Resolver],
                 usable: Sequence[str], history: History, out: Output,
                 prior: Mapping[PhaseKey, Observation] | None, sink: Sink | None,
                 subjects: Sequence[Resolver]) -> None:
        self.engine = engine
        self.settings = settings
        self.orders = orders
        self.checked = checked
        self.usable = usable
        self.history = history
        self.out = out
        self.prior = prior
        self.sink = sink
        self.subjects = {r.name: r for r in subjects}
        self.count = 0
        self.last: dict[Key, Observation] | None = None
        self.failed: dict[str, list[int]] = {}
        self._previous: asyncio.Task[None] | None = None
        self._table: dict[str, deadlines.Due] | None = None

    def close(self, taken: tuple[list[Result], list[Observation]]) -> None:
        """Start the re-check for a batch and release it (after earlier batches) once it is done:
        its results first, then the control answers they rest on."""
        batch, controls = taken
        if not batch:
            for observation in controls:
                self.out.control(observation)
            return
        recheck = self.settings.recheck and bool(self.checked) and bool(self.usable)
        number = 0
        if recheck:
            self.count += 1
            number = self.count
        self._previous = asyncio.get_running_loop().create_task(
            self._release(batch, controls, number, self._previous))

    async def _release(self, batch: list[Result], controls: list[Observation], number: int,
                       previous: asyncio.Task[None] | None) -> None:
        distrusted: set[str] = set()
        if number:
            phase = "recheck" if number == 1 else f"recheck-{number}"
            again = await self.engine.observe(
                phase, [(r, n, "A") for r in self.checked for n in self.usable], self.prior, self.sink)
            self.last = again
            for resolver in self.checked:
                if not all(classify.resolves(again[(resolver.name, n, "A")]) for n in self.usable):
                    distrusted.add(resolver.name)
                    self.failed.setdefault(resolver.name, []).append(number)
        if previous is not None:
            await previous
        when = "in the re-check after these names"
        results = [classify.distrust(r, when) if r.resolver in distrusted else r for r in batch]
        if self.settings.web is not None:
            results = await evidence.gather(results, self.subjects, {n: _signals(r, self.settings.fingerprints)
                                                                      for n, r in self.subjects.items()},
                                            self.settings.fingerprints, self.settings.web, self.engine.observer)
        judged_at = self.settings.clock()
        if self._table is None:
            self._table = deadlines.dues(self.orders, judged_at.date())
        known = self.history(sorted({r.query.name for r in results})) if callable(self.history) else self.history
        for result in deadlines.assess(results, self.orders, judged_at.date(), judged_at, known, self._table):
            self.out.result(result)
        for observation in controls:
            self.out.control(observation)

    async def finish(self) -> None:
        if self._previous is not None:
            await self._previous


def _traffic(engine: Engine, worker: WorkerEngine | None = None) -> dict[str, dict[str, object]]:
    """Per resolver: what its shared sockets saw (answers the kernel dropped for a full buffer,
    stray and rejected datagrams) and how often pacing slowed down for lost answers; the worker's
    traffic (the names phase, when it asked it) added in."""
    engines: list[Engine | WorkerEngine] = [engine, *([worker] if worker is not None else [])]
    muxes: dict[str, MuxStats] = {}
    lost: dict[str, int] = {}
    slowest: dict[str, float | None] = {}
    for each in engines:
        for name, stats in each.stats().items():
            muxes.setdefault(name, MuxStats(rcvbuf=stats.rcvbuf, window=stats.window, sockets=0)).add(stats)
        for name, pacer in each.pacers.items():
            lost[name] = lost.get(name, 0) + pacer.lost
            rates = [r for r in (slowest.get(name), pacer.slowest) if r is not None]
            slowest[name] = min(rates) if rates else None
    out: dict[str, dict[str, object]] = {}
    for name, stats in muxes.items():
        out[name] = {"sent": stats.sent, "accepted": stats.accepted, "stray": stats.stray,
                     "rejected": stats.rejected, "dropped_full_buffer": stats.dropped,
                     "receive_buffer": stats.rcvbuf, "sockets": stats.sockets}
    for name, count in lost.items():
        entry = out.setdefault(name, {})
        entry["lost_answers"] = count
        rate = slowest[name]
        entry["slowest_qps"] = round(rate, 1) if rate is not None else None
    return out


def _signals(resolver: Resolver, fingerprints: Sequence[Fingerprint]) -> BlockSignals:
    """The resolver's declared block signals plus the documented block pages in scope for it."""
    scoped = fp.for_resolver(fingerprints, resolver.operator, resolver.country)
    return dataclasses.replace(resolver.block, fingerprints=scoped) if scoped else resolver.block


def _result_key(result: Result) -> tuple[str, int, str, str]:
    kind_order = {QueryKind.ORDERED: 0, QueryKind.EXEMPTION: 1, QueryKind.CANARY: 2}
    return (result.resolver, kind_order[result.query.kind], result.query.domain, result.query.name)


__all__ = ["AuditSettings", "Query", "audit"]
