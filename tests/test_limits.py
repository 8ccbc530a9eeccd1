"""Limits on hostile input: each is one located error (``path:line: what``) in bounded time and memory.

YAML alias bombs, 100 MB files, labels over 63 and names over 253 octets (after IDNA), NUL bytes,
byte order marks, CRLF and CR line ends, invalid UTF-8, and resolver or fingerprint lists far past
their cap. Memory is measured in a child process (its peak RSS from ``os.wait4``), where nothing
else this session loaded counts; the 100 MB files are written in a few large writes and removed.
Last, the real command (``python -m checker validate``) on hostile files: exit status 2, one line
on stderr, no traceback, no crash.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import idna
import pytest

import checker.resolvers
from checker.errors import BlockauditError, FingerprintError, OrderError, ResolverConfigError
from checker.fingerprints import MAX_FINGERPRINTS, load_fingerprints
from checker.models import TargetKind
from checker.orders.importers import load_foreign
from checker.orders.importers.base import Skipped, SkipReason
from checker.orders.loader import load_order
from checker.resolvers import MAX_RESOLVERS, load_resolvers
from checker.yamlfile import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20

ORDER = """\
schema: blockaudit/order/1
id: de-limits
title: "Limits v. Example"
authority: "LG Test"
jurisdiction: DE
order_type: preliminary_injunction
issued: 2026-04-14
verification: unverified
targets:
  - {domain: a.example}
"""
RESOLVERS = """\
schema: blockaudit/resolvers/1
resolvers:
  - {name: subject-1, address: 127.0.0.1:5302}
  - {name: control-1, address: 127.0.0.1:5301, role: control}
"""
FINGERPRINTS = """\
schema: blockaudit/fingerprints/1
fingerprints:
  - {id: fp-1, description: d, match: {addresses: [192.0.2.1]}, source: {url: "https://example.net/fp"}}
"""

Loader = Callable[[Path], object]
LOADERS: dict[str, tuple[Loader, type[BlockauditError], str]] = {
    "order": (load_order, OrderError, ORDER),
    "resolvers": (load_resolvers, ResolverConfigError, RESOLVERS),
    "fingerprints": (lambda path: load_fingerprints([path], bundled=False), FingerprintError, FINGERPRINTS),
}
"""Each YAML loader, its error class, and a valid file it loads."""


def refused(kind: str, path: Path, line: int) -> str:
    """Load ``path`` with the loader of ``kind``; return the message of its error, located at ``line``."""
    load, error, _ = LOADERS[kind]
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert len(message.splitlines()) == 1
    return message


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


_PEAK = Path("/proc/self/status")
_REPORT_PEAK = ("\nimport pathlib\n"
                "print('peak', pathlib.Path('/proc/self/status').read_text().split('VmHWM:')[1].split()[0])\n")


def child(code: str, *args: str) -> tuple[int, str, float, float]:
    """Run ``code`` in a fresh Python; its exit status, stdout, wall seconds and peak RSS in MiB.

    The peak is the child's own ``VmHWM``: ``ru_maxrss`` from ``os.wait4`` would include the high-water
    mark of this (large) pytest process, whose memory the child forked before it exec'd.
    """
    started = time.monotonic()
    report = _REPORT_PEAK if _PEAK.exists() else ""
    process = subprocess.Popen([sys.executable, "-c", code + report, *args], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    out, _ = process.communicate(timeout=300)
    seconds = time.monotonic() - started
    if report:
        out, _, peak = out.rpartition("peak ")
        return process.returncode, out, seconds, int(peak) / 1024
    return process.returncode, out, seconds, 0.0  # no /proc: memory not measured


# --------------------------------------------------------------------------- alias bombs


def billion_laughs(levels: int = 9) -> str:
    """The classic bomb: nine lists of nine aliases of the list before, 10^9 strings once expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_billion_laughs_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    text = LOADERS[kind][2] + billion_laughs()
    path = write(tmp_path / "bomb.yaml", text)
    started = time.monotonic()
    message = refused(kind, path, text.count("\n", 0, text.index("&a0")) + 1)
    assert time.monotonic() - started < 1
    assert "aliases" in message


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_300k_aliases_are_refused_without_being_expanded(tmp_path: Path, kind: str) -> None:
    text = "big: &big [" + ", ".join(["x" * 100] * 1000) + "]\nrefs: [" + ", ".join(["*big"] * 300_000) + "]\n"
    path = write(tmp_path / "fanout.yaml", LOADERS[kind][2] + text)
    started = time.monotonic()
    assert "aliases" in refused(kind, path, LOADERS[kind][2].count("\n") + 1)
    assert time.monotonic() - started < 5  # about 0.5 s: 300,000 alias events, 30 GB if expanded


def test_merge_keys_are_aliases_too(tmp_path: Path) -> None:
    text = ORDER + "defaults: &d {subdomains: true}\nextra: {<<: *d, domain: b.example}\n"
    assert "aliases" in refused("order", write(tmp_path / "merge.yaml", text), ORDER.count("\n") + 1)


# --------------------------------------------------------------------------- 100 MB files


def _big_yaml(path: Path, head: str, item: str) -> Path:
    """A YAML file of just over 100 MiB: ``head``, then ``item`` again and again."""
    block = item.encode() * (MiB // len(item))
    with path.open("wb") as out:
        out.write(head.encode())
        for _ in range(101):
            out.write(block)
    return path


@pytest.fixture
def big_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder whose 100 MB files are removed after the test (tmp_path keeps the last runs' files)."""
    yield tmp_path
    for path in tmp_path.iterdir():
        if path.is_file() and path.stat().st_size > MiB:
            path.unlink()


@pytest.mark.parametrize(
    ("kind", "item"),
    [("order", "  - {domain: a.example}\n"), ("resolvers", "  - {name: r, address: 192.0.2.1}\n"),
     ("fingerprints", "  - {id: x, description: d, match: {}, source: {}}\n")],
)
def test_100_mb_yaml_file_is_refused_by_its_size(big_dir: Path, kind: str, item: str) -> None:
    path = _big_yaml(big_dir / f"{kind}.yaml", LOADERS[kind][2], item)
    assert path.stat().st_size > 100 * MiB > MAX_FILE_BYTES
    started = time.monotonic()
    message = refused(kind, path, 1)
    assert time.monotonic() - started < 1
    assert f"larger than the limit of {MAX_FILE_BYTES}" in message


def test_100_mb_order_file_is_never_read(big_dir: Path) -> None:
    path = _big_yaml(big_dir / "order.yaml", ORDER, "  - {domain: a.example}\n")
    code = ("import sys; from pathlib import Path; from checker.errors import OrderError\n"
            "from checker.orders.loader import load_order\n"
            "try:\n    load_order(Path(sys.argv[1]))\nexcept OrderError as exc:\n    print(exc)\n")
    status, out, _, rss = child(code, str(path))
    assert status == 0
    assert out.startswith(f"{path}:1: file is ")
    assert rss < 80, f"peak RSS {rss:.0f} MiB: the file was read"


def _big_list(path: Path, line: str) -> Path:
    """Just over 100 MiB: 1,000 names (LF, then again with CRLF) between comment lines of almost 1 MiB
    and lines longer than the importers' 1 MiB limit, after a byte order mark."""
    names = "".join(line.format(i) for i in range(1000)).encode()
    comment = b"# " + b"x" * (MiB - 100) + b"\n"
    too_long = b"y" * (MiB + 10) + b"\n"
    with path.open("wb") as out:
        out.write(b"\xef\xbb\xbf")
        while out.tell() < 100 * MiB:
            out.write(names + comment + names.replace(b"\n", b"\r\n") + too_long)
    return path


_LOAD_LIST = ("import sys; from pathlib import Path; from checker.orders.loader import load_any\n"
              "order = load_any(Path(sys.argv[1]))\n"
              "print(len(order.targets), min(t.line for t in order.targets), max(t.line for t in order.targets))\n")


@pytest.mark.parametrize(("name", "line"), [("big.txt", "n{}.example\n"), ("big.hosts", "0.0.0.0 n{}.example\n")])
def test_100_mb_list_streams_in_bounded_memory(big_dir: Path, name: str, line: str) -> None:
    path = _big_list(big_dir / name, line)
    status, out, seconds, rss = child(_LOAD_LIST, str(path))
    assert status == 0
    assert out.split() == ["1000", "1", "1000"]  # duplicates keep the line they were first read on
    assert rss < 80, f"peak RSS {rss:.0f} MiB for a {path.stat().st_size / MiB:.0f} MiB list"
    assert seconds < 30  # about 1 s of CPU


def test_100_mb_single_line_is_skipped_in_pieces(big_dir: Path) -> None:
    path = big_dir / "one-line.txt"
    with path.open("wb") as file:
        for _ in range(100):
            file.write(b"a" * MiB)
    code = ("import sys; from pathlib import Path; from checker.errors import OrderError\n"
            "from checker.orders.loader import load_any\n"
            "try:\n    load_any(Path(sys.argv[1]), 'plain')\nexcept OrderError as exc:\n    print(exc)\n")
    status, out, _, rss = child(code, str(path))
    assert status == 0
    assert out.startswith(f"{path}:1: found no target in 1 lines (1 skipped; first: line 1: line too long")
    assert rss < 80


# --------------------------------------------------------------------------- labels and names

LONG_U_LABEL = "aĝđľēøźļöçăâžĩũœĭğģáķåŵúïāĺěŧūĥþ"
"""63 octets of UTF-8, but 64 or more as an A-label."""
U_LABELS = ("aĕóħŭæéŏìğśçņüäë\u0131ĭèÿšœįũïýőźŵ", "ağďāøźêřżōńęķċšéïňĭõũółśåţēŗě", "aşńśĸèëćļŵçđřķċĥěâĺĝõîżūüţðāħ",
            "aħńêõķĩœĉñ\u0131űůĭĝģþóźöŝşŕáłøąċà")
LONG_U_NAME = ".".join((*U_LABELS, U_LABELS[0])) + ".de"
"""About 150 characters, but over 253 octets once each label is an A-label."""
NAME_253 = ".".join(["a" * 63] * 3) + "." + "b" * 61

NAMES_AT_THE_LIMIT: list[tuple[str, bool]] = [
    ("a" * 63 + ".example", True),
    ("a" * 64 + ".example", False),
    (NAME_253, True),
    (NAME_253 + ".", True),  # the trailing dot is not part of the name
    (NAME_253 + "b", False),
    (LONG_U_LABEL[:-2] + ".example", True),
    (LONG_U_LABEL + ".example", False),
    (LONG_U_NAME, False),
]


def test_the_long_names_are_long_only_after_idna() -> None:
    assert len(LONG_U_LABEL.encode()) == 63 < len("xn--" + LONG_U_LABEL.encode("punycode").decode())
    a_labels = [idna.encode(label, uts46=True).decode() for label in LONG_U_NAME.split(".")]
    assert len(LONG_U_NAME) < 253 < len(".".join(a_labels))


@pytest.mark.parametrize(("name", "accepted"), NAMES_AT_THE_LIMIT)
def test_order_names_at_the_dns_limits(tmp_path: Path, name: str, accepted: bool) -> None:
    path = write(tmp_path / "order.yaml", ORDER.replace("a.example", f'"{name}"'))
    if accepted:
        assert len(load_order(path).targets[0].value) <= 253
        return
    message = refused("order", path, ORDER.count("\n"))
    assert re.search(r"more than (63|253)|too long", message), message


@pytest.mark.parametrize(("name", "accepted"), NAMES_AT_THE_LIMIT)
def test_resolver_and_fingerprint_names_at_the_dns_limits(tmp_path: Path, name: str, accepted: bool) -> None:
    resolvers = write(tmp_path / "resolvers.yaml", RESOLVERS.replace(
        "127.0.0.1:5302}", f'127.0.0.1:5302, block: {{cnames: ["{name}"]}}}}'))
    fingerprints = write(tmp_path / "fingerprints.yaml", FINGERPRINTS.replace(
        "addresses: [192.0.2.1]", f'cnames: ["{name}"]'))
    if accepted:
        load_resolvers(resolvers)
        load_fingerprints([fingerprints], bundled=False)
        return
    refused("resolvers", resolvers, 3)
    refused("fingerprints", fingerprints, 3)


@pytest.mark.parametrize(("fmt", "template"), [("plain", "{}\n"), ("hosts", "0.0.0.0 {}\n"), ("adblock", "||{}^\n")])
def test_importers_skip_names_past_the_dns_limits(tmp_path: Path, fmt: str, template: str) -> None:
    names = [name for name, _ in NAMES_AT_THE_LIMIT]
    path = write(tmp_path / "list.txt", "".join(template.format(name) for name in names))
    skipped: list[Skipped] = []
    order = load_foreign(path, fmt, on_skip=skipped.append)
    kept = {t.line for t in order.targets}
    duplicate = 4  # NAME_253 with its trailing dot is NAME_253 again, kept on line 3
    assert kept == {i + 1 for i, (_, accepted) in enumerate(NAMES_AT_THE_LIMIT) if accepted} - {duplicate}
    assert {s.line for s in skipped} == {i + 1 for i, (_, accepted) in enumerate(NAMES_AT_THE_LIMIT) if not accepted}
    assert all(s.reason is SkipReason.INVALID_NAME for s in skipped)


# --------------------------------------------------------------------------- the end of the calendar


@pytest.mark.parametrize(
    ("extra", "line", "expected"),
    [
        ("served: 0001-01-01T00:00:00+05:00", 11, "before the year 1 or after 9999 in UTC"),
        ("notified: 9999-12-31T23:00:00-05:00", 11, "before the year 1 or after 9999 in UTC"),
        ("deadline: {due: 9999-12-31T23:59:59-00:01}", 11, "before the year 1 or after 9999 in UTC"),
        ("deadline: {within: P999999999D, from: issued}", 11, "P999999999D from issued (2026-04-14) ends after"),
        ("deadline: {within: P5D, from: served}\nserved: 9999-12-30T00:00:00Z", 11, "from served (9999-12-30) ends"),
        ("deadline: {within: P2D, from: issued}\namendments:\n"
         "  - {id: a1, date: 9999-12-31, kind: add, targets: [{domain: b.example}]}", 13, "field 'amendments[0].date'"),
    ],
)
def test_times_past_the_end_of_the_calendar(tmp_path: Path, extra: str, line: int, expected: str) -> None:
    """Python's dates end on 9999-12-31: a time that leaves them in UTC, or a deadline that would end
    after them, is refused where it is written (it used to raise OverflowError in ``check``)."""
    assert expected in refused("order", write(tmp_path / "order.yaml", ORDER + extra + "\n"), line)


def test_forever_is_still_9999_12_31(tmp_path: Path) -> None:
    order = load_order(write(tmp_path / "order.yaml", ORDER + "valid: {from: 2026-04-14, until: 9999-12-31}\n"
                                                      "deadline: {within: P5D, from: served}\n"))
    assert order.valid_until is not None and order.valid_until.year == 9999


# --------------------------------------------------------------------------- NUL, BOM, line ends, UTF-8


@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_bom_and_line_ends_are_accepted_and_lines_stay_right(tmp_path: Path, kind: str, newline: str) -> None:
    text = LOADERS[kind][2]
    path = write(tmp_path / "ok.yaml", b"\xef\xbb\xbf" + text.replace("\n", newline).encode())
    LOADERS[kind][0](path)
    broken = text + "unknown_key: 1\n"
    path = write(tmp_path / "bad.yaml", b"\xef\xbb\xbf" + broken.replace("\n", newline).encode())
    assert "unknown key 'unknown_key'" in refused(kind, path, broken.count("\n"))


@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize(
    ("bad", "expected"),
    [(b"\x00", "NUL"), (b"\xff", "not valid UTF-8"), (b"\xed\xa0\x80", "not valid UTF-8"), (b"\xc3", "not valid UTF-8"),
     (b"\xe2\x80\xa8", "U+2028"), (b"\xc2\x85", "U+0085"), (b"\x1b", "U+001B"), (b"\x7f", "U+007F")],
)
def test_bad_bytes_are_refused_on_their_line(
    tmp_path: Path, kind: str, newline: str, bad: bytes, expected: str,
) -> None:
    text = LOADERS[kind][2]
    lines = text.encode().split(b"\n")
    lines[1] += b" # " + bad  # a comment on line 2: only the byte itself is wrong
    lines[2] += bad
    data = b"\xef\xbb\xbf" + newline.encode().join(lines)
    message = refused(kind, write(tmp_path / "bad.yaml", data), 2)
    assert expected in message, message


def test_importers_skip_nul_and_undecodable_lines_and_keep_line_numbers(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfa.example\r\nb.exa\x00mple\r\nc.ex\xffample\r\n\r\nd.example\rE.example\n"
    skipped: list[Skipped] = []
    order = load_foreign(write(tmp_path / "list.txt", data), "plain", on_skip=skipped.append)
    assert [(t.value, t.line) for t in order.targets if t.kind is TargetKind.DOMAIN] == [
        ("a.example", 1), ("d.example", 5), ("e.example", 6)]
    assert [(s.line, s.reason) for s in skipped] == [(2, SkipReason.NOT_DECODABLE), (3, SkipReason.NOT_DECODABLE)]


def test_a_list_of_nothing_but_bad_bytes_is_refused_at_the_first(tmp_path: Path) -> None:
    path = write(tmp_path / "list.txt", b"# header\r\n\x00\x00\r\n\xff\xfe\r\n")
    with pytest.raises(OrderError) as info:
        load_foreign(path, "plain")
    assert str(info.value).startswith(f"{path}:2: found no target in 3 lines (2 skipped; first: line 2: not decodable")


# --------------------------------------------------------------------------- enormous lists


def _resolver_list(path: Path, count: int) -> Path:
    items = "".join(f"  - {{name: r{i}, address: 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}}}\n" for i in range(count))
    return write(path, RESOLVERS + items)


def test_100k_resolvers_are_refused_at_the_first_past_the_cap(tmp_path: Path) -> None:
    path = _resolver_list(tmp_path / "resolvers.yaml", 100_000)
    started = time.monotonic()
    message = refused("resolvers", path, 3 + MAX_RESOLVERS)
    assert time.monotonic() - started < 5  # about 0.3 s: counted while parsing, never composed
    assert f"field 'resolvers[{MAX_RESOLVERS}]': more than {MAX_RESOLVERS} resolvers" in message


def test_100k_resolvers_in_bounded_memory(tmp_path: Path) -> None:
    path = _resolver_list(tmp_path / "resolvers.yaml", 100_000)
    code = ("import sys; from pathlib import Path; from checker.errors import ResolverConfigError\n"
            "from checker.resolvers import load_resolvers\n"
            "try:\n    load_resolvers(Path(sys.argv[1]))\nexcept ResolverConfigError as exc:\n    print(exc)\n")
    status, out, _, rss = child(code, str(path))
    assert status == 0
    assert "more than 10000 resolvers" in out
    assert rss < 100, f"peak RSS {rss:.0f} MiB"  # composing them all took 360 MiB


def test_the_resolver_cap_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checker.resolvers, "MAX_RESOLVERS", 2500)
    assert len(load_resolvers(_resolver_list(tmp_path / "at.yaml", 2498)).resolvers) == 2500
    message = refused("resolvers", _resolver_list(tmp_path / "past.yaml", 2499), 3 + 2500)
    assert "field 'resolvers[2500]': more than 2500 resolvers" in message


def test_a_flow_list_of_100k_resolvers_is_refused_too(tmp_path: Path) -> None:
    items = ", ".join(f"{{name: r{i}, address: 192.0.2.1}}" for i in range(100_000))
    path = write(tmp_path / "flow.yaml", f"schema: blockaudit/resolvers/1\nresolvers: [{items}]\n")
    assert f"more than {MAX_RESOLVERS} resolvers" in refused("resolvers", path, 2)


def test_100k_fingerprints_are_refused_at_the_first_past_the_cap(tmp_path: Path) -> None:
    item = "  - {{id: fp-{0}, description: d, match: {{addresses: [192.0.2.1]}}, source: {{url: 'https://x.example'}}}}\n"
    path = write(tmp_path / "fingerprints.yaml", FINGERPRINTS + "".join(item.format(i) for i in range(100_000)))
    started = time.monotonic()
    message = refused("fingerprints", path, 3 + MAX_FINGERPRINTS)
    assert time.monotonic() - started < 5
    assert f"more than {MAX_FINGERPRINTS} fingerprints" in message


# --------------------------------------------------------------------------- the real command

_HOSTILE: dict[str, tuple[str, bytes, int]] = {
    "bomb.yaml": ("order", (ORDER + billion_laughs()).encode(), ORDER.count("\n") + 1),
    "deep.yaml": ("order", ORDER.encode() + b"deep: " + b"[" * 1_000_000 + b"]" * 1_000_000 + b"\n", 11),
    "compact.yaml": ("order", b"- " * 100_000 + b"x\n", 1),
    "nul.yaml": ("order", ORDER.replace("LG Test", "LG\x00Test").encode(), 4),
    "latin1.yaml": ("order", ORDER.replace("LG Test", "LG T\xe9st").encode("latin-1"), 4),
    "escape.yaml": ("order", (ORDER + '"\\e[2J\\e]0;pwned\\a\\u2028": 1\n').encode(), 11),
    "garbage.txt": ("order", b"\x00\x01\x02\n\xff\xfe\n" * 1000, 1),
    "huge-qps.yaml": ("resolvers", RESOLVERS.replace("5302}", "5302, qps: " + "9" * 400 + "}").encode(), 3),
    "deep-fp.yaml": ("fingerprints", FINGERPRINTS.encode() + b"x:\n" + b"- " * 100_000 + b"1\n", 5),
}
"""File name: (what it is, its bytes, the line its error names)."""


def test_validate_on_hostile_files_exits_2_with_one_located_line(tmp_path: Path) -> None:
    runs = []
    for name, (kind, data, _) in _HOSTILE.items():
        path = write(tmp_path / name, data)
        args = [str(path)] if kind == "order" else [f"--{kind}", str(path)]
        process = subprocess.Popen([sys.executable, "-m", "checker", "validate", *args], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        runs.append((name, path, process))
    for name, path, process in runs:
        stdout, stderr = process.communicate(timeout=120)
        text = stderr.decode("utf-8", errors="replace")
        assert process.returncode == 2, f"{name}: exit {process.returncode}: {text[-500:]}"
        assert "Traceback" not in text, f"{name}: {text}"
        assert stdout == b""
        assert text.endswith("\n")
        assert len(text.splitlines()) == 1, f"{name}: {text!r}"
        assert text.startswith(f"{path}:{_HOSTILE[name][2]}: "), f"{name}: {text!r}"
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", text), f"{name}: {text!r}"
