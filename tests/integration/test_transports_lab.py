"""One Unbound with the lab's NXDOMAIN RPZ, asked over UDP, TCP, DoT, DoH (POST and GET) and IPv6:
every transport must give the same verdict for every name.

DoH is asked two ways: through dnsdist in front of that Unbound (HTTP/1.1 and HTTP/2, as ISPs
commonly deploy a DoH front end before their recursors), and straight at Unbound's own
`https-port`, which speaks HTTP/2 only. The DoH client offers both (ALPN) and the server picks.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import defaultdict
from pathlib import Path

import pytest

from checker.cli import main
from checker.probe import https
from checker.probe.message import make_query
from tests.pki import make_pki

from .doh_frontend import doh_frontend
from .extra_unbound import extra_unbound, rpz_clause
from .lab import CANARY, LOOPBACK, NXDOMAIN, RPZ_ORIGIN, Lab, LabError, _rpz_records, free_port, rpz_text

pytestmark = pytest.mark.integration

NAME = "isp-transports"
SUBJECTS = ("t-udp", "t-tcp", "t-dot", "t-doh", "t-doh-get", "t-doh-unbound", "t-udp6")


def free_port6(taken: set[int]) -> int:
    """A port free for UDP on [::1] (and TCP on 127.0.0.1, as `free_port` checks)."""
    for _ in range(50):
        port = free_port(taken)
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
                udp.bind(("::1", port))
        except OSError:
            continue
        return port
    raise LabError("no free port on [::1]")


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def http_version(url: str, ca: Path) -> str | None:
    """The HTTP version a DoH server chooses when offered both (ALPN h2 and http/1.1)."""
    query = make_query(CANARY, "A")
    query.id = 0
    got = asyncio.run(https.https(query, url, 2.0, ca_file=str(ca)))
    assert got.error is None, (url, got.error)
    return got.http_version


def test_every_transport_gives_the_same_verdict(lab: Lab, tmp_path: Path) -> None:
    if not ipv6_loopback():
        if os.environ.get("CI") == "true":
            pytest.fail("no IPv6 loopback (::1); CI must never skip the integration tests", pytrace=False)
        pytest.skip("no IPv6 loopback (::1) here")
    pki = make_pki(tmp_path / "pki")
    taken = lab._taken
    tls_port = free_port(taken)
    taken.add(tls_port)
    https_port = free_port(taken)
    taken.add(https_port)
    v6_port = free_port6(taken)
    taken.add(v6_port)
    server_lines = f"""
        do-ip6: yes
        interface: {LOOPBACK}@{tls_port}
        interface: ::1@{v6_port}
        access-control: ::1 allow
        tls-port: {tls_port}
        interface: {LOOPBACK}@{https_port}
        https-port: {https_port}
        http-endpoint: "/dns-query"
        http-notls-downstream: no
        tls-service-key: "{pki.key}"
        tls-service-pem: "{pki.cert}"
    """
    unbound_url = f"https://{LOOPBACK}:{https_port}/dns-query"
    root = lab.root / NAME
    with extra_unbound(
        lab, NAME, respip=True, server_lines=server_lines,
        files={f"{NAME}.rpz": rpz_text(_rpz_records(NXDOMAIN))},
        clauses=rpz_clause(RPZ_ORIGIN, root / f"{NAME}.rpz"),
    ) as server, doh_frontend(lab, f"{NAME}-doh", server.port, pki.cert, pki.key) as doh:
        resolvers = tmp_path / "resolvers.yaml"
        ca = f"tls_ca: '{pki.ca}'"
        resolvers.write_text(
            "schema: blockaudit/resolvers/1\nresolvers:\n"
            f"  - {{name: control, operator: control, address: '{lab.address('control')}', role: control}}\n"
            f"  - {{name: t-udp, operator: ISP T, address: '{LOOPBACK}:{server.port}', protocol: udp}}\n"
            f"  - {{name: t-tcp, operator: ISP T, address: '{LOOPBACK}:{server.port}', protocol: tcp}}\n"
            f"  - {{name: t-dot, operator: ISP T, address: '{LOOPBACK}:{tls_port}', protocol: dot,"
            f" tls_name: localhost, {ca}}}\n"
            f"  - {{name: t-doh, operator: ISP T, address: '{LOOPBACK}:{doh.doh_port}', protocol: doh,"
            f" url: '{doh.url}', {ca}}}\n"
            f"  - {{name: t-doh-get, operator: ISP T, address: '{LOOPBACK}:{doh.doh_port}', protocol: doh,"
            f" url: '{doh.url}', doh_method: get, {ca}}}\n"
            f"  - {{name: t-doh-unbound, operator: ISP T, address: '{LOOPBACK}:{https_port}', protocol: doh,"
            f" url: '{unbound_url}', {ca}}}\n"
            f"  - {{name: t-udp6, operator: ISP T, address: '[::1]:{v6_port}', protocol: udp}}\n"
            "canaries: [canary.test]\n",
            encoding="utf-8",
        )
        out = tmp_path / "report.json"
        code = main(["check", str(lab.order_path), "--resolvers", str(resolvers), "--no-db",
                     "--report", f"json:{out}", "--timeout", "1", "--retries", "1", "-q"])
        versions = {url: http_version(url, pki.ca) for url in (doh.url, unbound_url)}
        log = server.log_text() + doh.server.log_text()
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {r["name"]: r["protocol"] for r in report["resolvers"]} == {
        "control": "udp", "t-udp": "udp", "t-tcp": "tcp", "t-dot": "dot", "t-doh": "doh", "t-doh-get": "doh",
        "t-doh-unbound": "doh", "t-udp6": "udp",
    }
    assert versions == {doh.url: "HTTP/2", unbound_url: "HTTP/2"}, versions
    by_name: dict[tuple[str, str], dict[str, tuple[str, str | None, str | None]]] = defaultdict(dict)
    for result in report["results"]:
        key = (result["query_name"], result["kind"])
        by_name[key][result["resolver"]] = (result["verdict"], result["method"], result["reason"])
        for obs in result["observations"]:
            assert obs["error"] is None, (result["resolver"], result["query_name"], obs, log)
    assert by_name, "no results"
    for key, verdicts in by_name.items():
        assert set(verdicts) == set(SUBJECTS), key
        assert len(set(verdicts.values())) == 1, (key, verdicts)
    verdict_counts = {v for verdicts in by_name.values() for v in verdicts.values()}
    assert ("blocked", "nxdomain", None) in verdict_counts
    assert any(v[0] == "accessible" for v in verdict_counts)  # the exemptions
    assert code in (0, 3), code
