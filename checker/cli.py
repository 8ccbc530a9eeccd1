"""The command line: the only module that reads argv, prints, or exits."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import jinja2

from checker import __version__, classify
from checker.audit import AuditSettings, audit, new_run_id
from checker.bundled import orders_dir
from checker.engine import ProgressEvent, lean_gc, run_loop
from checker.errors import BlockauditError, ResolverConfigError, UsageError
from checker.export import (
    DEFAULT_ORIGIN,
    DEFAULT_ZONE_FILE,
    Action,
    ExportError,
    ExportFormat,
    ExportOptions,
    export,
    parse_action,
)
from checker.fingerprints import load_fingerprints
from checker.history import diff, timelines, verdict_history
from checker.models import OrderType, ResolverSet, Result, Run, Source, Status, Verification
from checker.orders.fetch import fetch
from checker.orders.importers import FORMATS as IMPORT_FORMATS
from checker.orders.importers import ImportMeta, import_file, parse_options
from checker.orders.loader import discover, load_orders
from checker.orders.names import InvalidName, normalise, normalise_label
from checker.probe.client import ProbeSettings
from checker.probe.web import WebSettings
from checker.queries import canary_conflicts
from checker.report import (
    REPORT_SCHEMA,
    Format,
    RenderOptions,
    github_annotations,
    json_text,
    pdf_available,
    render,
    sha256,
    summary,
    terminal_safe,
    view_model,
)
from checker.report.present import parse_time
from checker.report.stream import Evidence, ReportOutput
from checker.resolvers import load_resolvers, system_resolvers
from checker.store import ResultRow, RunRow, Store, open_store
from checker.store.recorder import Recorder
from checker.verify import ConfigFormat, verify

MAX_RETRIES = 10


class ExitStatus(IntEnum):
    """Exit statuses scripts and CI can rely on."""

    COMPLIANT = 0
    """Every ordered name is blocked (or dead) at every subject, nothing is over-blocked."""
    VIOLATION = 1
    """An ordered name is accessible through a subject, or an exemption or canary is blocked."""
    ERROR = 2
    """Bad input, bad configuration or bad usage; the message names file:line."""
    INCONCLUSIVE = 3
    """No violation, but some results could not be decided."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C)."""


DESCRIPTION = """\
Check that ISP resolvers block the names court orders require, and nothing else.

blockaudit asks every ordered name (and www. below names ordered with their subdomains) of
each subject resolver and of control resolvers, over A and AAAA, judges every answer, and
keeps the raw responses as evidence. A timeout, SERVFAIL or unhealthy resolver is never
counted as a block.
"""

EPILOG = """\
exit status:
  0  compliant: every ordered name blocked (or dead) at every subject resolver
  1  violation: an ordered name is accessible, or an exemption or canary is blocked
  2  bad input, configuration or usage (the message names file:line)
  3  no violation, but some results are inconclusive
  130 interrupted

examples:
  blockaudit check                                   bundled orders, this machine's resolvers
  blockaudit check orders/ --resolvers isp.yaml --report json:out.json
  blockaudit check --resolvers isp.yaml --report json:- | jq .summary
  blockaudit check --resolvers isp.yaml --report html:report.html --report junit:junit.xml \
                   --report court:court.html --report github:-
  blockaudit render report.json --report pdf:court.pdf    re-render a saved run, asking nothing
  blockaudit validate orders/ --resolvers isp.yaml    lint files without asking anything

report formats:
  json    the full run with raw evidence (blockaudit/report/1); every other format renders from it
  html    one self-contained page: status, violations, names x resolvers matrix, evidence
  md      GitHub-flavoured Markdown for a PR comment (under 1 MiB, truncated with a note)
  junit   JUnit XML: a suite per order x resolver, a case per name
  csv     one row per result, stable columns
  github  job-summary Markdown; with '-': ::error/::warning annotations on stdout and the
          summary appended to $GITHUB_STEP_SUMMARY
  court   a formal HTML document for a filing, with the SHA-256 of the JSON it came from
  pdf     the court report as PDF (needs: pip install 'blockaudit[pdf]')
  prometheus  gauges for node_exporter's textfile collector: per resolver, operator and order
"""


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """One ``--report FORMAT:PATH``."""

    format: Format
    path: str


def _report_spec(text: str) -> ReportSpec:
    fmt, sep, path = text.partition(":")
    formats = ", ".join(f.value for f in Format)
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FORMAT:PATH, e.g. json:report.json ({formats})")
    try:
        return ReportSpec(Format(fmt.lower()), path)
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown report format {fmt!r}; available: {formats}") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


MAX_WORKERS = 64


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 to {MAX_WORKERS}")
    return int(text)


def _retries(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 to {MAX_RETRIES}")
    return int(text)


def _label(text: str) -> str:
    try:
        return normalise_label(text)
    except InvalidName as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-04-14") from None


def _action(text: str) -> Action:
    try:
        return parse_action(text)
    except ExportError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time like 2026-04-14T12:00:00Z") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _retries_free_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL",
                        help="the run history: a SQLite file or a postgresql:// URL "
                             "(default: $XDG_DATA_HOME/blockaudit/history.sqlite)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with help that teaches."""
    parser = argparse.ArgumentParser(
        prog="blockaudit", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"blockaudit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check", help="ask the resolvers and judge every ordered name",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("orders", nargs="*", type=Path, metavar="ORDERS",
                       help="order files or folders of them (default: the bundled orders)")
    check.add_argument("--input-format", choices=sorted(IMPORT_FORMATS), metavar="FMT",
                       help="read the ORDERS files named as this list format (default: .yaml/.yml are order "
                            "files, other files by their name and first lines)")
    check.add_argument("--resolvers", type=Path, metavar="FILE",
                       help="resolver file (blockaudit/resolvers/1); default: this machine's resolvers "
                            "as subjects and built-in public resolvers as controls")
    check.add_argument("--resolv-conf", type=Path, metavar="FILE",
                       default=Path(os.environ.get("BLOCKAUDIT_RESOLV_CONF", "/etc/resolv.conf")),
                       help="where the machine's resolvers are read without --resolvers "
                            "(default: $BLOCKAUDIT_RESOLV_CONF or /etc/resolv.conf)")
    check.add_argument("--report", action="append", type=_report_spec, default=[], metavar="FORMAT:PATH",
                       help="write a report; repeatable; PATH '-' is stdout. Formats: "
                            + ", ".join(f.value for f in Format))
    check.add_argument("--timeout", type=_positive, default=2.0, metavar="SECONDS",
                       help="wait this long for each attempt (default: 2)")
    check.add_argument("--retries", type=_retries, default=2, metavar="N",
                       help="attempts after a timeout, with backoff (default: 2)")
    check.add_argument("--subdomain-probe", action="append", type=_label, metavar="LABEL", dest="probes",
                       help="label asked below names ordered with subdomains; repeatable (default: www)")
    check.add_argument("--date", type=_date, metavar="YYYY-MM-DD",
                       help="judge which orders are in force on this day (default: today, UTC)")
    check.add_argument("--templates", type=Path, metavar="DIR",
                       help="a folder of templates that override the bundled ones, by file name")
    _store_options(check)
    check.add_argument("--no-db", action="store_true", help="keep no history of this run")
    check.add_argument("--resume", metavar="RUN_ID",
                       help="finish an interrupted run: asks only what it had not yet recorded")
    check.add_argument("--now", type=_timestamp, metavar="TIME",
                       help="judge deadlines and orders in force as of this time (ISO 8601, UTC if no "
                            "zone) instead of the clock")
    evidence = check.add_argument_group(
        "HTTP and TLS evidence",
        "An answer that is neither a known block signal nor what the controls give stays "
        "inconclusive/answer_differs. With --http, blockaudit connects to the answered address itself "
        "(never to any other host), with Host and SNI set to the name, and settles it: a known block "
        "page (a fingerprint) is blocked/blockpage, a certificate valid for the name is accessible, "
        "anything else stays inconclusive with what was seen kept as evidence. Ordered names found "
        "accessible at a resolver that declares no block page are fetched too (an ISP may intercept "
        "the web traffic instead). Fingerprint addresses and CNAMEs count as block signals with or "
        "without --http.",
    )
    evidence.add_argument("--http", action="store_true",
                          help="gather HTTP and TLS evidence at the answered addresses (see above)")
    evidence.add_argument("--http-ca", type=Path, metavar="FILE",
                          help="PEM bundle that verifies the sites' certificates instead of the system's "
                               "trust store")
    evidence.add_argument("--http-timeout", type=_positive, default=WebSettings().read_timeout, metavar="SECONDS",
                          help=f"connect and read timeout of each request (default: {WebSettings().read_timeout:g})")
    evidence.add_argument("--fingerprints", action="append", type=Path, default=[], metavar="FILE",
                          help="block-page fingerprints (blockaudit/fingerprints/1) to add to the bundled "
                               "ones; repeatable")
    check.add_argument("--evidence", choices=[e.value for e in Evidence], default=Evidence.FULL.value,
                       help="raw response bytes to keep in the reports: full (every answer, the default), "
                            "failures (only for results not in their good state and their control answers), "
                            "none (parsed answers only)")
    check.add_argument("--workers", type=_workers, default=AuditSettings().workers, metavar="N",
                       help=f"processes that ask the names of a list of {AuditSettings().worker_from:,} names or "
                            "more, each for some of the resolvers (plain UDP without a qps cap), while this one "
                            f"judges and writes: a run uses more than one core (default {AuditSettings().workers}; "
                            "0: ask everything in this process)")
    check.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary on stderr")

    import_cmd = commands.add_parser(
        "import", help="turn a foreign blocklist (hosts, RPZ, RKN dump, Citizen Lab CSV…) into an order file",
        description="Read a blocklist in a foreign format and write an order file (blockaudit/order/1). Every "
                    "line left out is reported as file:line: reason. SOURCE may be a file, '-' (stdin) or an "
                    "https:// URL (fetched with a size cap, cached with ETag/If-Modified-Since, optionally "
                    "pinned by --sha256).",
    )
    import_cmd.add_argument("format", choices=sorted(IMPORT_FORMATS), metavar="FORMAT",
                            help="one of: " + ", ".join(sorted(IMPORT_FORMATS)))
    import_cmd.add_argument("source", metavar="SOURCE", help="a file, '-' for stdin, or an https:// URL")
    import_cmd.add_argument("--order-id", metavar="ID", help="the order's id (default: from the file name)")
    import_cmd.add_argument("--title", help="the order's title")
    import_cmd.add_argument("--authority", help="the court, regulator or body behind the list")
    import_cmd.add_argument("--jurisdiction", metavar="CC",
                            help="ISO 3166 code (required unless the format implies it)")
    import_cmd.add_argument("--order-type", choices=[t.value for t in OrderType], metavar="TYPE",
                            help="tro, preliminary_injunction, permanent_injunction, administrative, ticket, other")
    import_cmd.add_argument("--issued", type=_date, metavar="YYYY-MM-DD", help="date of the order")
    import_cmd.add_argument("--verification", choices=["verified", "unverified"], default="unverified",
                            help="has someone read the order itself (default unverified)")
    import_cmd.add_argument("--case-number", metavar="N", help="docket or case number, if public")
    import_cmd.add_argument("--source-url", action="append", default=[], metavar="URL",
                            help="where the list comes from; repeatable (an https SOURCE is added itself)")
    import_cmd.add_argument("--notes", help="free text for the order")
    import_cmd.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                            help="a format option, e.g. columns=domain=2,site=4 for csv, zone=rpz.example. for "
                                 "rpz, encoding=latin-1")
    import_cmd.add_argument("-o", "--output", default="-", metavar="FILE", help="the order file to write ('-': stdout)")
    import_cmd.add_argument("--sha256", metavar="DIGEST", help="pin an https SOURCE to these exact bytes")
    import_cmd.add_argument("--allow-http", action="store_true", help="accept a plain http:// SOURCE (tests, intranet)")
    import_cmd.add_argument("--strict", action="store_true", help="exit 2 when any line was skipped")

    export_cmd = commands.add_parser(
        "export", help="write the orders as resolver configuration (RPZ, Unbound, dnsmasq, BIND, hosts)",
        description="Write the orders in force as resolver configuration. The same orders and options "
                    "always give the same bytes; every rule names the orders that require it.",
    )
    export_cmd.add_argument("format", choices=[f.value for f in ExportFormat], metavar="FORMAT",
                            help="one of: " + ", ".join(f.value for f in ExportFormat))
    export_cmd.add_argument("orders", nargs="*", type=Path, metavar="ORDERS",
                            help="order files or folders (default: the bundled orders)")
    export_cmd.add_argument("-o", "--output", default="-", metavar="FILE", help="where to write ('-': stdout)")
    export_cmd.add_argument("--action", type=_action, default=None, metavar="ACTION",
                            help="nxdomain (default), nodata, sinkhole, drop or blockpage:ADDR[,ADDR]")
    export_cmd.add_argument("--zone", default=DEFAULT_ORIGIN, metavar="ORIGIN",
                            help=f"RPZ zone origin (default {DEFAULT_ORIGIN})")
    export_cmd.add_argument("--zone-file", default=DEFAULT_ZONE_FILE, metavar="NAME",
                            help=f"zone file name the bind snippet points at (default {DEFAULT_ZONE_FILE})")
    export_cmd.add_argument("--serial", type=_retries_free_count, metavar="N",
                            help="RPZ SOA serial (default: from the orders' dates)")
    export_cmd.add_argument("--subdomain-probe", action="append", type=_label, metavar="LABEL", dest="probes",
                            help="label written below subtree orders where a format cannot block a subtree "
                                 "(default www)")
    export_cmd.add_argument("--date", type=_date, metavar="YYYY-MM-DD",
                            help="orders in force on this day (default today)")

    verify_cmd = commands.add_parser(
        "verify-config", help="check a candidate resolver config against the orders, sending no DNS traffic",
        description="Decide, the way the real resolver software would, what a candidate config does to every "
                    "name 'check' would ask; same verdicts, reports and exit statuses as 'check'.",
    )
    which = verify_cmd.add_mutually_exclusive_group(required=True)
    for fmt in ConfigFormat:
        which.add_argument(f"--{fmt.value}", type=Path, metavar="FILE", dest=f"config_{fmt.value}",
                           help=f"a {fmt.value} config to verify")
    verify_cmd.add_argument("orders", nargs="*", type=Path, metavar="ORDERS",
                            help="order files or folders (default: the bundled orders)")
    verify_cmd.add_argument("--zone", metavar="ORIGIN", help="RPZ zone origin (default: from the file)")
    verify_cmd.add_argument("--report", action="append", type=_report_spec, default=[], metavar="FORMAT:PATH",
                            help="write a report; repeatable; PATH '-' is stdout")
    verify_cmd.add_argument("--subdomain-probe", action="append", type=_label, metavar="LABEL", dest="probes",
                            help="label checked below names ordered with subdomains (default www)")
    verify_cmd.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="orders in force on this day")
    verify_cmd.add_argument("--templates", type=Path, metavar="DIR", help="templates that override the bundled ones")
    verify_cmd.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")

    runs = commands.add_parser("runs", help="list stored runs, newest first")
    _store_options(runs)
    runs.add_argument("--limit", type=_retries_free_count, default=50, metavar="N", help="at most N runs (default 50)")

    report_cmd = commands.add_parser("report", help="render a stored run in any format")
    report_cmd.add_argument("run_id", metavar="RUN_ID")
    report_cmd.add_argument("--report", action="append", type=_report_spec, default=[], metavar="FORMAT:PATH",
                            help="write a report; repeatable; PATH '-' is stdout")
    report_cmd.add_argument("--templates", type=Path, metavar="DIR", help="templates that override the bundled ones")
    _store_options(report_cmd)

    diff_cmd = commands.add_parser(
        "diff", help="what changed between two stored runs; exit 1 on a regression",
        description="List regressions (a name now accessible, or an exemption now blocked), newly blocked "
                    "names and changed methods between two stored runs. Exit 1 when there is a regression.",
    )
    diff_cmd.add_argument("run_a", metavar="RUN_A")
    diff_cmd.add_argument("run_b", metavar="RUN_B")
    diff_cmd.add_argument("--json", action="store_true", help="print the changes as JSON")
    _store_options(diff_cmd)

    timeline = commands.add_parser("timeline", help="a name's history per resolver: since when blocked, every flip")
    timeline.add_argument("name", metavar="NAME")
    timeline.add_argument("--json", action="store_true", help="print the timeline as JSON")
    _store_options(timeline)

    render_cmd = commands.add_parser(
        "render", help="render a saved JSON report in other formats, asking nothing",
        description="Render any format from a JSON report written by 'check'. The same JSON gives "
                    "byte-identical output; reports state the run's end as their date unless "
                    "SOURCE_DATE_EPOCH is set.",
    )
    render_cmd.add_argument("json", type=Path, metavar="REPORT.json", help="a report from --report json:PATH")
    render_cmd.add_argument("--report", action="append", type=_report_spec, default=[], metavar="FORMAT:PATH",
                            help="write a report; repeatable; PATH '-' is stdout. Formats: "
                                 + ", ".join(f.value for f in Format))
    render_cmd.add_argument("--templates", type=Path, metavar="DIR",
                            help="a folder of templates that override the bundled ones, by file name")

    validate = commands.add_parser(
        "validate", help="check order files (and a resolver file) without asking anything",
        description="Lint order files: every problem is reported as file:line: what is wrong.",
    )
    validate.add_argument("orders", nargs="*", type=Path, metavar="ORDERS",
                          help="order files or folders (default: the bundled orders)")
    validate.add_argument("--resolvers", type=Path, metavar="FILE", help="also validate this resolver file")
    validate.add_argument("--fingerprints", action="append", type=Path, default=[], metavar="FILE",
                          help="also validate this block-page fingerprint file (with the bundled ones); repeatable")
    validate.add_argument("--input-format", choices=sorted(IMPORT_FORMATS), metavar="FMT",
                          help="read the ORDERS files named as this list format")
    return parser


class _Progress:
    """Progress on stderr: on a terminal one line redrawn in place (phase, done/total, rate, ETA,
    verdicts so far); elsewhere (a CI log) one plain line every ``interval`` seconds."""

    def __init__(self, stream: TextIO, *, tty: bool, interval: float = 10.0,
                 verdicts: Callable[[], dict[str, int]] | None = None) -> None:
        self.stream = stream
        self.tty = tty
        self.interval = 0.1 if tty else interval
        self.verdicts = verdicts
        self.last = 0.0
        self.started: dict[str, float] = {}
        """When each phase began: phases overlap (the canary re-checks run while names are asked)."""

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.done == 0:
            self.started[event.phase] = now
        started = self.started.setdefault(event.phase, now)
        finished = event.total and event.done >= event.total
        if not finished and now - self.last < self.interval:
            return
        if not self.tty and (finished or event.done == 0 or now - started < self.interval):
            return  # a log gets a line only while a phase runs long: short runs stay quiet
        self.last = now
        elapsed = max(now - started, 1e-6)
        rate = event.done / elapsed
        unit = "names at addresses" if event.phase == "http" else "questions"
        line = f"{event.phase}: {event.done:,}/{event.total:,} {unit}, {rate:,.0f}/s"
        if event.total and 0 < event.done < event.total and rate > 0:
            left = (event.total - event.done) / rate
            line += f", ETA {int(left // 60)}:{int(left % 60):02d}"
        if self.verdicts is not None and event.phase == "names":
            counts = {k: v for k, v in self.verdicts().items() if v}
            if counts:
                line += " · " + " ".join(f"{k} {v:,}" for k, v in counts.items())
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}" + ("\n" if finished else ""))
        else:
            self.stream.write(f"blockaudit: {line}\n")
        self.stream.flush()


def _replaceable(path: Path) -> bool:
    """Whether ``write_atomic`` replaces ``path`` (a regular file, or none yet) rather than writing
    into it (``/dev/stdout``, a FIFO)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


class _Staged:
    """A file written beside the one it is to replace: ``commit`` syncs it and renames it into
    place (and syncs the folder), ``discard`` removes it; the old file is intact until ``commit``.
    A symlink is kept and the file it points to is replaced. A new file gets the mode the umask
    allows; an existing file keeps its mode."""

    def __init__(self, path: Path) -> None:
        self.target = Path(os.path.realpath(path))
        try:
            self.mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            self.mode = 0o666 & ~umask
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent)
        self.path = Path(tmp)
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self.committed = False

    @property
    def current(self) -> Path:
        """Where the written data is now: the temp file, or the target once committed."""
        return self.target if self.committed else self.path

    def commit(self) -> None:
        handle = self.handle
        handle.flush()
        os.fchmod(handle.fileno(), self.mode)
        os.fsync(handle.fileno())
        handle.close()
        os.replace(self.path, self.target)
        self.committed = True
        try:  # make the rename itself durable (best effort: not every file system syncs a folder)
            folder = os.open(self.target.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(folder)
        except OSError:
            pass
        finally:
            os.close(folder)

    def discard(self) -> None:
        """Remove the temp file, unless it was committed (safe to call more than once)."""
        self.handle.close()
        if not self.committed:
            self.path.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """Write a file whole or not at all: a temp file beside it, synced to disk, then a rename
    (and the folder synced); on any error the temp file is removed and the old file is intact.

    ``data`` is the bytes, or a function that writes them to the open file (a report too large
    to hold). A path that is not a regular file (``/dev/stdout``, a FIFO) is written to directly,
    never replaced (see ``_Staged`` for symlinks and modes).
    """
    write: Callable[[BinaryIO], object] = data if callable(data) else (lambda handle: handle.write(data))
    if not _replaceable(path):
        with open(path, "wb") as handle:
            write(handle)
        return
    staged = _Staged(path)
    try:
        write(staged.handle)
        staged.commit()
    finally:
        staged.discard()


def _check_report_paths(specs: Sequence[ReportSpec], templates: Path | None) -> None:
    if templates is not None and not templates.is_dir():
        raise UsageError(f"--templates {templates}: no such folder")
    if any(spec.format is Format.PDF for spec in specs) and not pdf_available():
        raise UsageError("the pdf report needs WeasyPrint", hint="pip install 'blockaudit[pdf]'")
    seen: set[str] = set()
    for spec in specs:
        if spec.path == "-":
            if "-" in seen:
                raise UsageError("only one report can go to stdout ('-')")
            seen.add("-")
            continue
        target = Path(spec.path)
        if str(target.resolve()) in seen:
            raise UsageError(f"two reports are written to {spec.path}")
        seen.add(str(target.resolve()))
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            raise UsageError(f"cannot write report {spec.path}: folder {parent} does not exist")
        if target.is_dir():
            raise UsageError(f"cannot write report {spec.path}: it is a folder")
        if not os.access(parent, os.W_OK):
            raise UsageError(f"cannot write report {spec.path}: folder {parent} is not writable")


def exit_status(run: Run) -> ExitStatus:
    """The exit status a run earns."""
    return _exit_for(classify.rollup(run.results))


def _exit_for(status: Status) -> ExitStatus:
    if status is Status.NONCOMPLIANT:
        return ExitStatus.VIOLATION
    if status is Status.INCONCLUSIVE:
        return ExitStatus.INCONCLUSIVE
    return ExitStatus.COMPLIANT


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _resolver_set(args: argparse.Namespace) -> ResolverSet:
    if args.resolvers is not None:
        return load_resolvers(args.resolvers)
    return system_resolvers(args.resolv_conf)


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror or exc}", path=str(path)) from None


def _inputs(args: argparse.Namespace, files: Sequence[Path], nx_label: str) -> dict[str, Any]:
    """What a run checked, kept with it so ``--resume`` can check the same thing."""
    resolver_file = args.resolvers.resolve() if args.resolvers is not None else None
    conf = resolver_file or args.resolv_conf.resolve()
    return {
        "orders": [{"path": str(f.resolve()), "sha256": _file_sha256(f)} for f in files],
        "resolvers": {"path": str(resolver_file) if resolver_file else None,
                      "resolv_conf": None if resolver_file else str(conf), "sha256": _file_sha256(conf)},
        "settings": {"timeout": args.timeout, "retries": args.retries, "probes": args.probes,
                     "input_format": args.input_format,
                     "date": args.date.isoformat() if args.date else None,
                     "now": args.now.isoformat() if args.now else None, "nx_label": nx_label,
                     "http": args.http, "http_ca": str(args.http_ca.resolve()) if args.http_ca else None,
                     "http_timeout": args.http_timeout, "evidence": args.evidence,
                     "fingerprints": [{"path": str(f.resolve()), "sha256": _file_sha256(f)}
                                      for f in args.fingerprints]},
    }


def _resume(args: argparse.Namespace, store: Store) -> tuple[RunRow, list[Path]]:
    """Restore a run's arguments from the store, refusing if its files changed since."""
    if args.orders or args.resolvers is not None:
        raise UsageError("--resume takes the orders and resolvers the run started with; give neither")
    run = store.run(args.resume)
    if run.status == "complete":
        raise UsageError(f"run {run.id} is already complete", hint=f"blockaudit report {run.id} --report …")
    files = []
    for item in [*run.inputs["orders"], run.inputs["resolvers"]]:
        path = Path(item.get("path") or item.get("resolv_conf"))
        if _file_sha256(path) != item["sha256"]:
            raise UsageError(f"changed since run {run.id} started; resuming would mix two different checks",
                             path=str(path))
        files.append(path)
    settings = run.inputs["settings"]
    args.resolvers = Path(run.inputs["resolvers"]["path"]) if run.inputs["resolvers"]["path"] else None
    if run.inputs["resolvers"]["resolv_conf"]:
        args.resolv_conf = Path(run.inputs["resolvers"]["resolv_conf"])
    args.timeout, args.retries, args.probes = settings["timeout"], settings["retries"], settings["probes"]
    args.input_format = settings.get("input_format")
    args.date = dt.date.fromisoformat(settings["date"]) if settings["date"] else None
    args.now = dt.datetime.fromisoformat(settings["now"]) if settings["now"] else args.now
    args.http = settings.get("http", False)
    args.http_ca = Path(settings["http_ca"]) if settings.get("http_ca") else None
    args.http_timeout = settings.get("http_timeout", args.http_timeout)
    args.evidence = settings.get("evidence", args.evidence)
    args.fingerprints = []
    for item in settings.get("fingerprints", []):
        path = Path(item["path"])
        if _file_sha256(path) != item["sha256"]:
            raise UsageError(f"changed since run {run.id} started; resuming would mix two different checks",
                             path=str(path))
        args.fingerprints.append(path)
    return run, [Path(item["path"]) for item in run.inputs["orders"]]


def _cmd_check(args: argparse.Namespace) -> ExitStatus:
    specs: list[ReportSpec] = args.report
    _check_report_paths(specs, args.templates)
    store = None if args.no_db else open_store(args.db)
    resumed = None
    if args.resume:
        if store is None:
            raise UsageError("--resume needs the store; drop --no-db")
        resumed, files = _resume(args, store)
    else:
        files = discover(args.orders or [orders_dir()])
    now: dt.datetime | None = args.now
    orders = load_orders(files, args.date or (now.date() if now else _today()), args.input_format)
    resolvers = _resolver_set(args)
    fingerprints = load_fingerprints(args.fingerprints)
    web = None
    if args.http:
        if args.http_ca is not None and not args.http_ca.is_file():
            raise UsageError("no such file", path=str(args.http_ca), hint="--http-ca takes a PEM bundle")
        web = WebSettings(connect_timeout=min(args.http_timeout, WebSettings().connect_timeout),
                          read_timeout=args.http_timeout,
                          ca_bundle=str(args.http_ca) if args.http_ca else None)
    for canary, domain in canary_conflicts(orders, resolvers.canaries):
        if resolvers.path is None:
            raise UsageError(f"the built-in canary {canary} is ordered blocked ({domain})",
                             hint="pass --resolvers with a 'canaries' list of names no order blocks")
        raise ResolverConfigError(
            f"field 'canaries': {canary} is ordered blocked ({domain}); a canary must resolve everywhere",
            path=resolvers.path, line=resolvers.canaries_line,
        )
    clock: Callable[[], dt.datetime] = AuditSettings().clock
    if now is not None:
        fixed: dt.datetime = now
        clock = lambda: fixed  # noqa: E731
    started_at = resumed.started_at if resumed else clock()
    nx_label = resumed.inputs["settings"]["nx_label"] if resumed else AuditSettings().random_label()
    settings = AuditSettings(
        probe=ProbeSettings(timeout=args.timeout, retries=args.retries),
        subdomain_probes=tuple(args.probes) if args.probes else AuditSettings().subdomain_probes,
        clock=clock, run_id=resumed.id if resumed else new_run_id(started_at), started_at=started_at,
        nx_label=nx_label, web=web, fingerprints=fingerprints,
        workers=args.workers,
    )
    assert settings.run_id is not None
    prior, recorder = None, None
    history: Callable[[Sequence[str]], Mapping[tuple[str, str], Any]] | None = None
    if store is not None:
        if resumed is None:
            store.begin_run(settings.run_id, started_at, socket.gethostname(), __version__,
                            _inputs(args, files, nx_label))
        else:
            prior = store.observations(resumed.id)
        run_id, opened = settings.run_id, store

        def history(names: Sequence[str]) -> Mapping[tuple[str, str], Any]:
            return verdict_history(opened.history(names), exclude_run=run_id)

        recorder = Recorder(store, settings.run_id)
    clock_now = settings.clock

    def store_result(item: Result) -> None:
        assert recorder is not None
        recorder.result(ResultRow(
            settings.run_id or "", item.resolver, item.query.name, item.query.domain, item.query.kind.value,
            item.verdict.value, item.method.value if item.method else None,
            item.reason.value if item.reason else None,
            min((o.started_at for o in item.observations), default=clock_now())))

    output = ReportOutput({r.name: r.operator for r in resolvers.subjects}, Evidence(args.evidence),
                          on_result=store_result if recorder is not None else None)
    observer = None if args.quiet else _Progress(sys.stderr, tty=sys.stderr.isatty(),
                                                  verdicts=output.tally.run.counts)
    with lean_gc(), contextlib.closing(output):
        try:
            run = run_loop(audit(orders, resolvers, settings, observer, prior, recorder, history, output))
        except BaseException:
            if store is not None and recorder is not None:
                recorder.flush()
                store.mark_incomplete(settings.run_id)
                sys.stderr.write(f"blockaudit: run {settings.run_id} kept as incomplete; "
                                 f"finish it with: blockaudit check --resume {settings.run_id}\n")
            raise
        view = output.view(run)
        if store is not None and recorder is not None:
            recorder.flush()
            store.finish_run(run.id, run.finished_at, view)
            store.close()
        # The JSON report is written once, straight into a temp file beside the first JSON
        # report's path (renamed into place with the others, once every report has rendered),
        # or into the spool's folder when only its digest is needed.
        spooled: Spooled | None = None
        staged: _Staged | None = None
        first = next((spec for spec in specs if spec.format is Format.JSON and spec.path != "-"
                      and _replaceable(Path(spec.path))), None)
        try:
            if first is not None:
                staged = _Staged(Path(first.path))
                spooled = Spooled(output.write_json(run, staged.handle), staged, first)
                staged.handle.flush()
            elif specs:
                json_file = output.spool.folder / "report.json"
                with json_file.open("wb") as handle:
                    spooled = Spooled(output.write_json(run, handle), json_file)
            _write_reports(specs, view, args.templates, spooled=spooled)
        except Exception as exc:
            if args.templates is None or isinstance(exc, BlockauditError):
                raise
            # A user's own template failed while rendering: their input, not ours. Nothing was written.
            raise UsageError(f"a report template failed: {type(exc).__name__}: {exc}",
                             path=str(args.templates)) from None
        finally:
            if staged is not None:
                staged.discard()
    if not args.quiet:
        sys.stderr.write(summary(view, args.templates))
    return _exit_for(Status(view["summary"]["status"]))


def _rendered_at(view: dict[str, Any]) -> dt.datetime:
    """The clock reports show: SOURCE_DATE_EPOCH when set (reproducible builds), else the run's end."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        if not epoch.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds")
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    finished = parse_time(view["run"].get("finished_at"))
    return finished or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Spooled:
    """A JSON report already written to a file (a streamed run)."""

    sha256: str
    """Its SHA-256."""
    file: Path | _Staged
    """Where it is: a file of the spool, or a temp file staged beside the report it becomes."""
    spec: ReportSpec | None = None
    """The report the staged file becomes."""

    def copy(self, handle: BinaryIO) -> None:
        """Copy it to ``handle``."""
        _copy_file(self.file.current if isinstance(self.file, _Staged) else self.file, handle)


def _write_reports(specs: Sequence[ReportSpec], view: dict[str, Any], templates: Path | None,
                   source: str | None = None, spooled: Spooled | None = None) -> None:
    """Render every report first, then write them: a render error leaves every file untouched.

    ``spooled`` is a JSON report already written to a file (a streamed run): its staged file is
    renamed into place, other JSON reports are copied from it, and ``view`` serves only the
    other formats.
    """
    text = source if source is not None else json_text(view) if spooled is None else ""
    digest = spooled.sha256 if spooled is not None else sha256(text)
    options = RenderOptions(rendered_at=_rendered_at(view), source_sha256=digest, templates=templates)
    rendered: list[tuple[ReportSpec, bytes | Callable[[BinaryIO], object] | _Staged]] = []
    for spec in specs:
        if spooled is not None and spec is spooled.spec and isinstance(spooled.file, _Staged):
            rendered.append((spec, spooled.file))
        elif spec.format is Format.JSON and spooled is not None:
            rendered.append((spec, spooled.copy))
        elif spec.format is Format.JSON and source is not None:
            rendered.append((spec, text.encode("utf-8")))
        else:
            rendered.append((spec, render(spec.format, view, options)))
    for spec, data in rendered:
        if isinstance(data, _Staged):
            data.commit()
        elif spec.path != "-":
            write_atomic(Path(spec.path), data)
        elif callable(data):
            data(sys.stdout.buffer)
        elif spec.format is Format.GITHUB:
            sys.stdout.write(github_annotations(view))
            step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if step_summary:
                with open(step_summary, "ab") as handle:
                    handle.write(data)
        else:
            sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _copy_file(source: Path, handle: BinaryIO) -> None:
    """Copy ``source`` to ``handle``, in the kernel when it can (a large report is hundreds of MB)."""
    handle.flush()
    with source.open("rb") as src:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        try:
            while offset < size:
                sent = os.sendfile(handle.fileno(), src.fileno(), offset, min(size - offset, 1 << 30))
                if not sent:
                    break
                offset += sent
        except (OSError, AttributeError, io.UnsupportedOperation):
            pass  # no sendfile here, or not to this file: copy the rest the plain way
        src.seek(offset)
        shutil.copyfileobj(src, handle, 1 << 20)


def _render_specs(args: argparse.Namespace) -> list[ReportSpec]:
    """The ``--report`` options of ``render`` and ``report``: at least one, paths writable."""
    specs: list[ReportSpec] = args.report
    if not specs:
        raise UsageError("nothing to render", hint="add --report FORMAT:PATH")
    _check_report_paths(specs, args.templates)
    return specs


def _cmd_render(args: argparse.Namespace) -> ExitStatus:
    specs = _render_specs(args)
    label = str(args.json)
    try:
        source = args.json.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UsageError("no such file", path=label) from None
    except UnicodeDecodeError:
        raise UsageError("not UTF-8 text", path=label) from None
    try:
        view = json.loads(source)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not valid JSON: {exc.msg}", path=label, line=exc.lineno) from None
    schema = view.get("schema") if isinstance(view, dict) else None
    if schema != REPORT_SCHEMA:
        raise UsageError(f"not a blockaudit report (schema {schema!r})", path=label, line=1,
                         hint=f"expected {REPORT_SCHEMA}")
    try:
        _write_reports(specs, view, args.templates, source)
    except (KeyError, TypeError, AttributeError, jinja2.UndefinedError) as exc:
        raise UsageError(f"report lacks a field the renderer needs ({exc})", path=label) from None
    return ExitStatus.COMPLIANT


def _when(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else "-"


def _cmd_runs(args: argparse.Namespace) -> ExitStatus:
    store = open_store(args.db)
    rows = store.runs(args.limit)
    store.close()
    sys.stdout.write(f"{'run':<27} {'started (UTC)':<21} {'status':<11} {'result':<13} {'answers':>8}  vantage\n")
    for run in rows:
        sys.stdout.write(f"{terminal_safe(run.id):<27} {_when(run.started_at):<21} {run.status:<11} "
                         f"{run.summary_status or '-':<13} {run.observations:>8}  {terminal_safe(run.vantage)}\n")
    if not rows:
        sys.stderr.write(f"no runs in {store.url}\n")
    return ExitStatus.COMPLIANT


def _cmd_report(args: argparse.Namespace) -> ExitStatus:
    specs = _render_specs(args)
    store = open_store(args.db)
    view = store.report(args.run_id)
    store.close()
    _write_reports(specs, view, args.templates)
    return ExitStatus.COMPLIANT


def _cmd_diff(args: argparse.Namespace) -> ExitStatus:
    store = open_store(args.db)
    for run_id in (args.run_a, args.run_b):
        if store.run(run_id).status != "complete":
            raise UsageError(f"run {run_id} is not complete", hint=f"blockaudit check --resume {run_id}")
    rows = store.history()
    store.close()
    changes = diff([r for r in rows if r.run_id == args.run_a], [r for r in rows if r.run_id == args.run_b])
    regressions = [c for c in changes if c.change == "regression"]
    if args.json:
        sys.stdout.write(json.dumps({"run_a": args.run_a, "run_b": args.run_b, "regressions": len(regressions),
                                     "changes": [dataclasses.asdict(c) for c in changes]}, indent=2) + "\n")
    else:
        sys.stdout.write(f"{args.run_a} -> {args.run_b}: {len(regressions)} regressions, "
                         f"{len(changes) - len(regressions)} other changes\n")
        for c in changes:
            sys.stdout.write(f"{c.change:<15} {terminal_safe(c.query_name)} @ {terminal_safe(c.resolver)}: "
                             f"{c.before} -> {c.after}\n")
    return ExitStatus.VIOLATION if regressions else ExitStatus.COMPLIANT


def _cmd_timeline(args: argparse.Namespace) -> ExitStatus:
    try:
        name = normalise(args.name)
    except InvalidName as exc:
        raise UsageError(f"{args.name!r} is not a valid name: {exc}") from None
    store = open_store(args.db)
    lines = timelines(store.history([name]))
    store.close()
    if not lines:
        raise UsageError(f"{name} is in no stored run", hint="blockaudit runs lists them")
    if args.json:
        sys.stdout.write(json.dumps([dataclasses.asdict(t) for t in lines], indent=2, default=_when) + "\n")
        return ExitStatus.COMPLIANT
    for t in lines:
        sys.stdout.write(f"{terminal_safe(t.query_name)} @ {terminal_safe(t.resolver)}: {t.checks} checks; "
                         f"first blocked {_when(t.first_blocked)}; blocked since {_when(t.blocked_since)}; "
                         f"last accessible {_when(t.last_accessible)}\n")
        for when, run_id, before, after in t.flips:
            sys.stdout.write(f"  {_when(when)}  {before} -> {after}  (run {terminal_safe(run_id)})\n")
    return ExitStatus.COMPLIANT


def _cmd_import(args: argparse.Namespace) -> ExitStatus:
    options = parse_options(args.option)
    sources = [Source(url=u) for u in args.source_url]
    source: Path | BinaryIO
    if args.source.startswith(("https://", "http://")):
        fetched = fetch(args.source, sha256=args.sha256, allow_http=args.allow_http)
        source = fetched.path
        sources.insert(0, Source(url=fetched.final_url, note=f"fetched {_when(fetched.fetched_at)}, "
                                                              f"sha256 {fetched.sha256}"))
    elif args.sha256:
        raise UsageError("--sha256 pins a downloaded SOURCE; this one is a local file")
    elif args.source == "-":
        source = sys.stdin.buffer
    else:
        source = Path(args.source)
        if not source.is_file():
            raise UsageError("no such file", path=args.source)
    meta = ImportMeta(
        id=args.order_id, title=args.title, authority=args.authority, jurisdiction=args.jurisdiction,
        order_type=OrderType(args.order_type) if args.order_type else None, issued=args.issued,
        verification=Verification(args.verification), sources=tuple(sources), notes=args.notes,
        case_number=args.case_number,
    )
    buffer = io.StringIO() if args.output == "-" else None
    if buffer is None:
        _check_report_paths([ReportSpec(Format.JSON, args.output)], None)
        target = Path(args.output)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                result = import_file(args.format, source, meta, handle, options)
            if args.strict and result.skipped:
                raise UsageError(f"{result.skipped} lines skipped (--strict)", path=result.source)
            write_atomic(target, Path(tmp).read_bytes())
        finally:
            Path(tmp).unlink(missing_ok=True)
    else:
        result = import_file(args.format, source, meta, buffer, options)
        if args.strict and result.skipped:
            raise UsageError(f"{result.skipped} lines skipped (--strict)", path=result.source)
        sys.stdout.write(buffer.getvalue())
    sys.stderr.write(_stderr_line(result.describe()) + "\n")
    for skipped in result.first_skipped:
        sys.stderr.write(_stderr_line(skipped.describe(result.source)) + "\n")
    if result.skipped > len(result.first_skipped):
        sys.stderr.write(f"... and {result.skipped - len(result.first_skipped)} more skipped lines\n")
    return ExitStatus.COMPLIANT


def _stderr_line(text: str) -> str:
    """A line that starts with a path, inert on a terminal and in a CI log: ``terminal_safe``, and
    never the start of a GitHub workflow command (``::error::x.yaml`` is shown ``./::error::x.yaml``,
    the same file)."""
    line = terminal_safe(text)
    return "./" + line if line.lstrip().startswith("::") else line


def _cmd_export(args: argparse.Namespace) -> ExitStatus:
    on = args.date or _today()
    orders = load_orders(args.orders or [orders_dir()], on)
    options = ExportOptions(origin=args.zone, zone_file=args.zone_file, serial=args.serial, on=on,
                            probes=tuple(args.probes) if args.probes else ("www",))
    if args.action is not None:
        options = dataclasses.replace(options, action=args.action)
    data = export(args.format, orders, options).encode("utf-8")
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        _check_report_paths([ReportSpec(Format.JSON, args.output)], None)
        write_atomic(Path(args.output), data)
    return ExitStatus.COMPLIANT


def _cmd_verify(args: argparse.Namespace) -> ExitStatus:
    specs: list[ReportSpec] = args.report
    _check_report_paths(specs, args.templates)
    fmt, path = next((f, getattr(args, f"config_{f.value}")) for f in ConfigFormat
                     if getattr(args, f"config_{f.value}") is not None)
    orders = load_orders(args.orders or [orders_dir()], args.date or _today())
    run = verify(fmt, path, orders, origin=args.zone, probes=tuple(args.probes) if args.probes else ("www",))
    view = view_model(run)
    _write_reports(specs, view, args.templates)
    if not args.quiet:
        notes = run.settings.get("notes") or []
        for note in notes if isinstance(notes, list) else []:
            sys.stderr.write(f"note: {terminal_safe(note)}\n")
        sys.stderr.write(summary(view, args.templates))
    return exit_status(run)


def _cmd_validate(args: argparse.Namespace) -> ExitStatus:
    orders = load_orders(args.orders or [orders_dir()], _today(), args.input_format)
    names = [n for n in orders.names if n.kind.value == "ordered"]
    message = f"ok: {len(orders.orders)} orders, {len(names)} ordered names"
    if orders.not_in_force:
        message += f" ({len(orders.not_in_force)} orders not in force today: {', '.join(orders.not_in_force)})"
    if args.resolvers is not None:
        resolvers = load_resolvers(args.resolvers)
        message += f"; {len(resolvers.subjects)} subject and {len(resolvers.controls)} control resolvers"
    if args.fingerprints:
        message += f"; {len(load_fingerprints(args.fingerprints))} block-page fingerprints (bundled included)"
    sys.stderr.write(message + "\n")
    return ExitStatus.COMPLIANT


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status instead of exiting (tests call this)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else ExitStatus.ERROR
    try:
        if args.command == "check":
            return _cmd_check(args)
        commands = {"render": _cmd_render, "runs": _cmd_runs, "report": _cmd_report, "diff": _cmd_diff,
                    "timeline": _cmd_timeline, "validate": _cmd_validate, "export": _cmd_export,
                    "verify-config": _cmd_verify, "import": _cmd_import}
        return commands[args.command](args)
    except BlockauditError as exc:
        text = str(exc) if exc.path else f"blockaudit: {exc}"
        # The message may quote the file it is about (a name, a path): inert on the terminal.
        sys.stderr.write(_stderr_line(text.replace("\n", " ")) + "\n")
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        sys.stderr.write("\nblockaudit: interrupted\n")
        return ExitStatus.INTERRUPTED
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"blockaudit: {terminal_safe(where)}{terminal_safe(exc.strerror or exc)}\n")
        return ExitStatus.ERROR


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
