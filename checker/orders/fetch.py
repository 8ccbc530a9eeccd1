"""Downloading a remote source (a foreign blocklist, an order file) into a local, validated cache.

:func:`fetch` streams an ``https://`` URL to a file under the cache directory while hashing and
counting it, never holding the body in memory, and returns a :class:`Fetched` record. Every
failure is one :class:`SourceError` line naming the URL.

The cache (``$XDG_CACHE_HOME/blockaudit/sources`` unless ``cache_dir`` says otherwise) keeps,
per URL, a body file and a small JSON metadata file; the key is the SHA-256 of the URL as given:

* ``<key>.json``: url, final_url, sha256, size, etag, last_modified, fetched_at. Written last
  (temporary file, fsync, rename), so it is the commit point of an entry.
* ``<key>.<sha256>.body``: the body, named by its own digest, written to a ``.part`` temporary
  file in the same directory and renamed into place only when complete and verified.

A download that fails or is interrupted therefore never becomes (or spoils) a cache entry. The
next fetch of a cached URL sends ``If-None-Match`` / ``If-Modified-Since``; a ``304 Not
Modified`` serves the cached body (``from_cache=True``). A cached body is re-hashed before it is
used; a damaged one is ignored and downloaded again. With a ``sha256`` pin, a cached body with
the pinned digest is served without any request; a downloaded body that does not match the pin is
an error naming both digests and leaves the old entry in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http
import json
import os
import re
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions

from checker import __version__
from checker.errors import BlockauditError

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 256 * MiB
"""Bodies larger than this are refused unless the caller raises ``max_bytes``."""
MAX_REDIRECTS = 5
"""At most this many redirects are followed; one more is an error."""
CHUNK_SIZE = 64 * 1024
"""The body is read, hashed and written this many bytes at a time."""
USER_AGENT = f"blockaudit/{__version__}"
CACHE_SCHEMA = "blockaudit/source-cache/1"
STALE_PART_SECONDS = 24 * 3600
"""``.part`` files of a crashed download older than this are swept on the next fetch of the URL."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class SourceError(BlockauditError):
    """A remote source cannot be fetched, is too large, fails its pin, or cannot be cached.

    The message is always one line (whitespace is collapsed); ``path`` is the URL (without any
    password), so the CLI prints ``https://host/list.txt: HTTP 404 Not Found``.
    """

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            _one_line(message), path=None if path is None else _one_line(path), line=line,
            hint=None if hint is None else _one_line(hint),
        )


@dataclass(frozen=True)
class Fetched:
    """A remote source's body, available as a local file in the cache, and how it was obtained."""

    path: Path
    """The local file holding the body (inside the cache directory; do not modify it)."""
    url: str
    """The URL as asked for (the cache key)."""
    final_url: str
    """The URL the body came from, after redirects."""
    sha256: str
    """The SHA-256 of the body, 64 lower-case hex digits."""
    size: int
    """The body's length in bytes (after any ``Content-Encoding`` was undone)."""
    etag: str | None
    """The server's ``ETag`` for the body, if it sent one."""
    last_modified: str | None
    """The server's ``Last-Modified`` for the body, verbatim, if it sent one."""
    from_cache: bool
    """True when the body was not downloaded now: a ``304`` or a pinned cache hit served it."""
    fetched_at: dt.datetime
    """When this body was downloaded (UTC); for a body served from the cache, the original time."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/blockaudit/sources``, or ``~/.cache/blockaudit/sources``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "blockaudit" / "sources"


def cache_key(url: str) -> str:
    """The cache key of a URL: the SHA-256 of the URL exactly as given."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def fetch(
    url: str,
    *,
    sha256: str | None = None,
    cache_dir: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    session: requests.Session | None = None,
    allow_http: bool = False,
) -> Fetched:
    """Download ``url`` into the cache (or revalidate the cached copy) and describe the result.

    ``sha256`` pins the body's digest (64 hex digits, an optional ``sha256:`` prefix is
    accepted). ``max_bytes`` caps the body; ``connect_timeout`` and ``read_timeout`` (seconds)
    bound connecting and each wait for data. Only ``https://`` URLs are fetched, and redirects to
    anything else are refused; ``allow_http=True`` also permits ``http://`` (for tests and
    intranet mirrors only: plain HTTP has no integrity). A ``session`` may carry proxies, headers
    or ``verify`` (its CA bundle takes precedence over ``REQUESTS_CA_BUNDLE``); its headers and
    auth are sent on every redirect hop. Raises :class:`SourceError` (one line) on any failure.
    """
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")
    if connect_timeout <= 0 or read_timeout <= 0:
        raise ValueError("timeouts must be positive")
    where = _display(url)
    pin = _parse_pin(sha256, where)
    _check_url(url, where, allow_http=allow_http, redirected_from=None)
    cache = _Cache(cache_dir if cache_dir is not None else default_cache_dir(), url, where)
    cache.prepare()
    entry = cache.load()
    if entry is not None and not cache.verify(entry):
        entry = None  # a damaged body is never served; download afresh, unconditionally
    if pin is not None and entry is not None and entry.sha256 == pin:
        return entry.fetched(from_cache=True)
    own_session = session is None
    active = requests.Session() if session is None else session
    try:
        return _download(
            active, cache, entry, pin=pin, max_bytes=max_bytes, allow_http=allow_http,
            timeouts=(connect_timeout, read_timeout),
        )
    finally:
        if own_session:
            active.close()


# --- the network -------------------------------------------------------------------------------


def _download(
    session: requests.Session, cache: _Cache, entry: _Entry | None, *, pin: str | None,
    max_bytes: int, allow_http: bool, timeouts: tuple[float, float],
) -> Fetched:
    headers = {"User-Agent": USER_AGENT}
    if entry is not None and entry.etag:
        headers["If-None-Match"] = entry.etag
    if entry is not None and entry.last_modified:
        headers["If-Modified-Since"] = entry.last_modified
    response, final_url = _follow(session, cache.url, headers, timeouts, allow_http=allow_http,
                                  where=cache.where)
    with response:
        status = response.status_code
        if status == http.HTTPStatus.NOT_MODIFIED:
            if entry is None:
                raise SourceError("the server answered 304 Not Modified to an unconditional request",
                                  path=cache.where)
            if pin is not None and entry.sha256 != pin:
                raise SourceError(
                    f"SHA-256 mismatch: the pin is {pin} but the unchanged (304) body is {entry.sha256}",
                    path=cache.where, hint="the server says the cached copy is current; check the pin",
                )
            return cache.revalidated(entry, response, final_url)
        if status >= 400:
            reason = response.reason or _phrase(status)
            came = "" if final_url == cache.url else f" from {_display(final_url)}"
            raise SourceError(f"HTTP {status} {reason}{came}".rstrip(), path=cache.where)
        if not 200 <= status < 300:
            raise SourceError(f"unexpected HTTP {status} {response.reason or _phrase(status)}".rstrip(),
                              path=cache.where)
        declared = _content_length(response)
        if declared is not None and declared > max_bytes:
            raise _too_large(cache.where, max_bytes, f"the server announces {_size(declared)}")
        return cache.store(response, final_url, previous=entry, pin=pin, max_bytes=max_bytes,
                           timeouts=timeouts)


def _follow(
    session: requests.Session, url: str, headers: dict[str, str], timeouts: tuple[float, float], *,
    allow_http: bool, where: str,
) -> tuple[requests.Response, str]:
    """GET ``url``, following at most MAX_REDIRECTS redirects, each checked before it is requested."""
    current = url
    seen = {url}
    for hop in range(MAX_REDIRECTS + 1):
        try:
            # verify=session.verify: requests lets REQUESTS_CA_BUNDLE override a session's own
            # CA bundle unless the bundle is passed per request.
            response = session.get(current, headers=headers, timeout=timeouts, stream=True,
                                   allow_redirects=False, verify=session.verify)
        except requests.RequestException as exc:
            raise _network_error(exc, current, where, timeouts) from None
        target = session.get_redirect_target(response)
        if target is None:
            return response, current
        response.close()
        following = urljoin(current, target)
        _check_url(following, where, allow_http=allow_http, redirected_from=current)
        if following in seen:
            raise SourceError(f"redirect loop: {_display(current)} redirects back to {_display(following)}",
                              path=where)
        if hop == MAX_REDIRECTS:
            raise SourceError(f"too many redirects (more than {MAX_REDIRECTS}); the last was to "
                              f"{_display(following)}", path=where)
        seen.add(following)
        current = following
    raise AssertionError("unreachable")  # pragma: no cover


def _check_url(url: str, where: str, *, allow_http: bool, redirected_from: str | None) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError as exc:
        raise SourceError(f"invalid URL {_display(url)}: {exc}", path=where) from None
    scheme = parts.scheme.lower()
    if redirected_from is not None:
        if scheme not in ("https", "http"):
            raise SourceError(f"refusing a redirect to a non-HTTP URL: {_display(url)}", path=where)
        if scheme == "http" and not allow_http:
            raise SourceError(
                f"refusing a redirect from {_display(redirected_from)} to plain http: {_display(url)}",
                path=where, hint="remote sources must stay on https://",
            )
    elif scheme == "http" and not allow_http:
        raise SourceError("plain http:// sources are refused", path=where,
                          hint="use the https:// address of the source")
    elif not scheme:
        raise SourceError("not a URL: it has no scheme", path=where, hint="remote sources must be https:// URLs")
    elif scheme not in ("https", "http"):
        raise SourceError(f"unsupported URL scheme {parts.scheme}:", path=where,
                          hint="remote sources must be https:// URLs")
    if not parts.hostname:
        raise SourceError(f"the URL {_display(url)} has no host", path=where)


def _network_error(
    exc: requests.RequestException, url: str, where: str, timeouts: tuple[float, float],
    *, received: int | None = None,
) -> SourceError:
    """One line for a requests failure: DNS, refused, TLS, timeout, broken transfer."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    chain = list(_causes(exc))
    after = "" if received is None else f" after {_size(received)}"

    def find(kind: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kind)), None)

    if isinstance(exc, requests.ConnectTimeout):
        return SourceError(f"connect timeout: no connection to {host}:{port} within {timeouts[0]:g} s",
                           path=where)
    if isinstance(exc, requests.ReadTimeout) or find(urllib3.exceptions.ReadTimeoutError) is not None:
        return SourceError(f"read timeout: {host} sent no data for {timeouts[1]:g} s{after}", path=where)
    verify = find(ssl.SSLCertVerificationError)
    if isinstance(verify, ssl.SSLCertVerificationError):
        reason = verify.verify_message or verify.reason or str(verify)
        if "mismatch" in str(reason).lower():  # "Hostname mismatch", "IP address mismatch"
            return SourceError(f"TLS certificate verification failed for {host}: {reason}", path=where)
        return SourceError(
            f"TLS certificate verification failed for {host}: {reason}", path=where,
            hint="if the server uses a private CA, set REQUESTS_CA_BUNDLE to a file holding its certificate",
        )
    tls = find(ssl.SSLError)
    if isinstance(exc, requests.exceptions.SSLError) or tls is not None:
        reason = (tls.reason if isinstance(tls, ssl.SSLError) else None) or _leaf(chain)
        plain = "WRONG_VERSION_NUMBER" in str(reason)
        return SourceError(f"TLS handshake with {host}:{port} failed: {reason}", path=where,
                           hint="does that port serve plain http?" if plain else None)
    gai = find(socket.gaierror)
    if isinstance(gai, socket.gaierror):
        return SourceError(f"cannot resolve host {host}: {gai.strerror or gai}", path=where)
    if find(ConnectionRefusedError) is not None:
        return SourceError(f"connection refused by {host}:{port}", path=where)
    if isinstance(exc, requests.exceptions.ProxyError):
        return SourceError(f"the proxy failed: {_leaf(chain)}", path=where)
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return SourceError(f"cannot decode the compressed body{after}: {_leaf(chain)}", path=where)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or received is not None:
        return SourceError(f"the connection broke during the download{after}: {_leaf(chain)}", path=where)
    if isinstance(exc, requests.ConnectionError):
        oserror = find(OSError)
        reason = (oserror.strerror if isinstance(oserror, OSError) else None) or _leaf(chain)
        return SourceError(f"cannot connect to {host}:{port}: {reason}", path=where)
    return SourceError(f"request failed: {_leaf(chain)}", path=where)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (args, ``reason``, cause, context), breadth first."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested: list[Any] = [*current.args, getattr(current, "reason", None), current.__cause__,
                             current.__context__]
        todo.extend(e for e in nested if isinstance(e, BaseException))


def _leaf(chain: list[BaseException]) -> str:
    """The innermost exception's text, which usually says what actually happened."""
    for exc in reversed(chain):
        text = _one_line(str(exc))
        if text:
            return text
    return type(chain[0]).__name__


# --- the cache ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A committed cache entry, as its metadata file describes it."""

    body: Path
    url: str
    final_url: str
    sha256: str
    size: int
    etag: str | None
    last_modified: str | None
    fetched_at: dt.datetime

    def fetched(self, *, from_cache: bool) -> Fetched:
        return Fetched(path=self.body, url=self.url, final_url=self.final_url, sha256=self.sha256,
                       size=self.size, etag=self.etag, last_modified=self.last_modified,
                       from_cache=from_cache, fetched_at=self.fetched_at)


class _Cache:
    """The cache files of one URL: loading, verifying and atomically replacing its entry."""

    def __init__(self, directory: Path, url: str, where: str) -> None:
        self.directory = directory
        self.url = url
        self.where = where
        self.key = cache_key(url)
        self.meta = directory / f"{self.key}.json"

    def body_path(self, digest: str) -> Path:
        return self.directory / f"{self.key}.{digest}.body"

    def _unwritable(self, exc: OSError) -> SourceError:
        return SourceError(
            f"cannot write the download cache {self.directory}: {exc.strerror or exc}", path=self.where,
            hint="set XDG_CACHE_HOME to a writable directory",
        )

    def prepare(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._unwritable(exc) from None
        self._sweep_parts()

    def _sweep_parts(self) -> None:
        """Remove this URL's ``.part`` files left by a crashed download long ago."""
        cutoff = time.time() - STALE_PART_SECONDS
        for part in self.directory.glob(f".{self.key}.*.part"):
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()

    def load(self) -> _Entry | None:
        """The committed entry, or None when there is none or it is unreadable or inconsistent."""
        try:
            raw = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        try:
            if not isinstance(raw, dict) or raw.get("schema") != CACHE_SCHEMA or raw.get("url") != self.url:
                return None
            digest, size = raw["sha256"], raw["size"]
            etag, modified = raw.get("etag"), raw.get("last_modified")
            if (not isinstance(digest, str) or not _HEX64.match(digest) or not isinstance(size, int)
                    or not isinstance(raw["final_url"], str) or not isinstance(raw["fetched_at"], str)
                    or not isinstance(etag, str | None) or not isinstance(modified, str | None)):
                return None
            fetched_at = dt.datetime.fromisoformat(raw["fetched_at"])
            body = self.body_path(digest)
            if body.stat().st_size != size:
                return None
        except (KeyError, ValueError, OSError):
            return None
        return _Entry(body=body, url=self.url, final_url=raw["final_url"], sha256=digest, size=size,
                      etag=etag, last_modified=modified, fetched_at=fetched_at)

    def verify(self, entry: _Entry) -> bool:
        """Whether the cached body still has its recorded digest (re-hashed, in chunks)."""
        digest = hashlib.sha256()
        try:
            with entry.body.open("rb") as body:
                while chunk := body.read(CHUNK_SIZE):
                    digest.update(chunk)
        except OSError:
            return False
        return digest.hexdigest() == entry.sha256

    def store(
        self, response: requests.Response, final_url: str, *, previous: _Entry | None, pin: str | None,
        max_bytes: int, timeouts: tuple[float, float],
    ) -> Fetched:
        """Stream the body to a ``.part`` file, check size and pin, and commit it as the entry."""
        try:
            handle, name = tempfile.mkstemp(dir=self.directory, prefix=f".{self.key}.", suffix=".part")
        except OSError as exc:
            raise self._unwritable(exc) from None
        part = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                hexdigest, size = self._stream(response, out, final_url, max_bytes, timeouts)
            if pin is not None and hexdigest != pin:
                raise SourceError(
                    f"SHA-256 mismatch: the pin is {pin} but the body is {hexdigest}", path=self.where,
                    hint="the source changed; check it and update the pin; the cached copy was kept",
                )
            entry = _Entry(
                body=self.body_path(hexdigest), url=self.url, final_url=final_url, sha256=hexdigest,
                size=size, etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                fetched_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
            )
            try:
                os.replace(part, entry.body)
                self._write_meta(entry)
            except OSError as exc:
                raise self._unwritable(exc) from None
        except BaseException:
            with contextlib.suppress(OSError):
                part.unlink()
            raise
        if previous is not None and previous.body != entry.body:
            with contextlib.suppress(OSError):
                previous.body.unlink()
        return entry.fetched(from_cache=False)

    def _stream(
        self, response: requests.Response, out: BinaryIO, final_url: str, max_bytes: int,
        timeouts: tuple[float, float],
    ) -> tuple[str, int]:
        """Copy the body to ``out`` chunk by chunk; its SHA-256 (hex) and size."""
        digest = hashlib.sha256()
        size = 0
        chunks = response.iter_content(chunk_size=CHUNK_SIZE)
        while True:
            try:
                chunk = next(chunks, None)
            except requests.RequestException as exc:
                raise _network_error(exc, final_url, self.where, timeouts, received=size) from None
            if chunk is None:
                break
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(self.where, max_bytes, f"stopped after {_size(size)}")
            digest.update(chunk)
            try:
                out.write(chunk)
            except OSError as exc:
                raise self._unwritable(exc) from None
        try:
            out.flush()
            os.fsync(out.fileno())
        except OSError as exc:
            raise self._unwritable(exc) from None
        return digest.hexdigest(), size

    def revalidated(self, entry: _Entry, response: requests.Response, final_url: str) -> Fetched:
        """A 304: serve the cached body, recording any new validators the server sent."""
        etag = response.headers.get("ETag") or entry.etag
        modified = response.headers.get("Last-Modified") or entry.last_modified
        if (etag, modified, final_url) != (entry.etag, entry.last_modified, entry.final_url):
            entry = _Entry(body=entry.body, url=entry.url, final_url=final_url, sha256=entry.sha256,
                           size=entry.size, etag=etag, last_modified=modified, fetched_at=entry.fetched_at)
            try:
                self._write_meta(entry)
            except OSError as exc:
                raise self._unwritable(exc) from None
        return entry.fetched(from_cache=True)

    def _write_meta(self, entry: _Entry) -> None:
        """Atomically replace the metadata file: the commit point of an entry."""
        text = json.dumps({
            "schema": CACHE_SCHEMA, "url": entry.url, "final_url": entry.final_url,
            "sha256": entry.sha256, "size": entry.size, "etag": entry.etag,
            "last_modified": entry.last_modified, "fetched_at": entry.fetched_at.isoformat(),
        }, indent=2, sort_keys=True) + "\n"
        handle, name = tempfile.mkstemp(dir=self.directory, prefix=f".{self.key}.", suffix=".json.part")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, self.meta)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
        _fsync_dir(self.directory)


def _fsync_dir(directory: Path) -> None:
    """Make the renames durable; best effort (not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- small helpers -----------------------------------------------------------------------------


def _parse_pin(sha256: str | None, where: str) -> str | None:
    if sha256 is None:
        return None
    pin = sha256.strip().lower().removeprefix("sha256:")
    if not _HEX64.match(pin):
        raise SourceError(f"the SHA-256 pin {sha256.strip()!r} is not 64 hex digits", path=where)
    return pin


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if value.isdigit() else None


def _too_large(where: str, max_bytes: int, detail: str) -> SourceError:
    return SourceError(f"the body is larger than the {_size(max_bytes)} limit ({detail})", path=where,
                       hint="raise the size limit if the source really is this large")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    for unit, scale in (("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if n % scale == 0 else f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _display(url: str) -> str:
    """The URL for messages: any ``user:password@`` is dropped."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _one_line(text: str) -> str:
    return " ".join(text.split())
