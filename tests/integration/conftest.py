"""Starts the DNS lab (NSD plus the Unbound resolvers) once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .lab import Lab, missing_tools


@pytest.fixture(scope="session")
def lab_tools() -> None:
    """Skip (fail on CI, where CI=true) when Unbound or NSD is not installed."""
    missing = missing_tools()
    if missing:
        message = f"the integration lab needs {', '.join(missing)} (apt-get install unbound nsd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must never skip the integration tests", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def lab(lab_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The running lab: `order_path`, `resolvers_path`, `ports`, `nsd_port` and `root` (its temp dir)."""
    with Lab(tmp_path_factory.mktemp("dnslab")) as running:
        yield running
