"""One operator, several paths: a resolver that blocks over UDP but leaks over DoH is noncompliant."""

from __future__ import annotations

import json
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from checker.cli import ExitStatus, main
from tests.fakedns import fake_dns, respond
from tests.pki import Pki, make_pki
from tests.probe.test_transports import doh_server

ORDER = """\
schema: blockaudit/order/1
id: leak-order
title: Leak test order
authority: Test court
jurisdiction: US
order_type: other
issued: 2026-01-01
verification: unverified
targets: [{domain: site.test}]
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def real(q: dns.message.Message, transport: str) -> dns.message.Message:
    """The control: every name has the address the test DoH server hands out, but nx names."""
    name = str(q.question[0].name).rstrip(".")
    if name.startswith("blockaudit-"):
        return respond(q, rcode=dns.rcode.NXDOMAIN, soa=True)
    return respond(q, a=["192.0.2.80"], aaaa=["2001:db8::80"])


def udp_blocks(q: dns.message.Message, transport: str) -> dns.message.Message:
    name = str(q.question[0].name).rstrip(".")
    return respond(q, rcode=dns.rcode.NXDOMAIN) if name == "site.test" else real(q, transport)


def test_blocks_over_udp_leaks_over_doh_makes_the_operator_noncompliant(
    tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str],
) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(ORDER)
    with fake_dns(udp_blocks) as udp, fake_dns(real) as control, doh_server(pki) as doh:
        resolvers = tmp_path / "resolvers.yaml"
        resolvers.write_text(
            "schema: blockaudit/resolvers/1\nresolvers:\n"
            f"  - {{name: isp-udp, operator: ISP A, address: '127.0.0.1:{udp.port}', role: subject}}\n"
            f"  - {{name: isp-doh, operator: ISP A, address: '127.0.0.1:{doh.port}', protocol: doh,\n"
            f"     url: '{doh.url()}', tls_ca: '{pki.ca}', role: subject}}\n"
            f"  - {{name: ctl, address: '127.0.0.1:{control.port}', role: control}}\n"
            "canaries: [canary.test]\n"
        )
        code = main(["check", str(order), "--resolvers", str(resolvers), "--no-db", "-q", "--report", "json:-",
                     "--timeout", "1", "--retries", "0"])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitStatus.VIOLATION
    verdicts = {(r["resolver"], r["query_name"]): r["verdict"] for r in report["results"] if r["kind"] == "ordered"}
    assert verdicts == {("isp-udp", "site.test"): "blocked", ("isp-doh", "site.test"): "accessible"}
    status = {r["name"]: r.get("status") for r in report["resolvers"]}
    assert status["isp-udp"] == "compliant" and status["isp-doh"] == "noncompliant"
    assert [(o["name"], o["status"]) for o in report["operators"]] == [("ISP A", "noncompliant")]
    transports = {o["transport"] for r in report["results"] if r["resolver"] == "isp-doh" for o in r["observations"]}
    assert transports == {"doh"}
