"""Reading YAML documents as typed values, each error naming ``file:line`` and the field."""

from __future__ import annotations

import builtins
import datetime as dt
import difflib
from collections.abc import Callable, Iterator
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
        return float(value)

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
            return value.astimezone(dt.UTC)
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


def read_text(path: Path, error: type[BlockauditError]) -> builtins.str:
    """A file's text as UTF-8, with a clear error for a missing, huge or undecodable file."""
    label = str(path)
    try:
        if path.is_dir():
            raise error("is a directory, expected a file", path=label)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(f"file is {size} bytes, larger than the limit of {MAX_FILE_BYTES}", path=label)
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
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path=label, line=line) from None


def load(path: Path, error: type[BlockauditError]) -> Node:
    """Parse one YAML document from a file into a located root node."""
    text = read_text(path, error)
    label = str(path)
    if "\x00" in text:
        raise error("contains a NUL character", path=label, line=text[: text.index("\x00")].count("\n") + 1)
    try:
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line: int | None = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"malformed YAML: {problem}", path=label, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text[: max(exc.position, 0)].count("\n") + 1
        raise error(f"character {exc.character!r} is not allowed in YAML", path=label, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {' '.join(str(exc).split())}", path=label) from None
    except RecursionError:
        raise error("nested too deeply", path=label) from None
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
