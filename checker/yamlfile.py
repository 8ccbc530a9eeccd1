"""Reading YAML documents as typed values, each error naming ``file:line`` and the field."""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import difflib
import gc
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import yaml

from checker.errors import BlockauditError

T = TypeVar("T")

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Files larger than this are refused before parsing (check big lists directly: they stream)."""

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's composer when PyYAML has it (about 8x faster, same line marks), else pure Python."""


class Node:
    """A YAML node with the file, line and dotted field path it was read from.

    Every accessor either returns a Python value or raises an error of class ``error``
    that reads ``path:line: field 'a.b[2]': what is wrong``.
    """

    __slots__ = ("_node", "error", "field", "path")

    def __init__(
        self, node: yaml.Node, path: str, field: str, error: type[BlockauditError],
    ) -> None:
        self._node = node
        self.path = path
        self.field = field
        self.error = error

    @property
    def line(self) -> int:
        """1-based line where the node starts."""
        return int(self._node.start_mark.line) + 1

    def fail(self, message: str, hint: str | None = None) -> BlockauditError:
        """An error located at this node, to be raised by the caller."""
        where = f"field '{self.field}': " if self.field else ""
        return self.error(where + message, path=self.path, line=self.line, hint=hint)

    def _child(self, node: yaml.Node, field: str) -> Node:
        return Node(node, self.path, field, self.error)

    # -- structure

    @property
    def is_null(self) -> bool:
        """True for ``null``, ``~`` or an empty value."""
        return isinstance(self._node, yaml.ScalarNode) and self._node.tag == "tag:yaml.org,2002:null"

    @property
    def is_mapping(self) -> bool:
        """True when the node is a mapping."""
        return isinstance(self._node, yaml.MappingNode)

    def mapping(
        self, required: tuple[str, ...] = (), optional: tuple[str, ...] = (),
    ) -> dict[str, Node]:
        """The node as a mapping with exactly the allowed keys; unknown keys are refused."""
        if not isinstance(self._node, yaml.MappingNode):
            raise self.fail(f"expected a mapping, found {self._describe()}")
        allowed = required + optional
        out: dict[str, Node] = {}
        for key_node, value_node in self._node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._child(key_node, self.field).fail("keys must be plain strings")
            key = str(key_node.value)
            field = f"{self.field}.{key}" if self.field else key
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "allowed: " + ", ".join(allowed)
                raise Node(key_node, self.path, "", self.error).fail(
                    f"unknown key '{field}'", hint=hint,
                )
            if key in out:
                raise Node(key_node, self.path, "", self.error).fail(
                    f"key '{field}' appears twice",
                )
            out[key] = self._child(value_node, field)
        for key in required:
            if key not in out:
                field = f"{self.field}.{key}" if self.field else key
                raise Node(self._node, self.path, "", self.error).fail(
                    f"missing required key '{field}'",
                )
        return out

    def items(self) -> Iterator[Node]:
        """The node as a sequence: one child node per item."""
        if not isinstance(self._node, yaml.SequenceNode):
            raise self.fail(f"expected a list, found {self._describe()}")
        for index, item in enumerate(self._node.value):
            yield self._child(item, f"{self.field}[{index}]")

    # -- scalars

    def _scalar(self) -> object:
        if not isinstance(self._node, yaml.ScalarNode):
            raise self.fail(f"expected a single value, found {self._describe()}")
        try:
            return yaml.constructor.SafeConstructor().construct_object(self._node)
        except yaml.constructor.ConstructorError as exc:
            raise self.fail(str(exc.problem or "cannot read this value")) from None
        except ValueError as exc:  # e.g. an impossible date such as 2026-02-30
            raise self.fail(f"cannot read {self._node.value!r}: {exc}") from None
        except Exception:  # noqa: BLE001 - PyYAML constructors raise odd errors on tagged garbage
            raise self.fail(f"cannot read {self._node.value!r} as {self._node.tag}") from None

    def str(self, *, allow_empty: bool = False) -> builtins.str:
        """A string; numbers and dates are refused rather than silently converted."""
        value = self._scalar()
        if not isinstance(value, str):
            raise self.fail(f"expected a string, found {_kind(value)} {value!r}", hint="quote it")
        if not allow_empty and not value.strip():
            raise self.fail("must not be empty")
        if "\x00" in value:
            raise self.fail("contains a NUL character")
        return value

    def optional_str(self) -> builtins.str | None:
        """A string, or ``None`` for ``null``."""
        return None if self.is_null else self.str()

    def bool(self) -> bool:
        """``true`` or ``false``."""
        value = self._scalar()
        if not isinstance(value, bool):
            raise self.fail(f"expected true or false, found {_kind(value)} {value!r}")
        return value

    def number(self, *, minimum: float | None = None) -> float:
        """An integer or decimal number."""
        value = self._scalar()
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"expected a number, found {_kind(value)} {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(f"must be at least {minimum:g}, found {value!r}")
        try:
            return float(value)
        except OverflowError:  # an integer of more than 308 digits
            raise self.fail(f"{str(value)[:12]}... ({len(str(value))} digits) is too large a number") from None

    def date(self) -> dt.date:
        """A calendar date, ``YYYY-MM-DD``."""
        value = self._scalar()
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self.fail(f"expected a date like 2026-04-14, found {value!r}")

    def datetime(self) -> dt.datetime:
        """A point in time; a bare date means its midnight UTC, a naive time means UTC."""
        value = self._scalar()
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise self.fail(
                    f"expected a time like 2026-04-20T00:00:00Z, found {value!r}",
                ) from None
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=dt.UTC)
            try:
                return value.astimezone(dt.UTC)
            except OverflowError:  # 0001-01-01T00:00:00+05:00, 9999-12-31T23:00:00-05:00
                raise self.fail(f"{value.isoformat()} is before the year 1 or after 9999 in UTC") from None
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        raise self.fail(f"expected a time like 2026-04-20T00:00:00Z, found {value!r}")

    def choice(self, enum: Callable[[builtins.str], T], allowed: list[builtins.str]) -> T:
        """One of a closed set of strings."""
        value = self._scalar()
        if isinstance(value, str) and value in allowed:
            return enum(value)
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else None
        raise self.fail(f"expected one of {', '.join(allowed)}; found {value!r}", hint=hint)

    def _describe(self) -> builtins.str:
        if isinstance(self._node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self._node, yaml.SequenceNode):
            return "a list"
        return f"{_kind(self._scalar())} {self._node.value!r}"


def _kind(value: object) -> builtins.str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dt.date):
        return "date"
    return "string"


MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (no order or resolver file needs more than 6)."""


def _reject_aliases(node: yaml.Node, path: str, error: type[BlockauditError]) -> None:
    """Anchors and aliases are refused (no file we read needs them; they enable alias bombs), and
    so is nesting deeper than ``MAX_DEPTH``; the walk is iterative, so depth cannot crash it."""
    seen: set[int] = set()
    stack = [(node, 0)]
    while stack:
        current, depth = stack.pop()
        if id(current) in seen:
            raise Node(current, path, "", error).fail("YAML aliases (*name) are not allowed")
        if depth > MAX_DEPTH:
            raise Node(current, path, "", error).fail(f"nested too deeply (more than {MAX_DEPTH} levels)")
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend(((key, depth + 1), (value, depth + 1)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in current.value)


_OPEN_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent)

SAFE_NESTING = 2000
"""Nesting libyaml's composer survives on any thread's stack (it crashes between 20,000 and 40,000)."""

Caps = Mapping[builtins.str, tuple[int, builtins.str]]
"""Most items a list under a top-level key may have, and what its items are called:
``{"resolvers": (10_000, "resolvers")}``."""


def _line(event: yaml.Event) -> int:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else 1


def _prescan(text: builtins.str, path: str, error: type[BlockauditError], caps: Caps) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH``, and top-level lists longer than their cap, before
    composing. libyaml's composer recurses in C and crashes the interpreter (a segmentation fault, not
    an exception) a few ten thousand levels down, which 60 KB of ``- - - -`` reach; and it holds
    every node with two marks, some 3 KB for each resolver of a list, so a list is counted before it
    is built. The event parser keeps an explicit stack and holds nothing, so this pass is safe; it
    costs about a tenth of composing, and is skipped when the text can neither nest nor list that
    much: every level and every item but the first needs an indicator (``-``, ``:``, ``?``, ``[``,
    ``{``, ``,``)."""
    if sum(text.count(indicator) for indicator in "-:?[{,") <= SAFE_NESTING:
        return
    depth = 0
    is_key = True  # in the root mapping: is the next node a key?
    key: builtins.str | None = None
    cap: tuple[int, builtins.str] | None = None
    items = 0
    for event in yaml.parse(text, Loader=_LOADER):
        node = isinstance(event, _NODE_EVENTS)
        if depth == 2 and cap is not None and (node or isinstance(event, _OPEN_EVENTS)):
            items += 1
            if items > cap[0]:
                raise error(f"field '{key}[{cap[0]}]': more than {cap[0]} {cap[1]}", path=path, line=_line(event))
        if isinstance(event, _OPEN_EVENTS):
            if depth == 0:
                is_key = True
            elif depth == 1 and not is_key and isinstance(event, yaml.SequenceStartEvent):
                cap, items = caps.get(key or ""), 0
            depth += 1
            if depth > MAX_DEPTH + 1:
                raise error(f"nested too deeply (more than {MAX_DEPTH} levels)", path=path, line=_line(event))
        elif isinstance(event, _CLOSE_EVENTS):
            depth -= 1
        if depth == 1 and (node or isinstance(event, _CLOSE_EVENTS)):  # a node of the root mapping is complete
            if is_key:
                key = event.value if isinstance(event, yaml.ScalarEvent) else None
            else:
                cap = None
            is_key = not is_key


_ODD_BREAK = re.compile("[\x85\u2028\u2029]")
"""NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR: line breaks to YAML 1.1, not to editors, so every line
number after one would be off."""


def line_at(text: builtins.str | bytes, index: int) -> int:
    """The 1-based line of ``text[index]``, counting LF, CRLF and a lone CR as one line end each."""
    if isinstance(text, bytes):
        return text.count(b"\n", 0, index) + text.count(b"\r", 0, index) - text.count(b"\r\n", 0, index) + 1
    return text.count("\n", 0, index) + text.count("\r", 0, index) - text.count("\r\n", 0, index) + 1


def read_text(path: Path, error: type[BlockauditError]) -> builtins.str:
    """A file's text as UTF-8, with a clear error for a missing, huge or undecodable file."""
    label = str(path)
    try:
        if path.is_dir():
            raise error("is a directory, expected a file", path=label)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(f"file is {size} bytes, larger than the limit of {MAX_FILE_BYTES}", path=label, line=1)
        data = path.read_bytes()
    except FileNotFoundError:
        raise error("no such file", path=label) from None
    except PermissionError:
        raise error("permission denied", path=label) from None
    except IsADirectoryError:
        raise error("is a directory, expected a file", path=label) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", path=label) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = line_at(data, exc.start)
        raise error(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path=label, line=line) from None


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a file's objects are built: they all stay alive, and
    each full collection would walk every one made so far (an order of 100,000 targets composes in 1.5 s
    instead of 19 s)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def load(path: Path, error: type[BlockauditError], caps: Caps | None = None) -> Node:
    """Parse one YAML document from a file into a located root node; ``caps`` limits top-level lists."""
    with paused_gc():
        return _load(path, error, caps)


def _load(path: Path, error: type[BlockauditError], caps: Caps | None) -> Node:
    text = read_text(path, error)
    label = str(path)
    if "\x00" in text:
        raise error("contains a NUL character", path=label, line=line_at(text, text.index("\x00")))
    odd = _ODD_BREAK.search(text)
    if odd is not None:
        raise error(
            f"character U+{ord(odd.group()):04X} is not allowed: YAML reads it as a line break", path=label,
            line=line_at(text, odd.start()), hint="write it as an escape in a double-quoted string, or remove it",
        )
    try:
        _prescan(text, label, error, caps or {})
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # libyaml puts the end of a file without a final line end on the line after it
        line = min(mark.line + 1, line_at(text, len(text))) if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        if "maximum nesting depth" in problem:
            # libyaml from 0.2.6 (PyYAML 6.0.4's wheels) stops its scanner at 1,000 levels, and the
            # scanner runs ahead of the events _prescan counts: the same refusal, in our words.
            raise error(f"nested too deeply (more than {MAX_DEPTH} levels)", path=label, line=line) from None
        raise error(f"malformed YAML: {problem}", path=label, line=line) from None
    except yaml.reader.ReaderError as exc:
        # libyaml's position counts UTF-8 bytes, PyYAML's characters: find the character instead.
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)[:1]
        found = text.find(char) if char else -1
        line = line_at(text, found if found >= 0 else max(exc.position, 0))
        raise error(f"character U+{ord(char or '?'):04X} is not allowed in YAML", path=label, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {' '.join(str(exc).split())}", path=label, line=1) from None
    except RecursionError:
        raise error("nested too deeply", path=label, line=1) from None
    documents = [
        d for d in documents
        if d is not None and not (isinstance(d, yaml.ScalarNode) and d.tag.endswith(":null") and not d.value)
    ]
    if not documents:
        raise error("the file is empty", path=label, line=1)
    if len(documents) > 1:
        raise Node(documents[1], label, "", error).fail("only one YAML document per file")
    root = documents[0]
    _reject_aliases(root, label, error)
    return Node(root, label, "", error)
