"""Faults with real software: resolvers that stop, restart, answer late or lose packets in the middle of a
``blockaudit check``, and verdicts that must stay honest through all of it.

The lab is the benchmark's (``benchmarks/throughput.py``): NSD serves synthetic names ``n0000001.bench.test``
… with their own A and AAAA; the subject Unbound's RPZ answers NXDOMAIN for every 10th, the control
Unbound has no RPZ. Each test runs ``python -m checker check`` as a child process (timeout 0.5 s,
1 retry, a SQLite store in the test's folder) and breaks something while it runs:

* the subject Unbound SIGKILLed part-way (and, apart, the control);
* the subject answering some questions later than the timeout (a delaying proxy in front of it),
  losing 30 % of the datagrams, losing all of them from the start, going silent part-way;
* the subject stopped and started again on the same port (under asyncio's event loop and uvloop's).

Every verdict is held against the subject's own observations and the lab's truth: an answer keeps
its verdict, a name whose every attempt went unanswered is ``inconclusive`` with a timeout-ish reason,
nothing is ever ``blocked`` for want of an answer, and a block from a resolver that failed its canary
re-check is not trusted. Each report has one result per name (nothing lost or duplicated), the store
holds the same run, and the traffic counters of the report agree with what the proxy saw.

Faults are made by ``udpproxy.Proxy`` (user space): ``tc qdisc ... netem`` is not available on the
reference machine's kernel (no ``sch_netem``: "Specified qdisc kind is unknown" even inside a namespace
the test creates), see that module.

Time bounds. How long a run may take follows from how the engine schedules its questions
(``checker/engine.py``, ``checker/probe/client.py``):

* a question is at most ``A = retries + 1`` attempts, and takes at most
  ``W = ProbeSettings.worst_case() = timeout * A + sum(backoff * 1.25)`` (1.3125 s here) apart from
  pacing;
* at most ``C`` (the resolver's ``concurrency``) questions to a resolver are in flight: one phase
  is at most ``ceil(S / C) + 1`` rounds of ``W``, and the ``P = 4`` phases (health, identity, names,
  re-check) run one after the other;
* every attempt books a slot on the resolver's ``Pacer``: slots are ``1/qps`` apart (none without
  ``qps``), but every attempt that times out halves the rate, down to ``Pacer.floor`` (5 a second), and
  each answer raises it by 2 % only; the loop that feeds the questions waits for each slot itself,
  so the slots of all resolvers add up.

So a run that sends ``S_r`` datagrams to resolver ``r`` (``run.settings.traffic[r].sent``), ``B_r``
of them before an attempt to ``r`` first timed out, takes at most

    T <= T_FIXED + sum over r of [ B_r / qps_r + (S_r - B_r) / floor + (ceil(S_r / C_r) + P) * W ]

(``engine_bound``; a resolver that lost nothing has ``B_r = S_r``). That is what the engine keeps, and
every test holds it to that (a hang guard before the run, with every question at the floor; the
bound from the report after it). What ``--timeout`` and ``--retries`` promise a user for a resolver
that goes silent with ``Q_left`` questions left is tighter:

    T - t_fault <= Q_left * A / qps + (ceil(Q_left / C) + phases left) * W + T_FIXED

(``timeout_bound``), and ``test_silent_resolver_costs_only_timeout_and_retries`` holds the engine to it
(since ``b362e6a``: a silent resolver's rate is cut once, not to the floor, and paced questions no longer
hold up the feeder). A resolver killed on loopback is not silent under asyncio's loop (every query gets an
ICMP port unreachable, so it fails at once); uvloop stopped reading the socket after the first one until
the mux learned to watch it again, which ``test_subject_restarted_mid_run[uvloop]`` keeps fixed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import pytest

from benchmarks import throughput as bench
from checker.engine import Pacer
from checker.probe.client import ProbeSettings
from checker.resolvers import DEFAULT_IDENTITY

from .lab import CANARY, LOOPBACK, LabError, Server, find_tool, start_again
from .udpproxy import Conditions, Direction, Proxy, Snapshot

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 0.5
RETRIES = 1
PROBE = ProbeSettings(timeout=TIMEOUT, retries=RETRIES)
ATTEMPTS = RETRIES + 1
WORST = PROBE.worst_case()
"""W: the longest one question takes, pacing aside (every attempt times out, every backoff at its longest)."""
FLOOR = Pacer(None).floor
"""The slowest a pacer goes after lost answers (questions a second)."""
PHASES = 4
"""health, identity, names, re-check."""
EXTRA_QUESTIONS = 2 + 1 + len(DEFAULT_IDENTITY) + 1
"""Questions a subject gets besides the names: canary A and AAAA, the name that must not exist, the
identity probes, the canary re-check."""
T_FIXED = 4.0
"""Seconds for everything but the questions: interpreter start, loading, the store, the report (on a
busy 2-core machine)."""
POLL = 0.01

ZONE_NAMES = 400
EVERY = 10
"""The subject's RPZ blocks every 10th synthetic name."""
SUBJECT = "subject"
CONTROL = "control"
CANARY_WIRE = b"".join(bytes([len(label)]) + label.encode() for label in CANARY.split(".")) + b"\x00"
"""The canary's name in wire form: the proxies spare it, so that health and re-check see the resolver as it is."""
TIMEOUTISH = frozenset({"timeout", "network_error"})

VIOLATION, INCONCLUSIVE = 1, 3
"""Exit statuses (CONTRACT.md): 1 at least one ordered name accessible, 3 no violation but inconclusive."""

Verdict = tuple[str, str | None, str | None]
"""(verdict, method, reason) of a result."""


# --------------------------------------------------------------------------------------------
# The lab and the names
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(lab_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[bench.BenchLab]:
    """NSD with ``ZONE_NAMES`` synthetic names, the subject Unbound (RPZ) and the control Unbound."""
    if find_tool("unbound-control") is None:
        pytest.skip("the fault tests watch Unbound's query count with unbound-control (apt-get install unbound)")
    root = tmp_path_factory.mktemp("faultlab")
    files = bench.write_workload(root, ZONE_NAMES, EVERY)
    with bench.BenchLab(root, files["rpz"], 1) as running:
        running.start_unbound()
        yield running


@pytest.fixture
def servers(lab: bench.BenchLab) -> bench.BenchLab:
    """The lab with both Unbound running (started again, on new ports, after a test stopped one)."""
    if any(server.process.poll() is not None for server in lab.unbound.values()) or len(lab.unbound) < 2:
        lab.start_unbound()
    return lab


def index_of(qname: str) -> int:
    """The number of a synthetic name."""
    return int(qname.split(".", 1)[0][1:])


def blocked(index: int) -> bool:
    """Whether the subject's RPZ blocks synthetic name number ``index``."""
    return bench.is_blocked(index, EVERY)


def true_a(index: int) -> str:
    """The A record of synthetic name number ``index``."""
    return str(ipaddress.IPv4Address(bench.BENCH_V4 + index % bench.BENCH_V4_SIZE))


BLOCKED_ONLY = tuple(range(EVERY, 31 * EVERY, EVERY))
"""30 names the subject blocks: a compliant subject, until it breaks."""
FEW_MIXED = (*range(1, 11), 20, 30)
"""12 names, 3 of them blocked."""


# --------------------------------------------------------------------------------------------
# Time bounds (see the module docstring)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pace:
    """How a resolver is asked: its ``qps`` (None: no limit) and ``concurrency``."""

    qps: float | None
    concurrency: int


def engine_bound(traffic: Mapping[str, Mapping[str, Any]], paces: Mapping[str, Pace],
                 answered_first: Mapping[str, int] | None = None) -> float:
    """The longest the engine may take for the traffic of a finished run.

    ``answered_first[r]``: attempts resolver ``r`` answered before it first lost one (they were paced at
    its ``qps``); a resolver that lost answers and is not named is taken to have lost from the start.
    """
    total = T_FIXED
    for name, seen in traffic.items():
        pace = paces[name]
        sent = int(seen["sent"])
        fast = sent if not seen["lost_answers"] else min(sent, (answered_first or {}).get(name, 0))
        total += (fast / pace.qps if pace.qps else 0.0) + (sent - fast) / FLOOR
        total += (math.ceil(sent / pace.concurrency) + PHASES) * WORST
    return total


def guard_bound(questions: Mapping[str, int], paces: Mapping[str, Pace]) -> float:
    """``engine_bound`` before the run: every question to every resolver gets all its attempts, at the floor."""
    sent = {name: {"sent": count * ATTEMPTS, "lost_answers": 1} for name, count in questions.items()}
    return engine_bound(sent, paces)


def timeout_bound(questions_left: int, pace: Pace, phases_left: int) -> float:
    """What ``--timeout`` and ``--retries`` allow after a resolver went silent with ``questions_left`` to ask."""
    pacing = questions_left * ATTEMPTS / pace.qps if pace.qps else 0.0
    return pacing + (math.ceil(questions_left / pace.concurrency) + phases_left) * WORST + T_FIXED


# --------------------------------------------------------------------------------------------
# Running the check
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Fault:
    """When a fault was made during a run."""

    at: float
    """Seconds after the check started."""
    seen: int
    """Queries of this check the broken resolver had received by then (Unbound's ``total.num.queries``,
    or the proxy's count)."""
    done: dt.datetime
    """When the fault was complete (a restarted resolver: when it answered again), UTC."""


@dataclasses.dataclass(frozen=True)
class Checked:
    """One finished ``blockaudit check``."""

    status: int
    report: dict[str, Any]
    elapsed: float
    fault: Fault | None
    stderr: str
    db: Path

    def ordered(self) -> list[dict[str, Any]]:
        """The results of the ordered names."""
        return [r for r in self.report["results"] if r["kind"] == "ordered"]

    def traffic(self, resolver: str) -> dict[str, Any]:
        """What the resolver's shared socket and pacer counted."""
        found: dict[str, Any] = self.report["run"]["settings"]["traffic"][resolver]
        return found

    def health(self, resolver: str) -> dict[str, Any]:
        """The resolver's health record."""
        found: dict[str, Any] = next(r for r in self.report["resolvers"] if r["name"] == resolver)["health"]
        return found


FaultMaker = Callable[["subprocess.Popen[str]", float], Fault]
"""Breaks something while the check (the process) runs; gets the check's start time (monotonic)."""


def resolver_file(path: Path, subject: tuple[int, Pace], control: tuple[int, Pace]) -> Path:
    """A resolver file: the subject and the control on loopback ports, with their pace; the lab's canary."""
    lines = ["schema: blockaudit/resolvers/1", "resolvers:"]
    for name, role, (port, pace) in ((SUBJECT, "subject", subject), (CONTROL, "control", control)):
        qps = f", qps: {pace.qps:g}" if pace.qps else ""
        lines.append(f'  - {{name: {name}, operator: {name}, address: "{LOOPBACK}:{port}", role: {role}, '
                     f"concurrency: {pace.concurrency}{qps}}}")
    lines.append(f"canaries: [{CANARY}]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_check(folder: Path, indices: Sequence[int], subject: tuple[int, Pace], control: tuple[int, Pace], *,
              fault: FaultMaker | None = None, deadline: Callable[[Fault], float] | None = None,
              loop: str | None = None) -> Checked:
    """Check the synthetic names ``indices`` against the subject and the control on their ports.

    The check may run at most ``guard_bound`` (then it counts as hung and the test fails), or, when
    ``deadline`` is given, at most ``deadline(fault)`` seconds after it started. ``loop``: the event
    loop, ``asyncio`` or ``uvloop`` (the CLI's default when it is installed); None: as the environment says.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = folder / "names.txt"
    names.write_text("".join(f"{bench.name_of(i)}\n" for i in indices), encoding="ascii")
    resolvers = resolver_file(folder / "resolvers.yaml", subject, control)
    out, db = folder / "report.json", folder / "history.sqlite"
    questions = 2 * len(indices) + EXTRA_QUESTIONS
    limit = guard_bound({SUBJECT: questions, CONTROL: questions}, {SUBJECT: subject[1], CONTROL: control[1]})
    home = folder / "home"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache")}
    if loop == "asyncio":
        env["BLOCKAUDIT_LOOP"] = "asyncio"
    elif loop == "uvloop":
        env.pop("BLOCKAUDIT_LOOP", None)
    argv = [sys.executable, "-m", "checker", "check", str(names), "--input-format", "plain",
            "--resolvers", str(resolvers), "--report", f"json:{out}", "--db", str(db),
            "--timeout", str(TIMEOUT), "--retries", str(RETRIES), "-q"]
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    made: Fault | None = None
    try:
        if fault is not None:
            made = fault(process, started)
            if deadline is not None:
                limit = min(limit, deadline(made))
        try:
            _, stderr = process.communicate(timeout=max(0.0, limit - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            _, stderr = process.communicate()
            pytest.fail(f"blockaudit check was still running {limit:.1f} s after it started (fault: {made});"
                        f" stopped it. stderr:\n{stderr[-3000:]}")
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    elapsed = time.monotonic() - started
    if not out.exists():
        pytest.fail(f"exit status {process.returncode} and no report; stderr:\n{stderr[-3000:]}")
    report = json.loads(out.read_text(encoding="utf-8"))
    return Checked(process.returncode, report, elapsed, made, stderr, db)


def when_seen(lab: bench.BenchLab, instance: str, count: int, act: Callable[[], None]) -> FaultMaker:
    """A fault: ``act()`` once the Unbound ``instance`` has received ``count`` queries more than now
    (make it before the check starts: earlier tests asked the same Unbound)."""
    baseline = lab.queries_seen(instance)
    if baseline is None:
        raise LabError(f"unbound-control cannot read the query count of {instance}")

    def make(process: subprocess.Popen[str], started: float) -> Fault:
        while process.poll() is None:
            total = lab.queries_seen(instance)
            if total is not None and total - baseline >= count:
                at = time.monotonic() - started
                act()
                return Fault(at, total - baseline, dt.datetime.now(dt.UTC))
            time.sleep(POLL)
        pytest.fail(f"the check ended before {instance} had {count} queries; nothing was broken")

    return make


def when_proxied(proxy: Proxy, count: int, act: Callable[[], None]) -> FaultMaker:
    """A fault: ``act()`` once ``proxy`` has received ``count`` queries."""

    def make(process: subprocess.Popen[str], started: float) -> Fault:
        while process.poll() is None:
            received = proxy.counts().queries.received
            if received >= count:
                at = time.monotonic() - started
                act()
                return Fault(at, received, dt.datetime.now(dt.UTC))
            time.sleep(POLL)
        pytest.fail(f"the check ended before the proxy had {count} queries; nothing was broken")

    return make


def kill(server: Server) -> None:
    """SIGKILL a server (its whole process group) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def ports(lab: bench.BenchLab) -> tuple[int, int]:
    """The ports of the subject and the control Unbound."""
    return lab.port(bench.SUBJECT), lab.port(bench.CONTROL)


# --------------------------------------------------------------------------------------------
# What an honest report looks like
# --------------------------------------------------------------------------------------------


def slim(result: Mapping[str, Any]) -> str:
    """A result without wire data, for assertion messages."""
    shown = {k: v for k, v in result.items() if k not in ("observations", "deadline", "web")}
    shown["observations"] = [{k: o.get(k) for k in ("qtype", "rcode", "answers", "attempts", "error")}
                              for o in result["observations"]]
    return json.dumps(shown, sort_keys=True)


def parse_time(text: str) -> dt.datetime:
    """A time as the report writes it (``2026-01-01T00:00:00.000Z``)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def answered(observation: Mapping[str, Any]) -> bool:
    """The observation holds a response."""
    return observation["error"] is None and observation["rcode"] is not None


def addresses(observation: Mapping[str, Any]) -> set[str]:
    """The addresses in an answer."""
    return {a["data"] for a in observation["answers"] if a["type"] in ("A", "AAAA")}


def truthful(observation: Mapping[str, Any], index: int) -> bool:
    """An answer is what the lab serves for the name at that resolver: NXDOMAIN where the RPZ blocks it,
    else the name's own address (the A record checked; the AAAA must be there)."""
    if blocked(index) and observation["resolver"] == SUBJECT:
        return bool(observation["rcode"] == "NXDOMAIN")
    if observation["rcode"] != "NOERROR" or not addresses(observation):
        return False
    return observation["qtype"] != "A" or addresses(observation) == {true_a(index)}


def verdict_of(result: Mapping[str, Any]) -> Verdict:
    """(verdict, method, reason)."""
    return result["verdict"], result["method"], result["reason"]


def honest_verdicts(result: Mapping[str, Any], *, recheck_failed: bool = False) -> set[Verdict]:
    """The verdicts the subject's own observations allow (the control answering every name).

    Answered both: the truth (a block becomes ``inconclusive/resolver_unhealthy`` when the subject failed
    its canary re-check). Answered one with the name's address: ``accessible`` (an address is proof).
    Otherwise an unanswered attempt leaves it ``inconclusive`` with a timeout-ish reason; never a block.
    """
    index = index_of(result["query_name"])
    got = [o for o in result["observations"] if answered(o)]
    lost = [o for o in result["observations"] if not answered(o)]
    if lost and (blocked(index) or not got):
        return {("inconclusive", None, reason) for reason in TIMEOUTISH}
    if not blocked(index):
        return {("accessible", None, None)}
    if recheck_failed:
        return {("inconclusive", None, "resolver_unhealthy")}
    return {("blocked", "nxdomain", None)}


def dishonest(checked: Checked, *, recheck_failed: bool = False) -> list[str]:
    """Every result of the subject whose verdict its observations do not allow, or whose observations
    are not what the lab serves, or whose unanswered question was not retried."""
    problems = []
    for result in checked.ordered():
        index = index_of(result["query_name"])
        observations = result["observations"]
        if sorted(o["qtype"] for o in observations) != ["A", "AAAA"]:
            problems.append(f"not both A and AAAA: {slim(result)}")
        elif any(answered(o) and not truthful(o, index) for o in observations):
            problems.append(f"an answer that is not the lab's: {slim(result)}")
        elif any(not answered(o) and o["attempts"] != ATTEMPTS for o in observations):
            problems.append(f"given up before {ATTEMPTS} attempts: {slim(result)}")
        elif verdict_of(result) not in honest_verdicts(result, recheck_failed=recheck_failed):
            problems.append(f"{verdict_of(result)} is not honest: {slim(result)}")
    return problems


def assert_complete(checked: Checked, indices: Iterable[int]) -> None:
    """One result per name at the subject: nothing lost, nothing duplicated; and none for the control."""
    keys = sorted((r["resolver"], r["query_name"]) for r in checked.ordered())
    assert keys == sorted((SUBJECT, bench.name_of(i)) for i in indices), checked.stderr
    assert {r["resolver"] for r in checked.report["results"]} == {SUBJECT}


def assert_stored(checked: Checked, names: int) -> None:
    """The store holds the run, complete, with the report's verdicts and every names-phase answer."""
    run_id = checked.report["run"]["id"]
    with contextlib.closing(sqlite3.connect(checked.db)) as db:
        runs = db.execute("SELECT id, status, summary_status FROM runs").fetchall()
        assert runs == [(run_id, "complete", checked.report["summary"]["status"])]
        rows = db.execute("SELECT resolver, query_name, verdict, method, reason FROM results WHERE run_id = ?",
                          (run_id,)).fetchall()
        asked = dict(db.execute("SELECT resolver, COUNT(*) FROM observations WHERE run_id = ? AND phase = 'names' "
                                "GROUP BY resolver", (run_id,)).fetchall())
    report_rows = [(r["resolver"], r["query_name"], *verdict_of(r)) for r in checked.report["results"]]
    assert sorted(rows) == sorted(report_rows)
    if checked.health(SUBJECT)["healthy"]:
        assert asked == {SUBJECT: 2 * names, CONTROL: 2 * names}
    else:
        assert asked == {CONTROL: 2 * names}  # an unhealthy subject is not asked the names


def all_observations(checked: Checked, resolver: str) -> list[dict[str, Any]]:
    """Every observation of a resolver the report holds: health (and re-check), identity, names."""
    entry = next(r for r in checked.report["resolvers"] if r["name"] == resolver)
    found: list[dict[str, Any]] = list(entry["health"]["observations"])
    found += entry["identity"]["observations"] if entry.get("identity") else []
    if entry["role"] == "subject":  # (a canary's result holds its health answers again)
        found += [o for r in checked.ordered() if r["resolver"] == resolver for o in r["observations"]]
    else:
        found += [o for o in checked.report["controls"]  # the health answers are there too: names only
                  if o["resolver"] == resolver and o["qname"].endswith(bench.BENCH_DOMAIN)]
    return found


def assert_counted(checked: Checked, resolver: str) -> None:
    """The shared socket's counters agree with the observations: each answer accepted once, no
    more datagrams sent than attempts made, every lost answer an attempt that got none."""
    traffic = checked.traffic(resolver)
    observations = all_observations(checked, resolver)
    attempts = sum(o["attempts"] for o in observations)
    answers = sum(1 for o in observations if answered(o))
    assert traffic["accepted"] == answers, (traffic, answers)
    assert traffic["sent"] <= attempts, (traffic, attempts)
    assert traffic["lost_answers"] <= attempts - answers, (traffic, attempts, answers)
    assert traffic["rejected"] == 0 and traffic["dropped_full_buffer"] == 0, traffic


def assert_proxy_agrees(checked: Checked, seen: Snapshot) -> None:
    """Every datagram blockaudit sent reached the proxy; every attempt was either answered in time or
    counted lost, and each observation's attempts say the same (a proxy sends no ICMP: no network errors);
    answers the proxy delivered late are strays, never accepted."""
    traffic = checked.traffic(SUBJECT)
    assert traffic["sent"] == seen.queries.received, (traffic, seen)
    assert traffic["sent"] == traffic["accepted"] + traffic["lost_answers"], traffic
    unanswered = sum(o["attempts"] - answered(o) for o in all_observations(checked, SUBJECT))
    assert traffic["lost_answers"] == unanswered, (traffic, unanswered)
    assert traffic["accepted"] + traffic["stray"] + traffic["rejected"] <= seen.answers.forwarded, (traffic, seen)


# --------------------------------------------------------------------------------------------
# The proxy itself
# --------------------------------------------------------------------------------------------


def _lost_pattern(port: int, seed: int) -> list[bool]:
    """Which of 12 queries sent back to back through a 50 % lossy proxy got no answer."""
    with Proxy(port, Conditions(loss=0.5, direction=Direction.QUERIES), seed=seed) as proxy, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((LOOPBACK, proxy.port))
        for qid in range(12):
            query = dns.message.make_query(CANARY, "A")
            query.id = qid
            sock.send(query.to_wire())
        answered_ids: set[int] = set()
        sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            while len(answered_ids) < 12:
                answered_ids.add(dns.message.from_wire(sock.recv(4096)).id)
        counts = proxy.settle()
    lost = [qid not in answered_ids for qid in range(12)]
    assert counts.queries.received == 12 and counts.queries.lost == sum(lost), counts
    assert counts.answers.forwarded == 12 - sum(lost), counts
    return lost


def test_proxy_loses_the_same_datagrams_for_the_same_seed(servers: bench.BenchLab) -> None:
    port = servers.port(bench.SUBJECT)
    first = _lost_pattern(port, seed=7)
    assert first == _lost_pattern(port, seed=7)
    assert any(first) and not all(first)


def test_proxy_delays_tcp_and_blackholes_everything(servers: bench.BenchLab) -> None:
    query = dns.message.make_query(CANARY, "A")
    with Proxy(servers.port(bench.SUBJECT), Conditions(delay=0.2, jitter=0.05, direction=Direction.ANSWERS)) as proxy:
        started = time.monotonic()
        response = dns.query.tcp(query, LOOPBACK, port=proxy.port, timeout=2)
        assert time.monotonic() - started >= 0.15
        assert response.answer
        proxy.blackhole = True
        for ask in (dns.query.udp, dns.query.tcp):
            with pytest.raises(dns.exception.Timeout):
                ask(query, LOOPBACK, port=proxy.port, timeout=0.3)
        counts = proxy.settle()
    assert counts.tcp_connections == 2
    assert counts.queries.blackholed >= 2 and counts.answers.forwarded >= 1  # TCP: chunks, not messages
    assert counts.answers.blackholed == 0


# --------------------------------------------------------------------------------------------
# 1. A resolver stopped in the middle of a run
# --------------------------------------------------------------------------------------------

KILL_PACE = Pace(qps=40, concurrency=64)
"""Slow enough to stop the resolver with ``KILL_LEFT`` questions left, a third of a second before the names
phase ends (unbound-control takes about 10 ms to tell the count)."""
KILL_LEFT = 14
"""Few: under uvloop a killed resolver goes silent (see the restart test), and silent questions are paced at
the floor."""
FREE = Pace(qps=None, concurrency=64)


def test_subject_killed_mid_run(servers: bench.BenchLab, tmp_path: Path) -> None:
    """Answers before the kill stand until the failed re-check distrusts their blocks; after it, nothing is decided."""
    subject, control = ports(servers)
    names = len(BLOCKED_ONLY)
    trigger = 2 * names + EXTRA_QUESTIONS - 1 - KILL_LEFT
    fault = when_seen(servers, bench.SUBJECT, trigger, lambda: kill(servers.unbound[bench.SUBJECT]))
    checked = run_check(tmp_path, BLOCKED_ONLY, (subject, KILL_PACE), (control, FREE), fault=fault)

    assert checked.status == INCONCLUSIVE, checked.stderr
    assert checked.report["summary"]["status"] == "inconclusive"
    assert_complete(checked, BLOCKED_ONLY)
    assert dishonest(checked, recheck_failed=True) == []
    before = [r for r in checked.ordered() if all(answered(o) for o in r["observations"])]
    after = [r for r in checked.ordered() if not all(answered(o) for o in r["observations"])]
    assert before and after, "the kill fell outside the names phase"
    assert {verdict_of(r) for r in before} == {("inconclusive", None, "resolver_unhealthy")}
    assert all("re-check" in r["detail"] for r in before)
    assert {r["verdict"] for r in after} == {"inconclusive"}
    assert {r["reason"] for r in after} <= TIMEOUTISH
    health = checked.health(SUBJECT)
    assert health["healthy"] is True and health["healthy_after"] is False, health
    assert checked.report["run"]["settings"]["rechecks"] == 1
    assert_stored(checked, names)
    for resolver in (SUBJECT, CONTROL):
        assert_counted(checked, resolver)
    assert checked.traffic(CONTROL)["lost_answers"] == 0
    # Every answer came before the kill: those attempts were paced at its qps, the rest at the floor.
    bound = engine_bound(checked.report["run"]["settings"]["traffic"], {SUBJECT: KILL_PACE, CONTROL: FREE},
                         {SUBJECT: checked.traffic(SUBJECT)["accepted"]})
    assert checked.elapsed <= bound, (checked.elapsed, bound, checked.traffic(SUBJECT))


def test_control_killed_mid_run(servers: bench.BenchLab, tmp_path: Path) -> None:
    """Blocks the control vouched for stand; without a control answer nothing is blocked or accessible."""
    subject, control = ports(servers)
    names = len(BLOCKED_ONLY)
    trigger = 2 * names + EXTRA_QUESTIONS - 1 - KILL_LEFT  # the control is not re-checked: one question fewer
    fault = when_seen(servers, bench.CONTROL, trigger, lambda: kill(servers.unbound[bench.CONTROL]))
    checked = run_check(tmp_path, BLOCKED_ONLY, (subject, FREE), (control, KILL_PACE), fault=fault)

    assert checked.status == INCONCLUSIVE, checked.stderr
    assert_complete(checked, BLOCKED_ONLY)
    controls = {(o["qname"], o["qtype"]): o for o in checked.report["controls"]
                if o["qname"].endswith(bench.BENCH_DOMAIN)}
    assert len(controls) == 2 * names  # every control answer (or its absence) is in the report
    vouched, unvouched = [], []
    for result in checked.ordered():
        index = index_of(result["query_name"])
        assert all(answered(o) and truthful(o, index) for o in result["observations"]), slim(result)
        mine = [controls[(result["query_name"], t)] for t in ("A", "AAAA")]
        assert all(truthful(o, index) for o in mine if answered(o)), mine
        if any(answered(o) for o in mine):
            vouched.append(result)
            assert verdict_of(result) == ("blocked", "nxdomain", None), slim(result)
        else:
            unvouched.append(result)
            assert verdict_of(result) == ("inconclusive", None, "control_failed"), slim(result)
            assert all(o["attempts"] == ATTEMPTS for o in mine), mine
    assert vouched and unvouched, "the kill fell outside the names phase"
    health = checked.health(SUBJECT)
    assert health["healthy"] is True and health["healthy_after"] is True, health  # the subject was fine
    assert_stored(checked, names)
    for resolver in (SUBJECT, CONTROL):
        assert_counted(checked, resolver)
    bound = engine_bound(checked.report["run"]["settings"]["traffic"], {SUBJECT: FREE, CONTROL: KILL_PACE},
                         {CONTROL: checked.traffic(CONTROL)["accepted"]})
    assert checked.elapsed <= bound, (checked.elapsed, bound, checked.traffic(CONTROL))


# --------------------------------------------------------------------------------------------
# 2. A slow resolver, a lossy resolver
# --------------------------------------------------------------------------------------------

PROXIED = Pace(qps=None, concurrency=16)


def test_slow_resolver(servers: bench.BenchLab, tmp_path: Path) -> None:
    """30 % of the questions are answered after 1 s (the timeout is 0.5 s), the rest after 10-90 ms: a late
    answer is a lost one, retried; a name answered late every time is inconclusive, never blocked."""
    subject, control = ports(servers)
    slow = Conditions(delay=0.05, jitter=0.04, slow=0.3, slow_delay=1.0, direction=Direction.QUERIES,
                      spare=CANARY_WIRE)
    with Proxy(subject, slow, seed=11) as proxy:
        checked = run_check(tmp_path, FEW_MIXED, (proxy.port, PROXIED), (control, FREE))
        seen = proxy.settle()
    assert_complete(checked, FEW_MIXED)
    assert dishonest(checked) == []
    assert checked.status == VIOLATION, checked.stderr  # the names it does not block are violations
    traffic = checked.traffic(SUBJECT)
    assert_proxy_agrees(checked, seen)
    assert seen.queries.lost == seen.answers.lost == 0
    assert traffic["lost_answers"] == seen.queries.slow > 0, (traffic, seen)  # late is lost, and only late is
    assert traffic["stray"] <= seen.queries.slow
    assert_counted(checked, SUBJECT)
    assert checked.health(SUBJECT)["healthy_after"] is True
    assert_stored(checked, len(FEW_MIXED))
    bound = engine_bound(checked.report["run"]["settings"]["traffic"], {SUBJECT: PROXIED, CONTROL: FREE})
    assert checked.elapsed <= bound, (checked.elapsed, bound, traffic)


def test_lossy_resolver(servers: bench.BenchLab, tmp_path: Path) -> None:
    """30 % of the datagrams are lost each way: lost answers are retried, names with every attempt lost
    are inconclusive/timeout, and the report counts exactly the losses the proxy made."""
    subject, control = ports(servers)
    with Proxy(subject, Conditions(loss=0.3, spare=CANARY_WIRE), seed=5) as proxy:
        checked = run_check(tmp_path, FEW_MIXED, (proxy.port, PROXIED), (control, FREE))
        seen = proxy.settle()
    assert_complete(checked, FEW_MIXED)
    assert dishonest(checked) == []
    assert checked.status == VIOLATION, checked.stderr
    traffic = checked.traffic(SUBJECT)
    assert_proxy_agrees(checked, seen)
    assert traffic["lost_answers"] == seen.queries.lost + seen.answers.lost > 0, (traffic, seen)
    assert traffic["accepted"] == seen.answers.forwarded and traffic["stray"] == 0, (traffic, seen)
    assert_counted(checked, SUBJECT)
    lost_all = [r for r in checked.ordered() if not any(answered(o) for o in r["observations"])]
    assert all(verdict_of(r) in {("inconclusive", None, "timeout")} for r in lost_all), [slim(r) for r in lost_all]
    assert not any(r["verdict"] == "blocked" and not all(answered(o) for o in r["observations"])
                   for r in checked.ordered())
    assert_stored(checked, len(FEW_MIXED))
    bound = engine_bound(checked.report["run"]["settings"]["traffic"], {SUBJECT: PROXIED, CONTROL: FREE})
    assert checked.elapsed <= bound, (checked.elapsed, bound, traffic)


def test_resolver_losing_everything(servers: bench.BenchLab, tmp_path: Path) -> None:
    """100 % loss from the start: the subject fails its health check and every name is inconclusive."""
    subject, control = ports(servers)
    with Proxy(subject, Conditions(loss=1.0), seed=1) as proxy:
        checked = run_check(tmp_path, FEW_MIXED, (proxy.port, PROXIED), (control, FREE))
        seen = proxy.settle()
    assert checked.status == INCONCLUSIVE, checked.stderr
    assert_complete(checked, FEW_MIXED)
    assert {verdict_of(r) for r in checked.ordered()} == {("inconclusive", None, "resolver_unhealthy")}
    health = checked.health(SUBJECT)
    assert health["healthy"] is False and "timeout" in health["detail"], health
    traffic = checked.traffic(SUBJECT)
    assert traffic["accepted"] == 0 and seen.answers.received == 0, (traffic, seen)
    assert traffic["sent"] == seen.queries.received == seen.queries.lost == traffic["lost_answers"], (traffic, seen)
    assert_stored(checked, len(FEW_MIXED))
    bound = engine_bound(checked.report["run"]["settings"]["traffic"], {SUBJECT: PROXIED, CONTROL: FREE})
    assert checked.elapsed <= bound, (checked.elapsed, bound, traffic)


SILENT_PACE = Pace(qps=100, concurrency=128)
SILENT_NAMES = tuple(range(1, 61))
SILENT_AFTER = 30
"""Queries the subject answers before it goes silent (the health and identity phases are 5)."""


def test_silent_resolver_costs_only_timeout_and_retries(servers: bench.BenchLab, tmp_path: Path) -> None:
    """The subject goes silent mid-run (100 % loss: a host gone, a firewall dropping, a cable pulled):
    the run ends within what the timeout, the retries and the concurrency allow for the questions
    left (``timeout_bound``), every name after it inconclusive, the blocks before it distrusted."""
    subject, control = ports(servers)
    questions = 2 * len(SILENT_NAMES) + EXTRA_QUESTIONS
    with Proxy(subject, seed=3) as proxy:

        def go_silent() -> None:
            proxy.blackhole = True

        def deadline(made: Fault) -> float:
            return made.at + timeout_bound(questions - made.seen, SILENT_PACE, phases_left=2)

        checked = run_check(tmp_path, SILENT_NAMES, (proxy.port, SILENT_PACE), (control, FREE),
                            fault=when_proxied(proxy, SILENT_AFTER, go_silent), deadline=deadline)
        seen = proxy.settle()
    assert_complete(checked, SILENT_NAMES)
    assert dishonest(checked, recheck_failed=True) == []
    assert_proxy_agrees(checked, seen)


# --------------------------------------------------------------------------------------------
# 3. A resolver restarted mid-run
# --------------------------------------------------------------------------------------------

RESTART_NAMES = tuple(range(1, 21))
RESTART_PACE = Pace(qps=50, concurrency=64)
RESTART_LEFT = 20
"""Questions the subject has left when it is stopped (the rest of the run is paced at the floor)."""
RESTART_DOWNTIME = 0.3
"""Seconds between stop and start (Unbound alone restarts in tens of milliseconds; a big RPZ takes longer):
long enough for questions to meet the closed port, and its ICMP port unreachable."""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_subject_restarted_mid_run(servers: bench.BenchLab, tmp_path: Path, loop: str) -> None:
    """Stopped and started again on the same port: questions asked while it was down are retried or
    inconclusive, everything else keeps its verdict, it is heard again, and the re-check after the run passes."""
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    subject, control = ports(servers)

    def restart() -> None:
        server = servers.unbound[bench.SUBJECT]
        server.stop()  # SIGTERM, as a service restart does
        time.sleep(RESTART_DOWNTIME)
        try:
            servers.unbound[bench.SUBJECT] = start_again(server)
        except LabError as exc:
            pytest.fail(f"Unbound did not come back on port {server.port}: {exc}")

    trigger = 2 * len(RESTART_NAMES) + EXTRA_QUESTIONS - 1 - RESTART_LEFT
    fault = when_seen(servers, bench.SUBJECT, trigger, restart)
    checked = run_check(tmp_path, RESTART_NAMES, (subject, RESTART_PACE), (control, FREE), fault=fault, loop=loop)
    assert servers.port(bench.SUBJECT) == subject and checked.fault is not None

    assert_complete(checked, RESTART_NAMES)
    observations = [o for r in checked.ordered() for o in r["observations"]]
    assert any(o["attempts"] > 1 or not answered(o) for o in observations), "the restart went unnoticed"
    heard = [o for o in observations if answered(o)
             and parse_time(o["started_at"]) + dt.timedelta(milliseconds=o["elapsed_ms"]) > checked.fault.done]
    assert heard, "no answer was read after the restart"
    health = checked.health(SUBJECT)
    assert health["healthy"] is True and health["healthy_after"] is True, health
    assert dishonest(checked) == []
    assert checked.status == VIOLATION, checked.stderr  # the names the subject does not block are violations
    assert checked.report["run"]["settings"]["rechecks"] == 1
    assert not any(r["reason"] == "resolver_unhealthy" for r in checked.ordered())
    assert_stored(checked, len(RESTART_NAMES))
    for resolver in (SUBJECT, CONTROL):
        assert_counted(checked, resolver)
    bound = engine_bound(checked.report["run"]["settings"]["traffic"], {SUBJECT: RESTART_PACE, CONTROL: FREE})
    assert checked.elapsed <= bound, (checked.elapsed, bound, checked.traffic(SUBJECT))
