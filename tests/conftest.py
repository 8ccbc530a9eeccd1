"""Test-wide safety: no test writes run history or downloads into the real user's directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    return home


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    """The fuzz budget (tests/fuzzing.py): how many generated inputs each group ran."""
    from tests import fuzzing

    if not fuzzing.COUNTS:
        return
    total = sum(fuzzing.COUNTS.values())
    parts = ", ".join(f"{group} {count:,}" for group, count in sorted(fuzzing.COUNTS.items()))
    terminalreporter.write_line(f"fuzz: {total:,} generated inputs ({parts}); budget {fuzzing.BUDGET:,}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With BLOCKAUDIT_FUZZ_ENFORCE=1 (set by .ci/run), a session that generated less than the budget fails."""
    from tests import fuzzing

    if os.environ.get("BLOCKAUDIT_FUZZ_ENFORCE") != "1" or session.exitstatus != 0:
        return
    total = sum(fuzzing.COUNTS.values())
    if total < fuzzing.BUDGET * min(1.0, fuzzing.scale()):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"fuzz budget missed: {total:,} generated inputs, {fuzzing.BUDGET:,} required")
