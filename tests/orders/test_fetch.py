"""Tests of checker.orders.fetch against loopback HTTP and HTTPS servers: errors, redirects, cache, pins."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import ssl
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from checker.errors import BlockauditError
from checker.orders.fetch import CHUNK_SIZE, MAX_REDIRECTS, Fetched, SourceError, cache_key, default_cache_dir, fetch
from tests.pki import Leaf, authority

LIST_A = b"# blocklist A\nexample-blocked.com\nother-blocked.net\n"
LIST_B = b"# blocklist B\nexample-blocked.com\nadded-blocked.org\n"
MODIFIED = formatdate(1767225600, usegmt=True)  # 2026-01-01


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a loopback HTTP(S) server whose routes each test controls -----------------------------------

Route = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.seen.append((path, {k.lower(): v for k, v in self.headers.items()}))
        route = self.server.routes.get(path)
        try:
            if route is None:
                self.send_error(404)
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]
    seen: list[tuple[str, dict[str, str]]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass
class Loopback:
    """A running server: ``routes`` to fill, ``seen`` requests (path, lower-cased headers)."""

    server: _Server
    scheme: str
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def routes(self) -> dict[str, Route]:
        return self.server.routes

    @property
    def seen(self) -> list[tuple[str, dict[str, str]]]:
        return self.server.seen

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.server.server_address[1]}{path}"


def _serve(context: ssl.SSLContext | None) -> Iterator[Loopback]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routes, server.seen = {}, []
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    loop = Loopback(server, "https" if context is not None else "http")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def web() -> Iterator[Loopback]:
    yield from _serve(None)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real CA bundle override, no proxy for loopback, and no real ~/.cache."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def body(state: dict[str, Any]) -> Route:
    """200 with ``state['data']`` and its ETag/Last-Modified; 304 when If-None-Match matches."""

    def route(h: _Handler) -> None:
        etag = state.get("etag")
        if etag is not None and h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.end_headers()
            return
        data: bytes = state["data"]
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(data)))
        if etag is not None:
            h.send_header("ETag", etag)
        h.send_header("Last-Modified", MODIFIED)
        h.end_headers()
        h.wfile.write(data)

    return route


def static(data: bytes) -> Route:
    return body({"data": data})


def redirect(location: str, code: int = 302) -> Route:
    def route(h: _Handler) -> None:
        h.send_response(code)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def status(code: int) -> Route:
    def route(h: _Handler) -> None:
        h.send_error(code)

    return route


def stream(total: int, *, content_length: bool) -> Route:
    """``total`` bytes of filler written 64 KiB at a time (the server holds no more either)."""
    block = b"x" * 65536

    def route(h: _Handler) -> None:
        h.send_response(200)
        if content_length:
            h.send_header("Content-Length", str(total))
        h.end_headers()
        left = total
        while left > 0:
            h.wfile.write(block[: min(left, len(block))])
            left -= len(block)

    return route


def truncated(announced: int, sent: int) -> Route:
    """Announce ``announced`` bytes, send ``sent`` and hang up: a download broken half-way."""

    def route(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(announced))
        h.send_header("ETag", '"new"')
        h.end_headers()
        h.wfile.write(b"y" * sent)

    return route


def slow(stop: threading.Event, *, headers_first: bool, delay: float = 3.0) -> Route:
    def route(h: _Handler) -> None:
        if headers_first:
            h.send_response(200)
            h.send_header("Content-Length", str(CHUNK_SIZE * 4))
            h.end_headers()
            h.wfile.write(b"z" * (CHUNK_SIZE + 10))
            h.wfile.flush()
        stop.wait(delay)

    return route


def fail(excinfo: pytest.ExceptionInfo[SourceError], url: str, *fragments: str) -> str:
    """The error's one line, checked to start with the URL and contain every fragment."""
    text = str(excinfo.value)
    assert isinstance(excinfo.value, BlockauditError)
    assert "\n" not in text
    assert "Traceback" not in text
    assert excinfo.value.path == url
    assert text.startswith(f"{url}: ")
    for fragment in fragments:
        assert fragment in text
    return text


def cache_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- plain success and the Fetched record -------------------------------------------------------


def test_fetch_streams_the_body_into_the_cache(web: Loopback, cache: Path) -> None:
    web.routes["/list.txt"] = body({"data": LIST_A, "etag": '"a"'})
    url = web.url("/list.txt")
    got = fetch(url, cache_dir=cache, allow_http=True)
    assert isinstance(got, Fetched)
    assert got.path.read_bytes() == LIST_A
    assert got.path.parent == cache
    assert (got.url, got.final_url) == (url, url)
    assert (got.sha256, got.size) == (sha(LIST_A), len(LIST_A))
    assert (got.etag, got.last_modified, got.from_cache) == ('"a"', MODIFIED, False)
    assert got.fetched_at.tzinfo is not None
    assert abs(got.fetched_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    key = cache_key(url)
    meta = json.loads((cache / f"{key}.json").read_text())
    assert meta["sha256"] == sha(LIST_A)
    assert (meta["etag"], meta["last_modified"], meta["url"]) == ('"a"', MODIFIED, url)
    assert cache_files(cache) == sorted([f"{key}.json", f"{key}.{sha(LIST_A)}.body"])
    assert web.seen[0][1]["user-agent"].startswith("blockaudit/")


def test_default_cache_dir_follows_xdg_cache_home(web: Loopback, tmp_path: Path) -> None:
    assert default_cache_dir() == tmp_path / "xdg-cache" / "blockaudit" / "sources"
    web.routes["/l"] = static(LIST_A)
    got = fetch(web.url("/l"), allow_http=True)
    assert got.path.parent == tmp_path / "xdg-cache" / "blockaudit" / "sources"


def test_default_cache_dir_without_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "blockaudit" / "sources"


# --- URLs and redirects ---------------------------------------------------------------------------


def test_plain_http_needs_allow_http(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = static(LIST_A)
    url = web.url("/l")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache)
    fail(excinfo, url, "plain http:// sources are refused", "https://")
    assert web.seen == []


@pytest.mark.parametrize(("url", "text"), [("ftp://example.org/list.txt", "unsupported URL scheme ftp:"),
                                           ("file:///etc/hosts", "unsupported URL scheme file:"),
                                           ("example.org/list.txt", "not a URL: it has no scheme"),
                                           ("https:///list.txt", "has no host"),
                                           ("https://example.org:99999/l", "invalid URL")])
def test_bad_urls_are_refused(url: str, text: str, cache: Path) -> None:
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache)
    fail(excinfo, url, text)


def test_password_is_not_shown(cache: Path) -> None:
    with pytest.raises(SourceError) as excinfo:
        fetch("ftp://user:secret@example.org/l", cache_dir=cache)
    assert "secret" not in str(excinfo.value)
    assert excinfo.value.path == "ftp://example.org/l"


def test_redirect_chain_is_followed(web: Loopback, cache: Path) -> None:
    web.routes["/r1"] = redirect("/r2", 301)
    web.routes["/r2"] = redirect(web.url("/r3"), 307)
    web.routes["/r3"] = redirect("final.txt", 308)
    web.routes["/final.txt"] = static(LIST_A)
    got = fetch(web.url("/r1"), cache_dir=cache, allow_http=True)
    assert got.path.read_bytes() == LIST_A
    assert (got.url, got.final_url) == (web.url("/r1"), web.url("/final.txt"))


def test_at_most_five_redirects(web: Loopback, cache: Path) -> None:
    for hop in range(MAX_REDIRECTS + 1):
        web.routes[f"/h{hop}"] = redirect(f"/h{hop + 1}")
    web.routes[f"/h{MAX_REDIRECTS}"] = static(LIST_A)
    assert fetch(web.url("/h0"), cache_dir=cache, allow_http=True).final_url == web.url(f"/h{MAX_REDIRECTS}")
    web.routes[f"/h{MAX_REDIRECTS}"] = redirect("/end")
    web.routes["/end"] = static(LIST_A)
    url = web.url("/h1").replace("/h1", "/h0")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    fail(excinfo, url, "too many redirects (more than 5)", "/end")
    assert "/end" not in [path for path, _ in web.seen]


def test_redirect_loop(web: Loopback, cache: Path) -> None:
    web.routes["/a"] = redirect("/b")
    web.routes["/b"] = redirect("/a")
    url = web.url("/a")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    fail(excinfo, url, "redirect loop", "/b redirects back to", "/a")


def test_redirect_to_another_scheme_is_refused(web: Loopback, cache: Path) -> None:
    web.routes["/r"] = redirect("ftp://127.0.0.1/list.txt")
    url = web.url("/r")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    fail(excinfo, url, "refusing a redirect to a non-HTTP URL: ftp://127.0.0.1/list.txt")


# --- HTTP statuses and network failures ----------------------------------------------------------


@pytest.mark.parametrize(("code", "text"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error"),
                                            (403, "HTTP 403 Forbidden")])
def test_http_errors(web: Loopback, cache: Path, code: int, text: str) -> None:
    web.routes["/x"] = status(code)
    url = web.url("/x")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    assert fail(excinfo, url, text) == f"{url}: {text}"
    assert cache_files(cache) == []


def test_http_error_after_redirect_names_the_final_url(web: Loopback, cache: Path) -> None:
    web.routes["/moved"] = redirect("/gone")
    url = web.url("/moved")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    fail(excinfo, url, f"HTTP 404 Not Found from {web.url('/gone')}")


def test_connection_refused(cache: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/l"
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    fail(excinfo, url, f"connection refused by 127.0.0.1:{port}")


def test_dns_failure(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = "https://no-such-host.invalid/list.txt"
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache)
    assert fail(excinfo, url) == f"{url}: cannot resolve host no-such-host.invalid: Name or service not known"


def test_connect_timeout(cache: Path) -> None:
    # A listener that never accepts, with its queue filled: further SYNs are dropped.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    url = f"http://127.0.0.1:{port}/l"
    try:
        started = time.monotonic()
        with pytest.raises(SourceError) as excinfo:
            fetch(url, cache_dir=cache, allow_http=True, connect_timeout=0.3)
        assert time.monotonic() - started < 3
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    fail(excinfo, url, f"connect timeout: no connection to 127.0.0.1:{port} within 0.3 s")


def test_read_timeout_before_headers(web: Loopback, cache: Path) -> None:
    web.routes["/slow"] = slow(web.stop, headers_first=False)
    url = web.url("/slow")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True, read_timeout=0.3)
    assert fail(excinfo, url) == f"{url}: read timeout: 127.0.0.1 sent no data for 0.3 s"


def test_read_timeout_during_body(web: Loopback, cache: Path) -> None:
    web.routes["/slow"] = slow(web.stop, headers_first=True)
    url = web.url("/slow")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True, read_timeout=0.3)
    fail(excinfo, url, "read timeout: 127.0.0.1 sent no data for 0.3 s after 64 KiB")
    assert cache_files(cache) == []


# --- size limits and memory ----------------------------------------------------------------------


def test_too_large_by_content_length(web: Loopback, cache: Path) -> None:
    web.routes["/big"] = stream(3 * 1024 * 1024, content_length=True)
    url = web.url("/big")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True, max_bytes=1024 * 1024)
    fail(excinfo, url, "larger than the 1 MiB limit (the server announces 3 MiB)", "raise the size limit")
    assert cache_files(cache) == []


def test_too_large_without_content_length(web: Loopback, cache: Path) -> None:
    web.routes["/big"] = stream(3 * 1024 * 1024, content_length=False)
    url = web.url("/big")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True, max_bytes=1024 * 1024)
    fail(excinfo, url, "larger than the 1 MiB limit (stopped after 1.1 MiB)")
    assert cache_files(cache) == []


def test_body_exactly_at_the_limit_is_fine(web: Loopback, cache: Path) -> None:
    web.routes["/edge"] = stream(100_000, content_length=False)
    assert fetch(web.url("/edge"), cache_dir=cache, allow_http=True, max_bytes=100_000).size == 100_000


def test_large_body_is_streamed_not_held(web: Loopback, cache: Path) -> None:
    total = 50 * 1024 * 1024
    web.routes["/huge"] = stream(total, content_length=True)
    tracemalloc.start()
    try:
        got = fetch(web.url("/huge"), cache_dir=cache, allow_http=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.size == total
    assert got.path.stat().st_size == total
    assert peak < 4 * 1024 * 1024, f"peak Python allocation {peak} bytes for a {total}-byte body"
    assert CHUNK_SIZE <= 1024 * 1024


# --- TLS -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sites:
    """A throwaway CA and two server certificates: one for 127.0.0.1/localhost, one for another name."""

    ca: Path
    good: Leaf
    wrong_name: Leaf


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    directory = tmp_path_factory.mktemp("pki")
    ca = authority(directory)
    return Sites(
        ca.pem,
        ca.issue(directory, "loopback", ("127.0.0.1", "localhost"), days=1, subject="loopback"),
        ca.issue(directory, "elsewhere", ("elsewhere.test",), days=1, subject="elsewhere"),
    )


@pytest.fixture
def tls(pki: Sites) -> Iterator[Loopback]:
    yield from _serve(pki.good.context())


def test_untrusted_certificate_is_one_line_with_a_hint(tls: Loopback, cache: Path) -> None:
    tls.routes["/l"] = static(LIST_A)
    url = tls.url("/l")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache)
    fail(excinfo, url, "TLS certificate verification failed for 127.0.0.1: unable to get local issuer certificate",
         "REQUESTS_CA_BUNDLE")


def test_private_ca_via_requests_ca_bundle(tls: Loopback, pki: Sites, cache: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    tls.routes["/l"] = static(LIST_A)
    got = fetch(tls.url("/l"), cache_dir=cache)
    assert got.path.read_bytes() == LIST_A
    assert got.final_url.startswith("https://")


def test_session_ca_bundle_wins_over_the_environment(tls: Loopback, pki: Sites, cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    tls.routes["/l"] = static(LIST_A)
    with requests.Session() as session:
        session.verify = str(pki.ca)
        got = fetch(tls.url("/l", host="localhost"), cache_dir=cache, session=session)
    assert got.sha256 == sha(LIST_A)


def test_certificate_for_another_name(pki: Sites, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    for loop in _serve(pki.wrong_name.context()):
        loop.routes["/l"] = static(LIST_A)
        url = loop.url("/l")
        with pytest.raises(SourceError) as excinfo:
            fetch(url, cache_dir=cache)
        text = fail(excinfo, url, "TLS certificate verification failed for 127.0.0.1", "mismatch")
        assert "REQUESTS_CA_BUNDLE" not in text


def test_https_to_http_redirect_is_refused(tls: Loopback, web: Loopback, pki: Sites, cache: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
    web.routes["/l"] = static(LIST_A)
    tls.routes["/down"] = redirect(web.url("/l"))
    url = tls.url("/down")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache)
    fail(excinfo, url, f"refusing a redirect from {url} to plain http: {web.url('/l')}")
    assert web.seen == []
    got = fetch(url, cache_dir=cache, allow_http=True)
    assert got.final_url == web.url("/l")


def test_tls_to_a_plain_http_port(web: Loopback, cache: Path) -> None:
    url = web.url("/l").replace("http://", "https://")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache)
    fail(excinfo, url, "TLS handshake with 127.0.0.1:", "WRONG_VERSION_NUMBER", "plain http")


# --- the cache -------------------------------------------------------------------------------------


def test_second_fetch_revalidates_and_gets_304(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    first = fetch(url, cache_dir=cache, allow_http=True)
    assert "if-none-match" not in web.seen[0][1]
    second = fetch(url, cache_dir=cache, allow_http=True)
    headers = web.seen[1][1]
    assert headers["if-none-match"] == '"v1"'
    assert headers["if-modified-since"] == MODIFIED
    assert second.from_cache
    assert (second.path, second.sha256, second.size, second.etag) == (first.path, first.sha256, first.size, '"v1"')
    assert second.fetched_at == first.fetched_at
    assert second.path.read_bytes() == LIST_A


def test_changed_source_replaces_the_entry(web: Loopback, cache: Path) -> None:
    state: dict[str, Any] = {"data": LIST_A, "etag": '"v1"'}
    web.routes["/l"] = body(state)
    url = web.url("/l")
    first = fetch(url, cache_dir=cache, allow_http=True)
    state.update(data=LIST_B, etag='"v2"')
    second = fetch(url, cache_dir=cache, allow_http=True)
    assert not second.from_cache
    assert (second.sha256, second.etag) == (sha(LIST_B), '"v2"')
    assert second.path.read_bytes() == LIST_B
    assert not first.path.exists()
    key = cache_key(url)
    assert cache_files(cache) == sorted([f"{key}.json", f"{key}.{sha(LIST_B)}.body"])


def test_unreadable_metadata_means_no_cache(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    fetch(url, cache_dir=cache, allow_http=True)
    (cache / f"{cache_key(url)}.json").write_text("{not json")
    got = fetch(url, cache_dir=cache, allow_http=True)
    assert "if-none-match" not in web.seen[1][1]
    assert not got.from_cache
    assert got.path.read_bytes() == LIST_A


def test_missing_body_means_no_cache(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    fetch(url, cache_dir=cache, allow_http=True).path.unlink()
    assert not fetch(url, cache_dir=cache, allow_http=True).from_cache
    assert "if-none-match" not in web.seen[1][1]


def test_unwritable_cache(web: Loopback, tmp_path: Path) -> None:
    web.routes["/l"] = static(LIST_A)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    url = web.url("/l")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=blocker / "cache", allow_http=True)
    fail(excinfo, url, f"cannot write the download cache {blocker / 'cache'}", "XDG_CACHE_HOME")
    assert web.seen == []


def test_full_disk_while_writing(web: Loopback, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    web.routes["/big"] = stream(300_000, content_length=True)
    url = web.url("/big")
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).endswith(".part"):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    fail(excinfo, url, "cannot write the download cache", "No space left on device")
    assert cache_files(cache) == []


# --- atomicity: a failed download is never (and never spoils) a cache entry -----------------------


def test_broken_download_leaves_nothing(web: Loopback, cache: Path) -> None:
    web.routes["/cut"] = truncated(announced=200_000, sent=100_000)
    url = web.url("/cut")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True)
    fail(excinfo, url, "the connection broke during the download after")
    assert cache_files(cache) == []


def test_broken_download_keeps_the_previous_entry(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    first = fetch(url, cache_dir=cache, allow_http=True)
    before = cache_files(cache)
    web.routes["/l"] = truncated(announced=200_000, sent=100_000)
    with pytest.raises(SourceError):
        fetch(url, cache_dir=cache, allow_http=True)
    assert cache_files(cache) == before
    assert first.path.read_bytes() == LIST_A


def test_interrupted_download_removes_its_part_file(web: Loopback, cache: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    web.routes["/big"] = stream(1024 * 1024, content_length=True)
    real = requests.Response.iter_content
    written: list[list[str]] = []

    def iter_content(self: requests.Response, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for count, chunk in enumerate(real(self, *args, **kwargs)):
            if count == 3:
                written.append(cache_files(cache))
                raise KeyboardInterrupt
            yield chunk

    monkeypatch.setattr(requests.Response, "iter_content", iter_content)
    with pytest.raises(KeyboardInterrupt):
        fetch(web.url("/big"), cache_dir=cache, allow_http=True)
    assert [name for name in written[0] if name.endswith(".part")], "the body was being written to a .part file"
    assert cache_files(cache) == []


def test_stale_part_files_are_swept_and_never_used(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = static(LIST_A)
    url = web.url("/l")
    cache.mkdir()
    key = cache_key(url)
    stale, fresh = cache / f".{key}.old.part", cache / f".{key}.new.part"
    stale.write_bytes(b"half a bo")
    fresh.write_bytes(b"half a bo")
    old = time.time() - 2 * 24 * 3600
    os.utime(stale, (old, old))
    got = fetch(url, cache_dir=cache, allow_http=True)
    assert got.path.read_bytes() == LIST_A
    assert not stale.exists()
    assert fresh.exists()  # perhaps another process's download in progress


# --- the SHA-256 pin ---------------------------------------------------------------------------------


def test_pin_match(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = static(LIST_A)
    got = fetch(web.url("/l"), cache_dir=cache, allow_http=True, sha256="sha256:" + sha(LIST_A).upper())
    assert got.sha256 == sha(LIST_A)


def test_pinned_cache_hit_needs_no_request(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    first = fetch(url, cache_dir=cache, allow_http=True)
    web.routes.clear()  # the server now knows nothing
    got = fetch(url, cache_dir=cache, allow_http=True, sha256=sha(LIST_A))
    assert got.from_cache
    assert got.path == first.path
    assert len(web.seen) == 1


def test_pinned_cache_hit_rehashes_the_body(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    first = fetch(url, cache_dir=cache, allow_http=True)
    first.path.write_bytes(LIST_A.replace(b"A", b"X"))  # same size, different bytes
    got = fetch(url, cache_dir=cache, allow_http=True, sha256=sha(LIST_A))
    assert len(web.seen) == 2
    assert not got.from_cache
    assert got.path.read_bytes() == LIST_A


def test_pin_mismatch_names_both_digests_and_keeps_the_cache(web: Loopback, cache: Path) -> None:
    state: dict[str, Any] = {"data": LIST_A, "etag": '"v1"'}
    web.routes["/l"] = body(state)
    url = web.url("/l")
    first = fetch(url, cache_dir=cache, allow_http=True)
    meta = (cache / f"{cache_key(url)}.json").read_text()
    before = cache_files(cache)
    state.update(data=LIST_B, etag='"v2"')
    wanted = sha(b"what the order says")
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True, sha256=wanted)
    fail(excinfo, url, f"SHA-256 mismatch: the pin is {wanted} but the body is {sha(LIST_B)}", "cached copy was kept")
    assert cache_files(cache) == before
    assert (cache / f"{cache_key(url)}.json").read_text() == meta
    assert first.path.read_bytes() == LIST_A


def test_pin_mismatch_on_304(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    fetch(url, cache_dir=cache, allow_http=True)
    wanted = sha(LIST_B)
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, allow_http=True, sha256=wanted)
    fail(excinfo, url, f"the pin is {wanted} but the unchanged (304) body is {sha(LIST_A)}")


@pytest.mark.parametrize("pin", ["abc", "g" * 64, "sha1:" + "a" * 64, ""])
def test_malformed_pin(pin: str, cache: Path) -> None:
    url = "https://example.org/l"
    with pytest.raises(SourceError) as excinfo:
        fetch(url, cache_dir=cache, sha256=pin)
    fail(excinfo, url, "is not 64 hex digits")


def test_bad_arguments_are_bugs(cache: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        fetch("https://example.org/l", cache_dir=cache, max_bytes=0)
    with pytest.raises(ValueError, match="timeouts"):
        fetch("https://example.org/l", cache_dir=cache, read_timeout=0)


def test_messages_are_collapsed_to_one_line() -> None:
    error = SourceError("two\n  lines\tand tabs", path="https://x/\ny", hint="a\nhint")
    assert str(error) == "https://x/ y: two lines and tabs (a hint)"


def test_damaged_cached_body_is_downloaded_again(web: Loopback, cache: Path) -> None:
    web.routes["/l"] = body({"data": LIST_A, "etag": '"v1"'})
    url = web.url("/l")
    first = fetch(url, cache_dir=cache, allow_http=True)
    first.path.write_bytes(LIST_A.replace(b"A", b"X"))  # same size, different bytes
    got = fetch(url, cache_dir=cache, allow_http=True)
    assert "if-none-match" not in web.seen[1][1], "a 304 would have served the damaged body"
    assert not got.from_cache
    assert got.path.read_bytes() == LIST_A
