"""Exports from an order with hostile free text: the text only ever lands inside one comment line.

Resolver configuration is loaded by a resolver and shown with ``cat``: a title, a note or a URL
target that could end a comment, add a record or directive, or drive the terminal would be worse
than a bad report. Names themselves are checked strictly by the loader (tests/orders).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from checker.cli import ExitStatus, main
from checker.export import ExportFormat, ExportOptions, export
from checker.orders.loader import load_orders
from tests import hostile

ON = dt.date(2026, 6, 1)
COMMENT = {ExportFormat.RPZ: ";", ExportFormat.UNBOUND: "#", ExportFormat.DNSMASQ: "#",
           ExportFormat.BIND: "//", ExportFormat.HOSTS: "#"}
MARKERS = ("<script>", "FAKE", "RED", "::error::", "add-mask", "onerror")


def exported(tmp_path: Path, text: str, fmt: ExportFormat) -> list[str]:
    path = tmp_path / f"{len(text)}.yaml"
    path.write_text(text, encoding="utf-8")
    return export(fmt, load_orders([path], ON), ExportOptions(on=ON)).split("\n")


def code(line: str, mark: str) -> str:
    """The part of a line a resolver reads: everything before its comment."""
    if line.lstrip().startswith(mark):
        return ""
    return line.split(f" {mark} ", 1)[0] if mark == ";" else line


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_hostile_text_stays_inside_comments(tmp_path: Path, fmt: ExportFormat) -> None:
    lines = exported(tmp_path, hostile.ORDER_YAML, fmt)
    twin = exported(tmp_path, hostile.ORDER_YAML.replace(hostile.EVIL_YAML, "plain words"), fmt)
    assert len(lines) == len(twin)
    mark = COMMENT[fmt]
    assert [code(line, mark) for line in lines] == [code(line, mark) for line in twin]
    for line in lines:
        assert not hostile.TERMINAL_CONTROLS_RE.search(line.replace("\t", " ")), repr(line)
        if any(marker in line for marker in MARKERS):
            assert code(line, mark) == "" or not any(m in code(line, mark) for m in MARKERS), line
    if fmt is not ExportFormat.BIND:  # the BIND snippet names no targets
        assert any("<script>" in line for line in lines), "the URL target is still reported, in a comment"


def test_export_to_a_file_is_written_whole(tmp_path: Path) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(hostile.ORDER_YAML, encoding="utf-8")
    out = tmp_path / "policy.rpz"
    assert main(["export", "rpz", str(order), "--date", ON.isoformat(), "-o", str(out)]) == ExitStatus.COMPLIANT
    assert out.read_text(encoding="utf-8").endswith("\n")
    assert not list(tmp_path.glob(".policy.rpz.*"))
