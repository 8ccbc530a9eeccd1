"""Reports, exports and imported orders are written whole or not at all.

Every file the command line writes goes through ``write_atomic``: a temp file in the same folder,
flushed and fsynced, renamed over the target, then the folder fsynced. A failure anywhere (a
template or serialiser raising, a full disk, a failed rename, Ctrl-C) leaves the old file as it
was and no temp file behind; a render error leaves every report of the run untouched.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from checker import cli
from checker.cli import ExitStatus, main, write_atomic
from checker.errors import UsageError
from checker.report import Format
from checker.report import render as real_render
from checker.report.stream import ReportOutput
from tests.fakedns import fake_dns
from tests.test_audit import authoritative, blocking
from tests.test_cli import FAST, ORDER, resolver_file

GOLDEN = Path(__file__).resolve().parent / "golden" / "input.json"
OLD = b"OLD REPORT\n"


def leftovers(folder: Path) -> list[str]:
    """Temp files ``write_atomic`` (or import) would leave: ``.NAME.*.tmp``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def disk_full(after: int = 0) -> Callable[[int], None]:
    """An ``os.fsync`` that fails with ENOSPC from its ``after``-th call on (the data did not fit)."""
    calls = [0]
    real = os.fsync

    def fsync(fd: int) -> None:
        calls[0] += 1
        if calls[0] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    return fsync


# --------------------------------------------------------------------------- write_atomic itself


def half_then(exc: BaseException) -> Callable[[BinaryIO], None]:
    def write(handle: BinaryIO) -> None:
        handle.write(b"NEW HALF")
        raise exc

    return write


@pytest.mark.parametrize("exc", [RuntimeError("serialiser bug"), OSError(errno.ENOSPC, "No space left on device"),
                                 KeyboardInterrupt()], ids=["bug", "disk-full", "ctrl-c"])
def test_a_failure_while_writing_keeps_the_old_file(tmp_path: Path, exc: BaseException) -> None:
    target = tmp_path / "report.html"
    target.write_bytes(OLD)
    with pytest.raises(type(exc)):
        write_atomic(target, half_then(exc))
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_a_failure_on_a_new_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "new.json", half_then(RuntimeError("boom")))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("step", ["fsync", "chmod", "replace"])
def test_a_full_disk_or_failed_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         step: str) -> None:
    target = tmp_path / "junit.xml"
    target.write_bytes(OLD)

    def fail(*args: object) -> None:
        raise OSError(errno.ENOSPC if step == "fsync" else errno.EIO, step)

    monkeypatch.setattr(os, {"fsync": "fsync", "chmod": "fchmod", "replace": "replace"}[step], fail)
    with pytest.raises(OSError, match=step):
        write_atomic(target, b"NEW" * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_data_is_synced_before_the_rename_and_the_folder_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(src: str, dst: object) -> None:
        events.append("rename")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomic(tmp_path / "out.csv", b"a,b\n")
    assert events == ["fsync-file", "rename", "fsync-dir"]
    assert (tmp_path / "out.csv").read_bytes() == b"a,b\n"


# --------------------------------------------------------------------------- every command that writes


def test_every_writer_stages_its_file_beside_the_old_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """render (every format), check (every format; the streamed JSON is written straight into its
    staged file), report, export and import: each file goes through ``cli._Staged`` (synced, then
    renamed into place), by ``write_atomic`` or directly."""
    written: list[Path] = []
    real = cli._Staged.__init__

    def spy(self: cli._Staged, path: Path) -> None:
        written.append(Path(path))
        real(self, path)

    monkeypatch.setattr(cli._Staged, "__init__", spy)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    formats = [f.value for f in Format if f is not Format.PDF]

    def specs(folder: Path) -> list[str]:
        folder.mkdir()
        return [a for fmt in formats for a in ("--report", f"{fmt}:{folder / ('out.' + fmt)}")]

    assert main(["render", str(GOLDEN), *specs(tmp_path / "render")]) == ExitStatus.COMPLIANT
    order = tmp_path / "order.yaml"
    order.write_text(ORDER)
    db = tmp_path / "history.sqlite"
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        assert main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), "-q",
                     "--db", str(db), *FAST, *specs(tmp_path / "check")]) == ExitStatus.COMPLIANT
    run_id = json.loads((tmp_path / "check" / "out.json").read_text())["run"]["id"]
    assert main(["report", run_id, "--db", str(db), *specs(tmp_path / "report")]) == ExitStatus.COMPLIANT
    assert main(["export", "rpz", str(order), "-o", str(tmp_path / "policy.rpz")]) == ExitStatus.COMPLIANT
    listing = tmp_path / "list.txt"
    listing.write_text("site.test\n")
    assert main(["import", "plain", str(listing), "--jurisdiction", "IT", "--order-id", "it-1",
                 "-o", str(tmp_path / "imported.yaml")]) == ExitStatus.COMPLIANT
    expected = {tmp_path / d / f"out.{fmt}" for d in ("render", "check", "report") for fmt in formats}
    expected |= {tmp_path / "policy.rpz", tmp_path / "imported.yaml"}
    assert set(written) == expected and len(written) == len(expected)
    for folder in (tmp_path, tmp_path / "render", tmp_path / "check", tmp_path / "report"):
        assert leftovers(folder) == [], folder


def test_a_template_error_leaves_every_report_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "report.md").write_text("{{ report.summary.status }} {{ report.no_such_field.x }}\n")
    targets = {fmt: tmp_path / f"out.{fmt}" for fmt in ("json", "html", "md", "csv")}
    for path in targets.values():
        path.write_bytes(OLD)
    specs = [a for fmt, path in targets.items() for a in ("--report", f"{fmt}:{path}")]
    assert main(["render", str(GOLDEN), *specs, "--templates", str(templates)]) == ExitStatus.ERROR
    assert capsys.readouterr().err.count("\n") == 1
    assert all(path.read_bytes() == OLD for path in targets.values())
    assert leftovers(tmp_path) == []


def test_a_full_disk_in_the_middle_of_several_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Each report is whole: the first is the new one, the second still the old one."""
    first, second = tmp_path / "a.md", tmp_path / "b.html"
    first.write_bytes(OLD)
    second.write_bytes(OLD)
    monkeypatch.setattr(os, "fsync", disk_full(after=2))  # the first file and its folder fit
    code = main(["render", str(GOLDEN), "--report", f"md:{first}", "--report", f"html:{second}"])
    monkeypatch.undo()
    assert code == ExitStatus.ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert first.read_bytes().startswith(b"# ") and second.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_check_keeps_old_reports_when_a_serialiser_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(ORDER)
    out_json, out_html = tmp_path / "out.json", tmp_path / "out.html"
    out_json.write_bytes(OLD)
    out_html.write_bytes(OLD)

    def render(fmt: Format, view: dict[str, object], options: object) -> bytes:
        if fmt is Format.HTML:
            raise UsageError("template error: simulated", path="report.html", line=1)
        return real_render(fmt, view, options)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "render", render)
    code = check_with_reports(tmp_path, order, "--report", f"json:{out_json}", "--report", f"html:{out_html}")
    assert code == ExitStatus.ERROR
    assert "simulated" in capsys.readouterr().err
    assert out_json.read_bytes() == OLD and out_html.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def check_with_reports(tmp_path: Path, order: Path, *reports: str) -> int:
    """``check`` of ``order`` at a blocking subject and a control, without the store."""
    with fake_dns(blocking) as s, fake_dns(authoritative) as c:
        return main(["check", str(order), "--resolvers", str(resolver_file(tmp_path, s.port, c.port)), "-q",
                     "--no-db", *FAST, *reports])


def test_check_keeps_the_old_json_when_the_disk_fills_while_writing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The streamed JSON report goes straight into a temp file beside the old one: a full disk
    half way leaves the old report and no temp file."""
    order = tmp_path / "order.yaml"
    order.write_text(ORDER)
    out = tmp_path / "out.json"
    out.write_bytes(OLD)

    def write_half(self: ReportOutput, run: object, stream: BinaryIO) -> str:
        stream.write(b'{"run": ')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))

    monkeypatch.setattr(ReportOutput, "write_json", write_half)
    code = check_with_reports(tmp_path, order, "--report", f"json:{out}")
    assert code == ExitStatus.ERROR
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def test_check_keeps_the_second_old_json_when_the_disk_fills_while_copying_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A second JSON report is copied from the first: a full disk while copying keeps the old
    second report whole, and the first (already in place) is complete."""
    order = tmp_path / "order.yaml"
    order.write_text(ORDER)
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    second.write_bytes(OLD)

    def copy_half(source: Path, handle: BinaryIO) -> None:
        handle.write(source.read_bytes()[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(second))

    monkeypatch.setattr(cli, "_copy_file", copy_half)
    code = check_with_reports(tmp_path, order, "--report", f"json:{first}", "--report", f"json:{second}")
    assert code == ExitStatus.ERROR
    assert "No space left on device" in capsys.readouterr().err
    assert second.read_bytes() == OLD
    assert json.loads(first.read_text())["summary"]["status"]
    assert leftovers(tmp_path) == []


def test_export_on_a_full_disk_keeps_the_old_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order = tmp_path / "order.yaml"
    order.write_text(ORDER)
    out = tmp_path / "policy.rpz"
    out.write_bytes(OLD)
    monkeypatch.setattr(os, "fsync", disk_full())
    code = main(["export", "rpz", str(order), "-o", str(out)])
    monkeypatch.undo()
    assert code == ExitStatus.ERROR
    assert out.read_bytes() == OLD and leftovers(tmp_path) == []


def test_import_failing_half_way_keeps_the_old_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("site.test\n")
    out = tmp_path / "order.yaml"
    out.write_bytes(OLD)

    def import_half(*args: object) -> None:
        handle = args[3]
        handle.write("schema: blockaudit/order/1\nid: half\n")  # type: ignore[attr-defined]
        raise UsageError("cannot read the list: simulated", path=str(listing), line=2)

    monkeypatch.setattr(cli, "import_file", import_half)
    code = main(["import", "plain", str(listing), "--jurisdiction", "IT", "-o", str(out)])
    assert code == ExitStatus.ERROR
    assert out.read_bytes() == OLD and leftovers(tmp_path) == []
