"""The fast wire path against dnspython on every response the lab's real resolvers give: all that a
`check` run records (results, controls, health and identity answers), and direct questions to every
instance; each must decode to what dnspython reads, or fall back, and never be rejected."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from checker.models import Protocol, Record, Resolver, Role
from checker.probe import fastwire
from checker.probe.client import ProbeSettings, ask
from checker.probe.fastwire import Decoded, decode, question_of, to_described
from checker.probe.message import Described, describe, make_query, parse_response, split_question_type

from . import lab as labmod
from .lab import Lab

pytestmark = pytest.mark.integration

ANSWERING = tuple(spec.name for spec in labmod.INSTANCES if spec.access != "deny")
"""Every instance but the one that drops all queries (it gives nothing to record)."""
ORDERED = (
    *labmod.SUBTREE_TARGETS,
    *(f"www.{domain}" for domain in labmod.SUBTREE_TARGETS),
    *labmod.EXACT_TARGETS,
    *(f"www.{domain}" for domain in labmod.EXACT_TARGETS),
)
NAMES = (*ORDERED, *labmod.EXEMPTIONS, labmod.CANARY, "WWW.Blocked-One.TEST", "no-such-name.test", "test")
QTYPES = ("A", "AAAA")
EXTRA = (("id.server", "CH TXT"), ("hostname.bind", "CH TXT"), ("version.server", "CH TXT"),
         ("test", "SOA"), ("test", "NS"), ("canary.test", "TXT"), ("canary.test", "MX"))
"""Questions whose answers the fast path mostly leaves to dnspython (TXT, NS) or reads (SOA)."""
SETTINGS = ProbeSettings(timeout=1.0, retries=1, backoff=0.05)


@dataclass(frozen=True)
class Recorded:
    """One response as recorded, with the observation fields recorded beside it (if any)."""

    source: str
    resolver: str
    qname: str
    qtype: str
    wire: bytes
    fields: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.resolver} {self.qname} {self.qtype}: {self.wire.hex()}"


def observations(node: object) -> Iterator[dict[str, Any]]:
    """Every observation anywhere in a JSON report."""
    if isinstance(node, dict):
        if {"qname", "qtype", "wire"} <= node.keys():
            yield node
        for value in node.values():
            yield from observations(value)
    elif isinstance(node, list):
        for value in node:
            yield from observations(value)


def check_run(lab: Lab, workdir: Path) -> list[Recorded]:
    """Every response a `check` of the lab order records in its JSON report."""
    from checker.cli import main

    resolvers = lab.write_resolver_file(workdir / "resolvers.yaml", ANSWERING)
    report = workdir / "report.json"
    argv = ["check", str(lab.order_path), "--resolvers", str(resolvers), "--no-db", "--report", f"json:{report}",
            "-q", "--timeout", "1", "--retries", "1"]
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for variable in ("HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            mp.setenv(variable, str(workdir / "home"))
        mp.chdir(workdir)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            main(argv)
    assert report.exists(), err.getvalue()
    data = json.loads(report.read_text(encoding="utf-8"))
    return [
        Recorded("check", obs["resolver"], obs["qname"], obs["qtype"], base64.b64decode(obs["wire"]), obs)
        for obs in observations(data)
        if obs["wire"]
    ]


async def direct(lab: Lab) -> list[Recorded]:
    """Every instance asked every lab name (A and AAAA) and a few other questions, straight away."""
    limit = asyncio.Semaphore(32)

    async def one(name: str, qname: str, qtype: str) -> Recorded | None:
        resolver = Resolver(name=name, operator="lab", host=labmod.LOOPBACK, port=lab.port(name),
                            protocol=Protocol.UDP, role=Role.SUBJECT)
        async with limit:
            obs = await ask(resolver, qname, qtype, SETTINGS)
        return None if obs.wire is None else Recorded("ask", name, qname, qtype, obs.wire)

    questions = [(qname, qtype) for qname in NAMES for qtype in QTYPES] + list(EXTRA)
    found = await asyncio.gather(*(one(name, q, t) for name in ANSWERING for q, t in questions))
    return [item for item in found if item is not None]


@pytest.fixture(scope="module")
def recorded(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> list[Recorded]:
    return check_run(lab, tmp_path_factory.mktemp("fastwire-lab")) + asyncio.run(direct(lab))


def test_every_lab_response_decodes_as_dnspython_reads_it(recorded: list[Recorded]) -> None:
    assert {item.source for item in recorded} == {"check", "ask"}
    assert {item.resolver for item in recorded} >= set(ANSWERING)
    tally: Counter[str] = Counter()
    problems: list[str] = []
    for item in recorded:
        rdtype, rdclass = split_question_type(item.qtype)
        query = make_query(item.qname, rdtype, rdclass)
        query.id = int.from_bytes(item.wire[:2], "big")  # an accepted response has the query's ID
        reference = parse_response(query, item.wire)
        assert reference is not None, f"recorded, yet dnspython rejects it: {item}"
        asked = fastwire.template(rdtype, rdclass).question(item.qname, query.id)
        assert asked == question_of(query.to_wire())
        result = decode(asked, item.wire)
        kind = "address" if item.qtype in QTYPES else item.qtype
        if isinstance(result, Decoded):
            tally[f"{kind}: fast"] += 1
            described = to_described(result)
            if described != describe(reference):
                problems.append(f"differs from dnspython: {item}")
            if item.fields is not None and as_fields(described) != {k: item.fields[k] for k in as_fields(described)}:
                problems.append(f"differs from the recorded observation: {item}")
        elif result is None:
            tally[f"{kind}: fallback"] += 1
        else:
            problems.append(f"rejected ({result.reason}) what was accepted: {item}")
    print(dict(sorted(tally.items())))  # shown with pytest -s: how much took the fast path
    assert problems == []
    fast, fallback = tally["address: fast"], tally["address: fallback"]
    assert fast >= 200
    assert fast >= 0.95 * (fast + fallback), tally
    assert tally["CH TXT: fallback"] > 0


def records(section: tuple[Record, ...]) -> list[dict[str, Any]]:
    return [{"name": r.name, "type": r.type, "ttl": r.ttl, "data": r.data} for r in section]


def as_fields(described: Described) -> dict[str, Any]:
    """The observation fields as the JSON report writes them."""
    return {
        "rcode": described.rcode,
        "flags": list(described.flags),
        "answers": records(described.answers),
        "authority": records(described.authority),
        "ede": [{"code": e.code, "text": e.text} for e in described.ede],
    }
