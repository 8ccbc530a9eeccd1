"""Reports of runs too large to hold: results spooled to disk as they come, written sorted at the end.

``ReportOutput`` is what ``check`` hands the audit as its ``Output``. For every result it

* adds it to a ``Tally`` (every count in every report comes from there);
* spools its JSON, indented exactly as the JSON report writes it, to a temporary SQLite file
  (which sorts them at the end without holding them in memory);
* keeps it in memory while the run is small (``keep`` results); past that only results that are
  not in their good state are kept, up to ``keep``: the HTML, Markdown, court and other reports
  of a huge run list those and say how many they leave out; the JSON report lists every one;
* trims the raw evidence by ``--evidence``.

``write_json`` then writes the JSON report byte for byte as ``json_text(view_model(run))`` would
for the same results, without ever building it in memory: each result and control answer is one
line (``json_item``), spliced into the indented rest (``json_frame``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO

from checker.models import Observation, QueryKind, Result, Run, Verdict
from checker.report.render import ITEM_SEPARATOR, LISTS, json_frame, json_item_bytes, list_closing, list_opening
from checker.report.view import View, observation, result, view_model
from checker.tally import Tally

KEEP = 10_000
"""Results kept in memory for the reports other than JSON (all of them up to this many)."""
_KIND_ORDER = {QueryKind.ORDERED: 0, QueryKind.EXEMPTION: 1, QueryKind.CANARY: 2}


class Evidence(StrEnum):
    """How much raw evidence (response bytes) a report keeps."""

    FULL = "full"
    """Every response, byte for byte (the default)."""
    FAILURES = "failures"
    """Bytes only for results not in their good state (violations, inconclusive, dead) and the
    control answers for their names; the parsed answers are kept for all."""
    NONE = "none"
    """No response bytes; the parsed answers are kept."""


def good(item: Result) -> bool:
    """The result is in the state the orders want: an ordered name blocked, an exemption or canary reachable."""
    if item.query.kind is QueryKind.ORDERED:
        return item.verdict is Verdict.BLOCKED
    return item.verdict is Verdict.ACCESSIBLE


def _bare(obs: Observation) -> Observation:
    return dataclasses.replace(obs, wire=None) if obs.wire is not None else obs


def result_key(item: Result) -> str:
    """Sorts as the report lists results: resolver, kind, domain, name."""
    return "\x00".join((item.resolver, str(_KIND_ORDER[item.query.kind]), item.query.domain, item.query.name))


def control_key(obs: Observation) -> str:
    return "\x00".join((obs.resolver, obs.qname, obs.qtype))


class Spool:
    """Report items on disk, read back sorted by key.

    Each item's text goes to a flat file in the order it came, after ``ITEM_SEPARATOR``, so the
    items are already joined as the report joins them; a temporary SQLite table holds each
    item's key and where its text lies, and sorts those small rows at the end (not the text: a
    result is half a kilobyte). Items read back in a run of the file are read at once, and a
    list that came in order (a sorted list checked at one subject) is copied in megabytes."""

    BATCH = 2000
    READ = 1 << 22
    """Bytes read from the flat file at once, at most."""
    _SEPARATOR = ITEM_SEPARATOR.encode("utf-8")

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="blockaudit-spool-", dir=folder))
        self.path = self.folder / "spool.sqlite"
        self._text = open(self.folder / "items", "w+b", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        self._end = 0
        self._db = sqlite3.connect(self.path)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16384;"
            "CREATE TABLE items (section TEXT NOT NULL, key TEXT NOT NULL, start INTEGER NOT NULL,"
            " size INTEGER NOT NULL);"
        )
        self._pending: list[tuple[str, str, int, int]] = []
        self.counts: dict[str, int] = {}

    def add(self, section: str, key: str, body: bytes) -> None:
        """Keep ``body`` (one entry, UTF-8) under ``key`` in ``section``."""
        item = self._SEPARATOR + body
        self._text.write(item)
        self._pending.append((section, key, self._end, len(item)))
        self._end += len(item)
        self.counts[section] = self.counts.get(section, 0) + 1
        if len(self._pending) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", self._pending)
            self._pending = []

    def joined(self, section: str) -> Iterator[memoryview]:
        """The entries of ``section`` sorted by key (ties in the order they came), each after
        ``ITEM_SEPARATOR``, in pieces of up to ``READ`` bytes (one entry may be longer). A piece
        is valid until the next is asked for: it is read into one buffer, again and again (a
        fresh buffer per piece cost more in page faults than the reading)."""
        self._flush()
        self._text.flush()
        buffer = memoryview(bytearray(self.READ))
        cursor = self._db.execute("SELECT start, size FROM items WHERE section = ? ORDER BY key, rowid", (section,))
        begin = end = 0
        for start, size in cursor:
            if start != end or end - begin + size > self.READ:
                if end > begin:
                    yield self._read(begin, end, buffer)
                begin = start
            end = start + size
        if end > begin:
            yield self._read(begin, end, buffer)

    def _read(self, begin: int, end: int, buffer: memoryview) -> memoryview:
        view = buffer[:end - begin] if end - begin <= len(buffer) else memoryview(bytearray(end - begin))
        done = 0
        while done < len(view):  # a regular file reads whole in one call; the loop is only in case
            got = os.preadv(self._text.fileno(), [view[done:]], begin + done)
            if not got:
                raise OSError(f"the report spool {self.folder} was cut short")
            done += got
        return view

    def close(self) -> None:
        self._db.close()
        self._text.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class ReportOutput:
    """The audit's ``Output`` for ``check``: tallies, spools and keeps results as they come."""

    def __init__(self, operators: dict[str, str], evidence: Evidence = Evidence.FULL, keep: int = KEEP,
                 folder: Path | None = None, on_result: Callable[[Result], None] | None = None) -> None:
        self.tally = Tally(operators)
        self.evidence = evidence
        self.keep = keep
        self.on_result = on_result
        self.spool = Spool(folder)
        self.kept: list[Result] = []
        self.kept_controls: list[Observation] = []
        self.left_out = 0
        self.controls_left_out = 0
        self._failing: set[str] = set()
        self._all = True
        """Every result so far is kept."""
        self._all_controls = True
        """Every control answer so far is kept."""

    # ------------------------------------------------------------------ Output

    def result(self, item: Result) -> None:
        if self.evidence is Evidence.NONE or (self.evidence is Evidence.FAILURES and good(item)):
            item = dataclasses.replace(item, observations=tuple(_bare(o) for o in item.observations))
        if self.evidence is Evidence.FAILURES and not good(item):
            self._failing.add(item.query.name)  # its control answers keep their bytes
        self.tally.add(item)
        self.spool.add("results", result_key(item), json_item_bytes(result(item)))
        if self.on_result is not None:
            self.on_result(item)
        self._keep(item)

    def control(self, obs: Observation) -> None:
        if self.evidence is Evidence.NONE or (self.evidence is Evidence.FAILURES and obs.qname not in self._failing):
            obs = _bare(obs)
        self.spool.add("controls", control_key(obs), json_item_bytes(observation(obs)))
        if self._all and self._all_controls and len(self.kept_controls) < self.keep * 2:
            self.kept_controls.append(obs)
        else:
            self._all_controls = False
            self.controls_left_out += len(self.kept_controls) + 1  # once past the limit, none are listed
            self.kept_controls = []

    def _keep(self, item: Result) -> None:
        if self._all and len(self.kept) < self.keep:
            self.kept.append(item)
            return
        if self._all:  # the run outgrew memory: from now on keep only what is not in its good state
            self._all = False
            self.left_out += sum(1 for r in self.kept if good(r))
            self.kept = [r for r in self.kept if not good(r)]
        if not good(item) and len(self.kept) < self.keep:
            self.kept.append(item)
        else:
            self.left_out += 1

    # ------------------------------------------------------------------ reports

    def view(self, run: Run) -> View:
        """The report view for every format but JSON: every count, and the results kept."""
        kept = dataclasses.replace(
            run, results=tuple(sorted(self.kept, key=result_key)),
            controls=tuple(sorted(self.kept_controls, key=control_key)) if self._all_controls else (),
        )
        view = view_model(kept, self.tally)
        if not (self._all and self._all_controls):
            view["summary"]["listed"] = {
                "results": len(self.kept), "left_out": self.left_out,
                "controls_left_out": self.controls_left_out,
                "note": f"{self.left_out} results in their good state and the control answers are not listed "
                        "here; the JSON report lists every result",
            }
        return view

    def write_json(self, run: Run, stream: IO[bytes]) -> str:
        """Write the full JSON report to ``stream``; return its SHA-256. The spool's entries are
        copied as they lie, so this costs little more than reading them back."""
        digest = hashlib.sha256()

        def write(data: bytes | memoryview) -> None:
            digest.update(data)
            stream.write(data)

        pieces = json_frame(view_model(run, self.tally, results=False))
        skip = len(Spool._SEPARATOR)
        for name, before in zip(LISTS, pieces, strict=False):
            write(before.encode("utf-8"))
            first = True
            for joined in self.spool.joined(name):
                if first:
                    write(list_opening(name).encode("utf-8"))
                    write(joined[skip:])
                    first = False
                else:
                    write(joined)
            write(list_closing(name, first).encode("utf-8"))
        write(pieces[-1].encode("utf-8"))
        return digest.hexdigest()

    def close(self) -> None:
        self.spool.close()
