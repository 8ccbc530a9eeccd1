"""Hostile input for the fuzz tests: byte mutations of valid files, odd names, wrong-typed values.

Every generator reads its choices from an ``Entropy``, a string of bytes (like libFuzzer's
FuzzedDataProvider), so a hypothesis test draws one ``st.binary`` per input and stays near
hypothesis's own cost of about a millisecond an input, and shrinking a failure shrinks bytes. The
same generators serve the optional atheris harness (``tests/fuzz_atheris``).

``expect_located`` states the one rule every loader keeps: a clean load, or a ``BlockauditError``
of its own class that reads ``path:line: what is wrong``, on one line, with a line in the file.
"""

from __future__ import annotations

import atexit
import copy
import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from hypothesis import strategies as st

from checker.errors import BlockauditError

T = TypeVar("T")

_SHM = Path("/dev/shm")
_FAST = _SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None
WORK = Path(tempfile.mkdtemp(prefix="blockaudit-fuzz-", dir=_FAST))
"""One folder for the files the fuzz tests write (hypothesis does not mix with ``tmp_path``); in memory
where it can be: rewriting a file on ext4 flushes it, a hundred times slower than tmpfs."""
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


class Entropy:
    """Choices read from bytes; past their end every choice is the first one (0)."""

    __slots__ = ("at", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        """The next byte, 0 once the bytes are used up."""
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1]

    def below(self, n: int) -> int:
        """A number from 0 to ``n - 1``."""
        if n <= 1:
            return 0
        value = self.byte() if n <= 256 else self.byte() << 8 | self.byte()
        return value % n

    def pick(self, items: Sequence[T]) -> T:
        """One of ``items``."""
        return items[self.below(len(items))]

    def raw(self, most: int) -> bytes:
        """Up to ``most`` bytes, taken as they are."""
        size = self.below(most + 1)
        chunk = self.data[self.at: self.at + size]
        self.at += size
        return chunk

    def char(self) -> str:
        """One character: mostly printable ASCII, else a control, Latin-1, a special code point or any of the BMP."""
        kind = self.below(10)
        if kind < 5:
            return chr(0x20 + self.below(95))
        if kind == 5:
            return chr(self.below(0x20))
        if kind == 6:
            return chr(0x7F + self.below(0x81))
        if kind == 7:
            return self.pick(SPECIAL_CHARS)
        return chr(self.byte() << 8 | self.byte())  # lone surrogates included

    def text(self, most: int) -> str:
        """Up to ``most`` characters."""
        return "".join(self.char() for _ in range(self.below(most + 1)))


def entropy(most: int = 160) -> st.SearchStrategy[Entropy]:
    """Hypothesis's bytes as an ``Entropy``."""
    return st.binary(max_size=most).map(Entropy)


SPECIAL_CHARS: tuple[str, ...] = (
    "\x00", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\xa0", "\xad", "\u200b", "\u200c", "\u200d",
    "\u200e", "\u202e", "\u2028", "\u2029", "\u2066", "\u3002", "\uff0e", "\uff61", "\ufeff", "\ufffd", "\ufffe",
    "\uffff", "\ud800", "\udfff", "\U0001f642", "\U000e0001", "ß", "ς", "İ", "ﬁ", "\u0301", "\u0663", "\u05d0",
    "\u0627", "\u4e2d", "\uac00", "\u0440",
)
"""Code points that trip text handling: controls, line and paragraph separators, bidi and zero-width
marks, IDNA dots, BOM, noncharacters, surrogates, and letters IDNA maps or refuses."""

TOKENS: tuple[bytes, ...] = (
    b"\x00", b"\xef\xbb\xbf", b"\r\n", b"\r", b"\n", b"\t", b" ", b"\xff", b"\xfe", b"\xc3", b"\xc3\x28",
    b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x80\xa8", b"\xe2\x80\xae", b"\xc2\x85", b"\x1b[31m", b"\x7f",
    b"&a ", b"*a", b"&a [1, 2]", b"<<: *a", b"!!python/object/apply:os.system [id]", b"!!binary AAAA",
    b"!!timestamp ", b"!!float ", b"!!int ", b"!!str ", b"!!set {a}", b"!!omap [a: 1]", b"!<tag:x> ", b"!x ",
    b"{", b"}", b"[", b"]", b",", b"- ", b": ", b"? ", b"---\n", b"...\n", b"#", b'"', b"'", b"|", b">", b"|-\n",
    b"%YAML 1.1\n", b"%TAG ! tag:x,2000:\n", b"\\", b'"\\e[2J\\u2028\\ud800"', b"~", b"null", b"true", b"no",
    b".inf", b"-.nan", b"1e400", b"9" * 400, b"0x", b"0o17", b"2026-02-30", b"2026-04-14T25:00:00Z",
    b"99999-01-01", b"P99999999999999999999D", b"PT", b"xn--", b"xn--zz", b"*.", b".", b"..", b"-", b"_",
    "ß".encode(), "ﬁ".encode(), "\u3002".encode(), "\uff0e".encode(), "İ".encode(), "\u200d".encode(),
    "\u0663".encode(), "рф".encode(), "🙂".encode(), b"a" * 64, b"a" * 300,
    b"0.0.0.0 ", b"::", b"||", b"^", b"@@", b"$important", b"address=/", b"server=/", b"local-zone: ",
    b"local-data: ", b"$ORIGIN ", b"$INCLUDE ", b"(", b")", b";", b"CNAME ", b"rpz-passthru.", b".rpz-ip",
    b"Updated: 2026-05-01 12:00:00 +0300\n", b"url,category_code\n", b"|", b"http://", b"https://[", b"://",
)
"""Fragments that break parsers: encodings, YAML syntax and tags, numbers and names at their limits,
and the markers of every list format."""


def mutate(seed: bytes, e: Entropy, most: int = 6) -> bytes:
    """``seed`` after one to ``most`` insertions, deletions, replacements, duplications, truncations or bit flips."""
    data = seed
    for _ in range(1 + e.below(most)):
        kind = e.below(6)
        at = e.below(len(data) + 1)
        payload = e.pick(TOKENS) if e.below(3) else e.raw(8)
        size = 1 + e.below(64)
        if kind == 0:
            data = data[:at] + payload + data[at:]
        elif kind == 1:
            data = data[:at] + data[at + size:]
        elif kind == 2:
            data = data[:at] + payload + data[at + len(payload):]
        elif kind == 3:
            data = data[:at] + data[at: at + size] * (1 + size % 3) + data[at:]
        elif kind == 4:
            data = data[:at]
        elif data:
            at %= len(data)
            data = data[:at] + bytes([data[at] ^ (1 << (size % 8))]) + data[at + 1:]
    return data


def frame(text: str, e: Entropy) -> bytes:
    """Text with its line ends as LF, CRLF or CR, maybe a UTF-8 BOM, as UTF-8 (lone surrogates kept
    in their invalid three-byte form)."""
    data = text.replace("\n", e.pick(("\n", "\r\n", "\r", "\n"))).encode("utf-8", errors="surrogatepass")
    return b"\xef\xbb\xbf" + data if e.below(4) == 0 else data


# --------------------------------------------------------------------------- names

LABEL_EDGES: tuple[str, ...] = (
    "a" * 63, "a" * 64, "xn--" + "a" * 59, "xn--bcher-kva", "xn--", "xn--zz", "xn--a", "ab--cd", "-a", "a-", "_dmarc",
    "a_b", "*", "", "ß", "bücher", "BÜCHER", "ﬁ", "İ", "\u0663\u0662", "\u0661", "a\u200db", "\u200c", "🙂", "\u0301a",
    "a\u0301", "рф", "пример", "例え", "\u05d0\u0661", "\ufeff", "\u00ad", "\uff21\uff22", "1", "123", "0x1f",
    "xn--80ak6aa92e", "xn--zca", "xn--nxa", "xn--fa-hia", "a" * 58 + "ü", "ü" * 30,
)
"""Labels at and past the limits of DNS and IDNA 2008: 63 and 64 octets (also once encoded), A-label
edge cases, mapped, disallowed, joiner, bidi and mixed-script code points."""

SEPARATORS: tuple[str, ...] = (".", ".", ".", ".", "\u3002", "\uff0e", "\uff61", "..")


def name(e: Entropy) -> str:
    """A domain-like string: a few labels (edge cases, LDH, or any text) with odd separators and ends,
    or stretched past 253 octets."""
    labels = []
    for _ in range(1 + e.below(4)):
        kind = e.below(4)
        if kind == 0:
            labels.append(e.pick(LABEL_EDGES))
        elif kind == 1:
            labels.append(e.text(6))
        else:
            labels.append("".join(e.pick("abcxyz019-") for _ in range(1 + e.below(12))))
    text = labels[0] + "".join(e.pick(SEPARATORS) + label for label in labels[1:])
    shape = e.below(10)
    if shape == 0:
        text += "."
    elif shape == 1:
        text = "*." + text
    elif shape == 2:
        text = ".".join(["a" * 63] * 4) + "." + text  # 256+ octets
    elif shape == 3:
        text = ".".join(["b" * 61] * 4) + "." + text  # 249 octets before the name: at the limit
    elif shape == 4:
        text = " " + text.upper() + " "
    return text


# --------------------------------------------------------------------------- values

HUGE = 10**400
"""An integer no float can hold."""

WEIRD_SCALARS: tuple[object, ...] = (
    None, True, False, 0, -1, 1, 2**63, -(2**63), HUGE, -HUGE, 0.1, 1e308, float("inf"), float("-inf"),
    float("nan"), "", " ", "\t", "~", "null", "yes", "no", "on", "0x10", "1_000", "1e400", "P5D", "P0D", "P1M",
    "PT", "P1W2D", "P" + "9" * 40 + "D", "PT" + "9" * 30 + "S", "2026-04-14", "2026-02-30", "0000-00-00",
    "2026-04-14T25:00:00Z", "2026-04-14T10:00:00+99:00", "9999-12-31T23:59:59-23:59", dt.date(2026, 4, 14),
    dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.datetime(2026, 4, 14, 10, 0), "a" * 5000, "\x00", "\x1b[31m",
    "\u2028", "\ud800", "\ufeff", "é", "https://", "https://x", "https://\u0000/", "http://[::1", "1.2.3.4",
    "1.2.3.4/33", "::1", "fe80::1%eth0", "[::1]:99999", "1.2.3.4:0", "0.0.0.0/0", "::/0", "::ffff:1.2.3.4",
    "subject", "control", "udp", "doh", "issued", "add", "remove", "(", "(?P<x>", "a{4294967296}", "(?=x)",
    "x" * 2000, "(((((((((a)))))))))" * 60, "\\", "~user/ca", "/" + "a" * 5000, "a/" * 3000, "/dev/null", "/", "~",
    "id.server CH TXT", "x CH A AAAA", "a.example IN", "[" * 3000,
)
"""Values of every YAML type, at the edges of each: null, booleans, huge and special numbers,
impossible dates, overlong and control-laden strings, near-miss enum values, bad URLs, addresses,
paths and regular expressions."""

_KEYS: tuple[str, ...] = ("domain", "id", "url", "name", "address", "x", "", "0")


_STRINGS = tuple(v for v in WEIRD_SCALARS if isinstance(v, str))
_NUMBERS = tuple(v for v in WEIRD_SCALARS if isinstance(v, int | float) and not isinstance(v, bool))
_DATES: tuple[object, ...] = (
    *(v for v in WEIRD_SCALARS if isinstance(v, dt.date)), "2026-02-30", "2026-13-01", "2026-4-1", "", "tomorrow",
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "9999-12-30", dt.date(9999, 12, 30),
    dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))), "2026-04-14T10:00:00+24:00",
)
"""Dates and times at the edges: impossible, malformed, and near year 1 or 9999 (where an offset or a
deadline crosses the end of Python's calendar)."""
_DATE_LIKE = re.compile(r"^\d{4}-")


def value(e: Entropy, depth: int = 0) -> object:
    """A weird scalar, an odd name, free text, a number, or now and then a small list or mapping of them."""
    kind = e.below(12)
    if kind < 4:
        return e.pick(WEIRD_SCALARS)
    if kind == 4:
        return name(e)
    if kind in (5, 6):
        return e.text(20)
    if kind == 7:
        return int.from_bytes(e.raw(12), "big") - (1 << 47)
    if kind == 8:
        return (e.byte() - 128) * 10.0 ** (e.below(40) - 20)
    if kind == 9 and depth < 3:
        return [value(e, depth + 1) for _ in range(e.below(4))]
    if kind == 10 and depth < 3:
        return {e.pick(_KEYS) if e.below(2) else e.text(6): value(e, depth + 1) for _ in range(e.below(4))}
    return e.pick(_STRINGS)


def same_kind(e: Entropy, current: object) -> object:
    """A weird value of the type ``current`` has (so the schema lets it through to the loader's own checks)."""
    if isinstance(current, bool):
        return e.pick((True, False, "yes", "true", 1))
    if isinstance(current, int | float):
        return e.pick(_NUMBERS)
    if isinstance(current, dt.date) or (isinstance(current, str) and _DATE_LIKE.match(current)):
        return e.pick(_DATES)
    if isinstance(current, str):
        return e.pick(_STRINGS) if e.below(2) else current + e.text(4)
    return value(e)


def _is_name(current: object) -> bool:
    return isinstance(current, str) and "." in current and not any(c in current for c in "/: ")


def dump(document: object, style: int) -> bytes:
    """``document`` as JSON (escaped or not) or as YAML (block, flow, escaped or unicode)."""
    try:
        if style == 0:
            return json.dumps(document, default=str, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
        if style == 1:
            return json.dumps(document, default=str).encode()
        text = yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=style == 2,
                         default_flow_style=None if style == 3 else False, sort_keys=False, width=1 << 16)
        return text.encode("utf-8", errors="surrogatepass")
    except (yaml.YAMLError, ValueError, TypeError, UnicodeError):
        return json.dumps(document, default=str).encode()


def _slots(node: object, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a document, parents before children."""
    if isinstance(node, dict):
        for key in list(node):
            out.append((node, key))
            _slots(node[key], out)
    elif isinstance(node, list):
        for index in range(len(node)):
            out.append((node, index))
            _slots(node[index], out)
    return out


_UNKNOWN_KEYS: tuple[str, ...] = ("targts", "note", "", "x" * 300, "id", "0", "\u2028", "\x1b[2J", "\ud800", "é")


def broken(seed: dict[str, Any], e: Entropy) -> bytes:
    """A copy of a valid document with one to three fields broken (a weird value, an odd name, a key
    removed, an unknown key, a list item doubled, a value wrapped), serialised in one of five styles."""
    document = copy.deepcopy(seed)
    for _ in range(1 + e.below(3)):
        slots = _slots(document, [])
        if not slots:
            break
        action = e.below(10)
        if action in (2, 3, 4):
            named = [(c, k) for c, k in slots if _is_name(c[k])]
            slots = named or slots
        container, key = e.pick(slots)
        if action < 2:
            container[key] = value(e)
        elif action < 5:
            container[key] = name(e)
        elif action == 5:
            container[key] = same_kind(e, container[key])
        elif action == 6:
            del container[key]
        elif action == 7 and isinstance(container, dict):
            container[e.pick(_UNKNOWN_KEYS)] = value(e)
        elif action == 8 and isinstance(container, list):
            container.insert(key, copy.deepcopy(container[key]))
        elif action == 9:
            container[key] = e.pick(([container[key]], {"x": container[key]}, {"domain": "a.example"}))
        else:
            container[key] = same_kind(e, container[key])
    return dump(document, e.below(5))


# --------------------------------------------------------------------------- the rule

_LOCATED = re.compile(r"(\d+): \S")


def expect_located(load: Callable[[Path], T], path: Path, error: type[BlockauditError]) -> T | None:
    """``load(path)``: its result, or ``None`` after checking the error it raised.

    The error must be of class ``error`` and read ``path:line: what is wrong`` with ``line`` between
    1 and the file's last line, on one line of text.
    """
    try:
        return load(path)
    except BlockauditError as exc:
        text = str(exc)
        assert isinstance(exc, error)  # noqa: PT017 - a located error is an allowed outcome, not the expected one, f"{type(exc).__name__}, not {error.__name__}: {text}"
        prefix = f"{path}:"
        assert text.startswith(prefix), f"no {prefix}LINE: in {text!r}"
        match = _LOCATED.match(text, len(prefix))
        assert match is not None, f"no line in {text!r}"
        data = path.read_bytes()
        last = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + 1
        assert 1 <= int(match.group(1)) <= last, f"line {match.group(1)} of {last} in {text!r}"
        assert len(text.splitlines()) == 1, f"more than one line: {text!r}"
        return None


def write(file_name: str, data: bytes) -> Path:
    """``data`` in a file named ``file_name`` in the fuzz folder."""
    path = WORK / file_name
    path.write_bytes(data)
    return path
