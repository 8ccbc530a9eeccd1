"""Plain lists: one domain (or IP, or http(s) URL) a line, ``#`` comments, ``*.name`` for subdomains."""

from __future__ import annotations

from collections.abc import Iterator

from checker.orders.importers.base import (
    Context,
    Importer,
    Item,
    Skipped,
    SkipReason,
    any_target,
    excerpt,
)


def strip_comment(line: str) -> str:
    """The line without a ``#`` comment (at its start or after white space)."""
    if line.lstrip().startswith("#"):
        return ""
    cut = line.find(" #")
    tab = line.find("\t#")
    cuts = [c for c in (cut, tab) if c >= 0]
    return line[: min(cuts)] if cuts else line


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """One target a line; ``subdomains=true`` gives every name its subdomains."""
    subdomains = ctx.option_bool("subdomains", False)
    for number, line in lines:
        text = strip_comment(line).strip()
        if not text:
            continue
        if len(text.split()) != 1:
            yield Skipped(number, SkipReason.UNRECOGNISED, "expected one name a line", excerpt(line))
            continue
        yield any_target(number, text, subdomains=subdomains)


IMPORTER = Importer(
    name="plain",
    summary="one name a line (`example.org`, `*.example.org`, an IP or an http(s) URL); `#` comments",
    parse=parse,
    options=("subdomains",),
)
