"""BIND 9 configuration that loads the RPZ file of ``export rpz`` as a response policy zone.

named.conf has one ``options`` block, so the ``response-policy`` statement is written as a
comment to paste into it (between the BEGIN and END lines); the ``zone`` statement is live and
can be included as is. ``qname-wait-recurse no`` makes BIND apply the QNAME triggers before it
recurses: by default it waits for the real answer, and a name whose real answer fails (a
suspended domain with broken servers, say) then gets SERVFAIL instead of the block.
``break-dnssec yes`` rewrites answers for signed names too, even for clients that ask for DNSSEC.
"""

from __future__ import annotations

from checker.export.common import ExportOptions, clean, header, normalise_origin
from checker.models import OrderSet

BEGIN = "BEGIN response-policy"
END = "END response-policy"


def response_policy(origin: str) -> list[str]:
    """The statement that goes inside ``options { }``."""
    return [
        "response-policy {",
        f'\tzone "{origin}";',
        "} qname-wait-recurse no break-dnssec yes;",
    ]


def export(orders: OrderSet, options: ExportOptions) -> str:
    """The BIND snippet, byte for byte the same for the same orders and options."""
    origin = normalise_origin(options.origin)
    zone_file = clean(options.zone_file).replace('"', "")
    lines = header(orders, f"BIND 9 response-policy configuration for {origin}", options, "//", [
        f"The policy itself is the RPZ file {zone_file}: blockaudit export rpz ORDERS --zone {origin} -o {zone_file}",
    ], action=False)
    lines += [
        "//",
        "// 1. Add this statement inside options { } (or the view that serves the customers):",
        f"// {BEGIN}",
        *(f"//\t{line}" for line in response_policy(origin)),
        f"// {END}",
        "//",
        "// qname-wait-recurse no: apply the policy before recursing; by default BIND waits for the real",
        "//   answer, and a name whose real answer fails (SERVFAIL, timeout) is then not rewritten.",
        "// break-dnssec yes: rewrite answers for DNSSEC-signed names even for clients that ask for DNSSEC.",
        "//",
        "// 2. This zone statement goes at the top level of named.conf; it can be included as it is.",
        f'zone "{origin}" {{',
        "\ttype primary;",
        f'\tfile "{zone_file}";',
        "\tallow-query { none; };",
        "\tallow-transfer { none; };",
        "\tnotify no;",
        "};",
    ]
    return "\n".join(lines) + "\n"
