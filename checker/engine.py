"""Fan-out: every question to every resolver, with a concurrency cap and pacing per resolver."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import importlib
import itertools
import os
import resource
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from checker.models import Observation, Protocol, Resolver
from checker.probe import https
from checker.probe.client import Flight, ProbeSettings, ask
from checker.probe.mux import Limit, MuxStats, UdpPool


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
    """Spaces the packets sent to one resolver: at most its ``qps`` a second (retries included),
    and slower while it loses answers.

    A resolver that rate-limits drops what exceeds its limit, and a dropped answer looks like a
    timeout. So every lost answer halves the rate (from the rate answers were coming at, when no
    ``qps`` was set), down to ``floor``; every answer raises it again by a little, back up to the
    configured ``qps`` (or to no limit). Retries then go out slower than what was lost, and a
    rate limit is never read as anything but the timeouts it caused (never a block). A resolver
    that declares ``drop: true`` answers blocked names with silence on purpose: its timeouts are
    no sign of a rate limit, so its pacing does not adapt.
    """

    RECOVER = 1.02
    """Each answer raises the adaptive rate by this factor."""
    WINDOW = 1.0
    """Seconds of answers the observed rate counts (rate limits count per second)."""

    def __init__(self, qps: float | None, *, adaptive: bool = True, floor: float = 5.0) -> None:
        self.qps = qps
        self.adaptive = adaptive
        self.floor = floor
        self.rate: float | None = qps
        """Packets a second allowed now; ``None``: no limit."""
        self.lost = 0
        """Answers lost so far (each slowed the rate)."""
        self.slowest: float | None = None
        """The lowest rate reached, for the report."""
        self._next = 0.0
        self._answers: collections.deque[float] = collections.deque()
        """When each answer of the last ``WINDOW`` seconds came."""
        self._answered_since_cut = True

    async def tick(self) -> None:
        """Wait for the next free sending slot."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    def reserve(self) -> float:
        """Book the next free sending slot; return the seconds until it comes."""
        if not self.rate:
            return 0.0
        interval = 1.0 / self.rate
        now = time.monotonic()
        wait = self._next - now
        self._next = max(now, self._next) + interval
        return max(wait, 0.0)

    def answered(self) -> None:
        """An answer came: recover some of the rate lost."""
        if not self.adaptive:
            return
        self._answered_since_cut = True
        self._answers.append(time.monotonic())
        self._recent()
        if self.rate is not None and (self.qps is None or self.rate < self.qps):
            self.rate *= self.RECOVER
            ceiling = self.qps if self.qps is not None else self._observed() * 4
            if self.rate >= ceiling:
                self.rate = self.qps  # back to the configured limit, or none

    def timed_out(self) -> None:
        """An attempt got no answer: halve the rate, if an answer came since the last cut.

        A rate limit drops some answers and lets others through, so losses among answers cut the
        rate again and again. A resolver that has gone silent (stopped, unreachable) loses every
        answer: that is no rate limit, and halving on each loss would slow every remaining
        question to ``floor`` a second, hours for a long list. Its rate is cut once; its questions
        go on costing the timeout and retries, in parallel, and the canary re-check judges it."""
        if not self.adaptive:
            return
        self.lost += 1
        if not self._answered_since_cut:
            return
        self._answered_since_cut = False
        base = self.rate if self.rate is not None else self._observed()
        self.rate = max(self.floor, base / 2)
        self.slowest = self.rate if self.slowest is None else min(self.slowest, self.rate)

    def _observed(self) -> float:
        """Answers a second over the last ``WINDOW`` seconds; a cautious guess before any.

        Counted over a whole window, not over the span between the first and last answer: a rate
        limit lets a burst through at once (Unbound's ``ip-ratelimit`` and BIND's RRL count per
        second), and ten answers within a millisecond are ten a second to such a resolver, not
        ten thousand."""
        recent = self._recent()
        if not recent:
            return max(self.floor * 2, 100.0)
        return max(self.floor * 2, recent / self.WINDOW)

    def _recent(self) -> int:
        """Forget the answers older than ``WINDOW``; return how many are left."""
        answers, since = self._answers, time.monotonic() - self.WINDOW
        while answers and answers[0] < since:
            answers.popleft()
        return len(answers)


class Engine:
    """Asks questions of a fixed set of resolvers; one pacer per resolver for the whole run.

    Use it as ``async with Engine(...) as engine``: for the length of the block every UDP
    resolver has its shared sockets (``UdpPool``) and every DoH server one HTTP client.
    """

    def __init__(self, resolvers: Sequence[Resolver], settings: ProbeSettings,
                 observer: Observer | None = None, *, shared_udp: bool = True) -> None:
        self.settings = settings
        self.observer = observer
        self.resolvers = tuple(resolvers)
        self.pacers = {r.name: Pacer(r.qps, adaptive=not r.block.drop) for r in resolvers}
        self._limits: dict[str, Limit] = {}
        self._budget = socket_budget()
        self._sockets: Limit | None = None
        self.shared_udp = shared_udp
        self.muxes: dict[str, UdpPool] = {}
        """The shared UDP sockets of each UDP resolver, while the engine is open."""
        self._stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> Engine:
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(https.clients())
        stack.callback(self._close_muxes)
        self._stack = stack
        self._sockets = Limit(self._budget)
        self._limits = {r.name: Limit(r.concurrency) for r in self.resolvers}
        for resolver in self.resolvers:
            if resolver.protocol is Protocol.UDP and self.shared_udp and resolver.name not in self.muxes:
                mux = UdpPool(resolver.host, resolver.port)
                try:
                    mux.open()
                except OSError:
                    continue  # ask() opens a socket a question and reports the error on each
                self.muxes[resolver.name] = mux
                # No more in flight than the receive buffer holds answers for.
                self._limits[resolver.name] = Limit(min(resolver.concurrency, mux.stats.window))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    def _close_muxes(self) -> None:
        for mux in self.muxes.values():
            mux.close()
        self.muxes.clear()

    def stats(self) -> dict[str, MuxStats]:
        """What each resolver's shared UDP sockets have seen so far."""
        for mux in self.muxes.values():
            mux.count_drops()
        return {name: mux.stats for name, mux in self.muxes.items()}

    async def stream(
        self, phase: str, questions: Iterable[tuple[Resolver, str, str]], receive: Callable[[Observation], None],
        *, prior: Mapping[PhaseKey, Observation] | None = None, sink: Sink | None = None, total: int | None = None,
    ) -> None:
        """Ask every (resolver, name, type) of ``questions`` once (with retries), in order as far as
        each resolver's ``concurrency`` allows, and hand each observation to ``receive`` as it is made.

        ``questions`` is consumed lazily, so it may be a generator over millions of names: at any
        time only the questions in flight are held. Questions answered in ``prior`` (a resumed run)
        are not asked again (``receive`` still gets them); every new observation goes to ``sink``
        first. If anything fails, every other question is cancelled.
        """
        if self._stack is None:
            async with self:
                await self.stream(phase, questions, receive, prior=prior, sink=sink, total=total)
            return
        assert self._sockets is not None
        sockets = self._sockets
        loop = asyncio.get_running_loop()
        done = 0
        outstanding = 0
        fed = False
        finished = asyncio.Event()
        failure: list[BaseException] = []
        tasks: set[asyncio.Task[None]] = set()
        if self.observer:
            self.observer(ProgressEvent(phase, 0, total or 0))

        def complete(observation: Observation, limit: Limit | None, asked: bool) -> None:
            nonlocal done, outstanding
            if limit is not None:
                limit.release()
            try:
                if asked and sink is not None:
                    sink(phase, observation)
                receive(observation)
                done += 1
                if self.observer:
                    self.observer(ProgressEvent(phase, done, total or done))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of stream()
                failure.append(exc)
                finished.set()
            finally:
                if limit is not None:
                    outstanding -= 1
                if fed and not outstanding:
                    finished.set()

        async def by_task(resolver: Resolver, qname: str, qtype: str, limit: Limit) -> None:
            try:
                async with sockets:
                    pacer = self._pacer(resolver)
                    observation = await ask(resolver, qname, qtype, self.settings, pace=pacer)
            except BaseException as exc:
                limit.release()
                nonlocal outstanding
                outstanding -= 1
                failure.append(exc)
                finished.set()
                raise
            complete(observation, limit, True)

        try:
            for resolver, qname, qtype in questions:
                if failure:
                    break
                known = prior.get((phase, resolver.name, qname, qtype)) if prior else None
                if known is not None:
                    complete(known, None, False)
                    continue
                limit = self._limit(resolver)
                await limit.acquire()
                outstanding += 1
                mux = self.muxes.get(resolver.name)
                if mux is None:
                    task = loop.create_task(by_task(resolver, qname, qtype, limit))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    continue
                pacer = self._pacer(resolver)
                wait = pacer.reserve()

                def landed(observation: Observation, limit: Limit = limit) -> None:
                    complete(observation, limit, True)

                flight = Flight(resolver, qname, qtype, self.settings, pacer, mux, landed)
                if wait > 0:  # its slot is booked: the feeder goes on with the other resolvers' questions
                    loop.call_later(wait, flight.start)
                else:
                    flight.start()
            fed = True
            if outstanding and not failure:
                await finished.wait()
        finally:
            fed = True
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        if failure:
            raise failure[0]

    def _limit(self, resolver: Resolver) -> Limit:
        limit = self._limits.get(resolver.name)
        if limit is None:
            limit = self._limits[resolver.name] = Limit(resolver.concurrency)
        return limit

    def _pacer(self, resolver: Resolver) -> Pacer:
        pacer = self.pacers.get(resolver.name)
        if pacer is None:
            pacer = self.pacers[resolver.name] = Pacer(resolver.qps, adaptive=not resolver.block.drop)
        return pacer

    async def observe(
        self, phase: str, work: Sequence[tuple[Resolver, str, str]],
        prior: Mapping[PhaseKey, Observation] | None = None, sink: Sink | None = None,
    ) -> dict[Key, Observation]:
        """Ask each (resolver, name, type) once (with retries); return every observation by key."""
        results: dict[Key, Observation] = {}

        def keep(observation: Observation) -> None:
            results[(observation.resolver, observation.qname, observation.qtype)] = observation

        await self.stream(phase, interleave(work), keep, prior=prior, sink=sink, total=len(work))
        return results


def interleave(work: Sequence[tuple[Resolver, str, str]]) -> Iterator[tuple[Resolver, str, str]]:
    """The questions one resolver at a time in turn, so that a resolver waiting for a free slot
    never holds back the questions of the others."""
    by_resolver: dict[str, list[tuple[Resolver, str, str]]] = {}
    for item in work:
        by_resolver.setdefault(item[0].name, []).append(item)
    for row in itertools.zip_longest(*by_resolver.values()):
        yield from (item for item in row if item is not None)


T = TypeVar("T")
GC_YOUNG = 20_000
"""Allocations between two young collections during a run (Python's default: 700)."""


@contextlib.contextmanager
def lean_gc() -> Iterator[None]:
    """Collect garbage less often while a run asks and judges.

    A run makes millions of short-lived objects (questions, answers, results) that reference
    counting frees; few form cycles. With the collector's defaults a young collection came every
    700 allocations and the full ones scanned everything loaded before the run (a million names,
    say): a third of the CPU of the asking. So what is alive when the run starts is frozen out of
    the collector, and young collections come every ``GC_YOUNG`` allocations; both are undone after.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on uvloop when it is installed (``pip install 'blockaudit[fast]'``: a faster
    event loop for the same code), else on asyncio's own; ``BLOCKAUDIT_LOOP=asyncio`` forces the latter."""
    if os.environ.get("BLOCKAUDIT_LOOP") != "asyncio":
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            pass
        else:
            result: T = uvloop.run(coroutine)
            return result
    return asyncio.run(coroutine)
