"""dnsdist as a DNS-over-HTTPS front end for one of the lab's Unbound servers.

Debian's Unbound serves DoH over HTTP/2 only; dnsdist (built with h2o) serves RFC 8484 over
HTTP/1.1 and HTTP/2, as many ISPs deploy it in front of their recursors. The test starts it on
loopback high ports with the test's own certificate; it forwards every query to the backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .lab import CANARY, LOOPBACK, Lab, LabError, Server, _check_config, _start, find_tool, free_port, probe_answers

DOH_PATH = "/dns-query"


@dataclass(frozen=True)
class DohFrontend:
    """A running dnsdist: plain DNS on ``server.port``, DoH at ``url``."""

    server: Server
    doh_port: int

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.doh_port}{DOH_PATH}"


def dnsdist_conf(dns_port: int, doh_port: int, backend_port: int, cert: Path, key: Path) -> str:
    """A dnsdist configuration: no security polling, no console, one backend, one DoH listener."""
    return f"""-- written by tests/integration/doh_frontend.py
setSecurityPollSuffix('')
setLocal('{LOOPBACK}:{dns_port}')
setACL({{'127.0.0.0/8', '::1/128'}})
newServer({{address='{LOOPBACK}:{backend_port}', checkName='{CANARY}.', checkInterval=1}})
addDOHLocal('{LOOPBACK}:{doh_port}', '{cert}', '{key}', '{DOH_PATH}', {{reusePort=false}})
"""


@contextlib.contextmanager
def doh_frontend(lab: Lab, name: str, backend_port: int, cert: Path, key: Path) -> Iterator[DohFrontend]:
    """Run dnsdist in front of ``backend_port`` for the length of the block."""
    dnsdist = find_tool("dnsdist")
    if dnsdist is None:
        raise LabError("dnsdist is not installed (apt-get install dnsdist)")
    root = lab.root / name
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "dnsdist.conf"
    doh_ports: list[int] = []

    def argv(port: int) -> list[str]:
        doh_port = free_port(lab._taken | {port})
        doh_ports.append(doh_port)
        conf.write_text(dnsdist_conf(port, doh_port, backend_port, cert, key), encoding="utf-8")
        _check_config([dnsdist, "--check-config", "-C", str(conf)], f"dnsdist config of {name}")
        return [dnsdist, "--supervised", "--disable-syslog", "-C", str(conf)]

    server = _start(name, argv, log_path=root / f"{name}.log", probe=probe_answers, taken=lab._taken, cwd=root)
    lab._taken.add(doh_ports[-1])
    try:
        yield DohFrontend(server, doh_ports[-1])
    finally:
        server.stop()
