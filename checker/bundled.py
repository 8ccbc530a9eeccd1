"""Where the bundled templates and orders are, installed (wheel) or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def templates_dir() -> Path:
    """The folder of Jinja templates for every report."""
    return _find("templates")


def orders_dir() -> Path:
    """The folder of bundled court orders (the default ORDERS of ``check``)."""
    return _find("blocklists")


def fingerprints_dir() -> Path:
    """The folder of bundled block-page fingerprints."""
    return _find("fingerprints")
