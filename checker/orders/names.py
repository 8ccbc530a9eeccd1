"""Normalising domain names: case, trailing dot, IDN to A-label under IDNA 2008 (UTS 46)."""

from __future__ import annotations

import re

import idna

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PLAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
"""A name of two or more LDH labels: the common case, checked at once (``normalise``'s fast path)."""
MAX_NAME = 253
MAX_LABEL = 63


class InvalidName(ValueError):
    """A string that is not a valid host name; the message says why."""


def normalise(raw: str) -> str:
    """The canonical A-label form of a host name, without trailing dot.

    Raises ``InvalidName`` with a short reason for anything that is not a host name
    of at least two labels (a bare TLD is refused: no order blocks a whole TLD by typo).
    """
    name = raw.strip()
    plain = name.lower().removesuffix(".")
    if (name.isascii() and _PLAIN.fullmatch(plain) and len(plain) <= MAX_NAME and "--" not in plain
            and not plain.rpartition(".")[2].isdigit()):
        return plain  # what ``checked`` finds for it, and a list of a million names loads in half the time
    return checked(name)


def checked(raw: str) -> str:
    """``normalise`` the long way: every check in turn, so that a bad name gets its reason."""
    name = raw.strip()
    if not name:
        raise InvalidName("empty name")
    if any(ch.isspace() for ch in name):
        raise InvalidName("contains white space")
    if "://" in name or "/" in name:
        raise InvalidName("looks like a URL; give the host name only, or use a 'url' target")
    if name.startswith("*."):
        raise InvalidName("wildcards are not names; write the domain with 'subdomains: true'")
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise InvalidName("the root is not a host name")
    if ".." in name or name.startswith("."):
        raise InvalidName("empty label")
    if name.isascii():
        ascii_name = name.lower()
        labels = ascii_name.split(".")
        for label in labels:
            if label.startswith("xn--"):
                try:
                    idna.decode(label)
                except idna.IDNAError as exc:
                    raise InvalidName(f"label '{label}' is not a valid A-label: {exc}") from None
    else:
        try:
            ascii_name = idna.encode(name, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidName(f"not a valid IDNA 2008 name: {exc}") from None
        except UnicodeError as exc:
            raise InvalidName(f"not a valid IDNA 2008 name: {exc}") from None
        labels = ascii_name.split(".")
    if len(ascii_name) > MAX_NAME:
        raise InvalidName(f"name is {len(ascii_name)} octets long, more than {MAX_NAME}")
    for label in labels:
        if len(label) > MAX_LABEL:
            raise InvalidName(f"label '{label[:20]}...' is {len(label)} octets, more than {MAX_LABEL}")
        if label[2:4] == "--" and not label.startswith("xn--"):
            raise InvalidName(f"label '{label}' has '--' in third and fourth place, which IDNA reserves")
        if not _LABEL.match(label):
            raise InvalidName(f"label '{label}' has characters other than a-z, 0-9 and inner '-'")
    if len(labels) < 2:
        raise InvalidName("a single label is not a domain an order can name")
    if labels[-1].isdigit():
        raise InvalidName("looks like an IP address; use an 'ip' target")
    return ascii_name


def is_within(name: str, domain: str) -> bool:
    """Whether ``name`` is ``domain`` or a name below it (on label boundaries)."""
    return name == domain or name.endswith("." + domain)


def normalise_label(raw: str) -> str:
    """One lower-case LDH label (for ``--subdomain-probe``); ``InvalidName`` says what is wrong."""
    label = raw.strip().lower()
    if not label:
        raise InvalidName("empty label")
    if len(label) > MAX_LABEL:
        raise InvalidName(f"label is {len(label)} octets, more than {MAX_LABEL}")
    if not _LABEL.match(label):
        raise InvalidName(f"label '{raw}' has characters other than a-z, 0-9 and inner '-'")
    return label
