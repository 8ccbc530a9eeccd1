"""Benchmark: whole-process throughput of ``blockaudit check`` against dnsperf, on a real NSD + Unbound lab.

Usage::

    python benchmarks/throughput.py --names 100000 [--names 1000000] [--runs 3] [--keep DIR]
        [--variants nodb,sqlite] [--concurrency 256] [--rev COMMIT] [--blockaudit-args='--timeout 1']
        [--json PATH] [--markdown]

What it builds (everything on 127.0.0.1 high ports, in a temporary folder, nothing on port 53):

* **NSD** (Debian's ``nsd``) serves the zone ``test.`` with ``canary.test`` and N synthetic names
  ``n0000001.bench.test`` … each with an A (198.18.0.0/15, RFC 2544's benchmarking range) and an
  AAAA record (2001:db8:b::/48); TTL 3600, so a warm cache stays warm for the whole run. NSD's
  response rate limiting is off. The zone is checked with ``nsd-checkzone`` and loaded before
  anything is timed.
* **Two Unbound instances** (Debian's ``unbound``), configured like the integration lab's
  (``tests/integration/lab.py``: ``server_conf`` and ``tail_conf``, so ``local-zone: "test."
  nodefault`` and ``test.`` stubbed to NSD), with benchmark settings appended: caches big enough
  for 1M names (``msg-cache-size`` 1 GiB, ``rrset-cache-size`` 2 GiB, allocated only as filled),
  ``cache-max-ttl`` 1 day, rate limits off, ``qname-minimisation: no`` (one upstream query per
  question), 4096 queries per thread, statistics over ``unbound-control`` on a unix socket.
  The **subject** loads an RPZ that answers NXDOMAIN for every 10th name (``--block-every``);
  the **control** has no RPZ.
* ``num-threads: 1`` (``--unbound-threads``): the reference machine has 2 cores, and during a
  ``blockaudit check`` four processes share them (blockaudit, two Unbound, NSD). One thread
  keeps dnsperf's figure a fixed yardstick — what one Unbound thread serves — rather than a
  function of how many cores the box happens to have; one Unbound thread is still several
  times faster than blockaudit's single Python thread.

What it measures, for each N and each of ``--runs`` runs (the table shows the median):

* **cold**: both Unbound instances are freshly started (stopped and started again, on new ports)
  before each measurement. **warm**: the same instances right after that full pass.
* **dnsperf** (Debian's ``dnsperf``) asks the subject Unbound the N names x A and AAAA, once
  (``-n 1``), EDNS on like blockaudit (``-e``), ``-c 8`` clients and ``-q 500`` queries
  outstanding (``--dnsperf-clients``, ``--dnsperf-outstanding``), one thread. Its "Queries per
  second" and queries sent/completed/lost are parsed from its output.
* **blockaudit check** runs as a child process: ``python -m checker`` of this interpreter on a
  copy of this checkout's code taken when the benchmark starts (``checker/`` and the data
  folders it reads; the machine block names its commit and a hash of the copied code), so edits
  made to the checkout during a long benchmark cannot make its runs measure different code; or
  ``--blockaudit CMD``, run as it is. It checks a plain list of the N names (``--input-format
  plain``: about 10 times faster to load than the same names as an order YAML, and not capped
  at 64 MiB) with a resolver file naming the subject and the control (``concurrency`` from
  ``--concurrency``), ``--timeout 2 --retries 2 -q --report json:PATH``, and either ``--no-db``
  (variant ``nodb``) or the default SQLite store in a fresh ``XDG_DATA_HOME`` (variant
  ``sqlite``; one store per N and run, so its warm pass has the cold pass in its history).

  - *Wall time*: the whole process, interpreter start to exit (loading, every phase, the
    verdicts, rendering and writing the report).
  - *Peak RSS*: ``ru_maxrss`` of that child, from ``os.wait4``, plus the peak RSS of the worker
    processes that asked its names, added up (``checker.worker``, each its own ``VmHWM``; the
    report's ``run.settings.worker``): the sum is an upper bound on the memory the run held at
    once. Linux counts in
    ``ru_maxrss`` the high-water mark of the process that started the child, so this process
    stays small (reports are parsed in a child of their own) and prints that floor as
    ``benchmark_peak_rss_mib``.
  - *CPU*: user plus system seconds of that child and of its worker (``os.wait4`` counts the
    children a process waited for).
  - *Queries*: the query packets blockaudit sent, as its report counts them
    (``run.settings.traffic``: ``sent`` per resolver, retries included); a report without that
    count gets the attempts of every observation of every phase (health, identity, names,
    recheck). The per-phase split comes from the observations. Unbound's own
    ``total.num.queries`` of both instances, read before and after, is a cross-check (a warning
    when it differs).
  - *blockaudit q/s* = queries / wall time; *ratio* = blockaudit q/s / dnsperf q/s of the same
    cache state against the same Unbound configuration in the same run. *engine q/s*: the names
    phase alone (its queries over the span of their timestamps), to tell the engine from the
    rest.
  - The report is checked: one result per ordered name at the subject, every 10th ``blocked``,
    the rest ``accessible`` (exit status 1: those are violations); a warning is printed when any
    result is something else (``inconclusive`` above all).

Output: a table on stdout, then the machine (CPU model and cores, RAM, kernel, Python,
blockaudit and dnspython versions, the git commit, Unbound, NSD and dnsperf versions, and the
load average at the start: on a 2-core box anything else running moves the figures).
``--json PATH`` writes the same (medians and every run) as JSON; ``--markdown`` prints rows for
``docs/performance.md``. Every process started is stopped on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the integration lab lives in tests/, which is not installed

import dns.version  # noqa: E402

from tests.integration import lab  # noqa: E402

SUBJECT = "bench-subject"
CONTROL = "bench-control"
BENCH_DOMAIN = "bench.test"
ZONE_TTL = 3600
BENCH_V4 = (198 << 24) | (18 << 16)
"""198.18.0.0/15 (RFC 2544, benchmarking): the synthetic names' A records."""
BENCH_V4_SIZE = 1 << 17
NSD_STARTUP_DEADLINE = 300.0
"""Seconds NSD gets to load a zone of 1M names (the lab's 10 s is for a dozen records)."""
VERDICTS = ("blocked", "accessible", "inconclusive", "dead", "overblocked")
OK_EXIT = (0, 1, 3)
"""blockaudit's exit statuses of a finished check (1: the accessible names are violations)."""


# --------------------------------------------------------------------------------------------
# The workload
# --------------------------------------------------------------------------------------------


def name_of(index: int) -> str:
    """The synthetic name number ``index`` (1-based)."""
    return f"n{index:07d}.{BENCH_DOMAIN}"


def is_blocked(index: int, every: int) -> bool:
    """Whether the subject's RPZ blocks name number ``index``."""
    return index % every == 0


def _write_lines(path: Path, lines: Iterator[str]) -> None:
    with path.open("w", encoding="ascii") as out:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= 50_000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")


def _zone_lines(n: int) -> Iterator[str]:
    yield f"$ORIGIN {lab.ZONE}"
    yield f"$TTL {ZONE_TTL}"
    yield f"@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 {ZONE_TTL}"
    yield "@ IN NS ns.test."  # no address for ns.test: nothing is ever sent to port 53
    yield "canary IN A 198.51.100.1"
    yield "canary IN AAAA 2001:db8::1"
    suffix = BENCH_DOMAIN.removesuffix(".test")
    for index in range(1, n + 1):
        v4 = BENCH_V4 + index % BENCH_V4_SIZE
        owner = f"n{index:07d}.{suffix}"
        yield f"{owner} IN A {v4 >> 24}.{(v4 >> 16) & 255}.{(v4 >> 8) & 255}.{v4 & 255}"
        yield f"{owner} IN AAAA 2001:db8:b:{index >> 16:x}::{index & 0xFFFF:x}"


def write_workload(folder: Path, n: int, every: int) -> dict[str, Path]:
    """Write the zone, the subject's RPZ, the plain name list and dnsperf's query file."""
    paths = {
        "zone": folder / "test.zone",
        "rpz": folder / "subject.rpz",
        "names": folder / f"names-{n}.txt",
        "queries": folder / f"dnsperf-{n}.txt",
    }
    _write_lines(paths["zone"], _zone_lines(n))
    header = lab.rpz_text(()).splitlines()
    blocked = (f"{name_of(i)} CNAME ." for i in range(1, n + 1) if is_blocked(i, every))  # CNAME .: NXDOMAIN
    _write_lines(paths["rpz"], itertools.chain(header, blocked))
    _write_lines(paths["names"], (name_of(i) for i in range(1, n + 1)))
    _write_lines(paths["queries"], (f"{name_of(i)} {t}" for i in range(1, n + 1) for t in ("A", "AAAA")))
    return paths


def resolvers_text(subject_port: int, control_port: int, concurrency: int) -> str:
    """The resolver file: the subject Unbound (with RPZ) and the control (without)."""
    lines = ["schema: blockaudit/resolvers/1", "resolvers:"]
    for name, role, port in ((SUBJECT, "subject", subject_port), (CONTROL, "control", control_port)):
        lines += [
            f"  - name: {name}",
            f'    address: "{lab.LOOPBACK}:{port}"',
            "    protocol: udp",
            f"    role: {role}",
            f"    concurrency: {concurrency}",
        ]
    lines.append(f"canaries: [{lab.CANARY}]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The servers
# --------------------------------------------------------------------------------------------


def nsd_conf(root: Path, port: int) -> str:
    """The lab's NSD config with response rate limiting off."""
    return lab.nsd_conf(root, port) + "server:\n  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n  verbosity: 0\n"


def unbound_conf(root: Path, name: str, port: int, nsd_port: int, *, rpz: Path | None, threads: int) -> str:
    """The lab's Unbound config, then benchmark settings (later clauses override earlier ones)."""
    text = lab.server_conf(root, name, port, nsd_port, respip=rpz is not None)
    text += lab.tail_conf(nsd_port)
    slabs = 1 << max(threads - 1, 0).bit_length()  # a power of 2 near the thread count
    text += f"""server:
  num-threads: {threads}
  msg-cache-size: 1g
  msg-cache-slabs: {slabs}
  rrset-cache-size: 2g
  rrset-cache-slabs: {slabs}
  infra-cache-slabs: {slabs}
  key-cache-slabs: {slabs}
  cache-max-ttl: 86400
  cache-max-negative-ttl: 3600
  num-queries-per-thread: 4096
  outgoing-range: 8192
  so-rcvbuf: 4m
  so-sndbuf: 4m
  ratelimit: 0
  ip-ratelimit: 0
  qname-minimisation: no
  statistics-interval: 0
  statistics-cumulative: no
  extended-statistics: yes
remote-control:
  control-enable: yes
  control-interface: "{root}/{name}.ctl"
  control-use-cert: no
"""
    if rpz is not None:
        text += f"""rpz:
  name: "{lab.RPZ_ORIGIN}"
  zonefile: "{rpz}"
  rpz-log: no
"""
    return text


class BenchLab:
    """NSD with the synthetic zone, and the subject and control Unbound; restartable for cold caches."""

    def __init__(self, root: Path, rpz: Path, threads: int) -> None:
        self.root = root
        self.rpz = rpz
        self.threads = threads
        self.nsd: lab.Server | None = None
        self.unbound: dict[str, lab.Server] = {}
        self._taken: set[int] = set()
        self._control = lab.find_tool("unbound-control")

    def start_nsd(self) -> None:
        """Check the zone (untimed), then start NSD and wait until it answers."""
        nsd = lab.find_tool("nsd")
        if nsd is None:
            raise lab.LabError("nsd is not installed (apt-get install nsd)")
        checkzone = lab.find_tool("nsd-checkzone")
        if checkzone is not None:
            lab._check_config([checkzone, lab.ZONE, str(self.root / "test.zone")], "zone test.")
        conf = self.root / "nsd.conf"
        checkconf = lab.find_tool("nsd-checkconf")

        def argv(port: int) -> list[str]:
            conf.write_text(nsd_conf(self.root, port), encoding="utf-8")
            if checkconf is not None:
                lab._check_config([checkconf, str(conf)], "NSD config")
            return [nsd, "-d", "-c", str(conf)]

        # The lab's readiness deadline is a module constant sized for a dozen records.
        saved = lab.STARTUP_DEADLINE
        lab.STARTUP_DEADLINE = max(saved, NSD_STARTUP_DEADLINE)
        try:
            self.nsd = lab._start("nsd", argv, log_path=self.root / "nsd.log", probe=lab.probe_answers,
                                  taken=self._taken, cwd=self.root)
        finally:
            lab.STARTUP_DEADLINE = saved

    def start_unbound(self) -> None:
        """Start (or restart, with empty caches) the subject and the control Unbound."""
        self.stop_unbound()
        if self.nsd is None:
            raise lab.LabError("NSD is not running")
        unbound, checkconf = lab.find_tool("unbound"), lab.find_tool("unbound-checkconf")
        if unbound is None or checkconf is None:
            raise lab.LabError("unbound is not installed (apt-get install unbound)")
        nsd_port = self.nsd.port
        for name, rpz in ((SUBJECT, self.rpz), (CONTROL, None)):
            conf = self.root / f"{name}.conf"

            def argv(port: int, conf: Path = conf, name: str = name, rpz: Path | None = rpz) -> list[str]:
                conf.write_text(unbound_conf(self.root, name, port, nsd_port, rpz=rpz, threads=self.threads),
                                encoding="utf-8")
                lab._check_config([checkconf, str(conf)], f"Unbound config of {name}")
                return [unbound, "-d", "-c", str(conf)]

            self.unbound[name] = lab._start(name, argv, log_path=self.root / f"{name}.log", probe=lab.probe_answers,
                                            taken=self._taken, cwd=self.root)

    def port(self, name: str) -> int:
        """The port an Unbound instance listens on now (it changes on every restart)."""
        return self.unbound[name].port

    def queries_seen(self, name: str) -> int | None:
        """Unbound's ``total.num.queries`` (None when unbound-control is missing or fails)."""
        if self._control is None:
            return None
        done = subprocess.run([self._control, "-c", str(self.root / f"{name}.conf"), "stats_noreset"],
                              capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)
        match = re.search(r"^total\.num\.queries=(\d+)$", done.stdout, re.MULTILINE)
        return int(match.group(1)) if done.returncode == 0 and match else None

    def stop_unbound(self) -> None:
        """Stop both Unbound instances."""
        for server in self.unbound.values():
            server.stop()
        self.unbound.clear()

    def stop(self) -> None:
        """Stop every server; safe to call more than once."""
        atexit.unregister(self.stop)
        self.stop_unbound()
        if self.nsd is not None:
            self.nsd.stop()
            self.nsd = None

    def __enter__(self) -> BenchLab:
        atexit.register(self.stop)
        try:
            self.start_nsd()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dnsperf:
    """One dnsperf pass over the query file."""

    qps: float
    """dnsperf's "Queries per second" (completed queries over its run time)."""
    sent: int
    completed: int
    lost: int
    run_s: float
    """dnsperf's "Run time (s)"."""


@dataclass(frozen=True)
class Blockaudit:
    """One ``blockaudit check`` process."""

    variant: str
    """``nodb`` (``--no-db``) or ``sqlite`` (the default store in a fresh XDG_DATA_HOME)."""
    exit_status: int
    wall_s: float
    """Wall time of the whole process."""
    peak_rss_mib: float
    """``ru_maxrss`` of this child, plus the peak RSS of its worker processes when they asked the
    names (an upper bound on what all held at once)."""
    cpu_s: float
    """User plus system CPU seconds of this child and of its worker process."""
    queries: int
    """Query packets sent: ``run.settings.traffic`` when the report has it, else the attempts of
    every observation in the report."""
    queries_from: str
    """``traffic`` or ``observations``: where ``queries`` comes from."""
    observations: int
    """Observations in the report (questions asked; a report may keep only the last recheck)."""
    by_phase: dict[str, int]
    """Query packets per phase, from the observations: health, identity, names, recheck."""
    names_span_s: float
    """From the first query of the names phase to its last answer, from the report's timestamps."""
    verdicts: dict[str, int]
    """Verdicts of the ordered names at the subject."""
    unbound_seen: int | None
    """Queries both Unbound instances counted during the run (None: no unbound-control)."""
    report_mib: float

    @property
    def qps(self) -> float:
        """Whole-process queries per second."""
        return self.queries / self.wall_s

    @property
    def engine_qps(self) -> float:
        """Queries per second of the names phase alone."""
        names = self.by_phase.get("names", 0)
        return names / self.names_span_s if self.names_span_s > 0 else 0.0


def dnsperf_version(tool: str) -> str:
    """dnsperf's version line."""
    done = subprocess.run([tool, "-h"], capture_output=True, text=True, check=False, timeout=10)
    match = re.search(r"Version\s+(\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def run_dnsperf(tool: str, port: int, queries: Path, clients: int, outstanding: int, log: Path) -> Dnsperf:
    """Send every line of ``queries`` once to 127.0.0.1:port at full speed; parse the statistics."""
    argv = [tool, "-s", lab.LOOPBACK, "-p", str(port), "-d", str(queries), "-n", "1", "-e",
            "-c", str(clients), "-T", "1", "-q", str(outstanding), "-t", "5"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    log.write_text(f"$ {shlex.join(argv)}\n{done.stdout}{done.stderr}", encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"dnsperf exited {done.returncode}; output in {log}:\n{done.stderr[-2000:]}")

    def number(label: str) -> float:
        match = re.search(rf"^\s*{label}:\s*([\d.]+)", done.stdout, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"dnsperf output has no {label!r}; output in {log}")
        return float(match.group(1))

    return Dnsperf(qps=number("Queries per second"), sent=int(number("Queries sent")),
                   completed=int(number("Queries completed")), lost=int(number("Queries lost")),
                   run_s=number(r"Run time \(s\)"))


def _parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class _Tally:
    questions: int = 0
    packets: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    first: float = float("inf")
    last: float = float("-inf")

    def add(self, phase: str, obs: Mapping[str, Any]) -> None:
        self.questions += 1
        self.packets[phase] += int(obs.get("attempts") or 1)
        if phase == "names":
            start = _parse_time(obs["started_at"])
            self.first = min(self.first, start)
            self.last = max(self.last, start + float(obs.get("elapsed_ms") or 0.0) / 1000)


@dataclass(frozen=True)
class ReportFacts:
    """What a JSON report says about the traffic and the verdicts."""

    observations: int
    """Observations in the report."""
    by_phase: dict[str, int]
    """Query packets per phase, from the observations."""
    names_span_s: float
    """From the first query of the names phase to its last answer."""
    verdicts: dict[str, int]
    """Verdicts of the ordered names at the subject."""
    ordered: int
    """Results for ordered names at the subject."""
    sent: int | None
    """Packets sent, from ``run.settings.traffic`` (None: an engine that does not report it)."""
    worker_rss_mib: float = 0.0
    """Peak RSS of the worker process that asked the names (``run.settings.worker``; 0: none)."""


def read_report(path: Path) -> ReportFacts:
    """Count the report's observations by phase, the subject's verdicts, and its ordered results.

    A report of 1M names is gigabytes and would take several times that parsed whole, so the
    bulky parts are counted as the parser builds them and dropped at once: every observation
    of a synthetic name (the names phase: the subject's in ``results``, the control's in
    ``controls``), every result (its verdict counted), and every order target. What is left is
    small: the resolvers with their ``health`` (the canaries A and AAAA and the name that must
    not exist, then the recheck) and ``identity`` observations. A report that says how many
    rechecks ran (``run.settings.rechecks``; it keeps only the last one's observations) gets its
    recheck count from there.
    """
    tally = _Tally()
    verdicts: collections.Counter[str] = collections.Counter()
    ordered = 0

    def slim(obj: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal ordered
        if "qtype" in obj and "attempts" in obj and str(obj.get("qname", "")).endswith(BENCH_DOMAIN):
            tally.add("names", obj)  # an observation of the names phase
            return None
        if "verdict" in obj and "query_name" in obj:  # a result (its observations are counted above)
            if obj.get("kind") == "ordered" and obj.get("resolver") == SUBJECT:
                ordered += 1
                verdicts[obj["verdict"]] += 1
            return None
        if "domain" in obj and "line" in obj:  # an order's target
            return None
        return obj

    with path.open(encoding="utf-8") as handle:
        report = json.load(handle, object_hook=slim)
    settings = report["run"]["settings"]
    canaries = report["run"]["canaries"]
    for resolver in report["resolvers"]:
        health = resolver.get("health") or {}
        first = 2 * len(canaries) + 1
        for index, obs in enumerate(health.get("observations", [])):
            tally.add("health" if index < first else "recheck", obs)
        for obs in (resolver.get("identity") or {}).get("observations", []):
            tally.add("identity", obs)
    if isinstance(settings.get("rechecks"), int):
        subjects = sum(1 for r in report["resolvers"] if r["role"] == "subject")
        tally.packets["recheck"] = settings["rechecks"] * len(canaries) * subjects
    traffic = settings.get("traffic")
    sent = sum(int(t.get("sent", 0)) for t in traffic.values()) if isinstance(traffic, dict) else None
    span = tally.last - tally.first if tally.questions and tally.last > tally.first else 0.0
    worker = settings.get("worker")
    worker_rss = float(worker.get("peak_rss_mib", 0.0)) if isinstance(worker, dict) else 0.0
    return ReportFacts(tally.questions, dict(tally.packets), span, dict(verdicts), ordered, sent, worker_rss)


def read_report_apart(path: Path) -> ReportFacts:
    """``read_report`` in a child process.

    This process must stay small: Linux counts the memory high-water mark of the process that starts a child in
    that child's ``ru_maxrss`` (the mm it forked, or vforked, and then replaced by exec), so a
    big benchmark process would put a floor under every later blockaudit's peak RSS.
    """
    done = subprocess.run([sys.executable, __file__, "--read-report", str(path)], capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"cannot read the report {path}:\n{done.stderr[-3000:]}")
    return ReportFacts(**json.loads(done.stdout))


@dataclass(frozen=True)
class Program:
    """How blockaudit is run: the command, what it adds to the environment, and what code it is."""

    command: tuple[str, ...]
    env: dict[str, str]
    code: dict[str, str]
    """Version, commit and where the code was taken from (for the machine block)."""


CODE_DIRS = ("checker", "templates", "blocklists", "schemas", "fingerprints")
"""What ``python -m checker`` needs from a source checkout."""


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def snapshot(work: Path, rev: str | None = None) -> Program:
    """Copy this checkout's code into ``work/code`` and run that: edits made to the checkout while
    the benchmark runs (other people's, an editor's) cannot reach the runs half-way.

    With ``rev``, the code is that commit's (``git archive``; the checkout is left alone).
    """
    dest = work / "code"
    shutil.rmtree(dest, ignore_errors=True)
    if rev is None:
        commit = _git_commit()
        for name in CODE_DIRS:
            shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        git = ["git", "-C", str(REPO)]
        found = subprocess.run([*git, "rev-parse", "--short", "--verify", f"{rev}^{{commit}}"], capture_output=True,
                               text=True, check=False, timeout=30)
        if found.returncode != 0:
            raise RuntimeError(f"--rev {rev}: no such commit in {REPO}")
        commit = found.stdout.strip()
        archive = subprocess.run([*git, "archive", "--format=tar", commit, "--", *CODE_DIRS], capture_output=True,
                                 check=True, timeout=120)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(dest, filter="data")
    env = {"PYTHONPATH": os.pathsep.join([str(dest), *filter(None, [os.environ.get("PYTHONPATH")])])}
    probe = subprocess.run(
        [sys.executable, "-c", "import checker; print(checker.__version__); print(checker.__file__)"],
        capture_output=True, text=True, check=False, timeout=60, env={**os.environ, **env}, cwd=dest,
    )
    version, _, where = probe.stdout.strip().partition("\n")
    if probe.returncode != 0 or not Path(where).is_relative_to(dest):
        raise RuntimeError(f"the snapshot in {dest} does not import as checker: {probe.stdout}{probe.stderr}")
    return Program((sys.executable, "-m", "checker"), env,
                   {"blockaudit": version, "commit": commit, "code_sha256": _tree_hash(dest / "checker")})


def custom_program(command: Sequence[str]) -> Program:
    """A blockaudit command given with ``--blockaudit``, run as it is."""
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False, timeout=60)
    return Program(tuple(command), {}, {"blockaudit": done.stdout.strip() or "unknown", "command": shlex.join(command)})


def run_blockaudit(
    program: Program, names: Path, resolvers: Path, report: Path, variant: str, data_home: Path,
    extra: Sequence[str], log: Path,
) -> tuple[int, float, float, float]:
    """Run one ``blockaudit check``; return its exit status, wall seconds, peak RSS in MiB and CPU seconds."""
    argv = [*program.command, "check", str(names), "--input-format", "plain", "--resolvers", str(resolvers),
            "--report", f"json:{report}", "--timeout", "2", "--retries", "2", "-q"]
    if variant == "nodb":
        argv.append("--no-db")
    argv += extra
    env = {**os.environ, **program.env, "XDG_DATA_HOME": str(data_home)}
    with log.open("w", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(argv)}\n")
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=log.parent)
        try:
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if process.returncode is None:  # interrupted: do not leave it running
                process.kill()
                process.wait()
    return process.returncode, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def measure_blockaudit(bench: BenchLab, args: argparse.Namespace, program: Program, work: Path, names: Path, n: int,
                       tag: str, variant: str, data_home: Path) -> Blockaudit:
    """One ``blockaudit check`` against the running instances, checked and counted."""
    resolver_file = work / f"resolvers-{tag}.yaml"
    resolver_file.write_text(resolvers_text(bench.port(SUBJECT), bench.port(CONTROL), args.concurrency),
                             encoding="utf-8")
    report, log = work / f"report-{tag}.json", work / f"blockaudit-{tag}.log"
    before = [bench.queries_seen(name) for name in (SUBJECT, CONTROL)]
    status, wall, rss, cpu = run_blockaudit(program, names, resolver_file, report, variant, data_home,
                                       args.blockaudit_args, log)
    after = [bench.queries_seen(name) for name in (SUBJECT, CONTROL)]
    if status not in OK_EXIT:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"blockaudit check exited {status}; log {log}:\n{tail}")
    facts = read_report_apart(report)
    verdicts, ordered = facts.verdicts, facts.ordered
    seen = None
    if None not in before and None not in after:
        seen = sum(int(a or 0) - int(b or 0) for a, b in zip(after, before, strict=True))
    result = Blockaudit(
        variant=variant, exit_status=status, wall_s=wall, peak_rss_mib=rss + facts.worker_rss_mib, cpu_s=cpu,
        queries=facts.sent if facts.sent is not None else sum(facts.by_phase.values()),
        queries_from="traffic" if facts.sent is not None else "observations", observations=facts.observations,
        by_phase=facts.by_phase, names_span_s=facts.names_span_s, verdicts=verdicts, unbound_seen=seen,
        report_mib=report.stat().st_size / 2**20,
    )
    if seen is not None and seen != result.queries:
        warn(f"{tag}: blockaudit counted {result.queries} queries, the Unbound instances {seen}")
    expected_blocked = n // args.block_every
    if ordered != n:
        warn(f"{tag}: the report holds {ordered} results for ordered names at {SUBJECT}, expected {n}")
    if verdicts.get("blocked", 0) != expected_blocked or verdicts.get("accessible", 0) != n - expected_blocked:
        warn(f"{tag}: verdicts {verdicts}; expected blocked={expected_blocked} accessible={n - expected_blocked}")
    if not args.keep:
        report.unlink()  # hundreds of MiB at 100k names
    return result


def warn(text: str) -> None:
    """A warning on stderr."""
    print(f"warning: {text}", file=sys.stderr, flush=True)


def progress(text: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RunRecord:
    """One measurement: a cache state, a store variant, dnsperf and blockaudit of the same run."""

    n: int
    run: int
    cache: str
    """``cold`` or ``warm``."""
    dnsperf: Dnsperf
    blockaudit: Blockaudit

    @property
    def ratio(self) -> float:
        """blockaudit's whole-process q/s over dnsperf's."""
        return self.blockaudit.qps / self.dnsperf.qps if self.dnsperf.qps else 0.0


def measure(bench: BenchLab, args: argparse.Namespace, program: Program, work: Path, files: Mapping[str, Path],
            n: int, run: int, dnsperf: str) -> list[RunRecord]:
    """One run at N names: dnsperf cold and warm, then each blockaudit variant cold and warm."""
    perf: dict[str, Dnsperf] = {}
    bench.start_unbound()
    for cache in args.caches:
        progress(f"N={n} run {run}: dnsperf {cache}")
        perf[cache] = run_dnsperf(dnsperf, bench.port(SUBJECT), files["queries"], args.dnsperf_clients,
                                  args.dnsperf_outstanding, work / f"dnsperf-{n}-{run}-{cache}.log")
        progress(f"  {perf[cache].qps:,.0f} q/s, {perf[cache].lost} lost")
    records: list[RunRecord] = []
    for variant in args.variants:
        data_home = work / f"xdg-{n}-{run}-{variant}"
        data_home.mkdir(exist_ok=True)
        bench.start_unbound()
        for cache in args.caches:
            progress(f"N={n} run {run}: blockaudit {variant} {cache}")
            tag = f"{n}-{run}-{variant}-{cache}"
            found = measure_blockaudit(bench, args, program, work, files["names"], n, tag, variant, data_home)
            progress(f"  {found.qps:,.0f} q/s ({found.queries} queries in {found.wall_s:.1f} s), "
                     f"peak RSS {found.peak_rss_mib:.0f} MiB")
            records.append(RunRecord(n, run, cache, perf[cache], found))
    bench.stop_unbound()
    return records


# --------------------------------------------------------------------------------------------
# The machine and the output
# --------------------------------------------------------------------------------------------


def _first_line(argv: Sequence[str], pattern: str) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "unknown"
    match = re.search(pattern, done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def _proc_field(path: str, field: str) -> str:
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() == field:
                return value.strip()
    return "unknown"


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", *CODE_DIRS],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def machine(dnsperf: str, program: Program) -> dict[str, Any]:
    """What the figures were measured on."""
    mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    return {
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "cpu": _proc_field("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram_gib": round(int(mem_kib) / 2**20, 1) if mem_kib.isdigit() else None,
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        **program.code,
        "dnspython": dns.version.version,
        "unbound": _first_line([lab.find_tool("unbound") or "unbound", "-V"], r"Version\s+(\S+)"),
        "nsd": _first_line([lab.find_tool("nsd") or "nsd", "-v"], r"NSD version\s+(\S+)"),
        "dnsperf": dnsperf_version(dnsperf),
        "load_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _os_name() -> str:
    with contextlib.suppress(OSError):
        return platform.freedesktop_os_release().get("PRETTY_NAME", "unknown")
    return "unknown"


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def summarise(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """The median of every figure over the runs, per (N, cache, variant)."""
    groups: dict[tuple[int, str, str], list[RunRecord]] = {}
    for record in records:
        groups.setdefault((record.n, record.cache, record.blockaudit.variant), []).append(record)
    rows = []
    for (n, cache, variant), group in groups.items():
        verdicts: dict[str, float] = {v: _median([r.blockaudit.verdicts.get(v, 0) for r in group]) for v in VERDICTS}
        rows.append({
            "names": n, "cache": cache, "store": variant, "runs": len(group),
            "dnsperf_qps": _median([r.dnsperf.qps for r in group]),
            "dnsperf_lost": _median([r.dnsperf.lost for r in group]),
            "blockaudit_qps": _median([r.blockaudit.qps for r in group]),
            "ratio": _median([r.ratio for r in group]),
            "engine_qps": _median([r.blockaudit.engine_qps for r in group]),
            "wall_s": _median([r.blockaudit.wall_s for r in group]),
            "names_phase_s": _median([r.blockaudit.names_span_s for r in group]),
            "peak_rss_mib": _median([r.blockaudit.peak_rss_mib for r in group]),
            "cpu_s": _median([r.blockaudit.cpu_s for r in group]),
            "queries": _median([r.blockaudit.queries for r in group]),
            "report_mib": _median([r.blockaudit.report_mib for r in group]),
            "verdicts": verdicts,
        })
    return rows


def _k(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The medians as a plain-text table."""
    head = (f"{'names':>8} {'cache':<5} {'store':<6} {'dnsperf q/s':>11} {'blockaudit q/s':>14} {'ratio':>6} "
            f"{'engine q/s':>10} {'wall s':>7} {'CPU s':>7} {'names s':>7} {'RSS MiB':>7} {'queries':>8} "
            f"{'blocked':>7} {'access.':>7} {'inconcl.':>8} {'other':>5}")
    lines = [head]
    for row in rows:
        v = row["verdicts"]
        other = sum(v[k] for k in VERDICTS if k not in ("blocked", "accessible", "inconclusive"))
        lines.append(
            f"{row['names']:>8} {row['cache']:<5} {row['store']:<6} {_k(row['dnsperf_qps']):>11} "
            f"{_k(row['blockaudit_qps']):>14} {row['ratio']:>6.3f} {_k(row['engine_qps']):>10} "
            f"{row['wall_s']:>7.1f} {row['cpu_s']:>7.1f} {row['names_phase_s']:>7.1f} {row['peak_rss_mib']:>7.0f} "
            f"{row['queries']:>8.0f} {v['blocked']:>7.0f} {v['accessible']:>7.0f} {v['inconclusive']:>8.0f} "
            f"{other:>5.0f}"
        )
    return "\n".join(lines)


def markdown(rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> str:
    """Rows for the tables of docs/performance.md."""
    lines = [
        "| date | commit | names | cache | store | dnsperf q/s | blockaudit q/s | ratio | engine q/s | wall s "
        "| CPU s | peak RSS MiB | queries | blocked / accessible / inconclusive |",
        "|---|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        v = row["verdicts"]
        lines.append(
            f"| {info['date']} | {info['commit']} | {_k(row['names'])} | {row['cache']} | {row['store']} "
            f"| {_k(row['dnsperf_qps'])} | {_k(row['blockaudit_qps'])} | {row['ratio']:.3f} "
            f"| {_k(row['engine_qps'])} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {row['peak_rss_mib']:.0f} "
            f"| {_k(row['queries'])} "
            f"| {v['blocked']:.0f} / {v['accessible']:.0f} / {v['inconclusive']:.0f} |"
        )
    return "\n".join(lines)


def machine_text(info: Mapping[str, Any]) -> str:
    """The machine, one line per fact."""
    width = max(map(len, info))
    return "\n".join(f"{key:>{width}}: {value}" for key, value in info.items())


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _caches(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or any(item not in ("cold", "warm") for item in items) or items[0] != "cold":
        raise argparse.ArgumentTypeError("a list of cold and warm, cold first (warm is the cache cold left)")
    return list(dict.fromkeys(items))


def _variants(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(chosen) - {"nodb", "sqlite"}
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"expected nodb, sqlite or both (comma-separated), got {text!r}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/throughput.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Results, and how to read them: docs/performance.md.",
    )
    parser.add_argument("--names", type=int, action="append", metavar="N",
                        help="synthetic names to check (repeatable; default 100000)")
    parser.add_argument("--runs", type=int, default=3, metavar="N",
                        help="runs per N; the table shows the median (default 3)")
    parser.add_argument("--variants", type=_variants, default=["nodb", "sqlite"], metavar="nodb,sqlite",
                        help="blockaudit store variants: --no-db, the default SQLite store, or both (default both)")
    parser.add_argument("--caches", type=_caches, default=["cold", "warm"], metavar="cold,warm",
                        help="cache states to measure (default both; 'cold' alone halves a 1M run)")
    parser.add_argument("--block-every", type=int, default=10, metavar="K",
                        help="the subject's RPZ blocks every K-th name (default 10)")
    parser.add_argument("--concurrency", type=int, default=256, metavar="N",
                        help="'concurrency' of both resolvers in blockaudit's resolver file (default 256)")
    parser.add_argument("--unbound-threads", type=int, default=1, metavar="N", help="Unbound num-threads (default 1)")
    parser.add_argument("--dnsperf-clients", type=int, default=8, metavar="N", help="dnsperf -c (default 8)")
    parser.add_argument("--dnsperf-outstanding", type=int, default=500, metavar="N", help="dnsperf -q (default 500)")
    parser.add_argument("--blockaudit", type=shlex.split, metavar="CMD",
                        help="run this blockaudit command as it is (default: this Python's -m checker on a copy of "
                             "this checkout's code, taken at the start, so edits made meanwhile do not reach the runs)")
    parser.add_argument("--rev", metavar="COMMIT",
                        help="measure the code of this git commit (git archive; the checkout is not touched) "
                             "instead of the checkout as it is")
    parser.add_argument("--blockaudit-args", type=shlex.split, default=[], metavar="ARGS",
                        help="more arguments for blockaudit check, e.g. --blockaudit-args='--timeout 1'")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="work in DIR and keep everything: zone, lists, configs, logs, JSON reports")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures and the machine as JSON")
    parser.add_argument("--markdown", action="store_true", help="also print rows for docs/performance.md")
    parser.add_argument("--read-report", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Build the lab, measure, print."""
    args = build_parser().parse_args(argv)
    if args.read_report:
        print(json.dumps(dataclasses.asdict(read_report(args.read_report))))
        return 0
    sizes: list[int] = args.names or [100_000]
    if any(n < args.block_every for n in sizes) or args.runs < 1 or args.block_every < 1:
        raise SystemExit("--names must be at least --block-every, and --runs and --block-every at least 1")
    missing = [tool for tool in ("nsd", "unbound", "unbound-checkconf", "dnsperf") if lab.find_tool(tool) is None]
    if missing:
        raise SystemExit(f"missing: {', '.join(missing)} (apt-get install nsd unbound dnsperf)")
    dnsperf = lab.find_tool("dnsperf") or "dnsperf"
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupt)
    started = time.monotonic()
    records: list[RunRecord] = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            work = args.keep.resolve()
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-throughput-")))
        program = custom_program(args.blockaudit) if args.blockaudit else snapshot(work, args.rev)
        info = machine(dnsperf, program)
        for n in sizes:
            folder = work / f"n{n}"
            folder.mkdir(exist_ok=True)
            progress(f"N={n}: writing the zone, the RPZ and the query lists in {folder}")
            files = write_workload(folder, n, args.block_every)
            with BenchLab(folder, files["rpz"], args.unbound_threads) as bench:
                for run in range(1, args.runs + 1):
                    records.extend(measure(bench, args, program, folder, files, n, run, dnsperf))
    rows = summarise(records)
    elapsed = time.monotonic() - started
    # The floor under every peak RSS above (see read_report_apart); kB in /proc.
    info["benchmark_peak_rss_mib"] = round(int(_proc_field("/proc/self/status", "VmHWM").split()[0]) / 1024)
    print(f"blockaudit throughput, median of {args.runs} run(s); {args.concurrency} queries in flight per "
          f"resolver, Unbound num-threads {args.unbound_threads}; benchmark took {elapsed:.0f} s")
    print(table(rows))
    print()
    print(machine_text(info))
    if args.markdown:
        print()
        print(markdown(rows, info))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("json", "keep")}
        settings["keep"] = str(args.keep) if args.keep else None
        document = {"machine": info, "settings": settings, "elapsed_s": round(elapsed, 1), "rows": rows,
                    "runs": [{**dataclasses.asdict(r), "ratio": r.ratio, "blockaudit_qps": r.blockaudit.qps,
                              "engine_qps": r.blockaudit.engine_qps} for r in records]}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    bad = sum(r["verdicts"]["inconclusive"] for r in rows)
    if bad:
        warn(f"{bad:.0f} inconclusive results (median per row): the figures may not be comparable")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every server was stopped", file=sys.stderr)
        sys.exit(130)
    except (RuntimeError, lab.LabError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
