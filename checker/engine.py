"""Fan-out: every question to every resolver, with a concurrency cap and pacing per resolver."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass

from checker.models import Observation, Protocol, Resolver
from checker.probe import https
from checker.probe.client import ProbeSettings, ask
from checker.probe.mux import MuxStats, UdpMux


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """How far a phase has got."""

    phase: str
    """``health``, ``identity``, ``names`` or ``recheck``."""
    done: int
    """Questions answered or given up on."""
    total: int
    """Questions in the phase."""


Observer = Callable[[ProgressEvent], None]
Key = tuple[str, str, str]
"""(resolver name, query name, record type); the type is ``CH TXT`` for a question in another class
(see ``checker.probe.message.question_type``)."""
PhaseKey = tuple[str, str, str, str]
"""(phase, resolver name, query name, record type): one observation of a run, as stored."""
Sink = Callable[[str, Observation], None]
"""Receives every new observation with its phase (the store records them as they arrive)."""

RESERVED_DESCRIPTORS = 64
"""File descriptors left for everything but queries (reports, the store, the interpreter)."""


def socket_budget() -> int:
    """How many queries may hold a socket at once in this process.

    The soft ``RLIMIT_NOFILE`` is raised to the hard limit when it is lower (a user may run
    hundreds of resolvers at 16 queries each); a budget below it keeps "too many open files"
    from ever reaching a result as a network error.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    limit = soft if soft != resource.RLIM_INFINITY else 65536
    return max(8, min(limit, 65536) - RESERVED_DESCRIPTORS)


class Pacer:
    """Spaces the packets sent to one resolver at most ``qps`` a second (retries included)."""

    def __init__(self, qps: float | None) -> None:
        self._interval = 1.0 / qps if qps else 0.0
        self._next = 0.0

    async def tick(self) -> None:
        """Wait for the next free sending slot."""
        if not self._interval:
            return
        now = time.monotonic()
        wait = self._next - now
        self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)


class Engine:
    """Asks questions of a fixed set of resolvers; one pacer per resolver for the whole run."""

    def __init__(self, resolvers: Sequence[Resolver], settings: ProbeSettings,
                 observer: Observer | None = None, *, shared_udp: bool = True) -> None:
        self.settings = settings
        self.observer = observer
        self._pacers = {r.name: Pacer(r.qps) for r in resolvers}
        self._budget = socket_budget()
        self.shared_udp = shared_udp
        self.stats: dict[tuple[str, int], MuxStats] = {}
        """What each resolver's shared UDP socket saw in the last phase that used it."""

    async def observe(
        self, phase: str, work: Sequence[tuple[Resolver, str, str]],
        prior: Mapping[PhaseKey, Observation] | None = None, sink: Sink | None = None,
    ) -> dict[Key, Observation]:
        """Ask each (resolver, name, type) once (with retries); return every observation.

        Questions answered in ``prior`` (a resumed run) are not asked again; every new
        observation goes to ``sink`` as soon as it is made.

        Each resolver gets ``concurrency`` workers taking questions from its own list, so at
        most that many of its questions are in flight; all workers share the socket budget.
        If anything fails, the task group cancels every other worker.
        """
        results: dict[Key, Observation] = {}
        total = len(work)
        done = 0
        sockets = asyncio.Semaphore(self._budget)
        if self.observer:
            self.observer(ProgressEvent(phase, 0, total))
        by_resolver: dict[str, tuple[Resolver, list[tuple[str, str]]]] = {}
        for resolver, qname, qtype in work:
            known = prior.get((phase, resolver.name, qname, qtype)) if prior else None
            if known is not None:
                results[(resolver.name, qname, qtype)] = known
                done += 1
                continue
            by_resolver.setdefault(resolver.name, (resolver, []))[1].append((qname, qtype))

        muxes: dict[str, UdpMux] = {}

        async def worker(resolver: Resolver, questions: Iterator[tuple[str, str]]) -> None:
            nonlocal done
            pacer = self._pacers[resolver.name]
            mux = muxes.get(resolver.name)
            for qname, qtype in questions:
                if mux is not None:  # shares one socket: no socket of its own to budget
                    observation = await ask(resolver, qname, qtype, self.settings, pace=pacer.tick, mux=mux)
                else:
                    async with sockets:
                        observation = await ask(resolver, qname, qtype, self.settings, pace=pacer.tick)
                results[(resolver.name, qname, qtype)] = observation
                if sink is not None:
                    sink(phase, observation)
                done += 1
                if self.observer:
                    self.observer(ProgressEvent(phase, done, total))

        for resolver, _ in by_resolver.values():
            if resolver.protocol is Protocol.UDP and self.shared_udp:
                mux = UdpMux(resolver.host, resolver.port)
                try:
                    mux.open()
                except OSError:
                    continue  # ask() opens a socket a question and reports the error on each
                muxes[resolver.name] = mux
        try:
            await self._run(by_resolver, worker)
        finally:
            for mux in muxes.values():
                self.stats[mux.host, mux.port] = mux.stats
                mux.close()
        return results

    async def _run(
        self, by_resolver: Mapping[str, tuple[Resolver, list[tuple[str, str]]]],
        worker: Callable[[Resolver, Iterator[tuple[str, str]]], Coroutine[None, None, None]],
    ) -> None:
        async with https.clients(), asyncio.TaskGroup() as group:  # DoH: one client per server, closed after
            for resolver, questions in by_resolver.values():
                shared = iter(questions)
                for _ in range(min(resolver.concurrency, len(questions))):
                    group.create_task(worker(resolver, shared))
