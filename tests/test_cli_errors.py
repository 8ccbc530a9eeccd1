"""Tests of the CLI's error path: exit status 2, one line on stderr naming file:line, no traceback.

Nothing here asks a resolver: every ``check`` fails on its input before probing starts, and a
guard makes any attempt to probe fail the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import checker.cli
from checker.bundled import orders_dir
from checker.cli import main

ORDER = """\
schema: blockaudit/order/1
id: test-order
title: "Test v. Example"
authority: "Test Court"
jurisdiction: DE
order_type: preliminary_injunction
issued: 2026-01-10
verification: verified
valid: {from: 2026-01-10, until: null}
deadline: {within: P5D, from: issued}
targets:
  - {domain: example-blocked.com, subdomains: true}
  - {domain: other-blocked.net}
"""

RESOLVERS = """\
schema: blockaudit/resolvers/1
resolvers:
  - {name: subject-1, address: 127.0.0.1:9}
  - {name: control-1, address: 127.0.0.1:9, role: control}
"""


@pytest.fixture(autouse=True)
def no_probing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the CLI gets as far as asking a resolver anything."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the CLI started probing; it should have failed on its input first")

    monkeypatch.setattr(checker.cli, "audit", refuse)
    monkeypatch.setenv("BLOCKAUDIT_RESOLV_CONF", "/nonexistent/resolv.conf")


def write(folder: Path, text: str, name: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def good_order(tmp_path: Path) -> Path:
    return write(tmp_path, ORDER, "order.yaml")


@pytest.fixture
def good_resolvers(tmp_path: Path) -> Path:
    return write(tmp_path, RESOLVERS, "resolvers.yaml")


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single line the CLI wrote on stderr; stdout must be empty."""
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert captured.err.endswith("\n")
    return lines[0]


ORDER_ERRORS = [
    # (id, old, new, line, fragment)
    ("malformed-yaml", 'authority: "Test Court"\n', 'authority: "Test Court"\n  stray: [\n', 5, "malformed YAML"),
    ("wrong-type", 'title: "Test v. Example"', "title: 42", 3, "field 'title'"),
    ("unknown-key", "authority:", "autority:", 4, "did you mean 'authority'?"),
    ("invalid-domain", "other-blocked.net", "other_blocked.net", 13, "field 'targets[1].domain'"),
    ("impossible-date", "issued: 2026-01-10", "issued: 2026-02-30", 7, "field 'issued'"),
    ("bad-deadline", "within: P5D", "within: P1M", 10, "field 'deadline.within'"),
]


@pytest.mark.parametrize("command", ["validate", "check"])
@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in ORDER_ERRORS],
)
def test_bad_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_resolvers: Path,
    command: str, old: str, new: str, line: int, fragment: str,
) -> None:
    assert old in ORDER
    path = write(tmp_path, ORDER.replace(old, new, 1), "bad.yaml")
    argv = [command, str(path)]
    if command == "check":
        argv += ["--resolvers", str(good_resolvers)]
    assert main(argv) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{path}:{line}: ")
    assert fragment in message


def test_duplicate_order_id_in_two_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = write(tmp_path, ORDER, "a.yaml")
    second = write(tmp_path, ORDER.replace("example-blocked.com", "third-blocked.com"), "b.yaml")
    assert main(["validate", str(first), str(second)]) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{second}:2: ")
    assert "'test-order'" in message
    assert str(first) in message


def test_duplicate_order_id_in_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "orders"
    folder.mkdir()
    write(folder, ORDER, "a.yaml")
    second = write(folder, ORDER.replace("example-blocked.com", "third-blocked.com"), "b.yaml")
    assert main(["validate", str(folder)]) == 2
    assert one_error_line(capsys).startswith(f"{second}:2: ")


@pytest.mark.parametrize("command", ["validate", "check"])
def test_missing_order_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_resolvers: Path, command: str,
) -> None:
    missing = tmp_path / "missing.yaml"
    argv = [command, str(missing)]
    if command == "check":
        argv += ["--resolvers", str(good_resolvers)]
    assert main(argv) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{missing}: ")
    assert "no such file" in message


def test_empty_order_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    assert one_error_line(capsys).startswith(f"{tmp_path}: ")


def test_bad_resolver_address_fails_before_probing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path,
) -> None:
    bad = write(tmp_path, RESOLVERS.replace("address: 127.0.0.1:9}", "address: dns.isp.example}", 1), "bad.yaml")
    assert main(["check", str(good_order), "--resolvers", str(bad)]) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{bad}:3: ")
    assert "field 'resolvers[0].address'" in message
    assert "dns.isp.example" in message


def test_bad_resolver_file_in_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path,
) -> None:
    bad = write(tmp_path, RESOLVERS.replace(", role: control", ""), "bad.yaml")
    assert main(["validate", str(good_order), "--resolvers", str(bad)]) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{bad}:3: ")
    assert "no resolver has role: control" in message


def test_missing_resolver_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path) -> None:
    missing = tmp_path / "missing-resolvers.yaml"
    assert main(["check", str(good_order), "--resolvers", str(missing)]) == 2
    assert one_error_line(capsys).startswith(f"{missing}: ")


def test_missing_resolv_conf_without_resolvers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path,
) -> None:
    conf = tmp_path / "resolv.conf"
    assert main(["check", str(good_order), "--resolv-conf", str(conf)]) == 2
    assert one_error_line(capsys).startswith(f"{conf}: ")


def test_unknown_report_format(
    capsys: pytest.CaptureFixture[str], good_order: Path, good_resolvers: Path,
) -> None:
    assert main(["check", str(good_order), "--resolvers", str(good_resolvers), "--report", "nope:x"]) == 2
    captured = capsys.readouterr()
    assert "nope" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("spec", ["json", "json:", ":x"])
def test_malformed_report_spec(
    capsys: pytest.CaptureFixture[str], good_order: Path, good_resolvers: Path, spec: str,
) -> None:
    assert main(["check", str(good_order), "--resolvers", str(good_resolvers), "--report", spec]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_report_into_a_missing_folder_fails_before_probing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path, good_resolvers: Path,
) -> None:
    target = tmp_path / "nonexistent-dir" / "x.json"
    argv = ["check", str(good_order), "--resolvers", str(good_resolvers), "--report", f"json:{target}"]
    assert main(argv) == 2
    message = one_error_line(capsys)
    assert str(target) in message
    assert not target.parent.exists()


def test_two_reports_on_stdout(
    capsys: pytest.CaptureFixture[str], good_order: Path, good_resolvers: Path,
) -> None:
    argv = ["check", str(good_order), "--resolvers", str(good_resolvers), "--report", "json:-", "--report", "json:-"]
    assert main(argv) == 2
    assert "stdout" in one_error_line(capsys)


@pytest.mark.parametrize("bad_input", ["order", "resolvers"])
def test_existing_report_is_left_untouched_on_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path, good_resolvers: Path,
    bad_input: str,
) -> None:
    report = tmp_path / "report.json"
    report.write_text("OLD", encoding="utf-8")
    order, resolvers = good_order, good_resolvers
    if bad_input == "order":
        order = write(tmp_path, ORDER.replace("title: ", "titel: "), "bad-order.yaml")
    else:
        resolvers = write(tmp_path, RESOLVERS.replace("127.0.0.1:9}", "127.0.0.1:70000}", 1), "bad-res.yaml")
    assert main(["check", str(order), "--resolvers", str(resolvers), "--report", f"json:{report}"]) == 2
    one_error_line(capsys)
    assert report.read_text(encoding="utf-8") == "OLD"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_validate_the_bundled_orders(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(orders_dir())]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert re.match(r"^ok: \d+ orders, \d+ ordered names", lines[0]), lines[0]


def test_validate_with_a_resolver_file(
    capsys: pytest.CaptureFixture[str], good_order: Path, good_resolvers: Path,
) -> None:
    assert main(["validate", str(good_order), "--resolvers", str(good_resolvers)]) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("ok: 1 orders, 2 ordered names")
    assert "1 subject and 1 control resolvers" in line


def test_check_help_mentions_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status" in out
    for status in ("0", "1", "2", "3", "130"):
        assert re.search(rf"^\s*{status}\s+\S", out, re.MULTILINE), status


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        pytest.param("within: P5D", "within: P1000000000D", 10, "longer than any deadline", id="huge-deadline"),
        pytest.param("issued: 2026-01-10", "issued: !!timestamp abc", 7, "field 'issued'", id="tagged-garbage"),
        pytest.param('title: "Test v. Example"', 'title: "Test\x07"', 3, "not allowed", id="control-character"),
    ],
)
def test_odd_input_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, line: int, fragment: str,
) -> None:
    path = write(tmp_path, ORDER.replace(old, new, 1), "odd.yaml")
    assert main(["validate", str(path)]) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{path}:{line}: ")
    assert fragment in message


def test_deep_nesting_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ORDER + "notes: " + "[" * 2000 + "]" * 2000 + "\n", "deep.yaml")
    assert main(["validate", str(path)]) == 2
    message = one_error_line(capsys)
    assert message.startswith(f"{path}")
    assert "nested too deeply" in message


BAD_FINGERPRINTS = """\
schema: blockaudit/fingerprints/1
fingerprints:
  - id: isp-page
    description: ISP page
    match: {body: ['blocked (']}
    source: {url: "https://isp.example/page"}
"""


@pytest.mark.parametrize("command", ["check", "validate"])
def test_bad_fingerprint_file_is_one_line_before_probing(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path, good_resolvers: Path,
) -> None:
    bad = write(tmp_path, BAD_FINGERPRINTS, "fp.yaml")
    code = main([command, str(good_order), "--resolvers", str(good_resolvers), "--fingerprints", str(bad)])
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith(f"{bad}:5: "), line


def test_validate_a_good_fingerprint_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path,
) -> None:
    good = write(tmp_path, BAD_FINGERPRINTS.replace("blocked (", "blocked by order"), "fp.yaml")
    assert main(["validate", str(good_order), "--fingerprints", str(good)]) == 0
    assert "block-page fingerprints" in capsys.readouterr().err


def test_http_ca_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str], good_order: Path,
                            good_resolvers: Path) -> None:
    code = main(["check", str(good_order), "--resolvers", str(good_resolvers), "--http", "--http-ca",
                 str(tmp_path / "missing.pem")])
    assert code == 2
    assert "missing.pem" in one_error_line(capsys)
