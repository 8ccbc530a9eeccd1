"""Entry point for ``python -m checker``."""

from checker.cli import run

run()
