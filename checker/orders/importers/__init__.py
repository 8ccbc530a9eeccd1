"""Importing foreign blocklists (plain, hosts, CSV, adblock, RPZ, Unbound, dnsmasq, RKN ...) as orders.

Every importer streams: it reads its source a line at a time, yields targets, and reports every
line (or value) it leaves out with its line number and a reason. Duplicates are merged in a dict
keyed by value, so memory grows with the number of distinct names, not with the file.

Entry points: ``import_file`` writes an order YAML file; ``load_foreign`` builds an ``Order`` in
memory; ``guess_format`` names the format of a file from its name and first lines.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO, cast

from checker import __version__
from checker.errors import OrderError, UsageError
from checker.models import Order, OrderType, Source, Targets, Verification
from checker.orders.importers import (
    adblock,
    citizenlab,
    csvlist,
    dnsmasq,
    hosts,
    plain,
    rkn,
    rpz,
    unbound,
)
from checker.orders.importers.base import (
    Context,
    Defaults,
    Entry,
    Importer,
    Item,
    Skipped,
    SkipReason,
    SourceFacts,
    is_address,
    read_lines,
)
from checker.orders.importers.collect import Collector
from checker.orders.importers.csvlist import slug
from checker.orders.writer import OrderMeta, check_meta, write_order

__all__ = [
    "FORMATS",
    "Defaults",
    "Entry",
    "ImportMeta",
    "ImportSummary",
    "Importer",
    "Item",
    "SkipReason",
    "Skipped",
    "SourceFacts",
    "guess_format",
    "import_file",
    "load_foreign",
    "parse_options",
]

FORMATS: dict[str, Importer] = {
    importer.name: importer
    for importer in (
        plain.IMPORTER, hosts.IMPORTER, csvlist.IMPORTER, citizenlab.IMPORTER, adblock.IMPORTER,
        rpz.IMPORTER, unbound.IMPORTER, dnsmasq.IMPORTER, rkn.IMPORTER,
    )
}
"""Every importer by its ``--format`` name."""

COMMON_OPTIONS = ("encoding",)
"""Options every format takes."""
DEFAULT_AUTHORITY = "unknown"
"""Authority written when neither the user nor the format names one."""
KEEP_SKIPPED = 20
"""Skipped records kept in a summary (all of them go to the ``on_skip`` callback)."""
SNIFF_BYTES = 64 * 1024
"""Bytes ``guess_format`` reads from the start of a file."""

SourceArg = Path | BinaryIO | TextIO
"""A path, or an open file (binary: decoded with the format's encoding; text: read as is)."""


@dataclass(frozen=True, slots=True)
class ImportMeta:
    """Order metadata given by the user; what is None comes from the format or a documented default."""

    id: str | None = None
    """Order id; default: a slug of the source's file name."""
    title: str | None = None
    """Default: ``Imported from <file name>``."""
    authority: str | None = None
    """Default: the format's (RKN: Roskomnadzor), else ``unknown``."""
    jurisdiction: str | None = None
    """ISO 3166 code; required unless the format implies one (RKN: RU)."""
    order_type: OrderType | None = None
    """Default: the format's (RKN: administrative), else ``other``."""
    issued: dt.date | None = None
    """Default: the date the source carries (RKN ``Updated:``), else the import date; marked inferred."""
    verification: Verification = Verification.UNVERIFIED
    """Whether someone has read the order itself."""
    sources: tuple[Source, ...] = ()
    """Where the list comes from (http(s) URLs)."""
    notes: str | None = None
    """Free text, written before the notes the importer adds."""
    case_number: str | None = None
    """Docket or decision number, when known."""
    judge: str | None = None
    """Judge, when known."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What one import read, kept and left out."""

    format: str
    """Format name."""
    source: str
    """Name of the source (path, or the file object's name)."""
    order_id: str
    """Id of the order written or built."""
    issued: dt.date
    """Issue date written."""
    lines: int
    """Lines read."""
    targets: int
    """Distinct targets (domains + IPs + URLs)."""
    domains: int
    """Distinct domain targets."""
    ips: int
    """Distinct IP targets."""
    urls: int
    """Distinct URL targets."""
    exemptions: int
    """Distinct exempt names."""
    duplicates: int
    """Entries merged into an earlier one."""
    skipped: int
    """Skipped lines or values (a line can yield more than one)."""
    first_skipped: tuple[Skipped, ...]
    """The first ``KEEP_SKIPPED`` of them."""
    skipped_by_reason: tuple[tuple[SkipReason, int], ...]
    """Skipped counts per reason, most frequent first."""

    def describe(self) -> str:
        """One line for the terminal."""
        reasons = ", ".join(f"{reason.value} {count}" for reason, count in self.skipped_by_reason)
        return (
            f"{self.source} ({self.format}): {self.lines} lines, {self.targets} targets ({self.domains} domains, "
            f"{self.ips} IPs, {self.urls} URLs), {self.exemptions} exemptions, {self.duplicates} duplicates merged, "
            f"{self.skipped} skipped" + (f" ({reasons})" if reasons else "")
        )


# --------------------------------------------------------------------------- options


def get_importer(fmt: str) -> Importer:
    """The importer for a format name; ``UsageError`` naming the formats otherwise."""
    try:
        return FORMATS[fmt]
    except KeyError:
        raise UsageError(f"unknown import format {fmt!r}", hint="one of " + ", ".join(FORMATS)) from None


def parse_options(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``key=value`` strings (``--option`` on the command line) as a mapping; the first ``=`` splits."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"option {item!r} is not KEY=VALUE", hint="for example zone=rpz.example")
        if key in out:
            raise UsageError(f"option {key} is given twice")
        out[key] = value.strip()
    return out


def check_options(importer: Importer, options: Mapping[str, str] | None) -> dict[str, str]:
    """The options, refused when the format does not take them."""
    given = dict(options or {})
    allowed = importer.options + COMMON_OPTIONS
    for key in given:
        if key not in allowed:
            raise UsageError(f"format {importer.name} takes no option {key!r}", hint="options: " + ", ".join(allowed))
    if "encoding" in given:
        try:
            codecs.lookup(given["encoding"])
        except LookupError:
            raise UsageError(f"unknown encoding {given['encoding']!r}",
                             hint="for example utf-8, cp1251, latin-1") from None
    return given


# --------------------------------------------------------------------------- reading


def source_name(source: SourceArg) -> str:
    """The name used in messages: the path, or the file object's ``name``."""
    if isinstance(source, Path):
        return str(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


@contextmanager
def _text(source: SourceArg, encoding: str) -> Iterator[TextIO]:
    """A text stream over the source; a binary one is decoded incrementally, undecodable bytes escaped."""
    label = source_name(source)
    if isinstance(source, io.TextIOBase):
        yield cast(TextIO, source)
        return
    if isinstance(source, Path):
        try:
            if source.is_dir():
                raise OrderError("is a directory, expected a file", path=label)
            raw: BinaryIO = source.open("rb")
        except FileNotFoundError:
            raise OrderError("no such file", path=label) from None
        except PermissionError:
            raise OrderError("permission denied", path=label) from None
        except OSError as exc:
            raise OrderError(f"cannot read: {exc.strerror or exc}", path=label) from None
        with raw, io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline=None) as text:
            yield text
        return
    wrapper = io.TextIOWrapper(cast(BinaryIO, source), encoding=encoding, errors="surrogateescape", newline=None)
    try:
        yield wrapper
    finally:
        wrapper.detach()  # the caller's stream stays open


def _read(
    importer: Importer, source: SourceArg, options: Mapping[str, str],
    on_skip: Callable[[Skipped], None] | None, keep: int,
) -> Collector:
    collector = Collector(on_skip, keep)
    ctx = Context(path=source_name(source), options=options, skip=collector.skip)
    with _text(source, options.get("encoding", importer.encoding)) as text:
        try:
            collector.feed(importer.parse(ctx, read_lines(ctx, text)))
        finally:
            collector.lines = ctx.lines
    counts = collector.counts()
    if not counts.domains + counts.ips + counts.urls:
        first = f"; first: {collector.first_skipped[0].describe()}" if collector.first_skipped else ""
        raise OrderError(
            f"found no target in {ctx.lines} lines ({collector.skipped} skipped{first})",
            path=ctx.path, line=collector.first_skipped[0].line if collector.first_skipped else 1,
            hint=f"is this a {importer.name} file?",
        )
    return collector


# --------------------------------------------------------------------------- metadata


def _default_id(source: SourceArg) -> str:
    name = source_name(source)
    stem = Path(name).stem if not name.startswith("<") else name.strip("<>")
    return slug(stem) or "imported"


def _meta(importer: Importer, source: SourceArg, meta: ImportMeta, issued: dt.date | None,
          jurisdiction: str, notes: list[str], now: dt.datetime) -> OrderMeta:
    inferred: tuple[str, ...] = ()
    if meta.issued is None:
        inferred = ("issued",)
        if issued is None:
            notes = [*notes, f"Issued is the import date ({now.date().isoformat()}): the source carries no date."]
    return OrderMeta(
        id=meta.id or _default_id(source),
        title=meta.title or f"Imported from {Path(source_name(source)).name}",
        authority=meta.authority or importer.defaults.authority or DEFAULT_AUTHORITY,
        jurisdiction=jurisdiction,
        order_type=meta.order_type or importer.defaults.order_type,
        issued=meta.issued or issued or now.date(),
        verification=meta.verification,
        sources=meta.sources,
        notes="\n".join(n for n in ([meta.notes] if meta.notes else []) + notes) or None,
        case_number=meta.case_number,
        judge=meta.judge,
        inferred=inferred,
    )


def _summary(importer: Importer, source: SourceArg, order: OrderMeta, collector: Collector) -> ImportSummary:
    counts = collector.counts()
    return ImportSummary(
        format=importer.name, source=source_name(source), order_id=order.id, issued=order.issued,
        lines=counts.lines, targets=counts.domains + counts.ips + counts.urls, domains=counts.domains,
        ips=counts.ips, urls=counts.urls, exemptions=counts.exemptions, duplicates=counts.duplicates,
        skipped=counts.skipped, first_skipped=tuple(collector.first_skipped),
        skipped_by_reason=tuple(sorted(collector.reasons.items(), key=lambda kv: (-kv[1], kv[0].value))),
    )


def _now(now: dt.datetime | None) -> dt.datetime:
    value = now or dt.datetime.now(dt.UTC)
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- entry points


def import_file(
    fmt: str,
    source: SourceArg,
    meta: ImportMeta,
    out: TextIO,
    options: Mapping[str, str] | None = None,
    *,
    on_skip: Callable[[Skipped], None] | None = None,
    keep_skipped: int = KEEP_SKIPPED,
    now: dt.datetime | None = None,
) -> ImportSummary:
    """Read a foreign list and write it to ``out`` as an order file (nothing is written on error).

    ``on_skip`` receives every skipped record as it is found; the summary keeps the first
    ``keep_skipped``. Raises ``UsageError`` for bad options or metadata (checked before reading),
    ``OrderError`` (with path and line) for a source that is not of the format or has no target.
    """
    importer = get_importer(fmt)
    checked = check_options(importer, options)
    moment = _now(now)
    jurisdiction = meta.jurisdiction or importer.defaults.jurisdiction
    if jurisdiction is None:
        raise UsageError(f"a {fmt} list does not say which country's order it is",
                         hint="give the jurisdiction, an ISO 3166 code such as DE, IT or GB-ENG")
    check_meta(_meta(importer, source, meta, None, jurisdiction, [], moment))
    collector = _read(importer, source, checked, on_skip, keep_skipped)
    order = _meta(importer, source, meta, collector.issued, jurisdiction, collector.notes, moment)
    summary = _summary(importer, source, order, collector)
    comments = [
        f"Imported by blockaudit {__version__} from {Path(summary.source).name} (format {fmt}) "
        f"at {moment.replace(microsecond=0).isoformat().replace('+00:00', 'Z')}.",
        f"{summary.lines} lines read: {summary.targets} targets ({summary.domains} domains, {summary.ips} IPs, "
        f"{summary.urls} URLs), {summary.exemptions} exemptions, {summary.duplicates} duplicates merged, "
        f"{summary.skipped} lines or values skipped.",
    ]
    if summary.skipped_by_reason:
        comments.append("Skipped: " + ", ".join(f"{r.value} {n}" for r, n in summary.skipped_by_reason) + ".")
    write_order(out, order, collector.targets(), collector.exemptions(), comments=comments,
                note_of=collector.notes_of, presorted=True)
    return summary


def load_foreign(
    path: Path,
    fmt: str | None = None,
    *,
    meta: ImportMeta | None = None,
    options: Mapping[str, str] | None = None,
    on_skip: Callable[[Skipped], None] | None = None,
    now: dt.datetime | None = None,
) -> Order:
    """A foreign list as an in-memory order, for ``check`` and ``validate`` to take it directly.

    ``fmt`` None: ``guess_format``. Metadata defaults as for ``import_file``, except that an unknown
    jurisdiction is left empty (reports print it as not stated) instead of refused. Targets keep
    their line in ``path``.
    """
    meta = meta or ImportMeta()
    name = fmt or guess_format(path)
    if name is None:
        raise OrderError("cannot tell the format of this list", path=str(path), line=1,
                         hint="name it .txt, .hosts, .rpz, .csv ... or import it with an explicit format")
    importer = get_importer(name)
    checked = check_options(importer, options)
    moment = _now(now)
    jurisdiction = meta.jurisdiction or importer.defaults.jurisdiction or ""
    collector = _read(importer, path, checked, on_skip, KEEP_SKIPPED)
    order = _meta(importer, path, meta, collector.issued, jurisdiction, collector.notes, moment)
    check_meta(order, jurisdiction=bool(jurisdiction))
    return Order(
        id=order.id, title=order.title, authority=order.authority, jurisdiction=jurisdiction,
        order_type=order.order_type, issued=order.issued, verification=order.verification,
        valid_from=order.issued, valid_until=None,
        targets=Targets(collector.targets()), path=str(path),
        judge=order.judge, case_number=order.case_number, sources=order.sources,
        exemptions=tuple(collector.exemptions()), inferred=order.inferred, notes=order.notes,
    )


# --------------------------------------------------------------------------- guessing


def _meaningful(head: str) -> list[str]:
    out = []
    for line in head.splitlines():
        text = line.strip()
        if text and not text.startswith(("#", "!", ";")):
            out.append(text)
        if len(out) >= 20:
            break
    return out


def sniff(head: str) -> str | None:
    """The format the first lines of a list look like, or None."""
    first = head.split("\n", 1)[0].strip()
    if rkn.parse_updated(first) is not None:
        return "rkn"
    if citizenlab.is_header(first.split(",")):
        return "citizenlab"
    lines = _meaningful(head)
    if not lines and any(line.lstrip().startswith("!") for line in head.splitlines()[:20]):
        return "adblock"
    if any(line.startswith(("local-zone:", "local-data:")) for line in lines):
        return "unbound"
    if any(line.startswith(("address=/", "server=/", "local=/")) for line in lines):
        return "dnsmasq"
    if any(line.startswith("$ORIGIN") or " SOA " in f" {line.upper()} " for line in lines):
        return "rpz"
    if not lines:
        return None
    if sum(line.startswith(("||", "@@")) for line in lines) * 2 >= len(lines):
        return "adblock"
    if sum(len(line.split()) > 1 and hosts_address(line.split()[0]) for line in lines) * 2 >= len(lines):
        return "hosts"
    if sum(len(line.split()) == 1 for line in lines) * 2 >= len(lines):
        return "plain"
    return None


def hosts_address(token: str) -> bool:
    """Whether a token is the address column of a hosts line."""
    return is_address(token) and "/" not in token


def guess_format(path: Path) -> str | None:
    """The import format of a file from its name and first 64 KiB; None for an order file or unknown.

    ``.hosts`` and a file named ``hosts`` -> hosts; ``.rpz``/``.zone`` -> rpz; ``.csv`` -> rkn or
    citizenlab by the first line; ``.conf``, ``.txt``, ``.list`` and others by their content.
    """
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return None
    if suffix == ".hosts" or path.name.lower() == "hosts":
        return "hosts"
    if suffix in (".rpz", ".zone"):
        return "rpz"
    try:
        with path.open("rb") as handle:
            data = handle.read(SNIFF_BYTES)
    except OSError:
        return None
    head = data.decode("cp1251" if data.startswith(b"Updated:") else "utf-8", errors="replace").lstrip("\ufeff")
    head = head.replace("\r\n", "\n").replace("\r", "\n")
    guess = sniff(head)
    if suffix == ".csv":
        return guess if guess in ("rkn", "citizenlab") else None
    if suffix in (".conf", ".cfg"):
        return guess if guess in ("unbound", "dnsmasq") else None
    return guess
