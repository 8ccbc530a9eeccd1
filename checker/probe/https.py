"""DNS over HTTPS (RFC 8484) with httpx, over HTTP/2 or HTTP/1.1 as the server chooses.

The query is sent to the resolver's ``url`` exactly as written (POST by default, GET with
``?dns=`` when asked), with ``Content-Type``/``Accept: application/dns-message`` and DNS ID 0.
The URL's host is looked up by the operating system if it is a name, so for an audit it should
be the resolver's IP address (or a name that resolves to it without asking the audited
resolver); the certificate must be valid for that host. TLS offers ALPN ``h2`` and ``http/1.1``,
so servers that speak only HTTP/2 (Unbound's ``https-port``) and only HTTP/1.1 are both asked.

Inside ``async with clients():`` (the engine opens one per pass) all queries to one URL share
one ``httpx.AsyncClient``: one TLS handshake, then HTTP/2 streams or HTTP/1.1 keep-alive; every
client is closed when the block ends. Outside such a block each query gets a client of its own.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import dns.message
import httpx

from checker.probe.message import parse_response
from checker.probe.tls import describe_tls_error
from checker.probe.udp import Exchange

MEDIA_TYPE = "application/dns-message"
MAX_BODY = 65_535
"""Largest DNS message; a longer body is not a DNS answer."""
ALPN = ("h2", "http/1.1")
"""Offered in the TLS handshake; the server picks one."""

ClientKey = tuple[str, str | None]
"""(URL, CA file): the queries that may share one client."""

_clients: contextvars.ContextVar[dict[ClientKey, httpx.AsyncClient] | None] = contextvars.ContextVar(
    "doh_clients", default=None,
)


@dataclass(frozen=True, slots=True)
class HttpsExchange(Exchange):
    """An exchange over DoH, with the HTTP version the server chose."""

    http_version: str | None = None
    """``HTTP/2`` or ``HTTP/1.1`` when an HTTP response came back, else None."""


@functools.lru_cache(maxsize=64)
def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying context for DoH: the system trust store, or only the CAs in ``ca_file``.

    Not the DoT context: httpx sets ALPN on the context it is given, and DoT offers none.
    Raises ``ssl.SSLError`` or ``OSError`` when ``ca_file`` cannot be read as PEM.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(list(ALPN))
    return context


def _new_client(ca_file: str | None) -> httpx.AsyncClient:
    # trust_env=False: no proxy, no .netrc, no SSL_CERT_FILE: the resolver itself is audited.
    return httpx.AsyncClient(verify=client_context(ca_file), http1=True, http2=True, trust_env=False,
                             follow_redirects=False)


@contextlib.asynccontextmanager
async def clients() -> AsyncIterator[None]:
    """Share one client per (URL, CA file) among the DoH queries made in the block; close them all after."""
    pool: dict[ClientKey, httpx.AsyncClient] = {}
    token = _clients.set(pool)
    try:
        yield
    finally:
        _clients.reset(token)
        for client in pool.values():
            with contextlib.suppress(httpx.HTTPError, OSError):
                await client.aclose()
        pool.clear()


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions behind it (arguments, causes, contexts), nearest first."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    chain: list[BaseException] = []
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(item)
        todo.extend(item.args)
        todo.extend((item.__cause__, item.__context__))
    return chain


def _describe(exc: BaseException) -> str:
    """``tls_error: ...`` or ``network_error: ...`` for a failed exchange, from the first real cause."""
    chain = _chain(exc)
    # SSLWantRead/WriteError are how a non-blocking TLS stream asks for more data, not failures.
    tls = [e for e in chain if isinstance(e, ssl.SSLError)
           and not isinstance(e, ssl.SSLWantReadError | ssl.SSLWantWriteError)]
    if tls and isinstance(tls[0], ssl.SSLEOFError):
        return "network_error: the server closed the TLS connection without an HTTP response"
    if tls:
        return describe_tls_error(tls[0])
    system = [e for e in chain if isinstance(e, OSError) and not isinstance(e, ssl.SSLError)]
    if system:
        return f"network_error: {system[0].strerror or system[0]}"
    return f"network_error: {type(exc).__name__}: {exc}"


async def _fetch(
    client: httpx.AsyncClient, wire: bytes, url: str, timeout: float, method: str,
) -> tuple[int, str, bytes, str]:
    """Status, content type, at most ``MAX_BODY + 1`` bytes of the body, and the HTTP version."""
    headers = {"Accept": MEDIA_TYPE}
    limits = httpx.Timeout(timeout)
    if method == "get":
        encoded = base64.urlsafe_b64encode(wire).rstrip(b"=").decode("ascii")
        with_query = httpx.URL(url).copy_merge_params({"dns": encoded})  # keeps a query the URL has
        request = client.build_request("GET", with_query, headers=headers, timeout=limits)
    else:
        headers["Content-Type"] = MEDIA_TYPE
        request = client.build_request("POST", url, content=wire, headers=headers, timeout=limits)
    response = await client.send(request, stream=True)
    try:
        body = b""
        if response.status_code == 200:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    break
        return response.status_code, response.headers.get("Content-Type", ""), body, response.http_version
    finally:
        await response.aclose()


async def https(
    query: dns.message.Message, url: str, timeout: float,
    *, ca_file: str | None = None, method: str = "post",
) -> HttpsExchange:
    """One DoH attempt. ``query`` should carry ID 0 (RFC 8484 §4.1); the answer must match it."""
    try:
        client_context(ca_file)
    except (ssl.SSLError, OSError) as exc:
        return HttpsExchange(None, None, f"tls_error: cannot load CA file {ca_file}: {exc}")
    wire = query.to_wire()
    pool = _clients.get()
    try:
        if pool is None:
            async with _new_client(ca_file) as client:
                status, content_type, body, version = await _fetch(client, wire, url, timeout, method)
        else:
            shared = pool.get((url, ca_file))
            if shared is None:
                shared = pool[(url, ca_file)] = _new_client(ca_file)
            status, content_type, body, version = await _fetch(shared, wire, url, timeout, method)
    except httpx.TimeoutException:
        return HttpsExchange(None, None, "timeout")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return HttpsExchange(None, None, _describe(exc))
    except OSError as exc:
        return HttpsExchange(None, None, f"network_error: {exc.strerror or exc}")
    if status != 200:
        return HttpsExchange(None, None, f"http_error: {status}", http_version=version)
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media != MEDIA_TYPE:
        return HttpsExchange(
            None, None, f"http_error: content-type {media or 'missing'!r} is not {MEDIA_TYPE}", rejected=1,
            http_version=version,
        )
    if len(body) > MAX_BODY:
        return HttpsExchange(None, None, "http_error: body longer than a DNS message", rejected=1,
                             http_version=version)
    response = parse_response(query, body)
    if response is None:
        return HttpsExchange(None, None, "http_error: body is not a DNS answer to the query", rejected=1,
                             http_version=version)
    return HttpsExchange(body, response, None, http_version=version)
