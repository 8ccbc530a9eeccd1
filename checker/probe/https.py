"""DNS over HTTPS (RFC 8484) with requests, run in a worker thread.

The query is sent to the resolver's ``url`` exactly as written (POST by default, GET with
``?dns=`` when asked), with ``Content-Type``/``Accept: application/dns-message`` and DNS ID 0.
The URL's host is looked up by the operating system if it is a name, so for an audit it should
be the resolver's IP address (or a name that resolves to it without asking the audited
resolver). requests speaks HTTP/1.1, which RFC 8484 allows though it recommends HTTP/2: a server
that speaks only HTTP/2 (Unbound's ``https-port``) cannot be asked this way.
"""

from __future__ import annotations

import asyncio
import base64
import ssl

import dns.message
import requests

from checker.probe.message import parse_response
from checker.probe.tls import describe_tls_error
from checker.probe.udp import Exchange

MEDIA_TYPE = "application/dns-message"
MAX_BODY = 65_535
"""Largest DNS message; a longer body is not a DNS answer."""


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` error inside a requests/urllib3 exception chain, if any."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLError):
            return item
        todo.extend(item.args)
        todo.extend((item.__cause__, item.__context__, getattr(item, "reason", None)))
    return None


def _describe(exc: BaseException) -> str:
    cause = _tls_cause(exc)
    if isinstance(cause, ssl.SSLEOFError):
        # Also what a DoH server that speaks only HTTP/2 (Unbound's https-port) does to HTTP/1.1.
        return "network_error: the server closed the TLS connection without an HTTP/1.1 response"
    if cause is not None:
        return describe_tls_error(cause)
    if isinstance(exc, requests.exceptions.SSLError):
        return f"tls_error: {exc}"
    return f"network_error: {type(exc).__name__}: {exc}"


def _fetch(
    wire: bytes, url: str, timeout: float, ca_file: str | None, method: str,
) -> tuple[int, str, bytes]:
    """Status, content type and at most ``MAX_BODY + 1`` bytes of the body."""
    headers = {"Accept": MEDIA_TYPE}
    verify: bool | str = ca_file if ca_file is not None else True
    with requests.Session() as session:
        session.trust_env = False  # no proxy, no .netrc: the resolver itself is audited
        if method == "get":
            encoded = base64.urlsafe_b64encode(wire).rstrip(b"=").decode("ascii")
            response = session.get(
                url, params={"dns": encoded}, headers=headers, timeout=(timeout, timeout),
                verify=verify, stream=True, allow_redirects=False,
            )
        else:
            headers["Content-Type"] = MEDIA_TYPE
            response = session.post(
                url, data=wire, headers=headers, timeout=(timeout, timeout),
                verify=verify, stream=True, allow_redirects=False,
            )
        with response:
            body = b""
            if response.status_code == 200:
                for chunk in response.iter_content(chunk_size=8192):
                    body += chunk
                    if len(body) > MAX_BODY:
                        break
            content_type = response.headers.get("Content-Type", "")
            return response.status_code, content_type, body


async def https(
    query: dns.message.Message, url: str, timeout: float,
    *, ca_file: str | None = None, method: str = "post",
) -> Exchange:
    """One DoH attempt. ``query`` should carry ID 0 (RFC 8484 §4.1); the answer must match it."""
    wire = query.to_wire()
    try:
        status, content_type, body = await asyncio.to_thread(_fetch, wire, url, timeout, ca_file, method)
    except requests.exceptions.Timeout:
        return Exchange(None, None, "timeout")
    except requests.exceptions.RequestException as exc:
        return Exchange(None, None, _describe(exc))
    except OSError as exc:
        return Exchange(None, None, f"network_error: {exc.strerror or exc}")
    if status != 200:
        return Exchange(None, None, f"http_error: {status}")
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media != MEDIA_TYPE:
        return Exchange(
            None, None, f"http_error: content-type {media or 'missing'!r} is not {MEDIA_TYPE}", rejected=1,
        )
    if len(body) > MAX_BODY:
        return Exchange(None, None, "http_error: body longer than a DNS message", rejected=1)
    response = parse_response(query, body)
    if response is None:
        return Exchange(None, None, "http_error: body is not a DNS answer to the query", rejected=1)
    return Exchange(body, response, None)
