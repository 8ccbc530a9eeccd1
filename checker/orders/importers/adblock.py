"""Adblock-style DNS lists: ``||example.org^`` blocks the name and its subdomains."""

from __future__ import annotations

import re
from collections.abc import Iterator

from checker.orders.importers.base import Context, Importer, Item, Skipped, SkipReason, domain, excerpt, is_address

MODIFIERS = frozenset({"important", "all", "document", "doc"})
"""Modifiers that keep a rule a whole-domain block; any other makes the rule unsupported."""

_COSMETIC = ("##", "#@#", "#?#", "#$#", "#%#", "#@$#", "#@?#", "#@%#", "$$", "$@$")
_BARE = re.compile(r"^[\w.-]+\.?$")


def rule(number: int, line: str) -> Item | None:
    """What one line means; None for a comment or a blank line."""
    text = line.strip()
    if not text or text.startswith("!") or (text.startswith("[") and text.endswith("]")):
        return None
    if any(marker in text for marker in _COSMETIC):
        return Skipped(number, SkipReason.UNSUPPORTED, "element hiding or content rule", excerpt(text))
    if text.startswith("#"):
        return None
    if text.startswith("@@"):
        return Skipped(number, SkipReason.EXCEPTION_RULE, "exception rule", excerpt(text))
    if text.startswith("/"):
        return Skipped(number, SkipReason.UNSUPPORTED, "regular expression rule", excerpt(text))
    if text.startswith("||"):
        pattern, _, options = text[2:].partition("$")
        for option in filter(None, (o.strip().lower() for o in options.split(","))):
            if option not in MODIFIERS:
                return Skipped(number, SkipReason.UNSUPPORTED, f"modifier ${option}", excerpt(text))
        if pattern.endswith("^|"):
            pattern = pattern[:-2]
        elif pattern.endswith("^"):
            pattern = pattern[:-1]
        if not pattern or (any(ch in pattern for ch in "/^|*?:=") and not pattern.startswith("*.")):
            return Skipped(number, SkipReason.UNSUPPORTED, "not a whole-domain rule", excerpt(text))
        return domain(number, pattern, subdomains=True)
    if text.startswith("|"):
        return Skipped(number, SkipReason.UNSUPPORTED, "address rule (|...)", excerpt(text))
    first = text.split()[0]
    if is_address(first) and len(text.split()) > 1:
        return Skipped(number, SkipReason.UNSUPPORTED, "hosts-style line", excerpt(text))
    if _BARE.match(text):
        return domain(number, text, wildcard=False)
    return Skipped(number, SkipReason.UNSUPPORTED, "not a domain rule", excerpt(text))


def parse(ctx: Context, lines: Iterator[tuple[int, str]]) -> Iterator[Item]:
    """``||name^`` (with $important, $all, $document) -> name with subdomains; a bare name -> exact."""
    del ctx
    for number, line in lines:
        item = rule(number, line)
        if item is not None:
            yield item


IMPORTER = Importer(
    name="adblock",
    summary="`||example.org^` (also `$important`) -> name with subdomains; `@@` exceptions, `##` element "
            "hiding, regexes and other modifiers skipped; `!` comments",
    parse=parse,
)
