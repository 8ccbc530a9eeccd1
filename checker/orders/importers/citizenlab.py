"""Citizen Lab / OONI test lists (``url,category_code,category_description,date_added,source,notes``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from checker.errors import UsageError
from checker.orders.importers.base import (
    Context,
    Entry,
    Importer,
    Item,
    Skipped,
    SkipReason,
    address,
    domain,
    excerpt,
    is_address,
    url,
)
from checker.orders.importers.csvlist import split_row

HEADER = ("url", "category_code", "category_description", "date_added", "source", "notes")
"""The header of every current list (``lists/<cc>.csv``)."""
REQUIRED = ("url", "category_code")
"""Columns the old official lists (data_format_version 0.1) share with the current ones."""
PATHS = ("url", "host")

_BARE_HOST = re.compile(r"^[\w.-]+(?:/\S*)?$")


def is_header(fields: list[str]) -> bool:
    """Whether a row is a test-list header."""
    names = [f.strip().lower() for f in fields]
    return all(name in names for name in REQUIRED)


def _note(row: dict[str, str]) -> str | None:
    parts = []
    category = " ".join(x for x in (row.get("category_code", ""), row.get("category_description", "")) if x)
    if category:
        parts.append(category)
    if row.get("date_added"):
        parts.append(f"added {row['date_added']}")
    if row.get("authority"):
        parts.append(f"authority: {row['authority']}")
    if row.get("source"):
        parts.append(f"source: {row['source']}")
    if row.get("notes"):
        parts.append(row["notes"])
    return "; ".join(parts) or None


def _entry(number: int, raw: str, paths: str, note: str | None) -> Entry | Skipped:
    text = raw.strip()
    if "://" not in text:
        if not _BARE_HOST.match(text):
            return Skipped(number, SkipReason.INVALID_URL, "not an http(s) URL with a host", excerpt(raw))
        text = "http://" + text  # the old official lists give bare hosts: www.example.com
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return Skipped(number, SkipReason.INVALID_URL, str(exc), excerpt(raw))
    if parts.scheme.lower() not in ("http", "https") or not host:
        return Skipped(number, SkipReason.INVALID_URL, "not an http(s) URL with a host", excerpt(raw))
    whole_site = parts.path in ("", "/") and not parts.query and not parts.fragment
    if not whole_site and paths == "url":
        return url(number, raw, note=note)
    if is_address(host):
        return address(number, host, note=note)
    return domain(number, host, wildcard=False, note=note)


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """The header, then one URL a row: a site's root URL gives its host; a deeper URL stays a URL.

    Option ``paths=host`` takes the host of every URL instead (the whole site is then the target).
    """
    paths = ctx.options.get("paths", "url").lower()
    if paths not in PATHS:
        raise UsageError(f"option paths={paths!r} must be url or host")
    names: list[str] | None = None
    for number, line in lines:
        if not line.strip():
            continue
        fields = split_row(number, line, ",")
        if names is None:
            if isinstance(fields, Skipped) or number != 1 or not is_header(fields):
                raise ctx.fail("not a Citizen Lab test list: the first line must be the header", 1,
                               hint=",".join(HEADER))
            names = [f.strip().lower() for f in fields]
            continue
        if isinstance(fields, Skipped):
            yield fields
            continue
        if len(fields) != len(names):
            yield Skipped(number, SkipReason.MALFORMED, f"{len(fields)} fields, the header has {len(names)}",
                          excerpt(line))
            continue
        row = {name: value.strip() for name, value in zip(names, fields, strict=True)}
        if not row["url"]:
            yield Skipped(number, SkipReason.MALFORMED, "empty url", excerpt(line))
            continue
        yield _entry(number, row["url"], paths, _note(row))
    if names is None:
        raise ctx.fail("not a Citizen Lab test list: the file is empty", 1, hint=",".join(HEADER))


IMPORTER = Importer(
    name="citizenlab",
    summary="Citizen Lab test list `https://example.org/,FILE,File-sharing,2026-06-15,src,notes`: "
            "root URL -> domain, deeper URL -> url; category/date/notes kept as the note",
    parse=parse,
    options=("paths",),
)
