"""Checks that the DNS lab itself behaves as designed, asking its servers directly with dnspython."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
import yaml

from . import lab as labmod
from .lab import Lab, ask

pytestmark = pytest.mark.integration

ANSWERING = [spec.name for spec in labmod.INSTANCES if spec.answers]
RPZ_RESOLVERS = [spec.name for spec in labmod.INSTANCES if spec.rpz is not None]
GONE_LOCAL_DATA = {"isp-sinkhole": "0.0.0.0", "isp-blockpage": labmod.BLOCKPAGE_ADDRESS}
"""RPZ local data answers for gone.test, which exists nowhere else."""


def addresses(response: dns.message.Message, rdtype: str) -> list[str]:
    """Return the addresses of type `rdtype` in the answer section."""
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(rdata.to_text() for rrset in response.answer if rrset.rdtype == wanted for rdata in rrset)


def rcode(response: dns.message.Message) -> str:
    """Return the response code as text."""
    return dns.rcode.to_text(response.rcode())


def ede_codes(response: dns.message.Message) -> list[int]:
    """Return the Extended DNS Error codes of a response."""
    return [int(option.code) for option in response.extended_errors()]


# --- the authoritative server ----------------------------------------------------------------


def test_nsd_serves_the_zone(lab: Lab) -> None:
    response = ask(lab.nsd_port, "blocked-one.test", "A")
    assert rcode(response) == "NOERROR"
    assert response.flags & dns.flags.AA
    assert addresses(response, "A") == ["198.51.100.11"]


def test_nsd_says_gone_does_not_exist(lab: Lab) -> None:
    assert rcode(ask(lab.nsd_port, "gone.test", "A")) == "NXDOMAIN"


def test_nsd_has_no_aaaa_for_v4only(lab: Lab) -> None:
    response = ask(lab.nsd_port, "www.v4only.test", "AAAA")
    assert rcode(response) == "NOERROR"
    assert response.answer == []


# --- the control ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("blocked-one.test", "A", ["198.51.100.11"]),
        ("blocked-one.test", "AAAA", ["2001:db8::11"]),
        ("www.blocked-one.test", "A", ["198.51.100.11"]),
        ("blocked-two.test", "A", ["198.51.100.12"]),
        ("exact-only.test", "AAAA", ["2001:db8::13"]),
        ("www.v4only.test", "A", ["198.51.100.14"]),
        ("www.v4only.test", "AAAA", []),
        ("allowed.test", "A", ["198.51.100.20"]),
        ("canary.test", "AAAA", ["2001:db8::1"]),
    ],
)
def test_control_resolves_the_truth(lab: Lab, name: str, rdtype: str, expected: list[str]) -> None:
    response = ask(lab.port("control"), name, rdtype)
    assert rcode(response) == "NOERROR"
    assert addresses(response, rdtype) == expected


@pytest.mark.parametrize("name", ANSWERING)
def test_every_answering_resolver_resolves_the_canary(lab: Lab, name: str) -> None:
    response = ask(lab.port(name), labmod.CANARY, "A")
    assert rcode(response) == "NOERROR"
    assert addresses(response, "A") == ["198.51.100.1"]


def test_names_outside_the_lab_zone_never_leave_loopback(lab: Lab) -> None:
    # The "." forward goes to NSD, which refuses: Unbound answers SERVFAIL at once.
    assert rcode(ask(lab.port("control"), "example.com", "A", timeout=3.0)) == "SERVFAIL"


# --- the subjects -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["blocked-one.test", "www.blocked-one.test", "deep.www.blocked-two.test"])
@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
def test_nxdomain_resolver_blocks_the_tree(lab: Lab, name: str, rdtype: str) -> None:
    response = ask(lab.port("isp-nxdomain"), name, rdtype)
    assert rcode(response) == "NXDOMAIN"
    assert response.answer == []


def test_nxdomain_resolver_blocks_exact_only_without_subdomains(lab: Lab) -> None:
    port = lab.port("isp-nxdomain")
    assert rcode(ask(port, "exact-only.test", "A")) == "NXDOMAIN"
    # No www.exact-only.test exists, and no wildcard blocks it either: the real NXDOMAIN comes from NSD.
    assert rcode(ask(port, "www.exact-only.test", "A")) == "NXDOMAIN"


def test_partial_resolver_blocks_the_apex_only(lab: Lab) -> None:
    port = lab.port("isp-partial")
    assert rcode(ask(port, "blocked-one.test", "A")) == "NXDOMAIN"
    leaked = ask(port, "www.blocked-one.test", "A")
    assert rcode(leaked) == "NOERROR"
    assert addresses(leaked, "A") == ["198.51.100.11"]


@pytest.mark.parametrize("name", ["blocked-one.test", "www.blocked-two.test", "v4only.test"])
def test_sinkhole_resolver_answers_null_addresses(lab: Lab, name: str) -> None:
    port = lab.port("isp-sinkhole")
    assert addresses(ask(port, name, "A"), "A") == ["0.0.0.0"]
    assert addresses(ask(port, name, "AAAA"), "AAAA") == ["::"]


@pytest.mark.parametrize("name", ["blocked-one.test", "www.blocked-one.test", "exact-only.test"])
def test_blockpage_resolver_answers_the_block_page_and_nodata(lab: Lab, name: str) -> None:
    port = lab.port("isp-blockpage")
    a = ask(port, name, "A")
    assert rcode(a) == "NOERROR"
    assert addresses(a, "A") == [labmod.BLOCKPAGE_ADDRESS]
    aaaa = ask(port, name, "AAAA")
    assert rcode(aaaa) == "NOERROR"
    assert aaaa.answer == []


def test_none_resolver_blocks_nothing(lab: Lab) -> None:
    port = lab.port("isp-none")
    assert addresses(ask(port, "www.blocked-one.test", "A"), "A") == ["198.51.100.11"]
    assert addresses(ask(port, "exact-only.test", "AAAA"), "AAAA") == ["2001:db8::13"]


def test_overblock_resolver_blocks_the_exemption(lab: Lab) -> None:
    assert rcode(ask(lab.port("isp-overblock"), "allowed.test", "A")) == "NXDOMAIN"


@pytest.mark.parametrize("name", [n for n in ANSWERING if n != "isp-overblock"])
def test_exemption_stays_reachable(lab: Lab, name: str) -> None:
    assert addresses(ask(lab.port(name), "allowed.test", "A"), "A") == ["198.51.100.20"]


@pytest.mark.parametrize("rdtype", ["A", "AAAA"])
def test_refuse_resolver_refuses(lab: Lab, rdtype: str) -> None:
    assert rcode(ask(lab.port("isp-refuse"), "blocked-one.test", rdtype)) == "REFUSED"
    assert rcode(ask(lab.port("isp-refuse"), labmod.CANARY, rdtype)) == "REFUSED"


def test_drop_resolver_never_answers(lab: Lab) -> None:
    with pytest.raises(dns.exception.Timeout):
        ask(lab.port("isp-drop"), labmod.CANARY, "A", timeout=0.5)
    with pytest.raises(dns.exception.Timeout):
        ask(lab.port("isp-drop"), "blocked-one.test", "A", timeout=0.5)


@pytest.mark.parametrize("name", ANSWERING)
def test_gone_does_not_exist_except_in_rpz_local_data(lab: Lab, name: str) -> None:
    response = ask(lab.port(name), "gone.test", "A")
    if name in GONE_LOCAL_DATA:
        # The RPZ of this resolver holds local data for gone.test: it answers that, not NXDOMAIN.
        assert rcode(response) == "NOERROR"
        assert addresses(response, "A") == [GONE_LOCAL_DATA[name]]
    else:
        assert rcode(response) == "NXDOMAIN"


# --- Extended DNS Errors of Unbound 1.17 with `ede: yes` (facts the classifier relies on) -----


@pytest.mark.parametrize(
    ("name", "query", "rdtype"),
    [
        ("isp-nxdomain", "blocked-one.test", "A"),
        ("isp-nxdomain", "www.blocked-one.test", "AAAA"),
        ("isp-sinkhole", "blocked-one.test", "A"),
        ("isp-blockpage", "blocked-one.test", "A"),
        ("isp-blockpage", "blocked-one.test", "AAAA"),
        ("isp-overblock", "allowed.test", "A"),
    ],
)
def test_rpz_answers_carry_no_ede(lab: Lab, name: str, query: str, rdtype: str) -> None:
    response = ask(lab.port(name), query, rdtype)
    assert response.edns >= 0
    assert ede_codes(response) == []


def test_access_control_refuse_carries_ede_prohibited(lab: Lab) -> None:
    response = ask(lab.port("isp-refuse"), "blocked-one.test", "A")
    assert ede_codes(response) == [int(dns.edns.EDECode.PROHIBITED)]
    # Without EDNS in the query there is no OPT record, so no EDE either.
    plain = ask(lab.port("isp-refuse"), "blocked-one.test", "A", edns=False)
    assert rcode(plain) == "REFUSED"
    assert ede_codes(plain) == []


# --- the files the lab writes -----------------------------------------------------------------


def test_order_file_is_the_lab_order(lab: Lab) -> None:
    order = yaml.safe_load(lab.order_path.read_text(encoding="utf-8"))
    assert order["schema"] == "blockaudit/order/1"
    assert order["id"] == "lab-order"
    assert order["case_number"] is None
    assert str(order["issued"]) == "2026-01-01"
    assert order["valid"] == {"from": order["issued"], "until": None}
    assert order["deadline"] == {"within": "P5D", "from": "issued"}
    assert [(t["domain"], t["subdomains"]) for t in order["targets"]] == [
        ("blocked-one.test", True),
        ("blocked-two.test", True),
        ("v4only.test", True),
        ("gone.test", True),
        ("exact-only.test", False),
    ]
    assert order["exemptions"] == ["allowed.test"]


def test_resolver_file_lists_every_instance(lab: Lab) -> None:
    data = yaml.safe_load(lab.resolvers_path.read_text(encoding="utf-8"))
    assert data["schema"] == "blockaudit/resolvers/1"
    assert data["canaries"] == ["canary.test"]
    by_name = {entry["name"]: entry for entry in data["resolvers"]}
    assert list(by_name) == [spec.name for spec in labmod.INSTANCES]
    for name, entry in by_name.items():
        assert entry["address"] == f"127.0.0.1:{lab.port(name)}"
        assert entry["protocol"] == "udp"
        assert entry["role"] == ("control" if name == "control" else "subject")
    assert by_name["isp-nxdomain"]["operator"] == by_name["isp-partial"]["operator"] == "ISP A"
    assert by_name["isp-blockpage"]["block"] == {"addresses": ["203.0.113.10"]}


def test_resolver_file_subset(lab: Lab, tmp_path: Path) -> None:
    path = lab.write_resolver_file(tmp_path / "r.yaml", ["isp-drop", "control"])
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [entry["name"] for entry in data["resolvers"]] == ["control", "isp-drop"]


# --- the lab's own machinery ------------------------------------------------------------------


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port held open (UDP and TCP) by this test for its whole duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        port = int(tcp.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", port))
            yield port


def test_udp_listening_reads_the_socket_table(occupied_port: int) -> None:
    assert labmod.udp_listening(occupied_port) in {True, None}
    if labmod.udp_listening(occupied_port) is True:
        assert labmod.udp_listening(labmod.free_port(taken={occupied_port})) is False


def test_free_port_skips_taken_ports(occupied_port: int) -> None:
    port = labmod.free_port(taken={occupied_port})
    assert port != occupied_port
    assert port >= 1024


@pytest.mark.parametrize("victim", ["nsd", "control"])
def test_servers_retry_on_another_port_and_stop_cleanly(
    lab_tools: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, occupied_port: int, victim: str
) -> None:
    real_free_port = labmod.free_port
    calls: list[int] = []

    def first_nsd_then_unbound_gets_a_taken_port(taken: set[int] | frozenset[int] = frozenset()) -> int:
        calls.append(0)
        if len(calls) == (1 if victim == "nsd" else 2):
            return occupied_port
        return real_free_port(taken)

    monkeypatch.setattr(labmod, "free_port", first_nsd_then_unbound_gets_a_taken_port)
    small = Lab(tmp_path / "mini", instances=[labmod.SPECS["control"]])
    with small:
        assert occupied_port not in {small.nsd_port, small.port("control")}
        assert addresses(ask(small.port("control"), "blocked-one.test", "A"), "A") == ["198.51.100.11"]
        assert small.nsd is not None
        pids = [small.nsd.process.pid, small.servers["control"].process.pid]
    log_name = "nsd.log" if victim == "nsd" else "control.log"
    assert "attempt 2" in (tmp_path / "mini" / log_name).read_text(encoding="utf-8")
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_bad_unbound_config_is_reported_and_nothing_is_left_running(
    lab_tools: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = labmod.unbound_conf

    def broken_conf(spec: labmod.UnboundSpec, root: Path, port: int, nsd_port: int) -> str:
        return original(spec, root, port, nsd_port) + "server:\n  this-option-does-not-exist: yes\n"

    monkeypatch.setattr(labmod, "unbound_conf", broken_conf)
    small = Lab(tmp_path / "broken", instances=[labmod.SPECS["control"]])
    with pytest.raises(labmod.LabError, match="unbound-checkconf") as caught:
        small.start()
    assert "this-option-does-not-exist" in str(caught.value)
    # NSD had started before the bad Unbound config was found: start() stopped it again.
    assert small.nsd is None
    assert small.servers == {}
