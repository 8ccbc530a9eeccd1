"""The command line: the only module that reads argv, prints, or exits."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from checker import __version__, classify
from checker.audit import AuditSettings, audit
from checker.bundled import orders_dir
from checker.engine import ProgressEvent
from checker.errors import BlockauditError, ResolverConfigError, UsageError
from checker.models import Protocol, ResolverSet, Run, Status
from checker.orders.loader import load_orders
from checker.orders.names import InvalidName, normalise_label
from checker.probe.client import ProbeSettings
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
    view_model,
)
from checker.report.present import parse_time
from checker.resolvers import load_resolvers, system_resolvers

MAX_RETRIES = 10
ASKABLE = (Protocol.UDP, Protocol.TCP)
"""Transports this version can ask over."""


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
    check.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary on stderr")

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
    return parser


class _Progress:
    """Progress on stderr when it is a terminal: phase, done/total, rate."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0
        self.started = time.monotonic()

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.done not in (0, event.total) and now - self.last < 0.1:
            return
        self.last = now
        rate = event.done / max(now - self.started, 1e-6)
        self.stream.write(f"\r\x1b[K{event.phase}: {event.done}/{event.total} questions, {rate:,.0f}/s")
        if event.done == event.total:
            self.stream.write("\n")
            self.started = now
        self.stream.flush()


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temp file beside it, then a rename.

    A symlink is kept and the file it points to is replaced; a path that is not a regular file
    (``/dev/stdout``, a FIFO) is written to directly, never replaced. A new file gets the mode
    the umask allows; an existing file keeps its mode.
    """
    try:
        existing: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        with open(path, "wb") as handle:
            handle.write(data)
        return
    target = Path(os.path.realpath(path))
    if existing is not None:
        mode = stat.S_IMODE(existing.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    status = classify.rollup(run.results)
    if status is Status.NONCOMPLIANT:
        return ExitStatus.VIOLATION
    if status is Status.INCONCLUSIVE:
        return ExitStatus.INCONCLUSIVE
    return ExitStatus.COMPLIANT


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _resolver_set(args: argparse.Namespace) -> ResolverSet:
    resolvers = load_resolvers(args.resolvers) if args.resolvers is not None else system_resolvers(args.resolv_conf)
    for resolver in resolvers.resolvers:
        if resolver.protocol not in ASKABLE:
            raise ResolverConfigError(
                f"resolver {resolver.name!r}: protocol {resolver.protocol.value} cannot be asked by this "
                f"version (it asks {' and '.join(p.value for p in ASKABLE)})",
                path=resolvers.path, line=resolver.line,
            )
    return resolvers


def _cmd_check(args: argparse.Namespace) -> ExitStatus:
    specs: list[ReportSpec] = args.report
    _check_report_paths(specs, args.templates)
    orders = load_orders(args.orders or [orders_dir()], args.date or _today())
    resolvers = _resolver_set(args)
    for canary, domain in canary_conflicts(orders, resolvers.canaries):
        if resolvers.path is None:
            raise UsageError(f"the built-in canary {canary} is ordered blocked ({domain})",
                             hint="pass --resolvers with a 'canaries' list of names no order blocks")
        raise ResolverConfigError(
            f"field 'canaries': {canary} is ordered blocked ({domain}); a canary must resolve everywhere",
            path=resolvers.path, line=resolvers.canaries_line,
        )
    settings = AuditSettings(
        probe=ProbeSettings(timeout=args.timeout, retries=args.retries),
        subdomain_probes=tuple(args.probes) if args.probes else AuditSettings().subdomain_probes,
    )
    observer = _Progress(sys.stderr) if sys.stderr.isatty() and not args.quiet else None
    run = asyncio.run(audit(orders, resolvers, settings, observer))
    view = view_model(run)
    _write_reports(specs, view, args.templates)
    if not args.quiet:
        sys.stderr.write(summary(view, args.templates))
    return exit_status(run)


def _rendered_at(view: dict[str, Any]) -> dt.datetime:
    """The clock reports show: SOURCE_DATE_EPOCH when set (reproducible builds), else the run's end."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        if not epoch.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds")
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    finished = parse_time(view["run"].get("finished_at"))
    return finished or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _write_reports(specs: Sequence[ReportSpec], view: dict[str, Any], templates: Path | None,
                   source: str | None = None) -> None:
    """Render every report first, then write them: a render error leaves every file untouched."""
    text = source if source is not None else json_text(view)
    options = RenderOptions(rendered_at=_rendered_at(view), source_sha256=sha256(text), templates=templates)
    rendered = [(spec, text.encode("utf-8") if spec.format is Format.JSON and source is not None
                 else render(spec.format, view, options)) for spec in specs]
    for spec, data in rendered:
        if spec.path != "-":
            write_atomic(Path(spec.path), data)
        elif spec.format is Format.GITHUB:
            sys.stdout.write(github_annotations(view))
            step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if step_summary:
                with open(step_summary, "ab") as handle:
                    handle.write(data)
        else:
            sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _cmd_render(args: argparse.Namespace) -> ExitStatus:
    specs: list[ReportSpec] = args.report
    if not specs:
        raise UsageError("nothing to render", hint="add --report FORMAT:PATH")
    _check_report_paths(specs, args.templates)
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
    except (KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"report lacks a field the renderer needs ({exc})", path=label) from None
    return ExitStatus.COMPLIANT


def _cmd_validate(args: argparse.Namespace) -> ExitStatus:
    orders = load_orders(args.orders or [orders_dir()], _today())
    names = [n for n in orders.names if n.kind.value == "ordered"]
    message = f"ok: {len(orders.orders)} orders, {len(names)} ordered names"
    if orders.not_in_force:
        message += f" ({len(orders.not_in_force)} orders not in force today: {', '.join(orders.not_in_force)})"
    if args.resolvers is not None:
        resolvers = load_resolvers(args.resolvers)
        message += f"; {len(resolvers.subjects)} subject and {len(resolvers.controls)} control resolvers"
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
        if args.command == "render":
            return _cmd_render(args)
        return _cmd_validate(args)
    except BlockauditError as exc:
        text = str(exc) if exc.path else f"blockaudit: {exc}"
        sys.stderr.write(text.replace("\n", " ") + "\n")
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        sys.stderr.write("\nblockaudit: interrupted\n")
        return ExitStatus.INTERRUPTED
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"blockaudit: {where}{exc.strerror or exc}\n")
        return ExitStatus.ERROR


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
