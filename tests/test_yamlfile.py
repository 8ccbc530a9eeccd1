"""Tests of checker.yamlfile: located YAML values and errors that name file, line and field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from checker.errors import BlockauditError
from checker.yamlfile import Node, load, read_text


class SampleError(BlockauditError):
    """The error class handed to the reader; every failure must be of this class."""


def write(tmp_path: Path, data: str | bytes, name: str = "doc.yaml") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def fails(path: Path, line: int | None = None) -> str:
    """Load ``path`` and return the message of the SampleError it must raise."""
    with pytest.raises(SampleError) as info:
        load(path, SampleError)
    if line is not None:
        assert info.value.line == line
        assert str(info.value).startswith(f"{path}:{line}: ")
    assert info.value.path == str(path)
    return str(info.value)


NESTED = """\
# a comment
top: 1
outer:
  inner:
    - first
    - {deep: 5}
    - name: x
      value: true
"""


def test_line_numbers_of_nested_fields(tmp_path: Path) -> None:
    root = load(write(tmp_path, NESTED), SampleError)
    assert root.line == 2
    fields = root.mapping(optional=("top", "outer"))
    assert fields["top"].line == 2
    outer = fields["outer"]
    assert (outer.line, outer.field) == (4, "outer")
    inner = outer.mapping(required=("inner",))["inner"]
    assert (inner.line, inner.field) == (5, "outer.inner")
    items = list(inner.items())
    assert [i.line for i in items] == [5, 6, 7]
    assert [i.field for i in items] == ["outer.inner[0]", "outer.inner[1]", "outer.inner[2]"]
    deep = items[1].mapping(optional=("deep",))["deep"]
    assert (deep.line, deep.field) == (6, "outer.inner[1].deep")
    value = items[2].mapping(required=("name", "value"))["value"]
    assert (value.line, value.field) == (8, "outer.inner[2].value")


def test_a_field_error_names_path_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, NESTED)
    root = load(path, SampleError)
    items = list(root.mapping(optional=("top", "outer"))["outer"].mapping(optional=("inner",))["inner"].items())
    value = items[2].mapping(required=("name", "value"))["value"]
    with pytest.raises(SampleError) as info:
        value.str()
    assert str(info.value).startswith(f"{path}:8: field 'outer.inner[2].value': expected a string")
    assert info.value.line == 8


@pytest.mark.parametrize(
    ("text", "allowed", "expected"),
    [
        ("titel: x\n", ("title", "id"), "did you mean 'title'?"),
        ("ID: x\n", ("title", "id"), "unknown key 'ID'"),
        ("zzzzzz: x\n", ("title", "id"), "allowed: title, id"),
    ],
)
def test_unknown_key(tmp_path: Path, text: str, allowed: tuple[str, ...], expected: str) -> None:
    path = write(tmp_path, text)
    root = load(path, SampleError)
    with pytest.raises(SampleError) as info:
        root.mapping(optional=allowed)
    assert expected in str(info.value)
    assert str(info.value).startswith(f"{path}:1: unknown key")


def test_unknown_nested_key_names_the_dotted_field_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a:\n  b: 1\n  subdomain: true\n")
    root = load(path, SampleError)
    a = root.mapping(required=("a",))["a"]
    with pytest.raises(SampleError) as info:
        a.mapping(optional=("b", "subdomains"))
    assert str(info.value) == f"{path}:3: unknown key 'a.subdomain' (did you mean 'subdomains'?)"


def test_duplicate_key_is_refused_at_its_second_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 2\na: 3\n")
    root = load(path, SampleError)
    with pytest.raises(SampleError) as info:
        root.mapping(optional=("a", "b"))
    assert info.value.line == 3
    assert "key 'a' appears twice" in str(info.value)


def test_missing_required_key(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\n")
    root = load(path, SampleError)
    with pytest.raises(SampleError) as info:
        root.mapping(required=("a", "b"))
    assert "missing required key 'b'" in str(info.value)
    assert info.value.line == 1


def test_non_string_key_is_refused(tmp_path: Path) -> None:
    root = load(write(tmp_path, "? [a]\n: 1\n"), SampleError)
    with pytest.raises(SampleError, match="keys must be plain strings"):
        root.mapping(optional=("a",))


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("a: &x [1]\nb: *x\n", 1, "aliases"),
        ("a: &x 1\nb: *x\n", 1, "aliases"),
        ("a: 1\n---\nb: 2\n", 3, "only one YAML document"),
        ("a: 1\n...\n---\nb: 2\n", 4, "only one YAML document"),
        ("", 1, "empty"),
        ("# only a comment\n", 1, "empty"),
        ("a: 1\nb: x\x00y\n", 2, "NUL"),
        ("a: [1, 2\nb: 3\n", 2, "malformed YAML"),
        ("a: 1\n  b: 2\n", 2, "malformed YAML"),
        ("a:\n\t- 1\n", 2, "malformed YAML"),
    ],
)
def test_document_errors(tmp_path: Path, text: str, line: int, expected: str) -> None:
    assert expected in fails(write(tmp_path, text), line)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    message = fails(write(tmp_path, b"a: 1\nb: 2\nc: \xff\xfe\n"), 3)
    assert "not valid UTF-8" in message
    assert "0xff" in message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    root = load(write(tmp_path, b"\xef\xbb\xbfa: bucher\nb: b\xc3\xbccher\n"), SampleError)
    fields = root.mapping(required=("a", "b"))
    assert fields["a"].str() == "bucher"
    assert fields["b"].str() == "bücher"
    assert fields["b"].line == 2


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SampleError) as info:
        load(path, SampleError)
    assert str(info.value) == f"{path}: no such file"
    assert info.value.line is None


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SampleError, match="is a directory"):
        read_text(tmp_path, SampleError)


def _value(tmp_path: Path, yaml_value: str) -> tuple[Path, Node]:
    path = write(tmp_path, f"first: 1\nv: {yaml_value}\n")
    return path, load(path, SampleError).mapping(required=("first", "v"))["v"]


@pytest.mark.parametrize(
    ("yaml_value", "method", "expected"),
    [
        ("12", "str", "expected a string, found number 12 (quote it)"),
        ("1.5", "str", "expected a string, found number 1.5"),
        ("true", "str", "expected a string, found boolean True"),
        ("2026-04-14", "str", "expected a string, found date"),
        ("''", "str", "must not be empty"),
        ('"a\\0b"', "str", "NUL"),
        ("[a, b]", "str", "expected a single value, found a list"),
        ("{a: b}", "str", "expected a single value, found a mapping"),
        ("'yes'", "bool", "expected true or false, found string 'yes'"),
        ("'true'", "bool", "expected true or false, found string 'true'"),
        ("1", "bool", "expected true or false, found number 1"),
        ("null", "bool", "expected true or false, found null"),
        ("'12'", "number", "expected a number, found string '12'"),
        ("true", "number", "expected a number, found boolean"),
        ("2026-02-30", "date", "cannot read '2026-02-30'"),
        ("'2026-02-30'", "date", "expected a date like 2026-04-14"),
        ("2025-13-01", "date", "2025-13-01"),
        ("14.04.2026", "date", "expected a date like 2026-04-14"),
        ("2026-02-30T00:00:00Z", "datetime", "cannot read '2026-02-30T00:00:00Z'"),
        ("tomorrow", "datetime", "expected a time like 2026-04-20T00:00:00Z"),
        ("!!int abc", "str", "cannot read 'abc'"),
        ("!!python/object:os.system x", "str", "could not determine a constructor"),
        ("!custom x", "str", "could not determine a constructor"),
        ("a", "list", "expected a list, found string 'a'"),
        ("a", "mapping", "expected a mapping, found string 'a'"),
    ],
)
def test_wrong_scalar_types(tmp_path: Path, yaml_value: str, method: str, expected: str) -> None:
    path, node = _value(tmp_path, yaml_value)
    calls = {"list": lambda: list(node.items()), "mapping": node.mapping}
    call = calls.get(method) or getattr(node, method)
    with pytest.raises(SampleError) as info:
        call()
    assert str(info.value).startswith(f"{path}:2: ")
    assert expected in str(info.value)
    assert "field 'v'" in str(info.value) or method == "mapping"


@pytest.mark.parametrize(
    ("yaml_value", "method", "expected"),
    [
        ("hello", "str", "hello"),
        ("'12'", "str", "12"),
        ("true", "bool", True),
        ("false", "bool", False),
        ("3", "number", 3.0),
        ("0.5", "number", 0.5),
        ("2026-04-14", "date", dt.date(2026, 4, 14)),
        ("'2026-04-14'", "date", dt.date(2026, 4, 14)),
        ("2024-02-29", "date", dt.date(2024, 2, 29)),
        ("2026-04-20T00:00:00Z", "datetime", dt.datetime(2026, 4, 20, tzinfo=dt.UTC)),
        ("'2026-04-20T02:00:00+02:00'", "datetime", dt.datetime(2026, 4, 20, tzinfo=dt.UTC)),
        ("2026-04-20", "datetime", dt.datetime(2026, 4, 20, tzinfo=dt.UTC)),
        ("null", "optional_str", None),
        ("~", "optional_str", None),
        ("x", "optional_str", "x"),
    ],
)
def test_scalar_values(tmp_path: Path, yaml_value: str, method: str, expected: object) -> None:
    _, node = _value(tmp_path, yaml_value)
    assert getattr(node, method)() == expected


def test_number_minimum(tmp_path: Path) -> None:
    _, node = _value(tmp_path, "0")
    with pytest.raises(SampleError, match=r"must be at least 0\.1"):
        node.number(minimum=0.1)


def test_choice_suggests_a_close_value(tmp_path: Path) -> None:
    _, node = _value(tmp_path, "permanent_injuction")
    with pytest.raises(SampleError) as info:
        node.choice(str, ["tro", "permanent_injunction"])
    assert "did you mean 'permanent_injunction'?" in str(info.value)
    _, node = _value(tmp_path, "tro")
    assert node.choice(str, ["tro", "permanent_injunction"]) == "tro"


def test_is_null(tmp_path: Path) -> None:
    root = load(write(tmp_path, "a: null\nb: ~\nc:\nd: x\n"), SampleError)
    fields = root.mapping(optional=("a", "b", "c", "d"))
    assert [fields[k].is_null for k in "abcd"] == [True, True, True, False]


# -- inputs that once gave a Python exception (a traceback in the CLI) or lost their line


def test_explicit_timestamp_tag_on_garbage_is_a_located_error(tmp_path: Path) -> None:
    path, node = _value(tmp_path, "!!timestamp abc")
    with pytest.raises(SampleError) as info:
        node.date()
    assert str(info.value).startswith(f"{path}:2: ")


def test_deep_nesting_is_a_clean_error(tmp_path: Path) -> None:
    assert "nested too deeply" in fails(write(tmp_path, "a: " + "[" * 2000 + "]" * 2000 + "\n"))


@pytest.mark.parametrize("char", ["\x07", "\x1b", "\x7f"])
def test_control_character_names_the_line(tmp_path: Path, char: str) -> None:
    message = fails(write(tmp_path, f"a: 1\nb: x{char}y\nc: 3\n"), 2)
    assert "not allowed" in message
    assert "\n" not in message


def test_a_lone_document_marker_is_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("---\n")
    with pytest.raises(BlockauditError, match="the file is empty"):
        load(path, BlockauditError)
