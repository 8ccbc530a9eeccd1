"""Table tests of the pure HTTP/TLS judgement: which results want web evidence, and what it settles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress

import pytest

from checker import settle
from checker.models import (
    BlockSignals,
    Certificate,
    Fetch,
    Fingerprint,
    Method,
    Query,
    QueryKind,
    Reason,
    Result,
    Source,
    Verdict,
)
from tests.test_classify import NAME, obs

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SOURCE = Source("https://example.org/isp-block-page", "the ISP documents its block page")
PAGE_FP = Fingerprint(
    id="isp-page", description="ISP T block page", source=SOURCE,
    body=(r"blocked by order of the court",), operators=("ISP T",),
)
CERT_FP = Fingerprint(id="isp-cert", description="ISP T block server", source=SOURCE,
                      cert_subject=(r"CN=block\.isp-t\.example",))
FPS = (PAGE_FP, CERT_FP)
NONE = BlockSignals()
DECLARED = BlockSignals(addresses=frozenset({ipaddress.ip_address("203.0.113.10")}))


def result(verdict: Verdict, reason: Reason | None = None, kind: QueryKind = QueryKind.ORDERED,
           addrs: tuple[str, ...] = ("198.51.100.7",), aaaa: tuple[str, ...] = ()) -> Result:
    observations = (obs("A", "NOERROR", addrs), obs("AAAA", "NOERROR", aaaa))
    return Result(Query(NAME, NAME, kind, ("order-1",)), "isp", verdict, None, reason, "A: 198.51.100.7",
                  observations)


def cert(valid: bool, subject: str = f"CN={NAME}") -> Certificate:
    return Certificate(subject=subject, issuer="CN=test CA", names=(NAME,), not_before=T0, not_after=T0,
                       sha256="ab" * 32, valid=valid, error=None if valid else "certificate is not trusted")


def fetch(scheme: str = "http", *, status: int | None = 200, body: bytes = b"", certificate: Certificate | None = None,
          error: str | None = None, title: str | None = None) -> Fetch:
    return Fetch(name=NAME, address="198.51.100.7", port=443 if scheme == "https" else 80, scheme=scheme,
                 started_at=T0, elapsed_ms=3.0, status=status, title=title, body=body, certificate=certificate,
                 error=error)


DIFFERS = result(Verdict.INCONCLUSIVE, Reason.ANSWER_DIFFERS)
ACCESSIBLE = result(Verdict.ACCESSIBLE)
BLOCK_BODY = b"<html><title>Blocked</title>This site is blocked by order of the court.</html>"
REAL_SITE = fetch("https", certificate=cert(True), title="The real site")


@pytest.mark.parametrize(
    ("item", "signals", "wanted"),
    [
        (DIFFERS, NONE, True),
        (DIFFERS, DECLARED, True),
        (ACCESSIBLE, NONE, True),
        (ACCESSIBLE, DECLARED, False),  # the resolver's block page is known: its absence is telling
        (result(Verdict.ACCESSIBLE, kind=QueryKind.EXEMPTION), NONE, False),
        (result(Verdict.INCONCLUSIVE, Reason.TIMEOUT), NONE, False),
        (result(Verdict.BLOCKED), NONE, False),
        (result(Verdict.DEAD, Reason.NOT_FOUND), NONE, False),
    ],
)
def test_wants_web(item: Result, signals: BlockSignals, wanted: bool) -> None:
    assert settle.wants_web(item, signals) is wanted


def test_web_addresses_skip_sinkholes_and_declared_block_addresses() -> None:
    item = result(Verdict.INCONCLUSIVE, Reason.ANSWER_DIFFERS,
                  addrs=("198.51.100.7", "0.0.0.0", "203.0.113.10", "198.51.100.7", "198.51.100.8"),
                  aaaa=("2001:db8::7", "::"))
    assert settle.web_addresses(item, DECLARED) == ("198.51.100.7", "198.51.100.8", "2001:db8::7")
    assert settle.web_addresses(item, DECLARED, limit=1) == ("198.51.100.7",)


@pytest.mark.parametrize(
    ("case", "item", "fetches", "verdict", "method", "reason", "says"),
    [
        ("body-fingerprint", DIFFERS, (fetch(body=BLOCK_BODY),), Verdict.BLOCKED, Method.BLOCKPAGE, None,
         "isp-page"),
        ("cert-fingerprint", DIFFERS, (fetch("https", certificate=cert(False, "CN=block.isp-t.example")),),
         Verdict.BLOCKED, Method.BLOCKPAGE, None, "isp-cert"),
        ("valid-certificate", DIFFERS, (REAL_SITE,), Verdict.ACCESSIBLE, None, None, "valid for the name"),
        ("untrusted-certificate", DIFFERS, (fetch("https", certificate=cert(False)),), Verdict.INCONCLUSIVE, None,
         Reason.ANSWER_DIFFERS, "did not settle"),
        ("errors-are-not-blocks", DIFFERS, (fetch("https", status=None, error="connection refused"),
                                            fetch(status=None, error="timed out after 3.0 s")),
         Verdict.INCONCLUSIVE, None, Reason.ANSWER_DIFFERS, "connection refused"),
        ("unknown-page", DIFFERS, (fetch(body=b"<title>Welcome</title>", title="Welcome"),),
         Verdict.INCONCLUSIVE, None, Reason.ANSWER_DIFFERS, "\u201cWelcome\u201d"),
        ("contradiction", DIFFERS, (fetch(body=BLOCK_BODY), REAL_SITE), Verdict.INCONCLUSIVE, None,
         Reason.ANSWER_DIFFERS, "disagree"),
        ("intercepted-http", ACCESSIBLE, (fetch(body=BLOCK_BODY),), Verdict.BLOCKED, Method.BLOCKPAGE, None,
         "block page"),
        ("accessible-confirmed", ACCESSIBLE, (REAL_SITE,), Verdict.ACCESSIBLE, None, None, "site itself"),
        ("accessible-stays", ACCESSIBLE, (fetch(status=None, error="connection refused"),), Verdict.ACCESSIBLE,
         None, None, "did not settle"),
        ("exemption-block-page", result(Verdict.INCONCLUSIVE, Reason.ANSWER_DIFFERS, kind=QueryKind.EXEMPTION),
         (fetch(body=BLOCK_BODY),), Verdict.OVERBLOCKED, Method.BLOCKPAGE, None, "isp-page"),
    ],
)
def test_settle(case: str, item: Result, fetches: tuple[Fetch, ...], verdict: Verdict, method: Method | None,
                reason: Reason | None, says: str) -> None:
    settled = settle.settle(item, fetches, FPS)
    assert (settled.verdict, settled.method, settled.reason) == (verdict, method, reason), case
    assert says in settled.detail, settled.detail
    assert settled.detail.startswith(item.detail)
    assert settled.web == fetches
    assert settled.observations == item.observations


def test_no_fetch_changes_nothing() -> None:
    assert settle.settle(DIFFERS, (), FPS) is DIFFERS


def test_a_fingerprint_out_of_scope_is_not_used_by_the_caller() -> None:
    # settle judges with the fingerprints it is given; scoping is the caller's (for_resolver).
    assert settle.settle(DIFFERS, (fetch(body=BLOCK_BODY),), (CERT_FP,)).verdict is Verdict.INCONCLUSIVE


def test_describe_fetch_names_address_status_title_certificate_and_redirects() -> None:
    item = dataclasses.replace(REAL_SITE, address="2001:db8::7", redirect_elsewhere="https://elsewhere.example/")
    text = settle.describe_fetch(item)
    assert text.startswith(f"https://{NAME}/ at [2001:db8::7]:443: HTTP 200 \u201cThe real site\u201d")
    assert "redirects to https://elsewhere.example/ (not followed)" in text
    assert f"certificate CN={NAME} from CN=test CA, valid for the name" in text
