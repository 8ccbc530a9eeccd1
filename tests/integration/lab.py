"""Runs real NSD and Unbound servers on loopback high ports in a temp dir for integration tests."""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query
import dns.rcode

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
STARTUP_DEADLINE = 10.0
"""Seconds a server gets to answer after it was started."""
STOP_GRACE = 5.0
"""Seconds a server gets to exit after SIGTERM before it is killed."""
BIND_ATTEMPTS = 5
"""How many fresh ports a server is tried on when its port turns out to be taken."""
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")

ZONE = "test."
RPZ_ORIGIN = "rpz.lab."
ORDER_ID = "lab-order"

# The authoritative truth of the lab: TEST-NET addresses only, never anything that looks blocked.
ZONE_RECORDS: tuple[tuple[str, str, str], ...] = (
    ("canary", "A", "198.51.100.1"),
    ("canary", "AAAA", "2001:db8::1"),
    ("blocked-one", "A", "198.51.100.11"),
    ("blocked-one", "AAAA", "2001:db8::11"),
    ("www.blocked-one", "A", "198.51.100.11"),
    ("www.blocked-one", "AAAA", "2001:db8::11"),
    ("blocked-two", "A", "198.51.100.12"),
    ("blocked-two", "AAAA", "2001:db8::12"),
    ("www.blocked-two", "A", "198.51.100.12"),
    ("www.blocked-two", "AAAA", "2001:db8::12"),
    ("exact-only", "A", "198.51.100.13"),
    ("exact-only", "AAAA", "2001:db8::13"),
    ("v4only", "A", "198.51.100.14"),
    ("www.v4only", "A", "198.51.100.14"),
    ("allowed", "A", "198.51.100.20"),
    ("allowed", "AAAA", "2001:db8::20"),
)

CANARY = "canary.test"
SUBTREE_TARGETS: tuple[str, ...] = ("blocked-one.test", "blocked-two.test", "v4only.test", "gone.test")
"""Ordered with `subdomains: true`; gone.test does not exist anywhere."""
EXACT_TARGETS: tuple[str, ...] = ("exact-only.test",)
"""Ordered with `subdomains: false`."""
EXEMPTIONS: tuple[str, ...] = ("allowed.test",)
BLOCKPAGE_ADDRESS = "203.0.113.10"

REQUIRED_TOOLS: tuple[str, ...] = ("unbound", "unbound-checkconf", "nsd")


class LabError(RuntimeError):
    """The lab could not be set up or a server did not come up; the message carries its log."""


def find_tool(name: str) -> str | None:
    """Return the path of an executable, also looking in the sbin folders a non-root PATH lacks."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing_tools() -> list[str]:
    """Return the names of the DNS programs the lab needs that are not installed."""
    return [name for name in REQUIRED_TOOLS if find_tool(name) is None]


def _tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        raise LabError(f"{name} is not installed (apt-get install unbound nsd)")
    return path


def free_port(taken: Iterable[int] = ()) -> int:
    """Return a loopback port that is free for both UDP and TCP right now and not in `taken`."""
    avoid = set(taken)
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            if port in avoid or port < 1024:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((LOOPBACK, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        continue
                    raise
        return port
    raise LabError("no free loopback port found after 100 tries")


def ask(port: int, name: str, rdtype: str = "A", timeout: float = 1.0, *, edns: bool = True) -> dns.message.Message:
    """Send one UDP query to 127.0.0.1:port and return the response (raises dns.exception.Timeout)."""
    query = dns.message.make_query(name, rdtype, use_edns=0 if edns else False, want_dnssec=False)
    return dns.query.udp(query, LOOPBACK, port=port, timeout=timeout)


# --------------------------------------------------------------------------------------------
# The Unbound instances
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnboundSpec:
    """How one Unbound instance of the lab is configured and how the resolver file lists it."""

    name: str
    """Instance and resolver name."""
    operator: str
    """Operator name in the resolver file."""
    role: str
    """`control` or `subject`."""
    rpz: tuple[str, ...] | None
    """RPZ records (owner relative to the RPZ origin, then type and data); None: no RPZ."""
    access: str = "allow"
    """Unbound access-control action for 127.0.0.0/8: allow, deny (drop) or refuse."""
    block_addresses: tuple[str, ...] = ()
    """Block-page addresses declared in the resolver file."""

    @property
    def answers(self) -> bool:
        """Whether the instance answers queries from loopback with real data."""
        return self.access == "allow"


def _rpz_records(actions: Sequence[str], *, wildcards: bool = True, extra: Sequence[str] = ()) -> tuple[str, ...]:
    owners: list[str] = []
    for domain in SUBTREE_TARGETS:
        owners.append(domain)
        if wildcards:
            owners.append(f"*.{domain}")
    owners.extend(EXACT_TARGETS)
    records = [f"{owner} {action}" for owner in owners for action in actions]
    return (*records, *extra)


NXDOMAIN = ("CNAME .",)
INSTANCES: tuple[UnboundSpec, ...] = (
    UnboundSpec("control", "control", "control", rpz=None),
    UnboundSpec("isp-nxdomain", "ISP A", "subject", rpz=_rpz_records(NXDOMAIN)),
    UnboundSpec("isp-sinkhole", "isp-sinkhole", "subject", rpz=_rpz_records(("A 0.0.0.0", "AAAA ::"))),
    UnboundSpec(
        "isp-blockpage",
        "isp-blockpage",
        "subject",
        rpz=_rpz_records((f"A {BLOCKPAGE_ADDRESS}",)),
        block_addresses=(BLOCKPAGE_ADDRESS,),
    ),
    UnboundSpec("isp-partial", "ISP A", "subject", rpz=_rpz_records(NXDOMAIN, wildcards=False)),
    UnboundSpec("isp-none", "isp-none", "subject", rpz=None),
    UnboundSpec(
        "isp-overblock",
        "isp-overblock",
        "subject",
        rpz=_rpz_records(NXDOMAIN, extra=tuple(f"{name} CNAME ." for name in EXEMPTIONS)),
    ),
    UnboundSpec("isp-drop", "isp-drop", "subject", rpz=None, access="deny"),
    UnboundSpec("isp-refuse", "isp-refuse", "subject", rpz=None, access="refuse"),
)
SPECS: dict[str, UnboundSpec] = {spec.name: spec for spec in INSTANCES}


# --------------------------------------------------------------------------------------------
# Files the lab writes
# --------------------------------------------------------------------------------------------


def zone_text() -> str:
    """Return the zone file of `test.` served by NSD."""
    lines = [
        f"$ORIGIN {ZONE}",
        "$TTL 60",
        "@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60",
        # No address for ns.test: nothing may ever be sent to port 53.
        "@ IN NS ns.test.",
    ]
    lines.extend(f"{owner} IN {rdtype} {data}" for owner, rdtype, data in ZONE_RECORDS)
    return "\n".join(lines) + "\n"


def rpz_text(records: Sequence[str]) -> str:
    """Return an RPZ zone file holding `records`."""
    lines = [
        f"$ORIGIN {RPZ_ORIGIN}",
        "$TTL 60",
        "@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60",
        "@ IN NS localhost.",
        *records,
    ]
    return "\n".join(lines) + "\n"


def nsd_conf(root: Path, port: int) -> str:
    """Return an NSD config that keeps every file it uses inside `root`."""
    return f"""server:
  ip-address: {LOOPBACK}
  port: {port}
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "{root}"
  pidfile: "{root}/nsd.pid"
  database: ""
  xfrdfile: "{root}/nsd-xfrd.state"
  zonelistfile: "{root}/nsd-zone.list"
  xfrdir: "{root}"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
zone:
  name: "{ZONE}"
  zonefile: "{root}/test.zone"
"""


def server_conf(root: Path, name: str, port: int, nsd_port: int, *, respip: bool, access: str = "allow") -> str:
    """The `server:` clause of a lab Unbound: resolves `test.` from NSD, on loopback and in `root` only."""
    modules = "respip validator iterator" if respip else "validator iterator"
    return f"""server:
  interface: {LOOPBACK}
  port: {port}
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  so-reuseport: no
  do-daemonize: no
  use-syslog: no
  logfile: ""
  log-time-ascii: yes
  verbosity: 1
  chroot: ""
  username: ""
  directory: "{root}"
  pidfile: "{root}/{name}.pid"
  num-threads: 1
  do-not-query-localhost: no
  local-zone: "{ZONE}" nodefault
  domain-insecure: "{ZONE}"
  harden-dnssec-stripped: no
  module-config: "{modules}"
  ede: yes
  access-control: 127.0.0.0/8 {access}
  cache-max-ttl: 5
  cache-max-negative-ttl: 5
  prefetch: no
"""


def tail_conf(nsd_port: int) -> str:
    """Remote control off, `test.` from NSD, and anything else to NSD too, which refuses it: no
    query ever leaves loopback."""
    return f"""remote-control:
  control-enable: no
stub-zone:
  name: "{ZONE}"
  stub-addr: {LOOPBACK}@{nsd_port}
forward-zone:
  name: "."
  forward-addr: {LOOPBACK}@{nsd_port}
"""


def unbound_conf(spec: UnboundSpec, root: Path, port: int, nsd_port: int) -> str:
    """Return the Unbound config of one instance; everything stays on loopback and in `root`."""
    text = server_conf(root, spec.name, port, nsd_port, respip=spec.rpz is not None, access=spec.access)
    text += tail_conf(nsd_port)
    if spec.rpz is not None:
        text += f"""rpz:
  name: "{RPZ_ORIGIN}"
  zonefile: "{root}/{spec.name}.rpz"
  rpz-log: yes
  rpz-log-name: "{spec.name}"
"""
    return text


def order_text() -> str:
    """Return the lab's order file (schema blockaudit/order/1)."""
    targets = [f"  - {{domain: {domain}, subdomains: true}}" for domain in SUBTREE_TARGETS]
    targets += [f"  - {{domain: {domain}, subdomains: false}}" for domain in EXACT_TARGETS]
    exemptions = ", ".join(EXEMPTIONS)
    return (
        "\n".join(
            [
                "schema: blockaudit/order/1",
                f"id: {ORDER_ID}",
                'title: "blockaudit integration lab order"',
                'authority: "blockaudit integration lab (synthetic, not a court)"',
                "jurisdiction: US",
                "case_number: null",
                "order_type: permanent_injunction",
                "issued: 2026-01-01",
                "verification: unverified",
                "sources:",
                '  - {url: "https://example.org/blockaudit-lab-order", note: "synthetic order of the integration lab"}',
                "valid: {from: 2026-01-01, until: null}",
                "deadline: {within: P5D, from: issued}",
                "targets:",
                *targets,
                f"exemptions: [{exemptions}]",
            ]
        )
        + "\n"
    )


def write_order_file(path: Path) -> Path:
    """Write the lab's order file to `path` and return it."""
    path.write_text(order_text(), encoding="utf-8")
    return path


def resolvers_text(ports: Mapping[str, int], names: Iterable[str] | None = None) -> str:
    """Return a resolver file (schema blockaudit/resolvers/1) for the named instances, in lab order."""
    wanted = set(ports if names is None else names)
    unknown = wanted - set(SPECS)
    if unknown:
        raise LabError(f"unknown lab resolvers: {', '.join(sorted(unknown))}")
    lines = ["schema: blockaudit/resolvers/1", "resolvers:"]
    for spec in INSTANCES:
        if spec.name not in wanted:
            continue
        lines += [
            f"  - name: {spec.name}",
            f'    operator: "{spec.operator}"',
            f'    address: "{LOOPBACK}:{ports[spec.name]}"',
            "    protocol: udp",
            f"    role: {spec.role}",
        ]
        if spec.block_addresses:
            lines.append(f"    block: {{addresses: [{', '.join(spec.block_addresses)}]}}")
    lines.append(f"canaries: [{CANARY}]")
    return "\n".join(lines) + "\n"


def write_resolver_file(path: Path, ports: Mapping[str, int], names: Iterable[str] | None = None) -> Path:
    """Write a resolver file listing the named instances (all when `names` is None)."""
    path.write_text(resolvers_text(ports, names), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


class _BindFailed(Exception):
    """The server exited because its port was taken: try another port."""


def _looks_like_bind_failure(log_text: str) -> bool:
    lowered = log_text.lower()
    return any(sign in lowered for sign in ("address already in use", "can't bind", "could not open ports"))


def _check_config(argv: Sequence[str], what: str) -> None:
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise LabError(f"{what}: {' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")


@dataclass
class Server:
    """One running server process of the lab."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    """stdout and stderr of every start attempt of this server."""
    log_offset: int = 0
    """Where this attempt's output starts in `log_path`."""

    def log_text(self, limit: int = 4000) -> str:
        """Return the last `limit` characters this attempt wrote to the log."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self.log_offset)
                data = handle.read()
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        text = data.decode("utf-8", errors="replace")
        return text[-limit:] if text else "(empty)"

    def stop(self) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after a grace period."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.name, STOP_GRACE)
        # Children (NSD forks workers) go with the group even when the leader is already gone.
        _signal_group(self.process, signal.SIGKILL)
        try:
            self.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            log.error("%s (pid %d) survived SIGKILL", self.name, self.process.pid)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The server was started with start_new_session=True: its process group id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


Probe = Callable[[Server], str | None]
"""Readiness check: returns None when the server is ready, else why it is not (yet)."""


def _ask_canary(server: Server) -> dns.message.Message | str:
    """The server's answer to the canary, or why there is none (yet)."""
    if udp_listening(server.port) is False:
        return f"UDP port {server.port} is not bound yet"
    try:
        return ask(server.port, CANARY, "A", timeout=0.5)
    except dns.exception.Timeout:
        return "no answer yet"
    except OSError as exc:
        return f"query failed: {exc}"


def probe_answers(server: Server) -> str | None:
    """Ready when the server answers the canary with NOERROR and an address."""
    response = _ask_canary(server)
    if isinstance(response, str):
        return response
    if response.rcode() != dns.rcode.NOERROR or not response.answer:
        rcode = dns.rcode.to_text(response.rcode())
        return f"{CANARY} A gave {rcode} with {len(response.answer)} answer RRsets"
    return None


def probe_refuses(server: Server) -> str | None:
    """Ready when the server answers REFUSED."""
    response = _ask_canary(server)
    if isinstance(response, str):
        return response
    if response.rcode() != dns.rcode.REFUSED:
        return f"expected REFUSED, got {dns.rcode.to_text(response.rcode())}"
    return None


PROC_NET_UDP = Path("/proc/net/udp")


def udp_listening(port: int) -> bool | None:
    """Whether a UDP socket is bound to 127.0.0.1:port (None when /proc/net/udp cannot tell).

    Reads the kernel's socket table instead of binding the port: a test bind could make the
    server's own bind fail if both happened at the same moment.
    """
    try:
        table = PROC_NET_UDP.read_text(encoding="ascii")
    except OSError:
        return None
    wanted = f"0100007F:{port:04X}"  # 127.0.0.1 in the kernel's little-endian hex
    return any(line.split()[1:2] == [wanted] for line in table.splitlines()[1:])


def probe_listening(server: Server) -> str | None:
    """Ready when Unbound logged 'start of service' and holds its UDP port (it answers nobody)."""
    if "start of service" not in server.log_text(limit=100_000):
        return "no 'start of service' in the log yet"
    if udp_listening(server.port) is False:
        return f"UDP port {server.port} is not bound"
    return None


def _start(
    name: str,
    make_argv: Callable[[int], list[str]],
    *,
    log_path: Path,
    probe: Probe,
    taken: set[int],
    cwd: Path,
) -> Server:
    """Start a server on a fresh port, retrying on another port when the port turns out taken."""
    last_log = ""
    for attempt in range(1, BIND_ATTEMPTS + 1):
        port = free_port(taken)
        argv = make_argv(port)
        log.info("starting %s on port %d (attempt %d): %s", name, port, attempt, " ".join(argv))
        with log_path.open("ab") as log_file:
            log_file.write(f"--- attempt {attempt}: port {port}: {' '.join(argv)}\n".encode())
            log_file.flush()
            offset = log_file.tell()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
            )
        server = Server(name=name, port=port, process=process, log_path=log_path, log_offset=offset)
        try:
            _wait_ready(server, probe)
        except _BindFailed:
            server.stop()
            last_log = server.log_text()
            log.warning("%s could not bind port %d; trying another port", name, port)
            continue
        except BaseException:
            server.stop()
            raise
        taken.add(port)
        return server
    raise LabError(f"{name} could not bind a port in {BIND_ATTEMPTS} attempts; log {log_path}:\n{last_log}")


def start_again(server: Server, probe: Probe = probe_answers) -> Server:
    """Start a stopped server again with the same command, so on the same port (as a service restart
    does), and wait until it is ready; the returned ``Server`` replaces ``server``."""
    if server.process.poll() is None:
        raise LabError(f"{server.name} is still running; stop it first")
    args = server.process.args
    if isinstance(args, (str, bytes, os.PathLike)):
        raise LabError(f"{server.name} was not started from an argument list")
    argv = [os.fsdecode(arg) for arg in args]
    with server.log_path.open("ab") as log_file:
        log_file.write(f"--- started again on port {server.port}: {' '.join(argv)}\n".encode())
        log_file.flush()
        offset = log_file.tell()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                   cwd=server.log_path.parent, start_new_session=True)
    again = Server(name=server.name, port=server.port, process=process, log_path=server.log_path, log_offset=offset)
    try:
        _wait_ready(again, probe)
    except BaseException:
        again.stop()
        raise
    return again


def _wait_ready(server: Server, probe: Probe) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        code = server.process.poll()
        if code is not None:
            text = server.log_text()
            if _looks_like_bind_failure(text):
                raise _BindFailed(text)
            raise LabError(
                f"{server.name} exited with status {code} while starting on port {server.port};"
                f" log {server.log_path}:\n{text}"
            )
        why = probe(server)
        if why is None:
            return
        if time.monotonic() >= deadline:
            raise LabError(
                f"{server.name} on port {server.port} was not ready after {STARTUP_DEADLINE:.0f} s"
                f" ({why}); log {server.log_path}:\n{server.log_text()}"
            )
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------------------------


class Lab:
    """NSD for `test.` plus one Unbound per `INSTANCES` entry, all inside `root`."""

    def __init__(self, root: Path, instances: Sequence[UnboundSpec] = INSTANCES) -> None:
        self.root = root
        self.instances = tuple(instances)
        self.nsd: Server | None = None
        self.servers: dict[str, Server] = {}
        self.order_path = root / "lab-order.yaml"
        self.resolvers_path = root / "lab-resolvers.yaml"
        self._taken: set[int] = set()

    # Convenience views -------------------------------------------------------------------

    @property
    def nsd_port(self) -> int:
        """Port of the authoritative server."""
        if self.nsd is None:
            raise LabError("the lab is not running")
        return self.nsd.port

    @property
    def ports(self) -> dict[str, int]:
        """Port of every Unbound instance, by name."""
        return {name: server.port for name, server in self.servers.items()}

    def port(self, name: str) -> int:
        """Port of one Unbound instance."""
        try:
            return self.servers[name].port
        except KeyError:
            raise LabError(f"no lab resolver named {name!r}") from None

    def address(self, name: str) -> str:
        """`127.0.0.1:port` of one Unbound instance, as written in resolver files."""
        return f"{LOOPBACK}:{self.port(name)}"

    def write_resolver_file(self, path: Path, names: Iterable[str] | None = None) -> Path:
        """Write a resolver file for a subset of the running instances (all when None)."""
        return write_resolver_file(path, self.ports, names)

    # Lifecycle ---------------------------------------------------------------------------

    def start(self) -> Lab:
        """Write all files, start NSD then every Unbound, and wait until each is ready."""
        self.root.mkdir(parents=True, exist_ok=True)
        # Should the caller never reach stop() (an internal error of the test runner), still stop.
        atexit.register(self.stop)
        try:
            self._start_nsd()
            for spec in self.instances:
                self._start_unbound(spec)
            write_order_file(self.order_path)
            write_resolver_file(self.resolvers_path, self.ports)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server that was started; safe to call more than once."""
        atexit.unregister(self.stop)
        for server in reversed(list(self.servers.values())):
            server.stop()
        self.servers.clear()
        if self.nsd is not None:
            self.nsd.stop()
            self.nsd = None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_nsd(self) -> None:
        nsd = _tool("nsd")
        checkconf = find_tool("nsd-checkconf")
        (self.root / "test.zone").write_text(zone_text(), encoding="utf-8")
        conf = self.root / "nsd.conf"

        def argv(port: int) -> list[str]:
            conf.write_text(nsd_conf(self.root, port), encoding="utf-8")
            if checkconf is not None:
                _check_config([checkconf, str(conf)], "NSD config")
            return [nsd, "-d", "-c", str(conf)]

        self.nsd = _start(
            "nsd", argv, log_path=self.root / "nsd.log", probe=probe_answers, taken=self._taken, cwd=self.root
        )

    def _start_unbound(self, spec: UnboundSpec) -> None:
        unbound = _tool("unbound")
        checkconf = _tool("unbound-checkconf")
        if spec.rpz is not None:
            (self.root / f"{spec.name}.rpz").write_text(rpz_text(spec.rpz), encoding="utf-8")
        conf = self.root / f"{spec.name}.conf"
        nsd_port = self.nsd_port

        def argv(port: int) -> list[str]:
            conf.write_text(unbound_conf(spec, self.root, port, nsd_port), encoding="utf-8")
            _check_config([checkconf, str(conf)], f"Unbound config of {spec.name}")
            return [unbound, "-d", "-c", str(conf)]

        probe: Probe
        if spec.access == "allow":
            probe = probe_answers
        elif spec.access == "refuse":
            probe = probe_refuses
        elif spec.access == "deny":
            probe = probe_listening
        else:
            raise LabError(f"{spec.name}: unknown access-control action {spec.access!r}")
        self.servers[spec.name] = _start(
            spec.name, argv, log_path=self.root / f"{spec.name}.log", probe=probe, taken=self._taken, cwd=self.root
        )
