"""Pure judgement of HTTP and TLS evidence: settle what the DNS answers alone could not.

``check --http`` connects to the addresses a subject resolver answered (see
``checker.probe.web``) for two kinds of results:

* ``inconclusive/answer_differs``: an address that is neither a known block signal nor what the
  controls give (a CDN, GeoIP, or a block page nobody declared);
* ``accessible`` ordered names from a resolver that declares no block page: the DNS answer is
  the real one, but the ISP may still intercept the web traffic.

The rules, in order:

1. A fetch matches a block-page fingerprint in scope for the resolver: ``blocked/blockpage``
   (``overblocked`` for an exemption or canary). The fingerprint and its source are named.
2. An HTTPS fetch presented a certificate that verifies and is valid for the name: the server
   holds the name's key, so it is the site (or its CDN): ``accessible``.
3. Both at once is a contradiction: ``inconclusive/answer_differs``, with both named.
4. Otherwise the verdict stands, and what was seen (status, title, certificate subject, errors)
   is added to the detail. A fetch that failed is never evidence of a block.

Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from checker import fingerprints as fp
from checker.classify import is_sinkhole
from checker.models import (
    BlockSignals,
    Fetch,
    Fingerprint,
    Method,
    QueryKind,
    Reason,
    Result,
    Verdict,
)

MAX_ADDRESSES = 4
"""At most this many answered addresses are fetched for one result."""


def wants_web(result: Result, signals: BlockSignals) -> bool:
    """Whether HTTP and TLS evidence could settle or correct this result."""
    if result.verdict is Verdict.INCONCLUSIVE and result.reason is Reason.ANSWER_DIFFERS:
        return True
    declared = bool(signals.addresses or signals.cnames)
    return result.verdict is Verdict.ACCESSIBLE and result.query.kind is QueryKind.ORDERED and not declared


def web_addresses(result: Result, signals: BlockSignals, limit: int = MAX_ADDRESSES) -> tuple[str, ...]:
    """The answered addresses to connect to: real (not sinkholes, not declared block addresses),
    IPv4 first, in answer order, without repeats, at most ``limit``."""
    seen: list[str] = []
    for qtype in ("A", "AAAA"):
        for obs in result.observations:
            if obs.qtype != qtype:
                continue
            for address in obs.addresses:
                text = str(address)
                if is_sinkhole(address) or address in signals.addresses or text in seen:
                    continue
                seen.append(text)
    return tuple(seen[:limit])


def describe_fetch(fetch: Fetch) -> str:
    """One line a reader can check: what was asked of which address, and what came back."""
    where = f"{fetch.scheme}://{fetch.name}/ at {_host(fetch.address)}:{fetch.port}"
    parts: list[str] = []
    if fetch.status is not None:
        parts.append(f"HTTP {fetch.status}" + (f" \u201c{fetch.title}\u201d" if fetch.title else ""))
    if fetch.redirect_elsewhere:
        parts.append(f"redirects to {fetch.redirect_elsewhere} (not followed)")
    cert = fetch.certificate
    if cert is not None:
        state = "valid for the name" if cert.valid else f"not valid: {cert.error or 'unverified'}"
        parts.append(f"certificate {cert.subject or '(empty subject)'} from {cert.issuer or '?'}, {state}")
    if fetch.error:
        parts.append(fetch.error)
    return f"{where}: " + ("; ".join(parts) if parts else "no response")


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def first_valid_certificate(fetches: Iterable[Fetch]) -> Fetch | None:
    """The first HTTPS fetch whose certificate verifies and is valid for the name."""
    return next((f for f in fetches if f.certificate is not None and f.certificate.valid), None)


def first_match(fetches: Iterable[Fetch], fingerprints: Sequence[Fingerprint]) -> tuple[Fetch, fp.Match] | None:
    """The first fetch that matches a fingerprint, with the match."""
    for fetch in fetches:
        match = fp.match_fetch(fingerprints, fetch)
        if match is not None:
            return fetch, match
    return None


def settle(result: Result, fetches: Sequence[Fetch], fingerprints: Sequence[Fingerprint]) -> Result:
    """The result judged again with the web evidence gathered for it (kept on the result)."""
    if not fetches:
        return result
    hit = first_match(fetches, fingerprints)
    valid = first_valid_certificate(fetches)
    if hit is not None and valid is not None:
        fetch, match = hit
        detail = (f"{result.detail}; HTTP and TLS disagree: {describe_fetch(fetch)} {match.describe()}, "
                  f"yet {describe_fetch(valid)}")
        return _with(result, fetches, Verdict.INCONCLUSIVE, None, Reason.ANSWER_DIFFERS, detail)
    if hit is not None:
        fetch, match = hit
        verdict = Verdict.BLOCKED if result.query.kind is QueryKind.ORDERED else Verdict.OVERBLOCKED
        detail = f"{result.detail}; HTTP shows a block page: {describe_fetch(fetch)} {match.describe()}"
        return _with(result, fetches, verdict, Method.BLOCKPAGE, None, detail)
    if valid is not None:
        detail = f"{result.detail}; TLS shows the site itself: {describe_fetch(valid)}"
        return _with(result, fetches, Verdict.ACCESSIBLE, None, None, detail)
    seen = "; ".join(describe_fetch(f) for f in fetches)
    detail = f"{result.detail}; HTTP and TLS did not settle it ({seen})"
    return _with(result, fetches, result.verdict, result.method, result.reason, detail)


def _with(
    result: Result, fetches: Sequence[Fetch], verdict: Verdict, method: Method | None, reason: Reason | None,
    detail: str,
) -> Result:
    return dataclasses.replace(result, verdict=verdict, method=method, reason=reason, detail=detail,
                               web=tuple(fetches))
