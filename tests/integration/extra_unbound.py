"""Starts one more Unbound next to the running lab, loaded with an RPZ or local-zones of a test's choosing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from .lab import (
    LOOPBACK,
    Lab,
    LabError,
    Server,
    _check_config,
    _start,
    find_tool,
    probe_answers,
    server_conf,
    tail_conf,
)


def rpz_clause(origin: str, zonefile: Path) -> str:
    """An `rpz:` clause loading a zone file."""
    return f"""rpz:
  name: "{origin}"
  zonefile: "{zonefile}"
"""


@contextlib.contextmanager
def extra_unbound(
    lab: Lab,
    name: str,
    *,
    server_lines: str = "",
    clauses: str = "",
    files: Mapping[str, str] | None = None,
    respip: bool = False,
) -> Iterator[Server]:
    """Run one extra Unbound for the length of the block.

    ``server_lines`` are appended to its ``server:`` clause (indented two spaces each),
    ``clauses`` are top-level clauses (an ``rpz:``), ``files`` are written to the lab's folder
    first (name -> text). It is ready once it answers the lab's canary.
    """
    unbound = find_tool("unbound")
    checkconf = find_tool("unbound-checkconf")
    if unbound is None or checkconf is None:
        raise LabError("unbound is not installed (apt-get install unbound)")
    root = lab.root / name
    root.mkdir(parents=True, exist_ok=True)
    for file_name, text in (files or {}).items():
        (root / file_name).write_text(text, encoding="utf-8")
    conf = root / f"{name}.conf"
    nsd_port = lab.nsd_port
    extra = "".join(f"  {line.strip()}\n" for line in server_lines.splitlines() if line.strip())

    def argv(port: int) -> list[str]:
        text = server_conf(root, name, port, nsd_port, respip=respip) + extra + tail_conf(nsd_port) + clauses
        conf.write_text(text, encoding="utf-8")
        _check_config([checkconf, str(conf)], f"Unbound config of {name}")
        return [unbound, "-d", "-c", str(conf)]

    server = _start(name, argv, log_path=root / f"{name}.log", probe=probe_answers, taken=lab._taken, cwd=root)
    try:
        yield server
    finally:
        server.stop()


def resolver_file(path: Path, lab: Lab, subject: str, port: int, block: str = "") -> Path:
    """A resolver file with the lab's control and one subject on `port` (`block`: its block signals,
    as a YAML flow mapping such as ``{addresses: [203.0.113.10]}``)."""
    signals = f", block: {block}" if block else ""
    path.write_text(
        "schema: blockaudit/resolvers/1\n"
        "resolvers:\n"
        f"  - {{name: control, operator: control, address: \"{lab.address('control')}\", role: control}}\n"
        f"  - {{name: {subject}, operator: candidate, address: \"{LOOPBACK}:{port}\", role: subject{signals}}}\n"
        "canaries: [canary.test]\n",
        encoding="utf-8",
    )
    return path
