"""The HTTP/TLS evidence scenario, run inside its own network namespace by test_http_evidence.py.

    python -m tests.integration.http_scenario WORKDIR

In the namespace, loopback carries three documentation addresses:

* 198.51.100.10: the ISP's own block page (HTTP and HTTPS, a certificate for the ISP's name), an
  address nobody declared, so DNS alone can only say ``answer_differs``;
* 198.51.100.20: a CDN node of the real site ``cdn.test`` (HTTPS with a certificate for it, from
  the test CA);
* 198.51.100.30: another node of the same site, the one the control hands out.

The subject resolver (a loopback fake DNS server) answers ``blocked.test`` with the block page's
address and ``cdn.test`` with the CDN node; the control answers the real nodes. ``blockaudit
check --http`` then runs in-process and writes WORKDIR/report.json; its exit status is this
process's.
"""

from __future__ import annotations

import contextlib
import http.server
import socketserver
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode

from checker.cli import main
from tests.fakedns import fake_dns, respond
from tests.integration.netns import bring_up
from tests.pki import Leaf, authority

BLOCK_PAGE = "198.51.100.10"
CDN_SUBJECT = "198.51.100.20"
CDN_CONTROL = "198.51.100.30"
BLOCK_HTML = (b"<!doctype html><html><head><title>Access denied - ISP T</title></head><body>"
              b"<p>This site is blocked by order of the court.</p></body></html>")
SITE_HTML = b"<!doctype html><html><head><title>The real site</title></head><body>Hello</body></html>"

ORDER = """\
schema: blockaudit/order/1
id: http-evidence
title: HTTP evidence scenario
authority: Test court
jurisdiction: US
order_type: other
issued: 2026-01-01
verification: unverified
targets: [{domain: blocked.test}, {domain: cdn.test}]
"""

FINGERPRINTS = """\
schema: blockaudit/fingerprints/1
fingerprints:
  - id: isp-t-block-page
    description: "ISP T's block page"
    scope: {operators: ["ISP T"]}
    match: {body: ['blocked by order of the court']}
    source: {url: "https://isp-t.example/block-page", note: "ISP T documents its block page"}
"""


def answers(site: str, block: str) -> dict[str, str]:
    return {"blocked.test": block, "cdn.test": site, "canary.test": "198.51.100.99"}


def resolver(table: dict[str, str]):  # type: ignore[no-untyped-def]
    def handle(q: dns.message.Message, transport: str) -> dns.message.Message:
        name = str(q.question[0].name).rstrip(".").lower()
        address = table.get(name)
        if address is None:
            return respond(q, rcode=dns.rcode.NXDOMAIN, soa=True)
        return respond(q, a=[address])

    return handle


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def web(address: str, port: int, body: bytes, leaf: Leaf | None = None) -> Iterator[None]:
    handler = type("Handler", (_Handler,), {"body": body})
    server = _Server((address, port), handler)
    if leaf is not None:
        server.socket = leaf.context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def run(workdir: Path) -> int:
    bring_up([BLOCK_PAGE, CDN_SUBJECT, CDN_CONTROL])
    ca = authority(workdir / "pki")
    isp_leaf = ca.issue(workdir / "pki", "isp", ("block.isp-t.example",))
    site_leaf = ca.issue(workdir / "pki", "site", ("cdn.test", "*.cdn.test"))
    (workdir / "order.yaml").write_text(ORDER, encoding="utf-8")
    fingerprints = workdir / "fingerprints.yaml"
    fingerprints.write_text(FINGERPRINTS, encoding="utf-8")
    with contextlib.ExitStack() as stack:
        stack.enter_context(web(BLOCK_PAGE, 80, BLOCK_HTML))
        stack.enter_context(web(BLOCK_PAGE, 443, BLOCK_HTML, isp_leaf))
        stack.enter_context(web(CDN_SUBJECT, 443, SITE_HTML, site_leaf))
        stack.enter_context(web(CDN_SUBJECT, 80, SITE_HTML))
        subject = stack.enter_context(fake_dns(resolver(answers(CDN_SUBJECT, BLOCK_PAGE))))
        control = stack.enter_context(fake_dns(resolver(answers(CDN_CONTROL, CDN_CONTROL))))
        resolvers = workdir / "resolvers.yaml"
        resolvers.write_text(
            "schema: blockaudit/resolvers/1\nresolvers:\n"
            f"  - {{name: isp-t-1, operator: ISP T, address: '{subject.address}', role: subject}}\n"
            f"  - {{name: control, operator: control, address: '{control.address}', role: control}}\n"
            "canaries: [canary.test]\n",
            encoding="utf-8",
        )
        argv = ["check", str(workdir / "order.yaml"), "--resolvers", str(resolvers), "--no-db", "-q",
                "--timeout", "1", "--retries", "1", "--report", f"json:{workdir / 'report.json'}",
                "--report", f"html:{workdir / 'report.html'}", "--report", f"court:{workdir / 'court.html'}"]
        without = main([*argv, "--report", f"json:{workdir / 'dns-only.json'}"])
        (workdir / "dns-only.status").write_text(str(without), encoding="utf-8")
        return main([*argv, "--http", "--http-ca", str(ca.pem), "--fingerprints", str(fingerprints)])


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
