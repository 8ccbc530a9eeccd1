"""Generic CSV lists: a column mapping (``domain=2,site=4`` or by header names) says what each column is."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from checker.errors import UsageError
from checker.orders.importers.base import (
    Context,
    Entry,
    Importer,
    Item,
    Skipped,
    SkipReason,
    address,
    any_target,
    domain,
    excerpt,
    parse_bool,
    url,
)

FIELDS = ("domain", "ip", "url", "target", "subdomains", "site", "note")
"""What a column can hold; ``target`` is a domain, IP or URL, whichever each value looks like."""
VALUE_FIELDS = ("domain", "ip", "url", "target")

_DELIMITERS = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_SLUG = re.compile(r"[^a-z0-9]+")


def split_row(number: int, line: str, delimiter: str) -> list[str] | Skipped:
    """One physical line as CSV fields (quoted fields may hold the delimiter, not a line break)."""
    if '"' not in line:
        return line.split(delimiter)
    try:
        return next(csv.reader([line], delimiter=delimiter, quotechar='"', strict=True))
    except csv.Error as exc:
        return Skipped(number, SkipReason.MALFORMED, f"bad CSV quoting: {exc}", excerpt(line))


def delimiter_of(ctx: Context, default: str = ",") -> str:
    """The ``delimiter`` option: one character, or tab/comma/semicolon/pipe."""
    raw = ctx.options.get("delimiter", default)
    value = _DELIMITERS.get(raw.lower(), raw)
    if len(value) != 1 or value in ('"', "\n", "\r"):
        raise UsageError(f"option delimiter={raw!r} must be one character", hint="or tab, comma, semicolon, pipe")
    return value


def is_number(column: str) -> bool:
    """Whether a mapped column is a column number (ASCII digits, at most six) rather than a name."""
    return column.isascii() and column.isdigit() and len(column) <= 6


def parse_mapping(text: str) -> list[tuple[str, str]]:
    """``domain=2,site=4`` or ``domain=host,note=comment`` as (field, column) pairs."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(","):
        key, sep, column = part.partition("=")
        key, column = key.strip().lower(), column.strip()
        if not sep or not key or not column:
            raise UsageError(f"option columns: {part.strip()!r} is not FIELD=COLUMN",
                             hint="for example columns=domain=2,site=4 or columns=domain=host")
        if key not in FIELDS:
            raise UsageError(f"option columns: unknown field {key!r}", hint="one of " + ", ".join(FIELDS))
        if any(key == k for k, _ in pairs):
            raise UsageError(f"option columns: field {key!r} is mapped twice")
        if is_number(column) and int(column) < 1:
            raise UsageError(f"option columns: {key}={column}: columns count from 1")
        pairs.append((key, column))
    if not any(k in VALUE_FIELDS for k, _ in pairs):
        raise UsageError("option columns must map one of domain, ip, url or target",
                         hint="for example columns=domain=1")
    return pairs


def slug(text: str) -> str | None:
    """A site slug from free text (``Anna's Archive`` -> ``anna-s-archive``), or None."""
    value = _SLUG.sub("-", text.strip().lower()).strip("-")[:128].strip("-")
    return value or None


def resolve(
    ctx: Context, pairs: list[tuple[str, str]], header: list[str] | None, line: int | None,
) -> dict[str, int]:
    """Field -> 0-based column index, checked against the header when there is one."""
    out: dict[str, int] = {}
    names = [h.strip().lower() for h in header] if header is not None else None
    for key, column in pairs:
        if is_number(column):
            index = int(column) - 1
            if names is not None and index >= len(names):
                raise ctx.fail(f"option columns: {key}={column}, but the header has {len(names)} columns",
                               line, hint="columns count from 1")
        else:
            if names is None:
                raise UsageError(f"option columns: {key}={column} names a column, so the file needs a header",
                                 hint="add has_header=true, or give column numbers")
            if column.lower() not in names:
                raise ctx.fail(f"option columns: no column named {column!r} in the header", line,
                               hint="columns: " + ", ".join(h.strip() for h in header or []))
            index = names.index(column.lower())
        out[key] = index
    return out


def row_items(number: int, fields: list[str], columns: dict[str, int], subdomains: bool, line: str) -> list[Item]:
    """The entries of one CSV row (or one skipped record saying why there are none)."""
    width = max(columns.values()) + 1
    if len(fields) < width:
        missing = [k for k, i in columns.items() if i >= len(fields)]
        return [Skipped(number, SkipReason.MALFORMED,
                        f"row has {len(fields)} columns; no column for {', '.join(missing)}", excerpt(line))]
    if "subdomains" in columns:
        raw = fields[columns["subdomains"]]
        try:
            subdomains = parse_bool("subdomains", raw) if raw.strip() else subdomains
        except UsageError:
            return [Skipped(number, SkipReason.MALFORMED, f"subdomains value {raw!r} is not true or false",
                            excerpt(line))]
    site = slug(fields[columns["site"]]) if "site" in columns else None
    note = (fields[columns["note"]].strip() or None) if "note" in columns else None
    items: list[Item] = []
    for key in VALUE_FIELDS:
        if key not in columns:
            continue
        raw = fields[columns[key]].strip()
        if not raw:
            continue
        item: Entry | Skipped
        if key == "domain":
            item = domain(number, raw, subdomains=subdomains, site=site, note=note)
        elif key == "ip":
            item = address(number, raw, note=note)
        elif key == "url":
            item = url(number, raw, note=note)
        else:
            item = any_target(number, raw, subdomains=subdomains, site=site, note=note)
        items.append(item)
    if not items:
        items.append(Skipped(number, SkipReason.MALFORMED, "no target in this row", excerpt(line)))
    return items


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """Rows after the optional header; the mapping comes from option ``columns``."""
    if "columns" not in ctx.options:
        raise UsageError("the csv format needs option columns", hint="for example columns=domain=2,site=4")
    pairs = parse_mapping(ctx.options["columns"])
    named = any(not is_number(column) for _, column in pairs)
    has_header = ctx.option_bool("has_header", named)
    delimiter = delimiter_of(ctx)
    subdomains = ctx.option_bool("subdomains", False)
    columns: dict[str, int] | None = None if has_header else resolve(ctx, pairs, None, None)
    for number, line in lines:
        if not line.strip():
            continue
        fields = split_row(number, line, delimiter)
        if isinstance(fields, Skipped):
            if columns is None:
                raise ctx.fail(f"cannot read the header: {fields.detail}", number)
            yield fields
            continue
        if columns is None:
            columns = resolve(ctx, pairs, fields, number)
            continue
        yield from row_items(number, fields, columns, subdomains, line)
    if columns is None:
        raise ctx.fail("the file is empty: no header row", 1)


IMPORTER = Importer(
    name="csv",
    summary="CSV with option columns=domain=2,site=4 (or header names); fields domain, ip, url, target, "
            "subdomains, site, note",
    parse=parse,
    options=("columns", "has_header", "delimiter", "subdomains"),
)
