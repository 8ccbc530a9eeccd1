"""DNS over TLS (RFC 7858): the TCP stream exchange inside a verified TLS connection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl

import dns.message

from checker.probe.udp import Exchange, stream_exchange


@functools.lru_cache(maxsize=64)
def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context: the system trust store, or only the CAs in ``ca_file``.

    Raises ``ssl.SSLError`` or ``OSError`` when ``ca_file`` cannot be read as PEM.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def describe_tls_error(exc: BaseException) -> str:
    """``tls_error: ...`` in words a report reader can act on."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls_error: certificate verify failed: {exc.verify_message or exc.reason or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"tls_error: {exc.reason or exc}"
    return f"tls_error: {exc}"


async def tls(
    query: dns.message.Message, host: str, port: int, timeout: float,
    *, server_name: str | None = None, ca_file: str | None = None,
) -> Exchange:
    """One attempt over TLS to ``host:port``; the certificate must be valid for ``server_name``
    (default: ``host``, then checked against the certificate's IP addresses). Certificate and
    handshake failures come back as ``tls_error: ...``, never as an exception."""
    try:
        context = client_context(ca_file)
    except (ssl.SSLError, OSError) as exc:
        return Exchange(None, None, f"tls_error: cannot load CA file {ca_file}: {exc}")
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=server_name or host.split("%", maxsplit=1)[0],
            )
            try:
                return await stream_exchange(query, reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        return Exchange(None, None, "timeout")
    except ssl.SSLError as exc:
        return Exchange(None, None, describe_tls_error(exc))
    except (ConnectionError, OSError) as exc:
        return Exchange(None, None, f"network_error: {exc.strerror or exc}")
