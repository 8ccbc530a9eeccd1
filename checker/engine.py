"""Fan-out: every question to every resolver, with a concurrency cap and pacing per resolver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from checker.models import Observation, Resolver
from checker.probe.client import ProbeSettings, ask


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """How far a phase has got."""

    phase: str
    """``health``, ``names`` or ``recheck``."""
    done: int
    """Questions answered or given up on."""
    total: int
    """Questions in the phase."""


Observer = Callable[[ProgressEvent], None]
Key = tuple[str, str, str]
"""(resolver name, query name, record type)."""


class Pacer:
    """Limits one resolver to ``concurrency`` questions in flight and ``qps`` questions a second."""

    def __init__(self, concurrency: int, qps: float | None) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._interval = 1.0 / qps if qps else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        if self._interval:
            async with self._lock:
                now = time.monotonic()
                wait = self._next - now
                self._next = max(now, self._next) + self._interval
            if wait > 0:
                await asyncio.sleep(wait)

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


class Engine:
    """Asks questions of a fixed set of resolvers; one pacer per resolver for the whole run."""

    def __init__(self, resolvers: Sequence[Resolver], settings: ProbeSettings,
                 observer: Observer | None = None) -> None:
        self.settings = settings
        self.observer = observer
        self._pacers = {r.name: Pacer(r.concurrency, r.qps) for r in resolvers}

    async def observe(
        self, phase: str, work: Sequence[tuple[Resolver, str, str]],
    ) -> dict[Key, Observation]:
        """Ask each (resolver, name, type) once (with retries); return every observation."""
        results: dict[Key, Observation] = {}
        total = len(work)
        done = 0
        if self.observer:
            self.observer(ProgressEvent(phase, 0, total))

        async def one(resolver: Resolver, qname: str, qtype: str) -> None:
            nonlocal done
            async with self._pacers[resolver.name]:
                observation = await ask(resolver, qname, qtype, self.settings)
            results[(resolver.name, qname, qtype)] = observation
            done += 1
            if self.observer:
                self.observer(ProgressEvent(phase, done, total))

        await asyncio.gather(*(one(r, n, t) for r, n, t in work))
        return results
