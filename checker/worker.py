"""The names phase of a large run asked by a second process, so that a run uses two cores.

One Python thread both asks (sockets, IDs, retries, pacing, parsing the answers) and judges
(verdicts, reports, the store); each half costs about as much as the other, and the asking half
cannot wait for the judging one without losing answers. ``WorkerEngine`` moves the asking half
of the ``names`` phase into a child process (``python -m checker.worker``) that runs an ordinary
``Engine``; the main process keeps everything else: health, identity and the canary re-checks
(on its own engine), judging, reports and the store. A run asks the same questions with the same
timeouts, retries and pacing either way, and its results are the same.

The two talk over a socket pair in frames (a 4-byte length, then a pickle; the child is our own
code, started by us, so nothing foreign is ever unpickled):

* main → worker: ``("start", resolvers, probe settings, the indexes of the resolvers it asks)``
  once, then ``("ask", phase, [(resolver
  index, name, type), ...])`` batches, then ``("end",)``;
* worker → main: ``("seen", [observation fields, ...])`` batches, then ``("stats", mux counters,
  pacer counters, its peak RSS and CPU time)`` after ``end``; ``("error", text)`` if it fails.

The main process keeps at most ``WINDOW`` questions with the worker, so memory stays bounded on a
list of any length. Only plain UDP resolvers without a ``qps`` cap go to a worker (a cap is the
sum of both processes' traffic, which the re-checks in the main process would break; DoT and DoH
keep their own connection pools); and only from ``AuditSettings.worker_from`` names on, since
starting the worker costs a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pickle
import resource
import socket
import struct
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import checker
from checker.engine import Engine, Observer, PhaseKey, ProgressEvent, Sink, lean_gc, run_loop
from checker.models import ExtendedError, Observation, Protocol, Record, Resolver
from checker.probe.client import ProbeSettings
from checker.probe.mux import MuxStats

_LENGTH = struct.Struct("!I")
BATCH = 1024
"""Questions a frame from the main process carries."""
WINDOW = 16384
"""Questions handed to the workers and not yet answered, at most (65,536 was no faster, and at 1M
names held 40 MiB more in the main process and some 10 MiB more in each worker)."""
FLUSH = 0.004
"""Seconds an answer may wait in the worker before it is sent on with others."""
FLUSH_AT = 512
"""Answers sent on at once, without waiting."""


def eligible(resolvers: Iterable[Resolver]) -> bool:
    """Whether a worker may ask these resolvers: plain UDP, no ``qps`` cap."""
    return all(r.protocol is Protocol.UDP and r.qps is None for r in resolvers)


@dataclasses.dataclass(slots=True)
class PaceStats:
    """A worker pacer's counters, as ``audit`` reports them (``Pacer.lost``, ``Pacer.slowest``)."""

    lost: int = 0
    slowest: float | None = None


# --------------------------------------------------------------------------- frames


def _frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def _read(reader: asyncio.StreamReader) -> Any:
    head = await reader.readexactly(_LENGTH.size)
    return pickle.loads(await reader.readexactly(_LENGTH.unpack(head)[0]))


def _fields(obs: Observation) -> tuple[Any, ...]:
    """An observation as plain values (pickled far faster than the records)."""
    return (obs.resolver, obs.qname, obs.qtype, obs.transport, obs.started_at, obs.elapsed_ms, obs.attempts,
            obs.rcode, obs.flags, tuple((r.name, r.type, r.ttl, r.data) for r in obs.answers),
            tuple((r.name, r.type, r.ttl, r.data) for r in obs.authority),
            tuple((e.code, e.text) for e in obs.ede), obs.error, obs.wire, obs.rejected)


def _observation(item: tuple[Any, ...]) -> Observation:
    """``_fields`` back into an observation."""
    (resolver, qname, qtype, transport, started_at, elapsed_ms, attempts, rcode, flags, answers, authority,
     ede, error, wire, rejected) = item
    return Observation(
        resolver, qname, qtype, transport, started_at, elapsed_ms, attempts, rcode, flags,
        tuple([Record(*r) for r in answers]) if answers else (),
        tuple([Record(*r) for r in authority]) if authority else (),
        tuple([ExtendedError(*e) for e in ede]) if ede else (), error, wire, rejected,
    )


# --------------------------------------------------------------------------- the main process's side


class WorkerError(RuntimeError):
    """The worker process failed or stopped before the end."""


class _Child:
    """One worker process and the socket to it."""

    def __init__(self, process: asyncio.subprocess.Process, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.process = process
        self.reader = reader
        self.writer = writer
        self.ended: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self.listener: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls) -> _Child:
        ours, theirs = socket.socketpair()
        package = str(Path(checker.__file__).resolve().parent.parent)
        path = os.pathsep.join([package, *filter(None, [os.environ.get("PYTHONPATH")])])
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "checker.worker", str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path})
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        return cls(process, reader, writer)

    async def stop(self) -> None:
        """Close the socket (the worker ends when it reads that) and wait for it; kill it if it lingers."""
        self.writer.close()
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except (TimeoutError, asyncio.CancelledError):
                self.process.kill()
                await self.process.wait()
                raise
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.listener


class WorkerEngine:
    """Asks a phase's questions through worker processes; ``stream`` as ``Engine.stream``.

    Each resolver's questions go to one worker, ``processes`` workers in all (each with the
    sockets, IDs, pacing and counters of its resolvers). Use it as ``async with
    WorkerEngine(...) as engine``; ``stats()``, ``pacers`` and ``usage`` hold the workers'
    counters once the block has ended.
    """

    def __init__(self, resolvers: Sequence[Resolver], settings: ProbeSettings, observer: Observer | None = None,
                 *, window: int = WINDOW, processes: int = 1) -> None:
        self.resolvers = tuple(resolvers)
        self.settings = settings
        self.observer = observer
        self.window = window
        self.processes = max(1, min(processes, len(self.resolvers)))
        self.pacers: dict[str, PaceStats] = {}
        self.usage: dict[str, float] = {}
        """The workers' peak RSS added up (``peak_rss_mib``) and their CPU seconds (``cpu_s``), once
        the block has ended."""
        self._stats: dict[str, MuxStats] = {}
        self._index = {r.name: i for i, r in enumerate(self.resolvers)}
        self._children: list[_Child] = []
        self._deliver: Callable[[list[tuple[Any, ...]]], None] | None = None
        self._failure: BaseException | None = None
        self._wake = asyncio.Event()

    async def __aenter__(self) -> WorkerEngine:
        try:
            for number in range(self.processes):
                child = await _Child.start()
                self._children.append(child)
                child.listener = asyncio.get_running_loop().create_task(self._listen(child))
                mine = [i for i in range(len(self.resolvers)) if i % self.processes == number]
                await self._send(child, ("start", self.resolvers, self.settings, mine))
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None and self._failure is None:
                for child in self._children:
                    await self._send(child, ("end",))
                for child in self._children:
                    _, muxes, pacers, usage = await child.ended
                    self._stats.update((name, MuxStats(**fields)) for name, fields in muxes.items())
                    self.pacers.update((name, PaceStats(*fields)) for name, fields in pacers.items())
                    for key, value in usage.items():
                        self.usage[key] = round(self.usage.get(key, 0.0) + value, 2)
        finally:
            await self._stop()
        if exc[0] is None and self._failure is not None:
            raise self._failure

    async def _stop(self) -> None:
        for child in self._children:
            await child.stop()

    def stats(self) -> dict[str, MuxStats]:
        """What the workers' UDP sockets saw (known once the block has ended)."""
        return self._stats

    async def _send(self, child: _Child, message: object) -> None:
        try:
            child.writer.write(_frame(message))
            await child.writer.drain()
        except ConnectionError as exc:
            self._fail(WorkerError(f"the asking worker stopped ({type(exc).__name__})"))
            assert self._failure is not None
            raise self._failure from None

    async def _listen(self, child: _Child) -> None:
        try:
            while True:
                message = await _read(child.reader)
                kind = message[0]
                if kind == "seen":
                    if self._deliver is not None:
                        self._deliver(message[1])
                elif kind == "stats":
                    child.ended.set_result(message)
                    return
                elif kind == "error":
                    raise WorkerError(f"the asking worker failed: {message[1]}")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self._fail(WorkerError(f"the asking worker stopped ({type(exc).__name__})"))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the stream that waits
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        for child in self._children:
            if not child.ended.done():
                child.ended.set_exception(exc)
                child.ended.exception()  # retrieved: only __aexit__ reports it
        self._wake.set()

    async def stream(
        self, phase: str, questions: Iterable[tuple[Resolver, str, str]], receive: Callable[[Observation], None],
        *, prior: Mapping[PhaseKey, Observation] | None = None, sink: Sink | None = None, total: int | None = None,
    ) -> None:
        """As ``Engine.stream``: every question asked once (by the worker), every observation to
        ``receive`` (new ones to ``sink`` first) as it comes; questions in ``prior`` are not asked."""
        done = 0
        outstanding = 0
        observer = self.observer
        if observer:
            observer(ProgressEvent(phase, 0, total or 0))

        def complete(observation: Observation, asked: bool) -> None:
            nonlocal done
            if asked and sink is not None:
                sink(phase, observation)
            receive(observation)
            done += 1
            if observer:
                observer(ProgressEvent(phase, done, total or done))

        def deliver(items: list[tuple[Any, ...]]) -> None:
            nonlocal outstanding
            outstanding -= len(items)
            try:
                for item in items:
                    complete(_observation(item), True)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of stream()
                self._fail(exc)
            self._wake.set()

        self._deliver = deliver
        children = self._children
        batches: list[list[tuple[int, str, str]]] = [[] for _ in children]
        try:
            for resolver, qname, qtype in questions:
                if self._failure is not None:
                    break
                known = prior.get((phase, resolver.name, qname, qtype)) if prior else None
                if known is not None:
                    complete(known, False)
                    continue
                index = self._index[resolver.name]
                batch = batches[index % len(children)]
                batch.append((index, qname, qtype))
                if len(batch) >= BATCH:
                    outstanding += len(batch)
                    await self._send(children[index % len(children)], ("ask", phase, batch))
                    batches[index % len(children)] = []
                    while outstanding > self.window and self._failure is None:
                        self._wake.clear()
                        await self._wake.wait()
            for child, batch in zip(children, batches, strict=True):
                if batch and self._failure is None:
                    outstanding += len(batch)
                    await self._send(child, ("ask", phase, batch))
            while outstanding > 0 and self._failure is None:
                self._wake.clear()
                await self._wake.wait()
        finally:
            self._deliver = None
        if self._failure is not None:
            raise self._failure


# --------------------------------------------------------------------------- the worker's side


def peak_rss_kib(used: resource.struct_rusage) -> float:
    """This process's peak RSS since it was started, in KiB: ``VmHWM`` of ``/proc/self/status``.

    Not ``ru_maxrss``: Linux keeps there the high-water mark of the memory the process had
    before its ``exec``, the copy of the main process that ``fork`` made, so a worker started by
    a main process holding a million names reported that process's size (254 MiB), not its own
    (about 90)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    return float(used.ru_maxrss)




async def serve(sock: socket.socket) -> None:
    """Answer the main process's frames on ``sock`` until it sends ``end`` (or goes away)."""
    reader, writer = await asyncio.open_connection(sock=sock)
    loop = asyncio.get_running_loop()
    start = await _read(reader)
    resolvers: tuple[Resolver, ...] = start[1]
    settings: ProbeSettings = start[2]
    mine = [resolvers[i] for i in start[3]]
    outbox: list[tuple[Any, ...]] = []
    timer: list[asyncio.TimerHandle] = []
    tasks: set[asyncio.Task[None]] = set()
    failure: list[BaseException] = []

    def flush() -> None:
        timer.clear()
        if outbox:
            writer.write(_frame(("seen", outbox[:])))
            outbox.clear()

    def keep(observation: Observation) -> None:
        outbox.append(_fields(observation))
        if len(outbox) >= FLUSH_AT:
            if timer:
                timer.pop().cancel()
            flush()
        elif not timer:
            timer.append(loop.call_later(FLUSH, flush))

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failure.append(task.exception())  # type: ignore[arg-type]

    async with Engine(mine, settings) as engine:
        try:
            while not failure:
                message = await _read(reader)
                if message[0] == "end":
                    break
                _, phase, batch = message
                work = [(resolvers[i], qname, qtype) for i, qname, qtype in batch]
                task = loop.create_task(engine.stream(phase, work, keep))
                tasks.add(task)
                task.add_done_callback(finished)
                await writer.drain()
            while tasks and not failure:
                await asyncio.wait(tasks)
            if failure:
                raise failure[0]
            flush()
            muxes = {name: dataclasses.asdict(stats) for name, stats in engine.stats().items()}
            pacers = {name: (pacer.lost, pacer.slowest) for name, pacer in engine.pacers.items()}
            used = resource.getrusage(resource.RUSAGE_SELF)
            usage = {"peak_rss_mib": round(peak_rss_kib(used) / 1024, 1),
                     "cpu_s": round(used.ru_utime + used.ru_stime, 2)}
            writer.write(_frame(("stats", muxes, pacers, usage)))
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the main process went away: nothing to answer
        except Exception as exc:  # noqa: BLE001 - told to the main process, which ends the run
            writer.write(_frame(("error", f"{type(exc).__name__}: {exc}")))
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()


def main(argv: Sequence[str]) -> int:
    """``python -m checker.worker FD``: serve the socket ``FD`` that the main process passed."""
    sock = socket.socket(fileno=int(argv[0]))
    with lean_gc():
        run_loop(serve(sock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
