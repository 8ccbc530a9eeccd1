"""HTTP and TLS evidence from one address a resolver answered: what it serves for the name, as facts.

Every TCP connection goes to the given address and nowhere else: the URL's host is the IP literal
(no DNS lookup ever), the ``Host`` header and the TLS server name (SNI) carry the name. For https
the certificate is first captured in a handshake of its own (verified against the trust store and
for the name, and captured again without verification when that fails), then the page is fetched
over a connection pinned to that very certificate (urllib3 ``assert_fingerprint``), so the body
recorded is the one served with the certificate recorded, valid or not.

Redirects are followed by hand, only to the same name and always to the same address. A watchdog
shuts every socket of a fetch down when its deadline passes, so a server that drips its handshake,
headers or body cannot hold the fetch longer. Network trouble is data (``Fetch.error``), never an
exception; only a malformed argument (an address that is not an IP address, an unknown scheme)
raises ``ValueError``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import hashlib
import html
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import requests
import requests.utils
import urllib3.exceptions
from cryptography import x509
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from checker import __version__
from checker.models import Certificate, Fetch

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
KEPT_HEADERS = ("Server", "Location", "Content-Type", "Content-Length")
"""Response headers recorded, in this order; cookies and everything else are dropped."""
HEADER_CAP = 300
"""Longest header value recorded."""
TITLE_WINDOW = 64 * 1024
"""The title is looked for in this much of the body."""
TITLE_CAP = 200
"""Longest title recorded."""
CHUNK = 64 * 1024
"""Largest single read of the body."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class WebSettings:
    """How one evidence fetch behaves."""

    connect_timeout: float = 3.0
    """Seconds to wait for a TCP connection."""
    read_timeout: float = 5.0
    """Seconds to wait for a TLS handshake, or for any single read of the response."""
    deadline: float = 15.0
    """Seconds the whole fetch may take, certificate capture and redirects included."""
    max_redirects: int = 3
    """Same-name redirects followed at most."""
    max_body: int = 256 * 1024
    """Bytes of the body kept; the rest is not read."""
    ca_bundle: str | None = None
    """PEM file of the CAs that verify certificates; ``None``: the bundle requests uses (certifi)."""
    http_port: int = 80
    """Port for http."""
    https_port: int = 443
    """Port for https."""
    user_agent: str = f"blockaudit/{__version__} (+compliance check)"
    """User-Agent header sent."""

    def port(self, scheme: str) -> int:
        """The port used for ``scheme``."""
        return self.https_port if scheme == "https" else self.http_port


# --------------------------------------------------------------------------- the deadline watchdog


class _Watchdog:
    """Shuts down every socket registered with it once ``seconds`` have passed.

    It keeps a duplicate of each socket, because TLS wrapping detaches the original object; a
    shutdown through the duplicate ends the connection under every blocked read or handshake.
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    def expired(self) -> bool:
        """The deadline has passed and the sockets were shut down."""
        with self._lock:
            return self._expired

    def register(self, sock: socket.socket) -> None:
        """Watch ``sock``; shut it down at once if the deadline has already passed."""
        watched = sock.dup()
        with self._lock:
            self._sockets.append(watched)
            if self._expired:
                _shutdown(watched)

    def release(self) -> None:
        """Let go of the sockets registered so far (their connections are over), so that they close."""
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        self.release()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected (any more)
        sock.shutdown(socket.SHUT_RDWR)


_WATCHDOG: contextvars.ContextVar[_Watchdog | None] = contextvars.ContextVar("blockaudit_web_watchdog", default=None)


def _watch(sock: socket.socket) -> None:
    watchdog = _WATCHDOG.get()
    if watchdog is not None:
        watchdog.register(sock)


def _release() -> None:
    watchdog = _WATCHDOG.get()
    if watchdog is not None:
        watchdog.release()


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    """No retries, watched sockets, and (for https) SNI set to the name and the certificate pinned."""

    def __init__(self, tls: dict[str, str] | None = None) -> None:
        self._tls = dict(tls or {})
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs, **self._tls)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# --------------------------------------------------------------------------- certificates


@functools.lru_cache(maxsize=16)
def _verifying_context(ca_bundle: str) -> ssl.SSLContext:
    """Chain and hostname verification against ``ca_bundle``; raises ``ssl.SSLError``/``OSError``."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@functools.lru_cache(maxsize=1)
def _capturing_context() -> ssl.SSLContext:
    """No verification at all: only to see the certificate a server presents."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_UNTRUSTED_CODES = frozenset({2, 18, 19, 20, 21})
"""OpenSSL verify codes of an issuer the trust store does not know (or a self-signed certificate)."""
_EXPIRED, _NOT_YET_VALID, _HOSTNAME_MISMATCH = 10, 9, 62


class _TLSFailure(Exception):
    """The capture handshake could not complete; the message is the Fetch error."""


def _capture_certificate(
    name: str, address: str, port: int, settings: WebSettings, deadline: float, at: dt.datetime,
) -> Certificate:
    """The certificate served for ``name`` at ``address``, with its verification result.

    Raises ``_TLSFailure`` (and nothing else for network trouble) when no certificate was seen.
    """
    bundle = settings.ca_bundle or requests.utils.DEFAULT_CA_BUNDLE_PATH
    try:
        verifying = _verifying_context(bundle)
    except (ssl.SSLError, OSError) as exc:
        raise _TLSFailure(f"cannot read the CA bundle {bundle}: {exc.strerror or exc}") from exc
    try:
        der = _handshake(name, address, port, verifying, settings, deadline)
    except ssl.SSLCertVerificationError as exc:
        der = _handshake(name, address, port, _capturing_context(), settings, deadline)
        return _certificate(der, name, at, _verify_reason(exc, der, name))
    return _certificate(der, name, at, None)


def _handshake(
    name: str, address: str, port: int, context: ssl.SSLContext, settings: WebSettings, deadline: float,
) -> bytes:
    """One TLS handshake with SNI ``name``; the DER certificate. Verification errors propagate."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            _watch(sock)
            _connect(sock, address, port, settings, deadline)
            handshake = min(settings.read_timeout, _remaining(deadline))
            if handshake <= 0:
                raise _TLSFailure(_deadline_error(settings))
            sock.settimeout(handshake)
            try:
                with context.wrap_socket(sock, server_hostname=name) as tls:
                    der = tls.getpeercert(binary_form=True)
            except ssl.SSLCertVerificationError:
                raise
            except TimeoutError as exc:
                message = f"TLS handshake failed: timed out after {_seconds(handshake)} s"
                raise _TLSFailure(_timed_out(message, deadline, settings)) from exc
            except ssl.SSLError as exc:
                raise _TLSFailure(f"TLS handshake failed: {_ssl_reason(exc)}") from exc
            except OSError as exc:
                raise _TLSFailure(f"TLS handshake failed: {_os_reason(exc)}") from exc
    finally:
        _release()
    if not der:
        raise _TLSFailure("TLS handshake failed: the server presented no certificate")
    return der


def _connect(sock: socket.socket, address: str, port: int, settings: WebSettings, deadline: float) -> None:
    """TCP connect within the connect timeout and the deadline; ``_TLSFailure`` when it fails."""
    connect = min(settings.connect_timeout, _remaining(deadline))
    if connect <= 0:
        raise _TLSFailure(_deadline_error(settings))
    try:
        sock.settimeout(connect)
        sock.connect((address, port))
    except TimeoutError as exc:
        raise _TLSFailure(_timed_out(f"timed out after {_seconds(connect)} s", deadline, settings)) from exc
    except OSError as exc:
        raise _TLSFailure(_os_reason(exc)) from exc


def _verify_reason(exc: ssl.SSLCertVerificationError, der: bytes, name: str) -> str:
    """Why OpenSSL refused the certificate, in words (the first problem it met)."""
    code = exc.verify_code
    message = str(exc.verify_message or exc.reason or exc)
    if code in _UNTRUSTED_CODES:
        issuer = _safe_issuer(der)
        return f"untrusted issuer{f' ({issuer})' if issuer else ''}: {message}"
    if code == _HOSTNAME_MISMATCH:
        return f"not valid for {name}"
    if code == _EXPIRED:
        return "expired"
    if code == _NOT_YET_VALID:
        return "not yet valid"
    return message


def _safe_issuer(der: bytes) -> str | None:
    try:
        return x509.load_der_x509_certificate(der).issuer.rfc4514_string()
    except ValueError:
        return None


def _certificate(der: bytes, name: str, at: dt.datetime, error: str | None) -> Certificate:
    """The record of a DER certificate; ``error`` None means it verified for ``name``."""
    sha256 = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return Certificate("", "", (), None, None, sha256, False, error or f"the certificate cannot be parsed: {exc}")
    dns_names, ips = _san(cert)
    if error is not None:
        # OpenSSL names the first problem only; add what else the certificate shows at this time.
        extra: list[str] = []
        if f"not valid for {name}" not in error and not _matches(name, dns_names, cert):
            extra.append(f"not valid for {name}")
        if "expired" not in error and cert.not_valid_after_utc < at:
            extra.append(f"expired on {cert.not_valid_after_utc.isoformat()}")
        if "not yet valid" not in error and cert.not_valid_before_utc > at:
            extra.append(f"not valid before {cert.not_valid_before_utc.isoformat()}")
        error = "; ".join([error, *extra])
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        names=(*dns_names, *ips),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=sha256,
        valid=error is None,
        error=error,
    )


def _san(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """DNS names and IP addresses of the subjectAltName (empty when absent or malformed)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    dns_names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return dns_names, ips


def _matches(name: str, dns_names: Sequence[str], cert: x509.Certificate) -> bool:
    """RFC 6125 matching: SAN DNS names (a whole leftmost ``*`` label at most), else the subject CN."""
    patterns: Sequence[str] = dns_names
    if not patterns:
        try:
            patterns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        except ValueError:
            return False
    host = _canonical_host(name)
    for written in patterns:
        pattern = _canonical_host(written)
        if pattern == host:
            return True
        if pattern.startswith("*.") and "*" not in pattern[2:] and pattern.count(".") >= 2:
            head, dot, rest = host.partition(".")
            if head and dot and rest == pattern[2:]:
                return True
    return False


# --------------------------------------------------------------------------- fetching


@dataclass(slots=True)
class _Page:
    """The last response received."""

    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    truncated: bool = False


@dataclass(slots=True)
class _Hop:
    """One request: the response (if any came), its redirect Location, and what went wrong."""

    page: _Page | None = None
    location: str | None = None
    error: str | None = None


def fetch(
    name: str, address: str, scheme: str, settings: WebSettings,
    *, clock: Callable[[], dt.datetime] = _utcnow,
) -> Fetch:
    """GET ``scheme://name/`` from ``address`` (and only there), following same-name redirects.

    ``name`` is an A-label domain; ``address`` an IPv4 or IPv6 address. Raises ``ValueError`` for
    arguments that are not that, or a scheme other than http and https; never for network trouble.
    """
    ip = ipaddress.ip_address(address)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be http or https, not {scheme!r}")
    if not name.isascii() or not _canonical_host(name):
        raise ValueError(f"name must be a domain in A-label form, not {name!r}")
    address = str(ip)
    started_at = clock()
    start = time.monotonic()
    trace = _Trace(_canonical_host(name), address, settings, start + settings.deadline, started_at)
    watchdog = _Watchdog(settings.deadline)
    token = _WATCHDOG.set(watchdog)
    try:
        with watchdog:
            _follow(trace, scheme, watchdog)
    finally:
        _WATCHDOG.reset(token)
    return Fetch(
        name=name,
        address=address,
        port=settings.port(scheme),
        scheme=scheme,
        started_at=started_at,
        elapsed_ms=round((time.monotonic() - start) * 1000, 1),
        status=trace.page.status,
        headers=trace.page.headers,
        title=page_title(trace.page.body, dict(trace.page.headers).get("Content-Type")),
        body=trace.page.body,
        body_truncated=trace.page.truncated,
        redirects=tuple(trace.redirects),
        redirect_elsewhere=trace.elsewhere,
        certificate=trace.certificate,
        error=trace.error,
    )


@dataclass(slots=True)
class _Trace:
    """One fetch as it goes: where it is sent, and what it has seen so far."""

    name: str
    """The name on the wire (SNI, Host, URLs): no trailing dot, lower case."""
    address: str
    settings: WebSettings
    deadline: float
    """``time.monotonic()`` value the whole fetch must end by."""
    started_at: dt.datetime
    page: _Page = field(default_factory=_Page)
    redirects: list[str] = field(default_factory=list)
    elsewhere: str | None = None
    certificate: Certificate | None = None
    error: str | None = None


def _follow(trace: _Trace, scheme: str, watchdog: _Watchdog) -> None:
    """Request ``scheme://name/`` and its same-name redirects, recording everything in ``trace``.

    Requests go straight to a transport adapter, without a Session: no proxy, .netrc or
    REQUESTS_CA_BUNDLE from the environment (as with trust_env=False), no cookies carried, and no
    redirect machinery (a Session parses each Location even with allow_redirects=False).
    """
    settings = trace.settings
    adapters: dict[str, _PinnedAdapter] = {"http": _PinnedAdapter()}
    current = f"{scheme}://{_authority(trace.name, scheme, settings)}/"
    while True:
        hop_scheme = urllib.parse.urlsplit(current).scheme
        if hop_scheme == "https" and trace.certificate is None:
            try:
                trace.certificate = _capture_certificate(
                    trace.name, trace.address, settings.https_port, settings, trace.deadline, trace.started_at,
                )
            except _TLSFailure as exc:
                trace.error = _deadline_error(settings) if watchdog.expired() else str(exc)
                return
            adapters["https"] = _PinnedAdapter({
                "server_hostname": trace.name, "assert_fingerprint": trace.certificate.sha256,
            })
        adapter = adapters[hop_scheme]
        try:
            hop = _get(adapter, current, trace, watchdog)
        finally:
            adapter.close()  # never reuse a connection: the server may have hung up meanwhile
            _release()
        trace.page = hop.page or trace.page
        if hop.error is not None or hop.location is None:
            trace.error = hop.error
            return
        try:
            target = urllib.parse.urljoin(current, hop.location)
            same = _same_site(target, trace.name, settings)
        except ValueError:
            trace.error = f"the redirect's Location cannot be read: {hop.location[:HEADER_CAP]!r}"
            return
        if not same:
            trace.elsewhere = target
            return
        if len(trace.redirects) >= settings.max_redirects:
            trace.error = f"stopped after {settings.max_redirects} redirects"
            return
        current = _rewrite(target, trace.name, settings)
        trace.redirects.append(current)


def fetch_all(
    name: str, addresses: Sequence[str], settings: WebSettings,
    *, schemes: Sequence[str] = ("https", "http"), limit: int = 4,
) -> tuple[Fetch, ...]:
    """``fetch`` for the first ``limit`` distinct addresses, each over each scheme, in order, one at a
    time. Raises ``ValueError`` like ``fetch`` for an address that is not an IP address."""
    distinct: list[str] = []
    for address in addresses:
        canonical = str(ipaddress.ip_address(address))
        if canonical not in distinct:
            distinct.append(canonical)
    return tuple(
        fetch(name, address, scheme, settings) for address in distinct[:max(limit, 0)] for scheme in schemes
    )


def _get(adapter: _PinnedAdapter, url: str, trace: _Trace, watchdog: _Watchdog) -> _Hop:
    """One GET of ``url`` (written with the name) at the trace's address."""
    name, address, settings, deadline = trace.name, trace.address, trace.settings, trace.deadline
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme
    port = settings.port(scheme)
    host = f"[{address}]" if ":" in address else address
    wire_url = urllib.parse.urlunsplit((scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))
    remaining = _remaining(deadline)
    if remaining <= 0:
        return _Hop(error=_deadline_error(settings))
    connect, read = min(settings.connect_timeout, remaining), min(settings.read_timeout, remaining)
    headers = {
        "Host": _authority(name, scheme, settings),
        "User-Agent": settings.user_agent,
        "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
        "Accept-Encoding": "identity",
        "Connection": "close",
    }
    try:
        request = requests.Request("GET", wire_url, headers=headers).prepare()
        response = adapter.send(
            request, stream=True, timeout=(connect, read), proxies={},
            verify=False,  # https: the certificate is pinned by fingerprint; its validity was judged apart
        )
    except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        if watchdog.expired():
            return _Hop(error=_deadline_error(settings))
        return _Hop(error=_timed_out(_describe(exc, connect, read), deadline, settings))
    if watchdog.expired():  # the status line or headers were cut short: nothing of them is trustworthy
        response.close()
        return _Hop(error=_deadline_error(settings))
    with response:
        kept = _kept_headers(response.headers)
        location = response.headers.get("Location")
        if response.status_code in REDIRECT_STATUSES and location:
            return _Hop(_Page(response.status_code, kept), location)
        body, truncated, error = _read_body(response, settings, read)
    page = _Page(response.status_code, kept, body, truncated)
    if watchdog.expired():
        return _Hop(page, error=_deadline_error(settings, reading=True))
    if error is not None:
        error = _timed_out(error, deadline, settings, reading=True)
    return _Hop(page, error=error)


def _read_body(response: requests.Response, settings: WebSettings, read: float) -> tuple[bytes, bool, str | None]:
    """At most ``max_body`` bytes of the body (decoded if the server compressed it anyway), whether
    there was more, and what went wrong while reading."""
    chunks: list[bytes] = []
    size = 0
    raw = response.raw
    # read1 returns what one read brings (a slow server's bytes are kept as they come); it decodes a
    # body compressed despite "Accept-Encoding: identity" with output capped at what is asked for.
    reader = raw.read1 if hasattr(raw, "read1") else raw.read  # urllib3 1.x has no read1
    try:
        while size <= settings.max_body:
            chunk = reader(min(CHUNK, settings.max_body + 1 - size), decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
        body = b"".join(chunks)
        return body[: settings.max_body], len(body) > settings.max_body, _describe(exc, read, read, body=True)
    body = b"".join(chunks)
    return body[: settings.max_body], len(body) > settings.max_body, None


# --------------------------------------------------------------------------- words and small helpers


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


def _seconds(value: float) -> str:
    """``3.0``, ``0.25``: a timeout as people write it."""
    text = f"{value:.3g}"
    return text if "." in text or "e" in text else f"{text}.0"


DEADLINE_SLACK = 0.05
"""A timeout this close to the deadline is the deadline's doing (the timeout was cut to fit it)."""


def _timed_out(message: str, deadline: float, settings: WebSettings, *, reading: bool = False) -> str:
    """``message``, or the deadline's sentence when a timeout fired because the deadline was near."""
    if message.startswith(("timed out", "TLS handshake failed: timed out")) and _remaining(deadline) <= DEADLINE_SLACK:
        return _deadline_error(settings, reading=reading)
    return message


def _deadline_error(settings: WebSettings, *, reading: bool = False) -> str:
    what = " while reading the body" if reading else ""
    return f"timed out: the whole fetch took longer than {_seconds(settings.deadline)} s{what}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (requests and urllib3 nest them in args and reasons)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend(item.args)
        todo.extend((item.__cause__, item.__context__, getattr(item, "reason", None)))


def _describe(exc: BaseException, connect: float, read: float, *, body: bool = False) -> str:
    """A short sentence for a failed request or body read."""
    chain = list(_chain(exc))
    for item in chain:
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, ConnectionResetError) and not isinstance(item, http.client.RemoteDisconnected):
            return "connection reset by the server"
    # urllib3's NewConnectionError is a ConnectTimeoutError too: requests tells them apart.
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"timed out after {_seconds(connect)} s"
    if any(isinstance(e, TimeoutError | requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError)
           for e in chain):
        return f"timed out after {_seconds(read)} s{' while reading the body' if body else ''}"
    for item in chain:
        if isinstance(item, http.client.RemoteDisconnected):
            return "the server closed the connection without a response"
        if isinstance(item, http.client.IncompleteRead):
            return "the body was cut short: the server closed the connection early"
        if isinstance(item, http.client.LineTooLong):
            return "not an HTTP response: a header line is too long"
        if isinstance(item, http.client.BadStatusLine):
            line = str(item.args[0]) if item.args else ""
            return f"not an HTTP response: {line[:80]!r}"
        if isinstance(item, urllib3.exceptions.SSLError) and "fingerprint" in str(item).lower():
            return "the server presented a different certificate on the second connection"
        if isinstance(item, ssl.SSLError):
            return f"TLS handshake failed: {_ssl_reason(item)}"
    for item in chain:
        if isinstance(item, OSError) and item.errno is not None:
            return _os_reason(item)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the body was cut short: broken chunked encoding"
    if isinstance(exc, requests.exceptions.ContentDecodingError | urllib3.exceptions.DecodeError):
        return "the body cannot be decoded as its Content-Encoding says"
    return f"{type(exc).__name__}: {exc}"[:HEADER_CAP]


def _ssl_reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).replace("_", " ").lower()


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    return str(exc.strerror or exc).lower()


def _canonical_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _authority(name: str, scheme: str, settings: WebSettings) -> str:
    """``name`` or ``name:port`` when the port is not the scheme's default: the Host header and URL host."""
    port = settings.port(scheme)
    return name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"


def _same_site(url: str, name: str, settings: WebSettings) -> bool:
    """``url`` is http(s) on ``name``, on the scheme's default port or the one configured for it.

    Raises ``ValueError`` for a URL that cannot be parsed (a bad port, a broken IPv6 literal).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in SCHEMES or parts.hostname is None:
        return False
    if _canonical_host(parts.hostname) != _canonical_host(name):
        return False
    return parts.port in (None, DEFAULT_PORTS[parts.scheme], settings.port(parts.scheme))


def _rewrite(url: str, name: str, settings: WebSettings) -> str:
    """The same-site ``url`` written with the name and the configured port, without fragment."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(
        (parts.scheme, _authority(name, parts.scheme, settings), parts.path or "/", parts.query, ""),
    )


def _kept_headers(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    kept: list[tuple[str, str]] = []
    for key in KEPT_HEADERS:
        value = headers.get(key)
        if value is not None:
            kept.append((key, str(value).strip()[:HEADER_CAP]))
    return tuple(kept)


_TITLE = re.compile(rb"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def page_title(body: bytes, content_type: str | None = None) -> str | None:
    """The HTML ``<title>`` in the first 64 KiB of ``body``: unescaped, whitespace collapsed, at most
    200 characters; ``None`` when there is none."""
    window = body[:TITLE_WINDOW]
    match = _TITLE.search(window)
    if match is None:
        return None
    text = _decode(match.group(1), window, content_type)
    title = " ".join(html.unescape(text).split())[:TITLE_CAP]
    return title or None


def _decode(raw: bytes, document: bytes, content_type: str | None) -> str:
    """``raw`` in the charset the header or a ``<meta>`` declares, else UTF-8, else Windows-1252."""
    candidates: list[str] = []
    if content_type and (found := _HEADER_CHARSET.search(content_type)):
        candidates.append(found.group(1))
    if meta := _META_CHARSET.search(document):
        candidates.append(meta.group(1).decode("ascii"))
    candidates.append("utf-8")
    for charset in candidates:
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("cp1252", errors="replace")
