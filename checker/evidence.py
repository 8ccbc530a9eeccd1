"""The optional second kind of evidence (``check --http``): what the answered addresses serve.

For every result that ``settle.wants_web`` picks, the subject's answered addresses are fetched
over HTTPS and HTTP with Host and SNI set to the name (``checker.probe.web``), each (name,
address) once however many resolvers gave it, a few at a time in worker threads. The results
are then judged again by ``settle.settle`` with the fingerprints in scope for their resolver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from checker import fingerprints as fp
from checker import settle
from checker.engine import Observer, ProgressEvent
from checker.models import BlockSignals, Fetch, Fingerprint, Resolver, Result
from checker.probe.web import WebSettings, fetch_all

PARALLEL = 8
"""Names fetched at once."""
SCHEMES = ("https", "http")


async def gather(
    results: Sequence[Result],
    resolvers: Mapping[str, Resolver],
    signals: Mapping[str, BlockSignals],
    fingerprints: Sequence[Fingerprint],
    settings: WebSettings,
    observer: Observer | None = None,
) -> list[Result]:
    """``results`` with every result that wants web evidence judged again with it (same order)."""
    wanted: dict[int, tuple[str, tuple[str, ...]]] = {}
    for index, result in enumerate(results):
        block = signals.get(result.resolver, BlockSignals())
        if settle.wants_web(result, block):
            addresses = settle.web_addresses(result, block)
            if addresses:
                wanted[index] = (result.query.name, addresses)
    jobs = sorted({(name, address) for name, addresses in wanted.values() for address in addresses})
    fetched: dict[tuple[str, str], tuple[Fetch, ...]] = {}
    if jobs:
        limit = asyncio.Semaphore(PARALLEL)
        done = 0

        async def one(name: str, address: str) -> None:
            nonlocal done
            async with limit:
                fetched[(name, address)] = await asyncio.to_thread(
                    fetch_all, name, [address], settings, schemes=SCHEMES, limit=1)
            done += 1
            if observer is not None:
                observer(ProgressEvent("http", done, len(jobs)))

        if observer is not None:
            observer(ProgressEvent("http", 0, len(jobs)))
        async with asyncio.TaskGroup() as group:
            for name, address in jobs:
                group.create_task(one(name, address))
    out = list(results)
    for index, (name, addresses) in wanted.items():
        result = results[index]
        resolver = resolvers.get(result.resolver)
        scoped = fp.for_resolver(fingerprints, resolver.operator, resolver.country) if resolver else ()
        fetches = tuple(f for address in addresses for f in fetched.get((name, address), ()))
        out[index] = settle.settle(result, fetches, scoped)
    return out
