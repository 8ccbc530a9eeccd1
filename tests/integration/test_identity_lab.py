"""An ISP that answers queries meant for a public resolver: a real Unbound with its own identity is
both the subject and, at the same address, a "control" (interception as OONI saw it in Italy). The
report must name the intercepted control, show what it said, and keep the verdicts the real control
alone gives.

The subject answers the ordered names with a block page address it does not declare; had the
intercepted control been used, that address would count as "what the name really is" and every
block would turn into a false violation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.cli import main

from .extra_unbound import extra_unbound, rpz_clause
from .lab import BLOCKPAGE_ADDRESS, LOOPBACK, RPZ_ORIGIN, Lab, _rpz_records, ask, rpz_text

pytestmark = pytest.mark.integration

NAME = "isp-t"
IDENTITY = "isp-t-resolver-1"


def resolver_file(path: Path, lab: Lab, port: int, *, intercepted: bool) -> Path:
    lines = [
        "schema: blockaudit/resolvers/1",
        "resolvers:",
        f"  - {{name: control, operator: control, address: '{lab.address('control')}', role: control}}",
        f"  - {{name: {NAME}, operator: ISP T, address: '{LOOPBACK}:{port}', country: it}}",
    ]
    if intercepted:
        # A public resolver's entry; the ISP's server answers for it (same address in the lab).
        lines.append(f"  - {{name: public-dns, operator: Public DNS, address: '{LOOPBACK}:{port}', role: control,"
                     " identity: ['id.server CH TXT', 'hostname.bind CH TXT', 'version.bind CH TXT']}")
    lines.append("canaries: [canary.test]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check(lab: Lab, resolvers: Path, folder: Path) -> tuple[int, dict[str, Any], str, str]:
    out, html, md = folder / "report.json", folder / "report.html", folder / "report.md"
    code = main(["check", str(lab.order_path), "--resolvers", str(resolvers), "--no-db", "-q",
                 "--timeout", "1", "--retries", "1",
                 "--report", f"json:{out}", "--report", f"html:{html}", "--report", f"md:{md}"])
    return (code, json.loads(out.read_text(encoding="utf-8")), html.read_text(encoding="utf-8"),
            md.read_text(encoding="utf-8"))


def verdicts(report: dict[str, Any], resolver: str) -> dict[str, tuple[str, str | None, str | None]]:
    return {r["query_name"]: (r["verdict"], r["method"], r["reason"])
            for r in report["results"] if r["resolver"] == resolver}


def test_an_intercepted_control_is_reported_and_not_used(lab: Lab, tmp_path: Path) -> None:
    root = lab.root / NAME
    with extra_unbound(
        lab, NAME, respip=True,
        server_lines=f'identity: "{IDENTITY}"\nhide-identity: no',
        files={f"{NAME}.rpz": rpz_text(_rpz_records((f"A {BLOCKPAGE_ADDRESS}",)))},
        clauses=rpz_clause(RPZ_ORIGIN, root / f"{NAME}.rpz"),
    ) as server:
        (tmp_path / "honest").mkdir()
        (tmp_path / "hijacked").mkdir()
        honest = check(lab, resolver_file(tmp_path / "honest.yaml", lab, server.port, intercepted=False),
                       tmp_path / "honest")
        code, report, html, md = check(
            lab, resolver_file(tmp_path / "hijacked.yaml", lab, server.port, intercepted=True), tmp_path / "hijacked")
        log = server.log_text()
        # What the intercepted "public resolver" says an ordered name is: the ISP's block page.
        lie = [str(r) for rrset in ask(server.port, "blocked-one.test").answer for r in rrset]

    resolvers = {r["name"]: r for r in report["resolvers"]}
    public = resolvers["public-dns"]["identity"]
    assert public["intercepted"] is True, (public, log)
    assert public["answers"]["id.server CH TXT"] == [IDENTITY]
    assert public["answers"]["hostname.bind CH TXT"] == [IDENTITY]
    assert f"answers like subject {NAME}: id.server CH TXT '{IDENTITY}'" in public["detail"]
    assert public["source_address"] == LOOPBACK

    subject = resolvers[NAME]
    assert subject["identity"]["answers"]["id.server CH TXT"] == [IDENTITY]
    assert subject["identity"]["intercepted"] is None and subject["country"] == "IT"

    # The lab's real control answers with this host's name (Unbound's default): not the subject's.
    control = resolvers["control"]["identity"]
    assert control["intercepted"] is False, control
    assert control["answers"]["id.server CH TXT"] and control["answers"]["id.server CH TXT"] != [IDENTITY]

    # Had it been used, the block page would pass for the real address; it is not asked the names
    # at all (like a control that fails the canaries), and the verdicts are those the real control
    # alone gives: no false violation.
    assert lie == [BLOCKPAGE_ADDRESS]
    assert not [o for o in report["controls"] if o["resolver"] == "public-dns" and o["qname"] == "blocked-one.test"]
    honest_code, honest_report, _, _ = honest
    assert verdicts(report, NAME) == verdicts(honest_report, NAME)
    assert code == honest_code
    assert not any(v == "accessible" for v, _, _ in
                   (verdicts(report, NAME)[n] for n in ("blocked-one.test", "www.blocked-one.test", "gone.test")))
    assert verdicts(report, NAME)["blocked-one.test"] == ("inconclusive", None, "answer_differs")

    # Every report says so where a reader looks first, with the vantage point's addresses.
    assert any(a.startswith(LOOPBACK) for a in report["run"]["vantage_addresses"])
    assert report["run"]["vantage_host"] and report["run"]["settings"]["vantage"]["addresses"]
    assert 'class="alarm" role="alert"' in html and "public-dns" in html
    assert "⚠ Intercepted control:** public-dns" in md
    assert "Intercepted control" not in honest[3]
