"""JSON Schemas of the order and resolver files, and checking a parsed file against them.

The schemas (``schemas/order.schema.json``, ``schemas/resolvers.schema.json``, JSON Schema
draft 2020-12) describe the two YAML formats for editors and other tools. :func:`check`
validates a document read by :func:`checker.yamlfile.load` against one of them and raises
the loader's error type for the first problem, at the YAML line of the offending value and in
the loader's words: ``file:line: field 'targets[2].subdomains': expected true or false, found
string 'yes'``.

Two keywords the schemas carry beyond the standard ones, also read by VS Code and
yaml-language-server: ``patternErrorMessage`` (what a failed ``pattern`` means) and
``errorMessage`` (what any other failed keyword of that subschema means; ``type`` errors always
get the generic message).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from checker.errors import BlockauditError, FingerprintError, OrderError, ResolverConfigError
from checker.yamlfile import Node, _kind

Kind = Literal["order", "resolvers", "fingerprints"]
KINDS: tuple[Kind, ...] = ("order", "resolvers", "fingerprints")
ERRORS: dict[str, type[BlockauditError]] = {
    "order": OrderError, "resolvers": ResolverConfigError, "fingerprints": FingerprintError,
}
"""The error each kind of file raises: the same as its loader's."""

_PACKAGE = Path(__file__).resolve().parent

Location = tuple[str | int, ...]
"""Where a value is in the document: mapping keys and list indexes from the root."""

_EXPECTED = {
    "string": "a string", "boolean": "true or false", "array": "a list", "object": "a mapping",
    "number": "a number", "integer": "a whole number", "null": "null",
}
# Keywords about a single value: a custom message is shown after the value ("'P1M' is not ...").
_VALUE_KEYWORDS = frozenset({
    "const", "enum", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "multipleOf",
})
# Sort ranks: within one mapping an unknown key is the likeliest cause of a missing one.
_RANK = {"additionalProperties": 0, "required": 1, "type": 2}
_LATE = frozenset({"contains"})
"""Keywords about a list as a whole: reported after any problem inside the list."""
_MAX_SHOWN = 80


def schema_path(kind: Kind) -> Path:
    """The schema file of ``kind`` (``order``, ``resolvers``, ``fingerprints``), installed (wheel) or in a
    source checkout."""
    if kind not in ERRORS:
        raise ValueError(f"unknown schema kind {kind!r}; one of {', '.join(KINDS)}")
    name = f"{kind}.schema.json"
    installed = _PACKAGE / "_bundled" / "schemas" / name
    if installed.is_file():
        return installed
    return _PACKAGE.parent / "schemas" / name


@functools.cache
def _validator(kind: Kind) -> Draft202012Validator:
    schema = json.loads(schema_path(kind).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check(kind: Kind, root: Node) -> None:
    """Validate the YAML document ``root`` against the schema of ``kind``.

    Raises ``OrderError``, ``ResolverConfigError`` or ``FingerprintError`` for the first problem,
    located at the line of the offending value; returns ``None`` when the document conforms.
    """
    document = _Document(root, ERRORS[kind])
    errors = list(_validator(kind).iter_errors(document.data))
    if errors:
        problem = min((document.explain(e) for e in errors), key=_Problem.order)
        raise document.fail(problem)


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class _Problem:
    """One schema error, explained: what it is about, where it is and what to say."""

    at: Location
    """The value the problem is about (for a missing or unknown key: its mapping)."""
    node: yaml.Node
    """Where to point: the value, or the key of an unknown key."""
    message: str
    hint: str | None = None
    with_field: bool = True
    """Prefix the message with ``field 'a.b[2]': ``."""
    rank: int = 3
    late: bool = False

    def order(self) -> tuple[bool, int, int, int, int]:
        """Outer mappings before inner; per level unknown keys, missing keys, types, the rest; then by position."""
        mark = self.node.start_mark
        return (self.late, len(self.at), self.rank, mark.line, mark.column)


def field_name(at: Location) -> str:
    """``('targets', 2, 'subdomains')`` as ``targets[2].subdomains``, the loader's field names."""
    out = ""
    for part in at:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + "...'"


def _close(value: object, allowed: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class _Document:
    """The plain data of a YAML document (for jsonschema), with the node of every value."""

    def __init__(self, root: Node, error: type[BlockauditError]) -> None:
        self.path = root.path
        self.error = error
        self.nodes: dict[Location, yaml.Node] = {}
        self.keys: dict[Location, yaml.Node] = {}
        self.scalars: dict[Location, object] = {}
        self._constructor = yaml.constructor.SafeConstructor()
        yaml_root: yaml.Node = root._node
        try:
            self.data = self._build(yaml_root, ())
        except RecursionError:
            raise error("nested too deeply", path=self.path) from None

    def fail(self, problem: _Problem) -> BlockauditError:
        """The error for ``problem``, to be raised by the caller."""
        field = field_name(problem.at)
        where = f"field '{field}': " if problem.with_field and field else ""
        line = int(problem.node.start_mark.line) + 1
        return self.error(where + problem.message, path=self.path, line=line, hint=problem.hint)

    # -- building the data

    def _build(self, node: yaml.Node, at: Location) -> object:
        self.nodes[at] = node
        if isinstance(node, yaml.MappingNode):
            out: dict[str, object] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.fail(_Problem(at, key_node, "keys must be plain strings"))
                key = str(key_node.value)
                if key in out:
                    raise self.fail(_Problem(at, key_node, f"key '{field_name((*at, key))}' appears twice",
                                             with_field=False))
                self.keys[(*at, key)] = key_node
                out[key] = self._build(value_node, (*at, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*at, index)) for index, item in enumerate(node.value)]
        value = self._scalar(node, at)
        self.scalars[at] = value
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()  # JSON has no dates; "format: date" checks the text
        return value

    def _scalar(self, node: yaml.Node, at: Location) -> object:
        try:
            return self._constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            message = str(exc.problem or "cannot read this value")
        except ValueError as exc:  # e.g. an impossible date such as 2026-02-30
            message = f"cannot read {node.value!r}: {exc}"
        except Exception:  # noqa: BLE001 - PyYAML constructors raise odd errors on tagged garbage
            message = f"cannot read {node.value!r} as {node.tag}"
        raise self.fail(_Problem(at, node, message))

    def _found(self, at: Location) -> str:
        """What the document holds at ``at``, as the loader describes it: ``number 42``, ``a list``."""
        node = self.nodes[at]
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        value = self.scalars[at]
        if value is None:
            return "null"
        if isinstance(value, dt.date):
            return f"date {node.value!r}"
        return f"{_kind(value)} {_shown(value)}"

    # -- explaining jsonschema's errors

    def explain(self, error: ValidationError) -> _Problem:
        """The problem ``error`` reports, in the loader's words, located at its YAML node."""
        at: Location = tuple(error.absolute_path)
        node = self.nodes[at]
        keyword = str(error.validator)
        schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
        value: Any = error.instance
        argument: Any = error.validator_value  # the failed keyword's value in the schema
        rank = _RANK.get(keyword, 3)
        late = keyword in _LATE
        custom = schema.get("errorMessage")
        if keyword == "type":
            types = argument if isinstance(argument, list) else [argument]
            expected = " or ".join(_EXPECTED.get(str(t), str(t)) for t in types)
            hint = "quote it" if "string" in types and not isinstance(value, dict | list) else None
            return _Problem(at, node, f"expected {expected}, found {self._found(at)}", hint=hint, rank=rank)
        if keyword == "additionalProperties":
            allowed = list(schema.get("properties", {}))
            return self._unknown_key(at, [k for k in value if k not in allowed], allowed)
        if keyword in ("oneOf", "anyOf"):
            return self._branches(error, at, custom)
        if keyword == "pattern":
            custom = schema.get("patternErrorMessage", custom)
        if isinstance(custom, str):
            if keyword in _VALUE_KEYWORDS:
                message = f"{custom}, found {_shown(value)}" if custom.startswith("expected ") else (
                    f"{_shown(value)} {custom}")
                hint = None
                if keyword == "enum":
                    allowed = [str(v) for v in argument]
                    hint = _close(value, allowed) or "one of " + ", ".join(allowed)
                return _Problem(at, node, message, hint=hint, rank=rank, late=late)
            return _Problem(at, node, custom, rank=rank, late=late)
        if keyword == "required":
            missing = next(k for k in argument if k not in value)
            return _Problem(at, node, f"missing required key '{field_name((*at, missing))}'", with_field=False,
                            rank=rank)
        if keyword == "enum":
            allowed = [str(v) for v in argument]
            return _Problem(at, node, f"expected one of {', '.join(allowed)}; found {_shown(value)}",
                            hint=_close(value, allowed))
        if keyword == "const":
            if at and isinstance(at[-1], str):
                return _Problem(at, node, f"unsupported {at[-1]} {_shown(value)}",
                                hint=f"expected {argument}")
            return _Problem(at, node, f"expected {argument!r}, found {_shown(value)}")
        if keyword == "pattern":
            return _Problem(at, node, f"{_shown(value)} does not match {argument}")
        if keyword == "format" and argument == "date":
            return _Problem(at, node, f"expected a date like 2026-04-14, found {_shown(value)}")
        if keyword == "minimum":
            return _Problem(at, node, f"must be at least {argument:g}, found {_shown(value)}")
        if keyword == "minLength" and argument == 1:
            return _Problem(at, node, "must not be empty")
        if keyword == "minItems":
            count = int(argument)
            return _Problem(at, node, f"must list at least {count} item{'s' if count != 1 else ''}")
        if keyword == "maxItems":
            return _Problem(at, node, f"lists more than {argument} items")
        if keyword == "not":
            return _Problem(at, node, "is not allowed here")
        return _Problem(at, node, " ".join(error.message.split())[:200], late=late)

    def _unknown_key(self, at: Location, unknown: Sequence[str], allowed: Sequence[str]) -> _Problem:
        key = unknown[0]  # mappings keep the file's order
        hint = _close(key, allowed) or "allowed: " + ", ".join(allowed)
        return _Problem(at, self.keys[(*at, key)], f"unknown key '{field_name((*at, key))}'", hint=hint,
                        with_field=False, rank=_RANK["additionalProperties"])

    def _branches(self, error: ValidationError, at: Location, custom: object) -> _Problem:
        """A ``oneOf``/``anyOf`` failure: the problem inside the one alternative the value was meant as.

        The alternatives are told apart by their keys and types: an alternative is out when the
        value has the wrong type for it, lacks one of its required keys or has a key of another
        alternative. When exactly one is left, its first problem is the answer; otherwise the
        subschema's ``errorMessage`` (the value matches none, or fits several).
        """
        value: Any = error.instance
        branches: list[Any] = list(error.validator_value) if isinstance(error.validator_value, list) else []
        alternatives = [s for s in branches if isinstance(s, Mapping)]
        if isinstance(value, dict):
            known: list[str] = []
            for alternative in alternatives:
                known += [k for k in alternative.get("properties", {}) if k not in known]
            unknown = [k for k in value if k not in known]
            if known and unknown:
                return self._unknown_key(at, unknown, known)
        by_branch: dict[int | str, list[ValidationError]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        left = [
            index for index in range(len(branches))
            if not any(
                not sub.relative_path and sub.validator in ("type", "required", "additionalProperties")
                for sub in by_branch.get(index, [])
            )
        ]
        if len(left) == 1 and by_branch.get(left[0]):
            return min((self.explain(sub) for sub in by_branch[left[0]]), key=_Problem.order)
        node = self.nodes[at]
        if isinstance(custom, str):
            return _Problem(at, node, custom)
        return _Problem(at, node, f"{self._found(at)} matches none of the allowed forms")
