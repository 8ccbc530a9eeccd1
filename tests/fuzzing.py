"""The fuzz budget: hypothesis settings shared by every fuzz test, and a count of what they ran.

A fuzz test is a hypothesis test decorated with ``@fuzz(examples)``. ``examples`` is its share of
the project's budget (issue 8: at least 100,000 generated inputs per CI run, across the loaders,
the importers and the DNS parsers). ``BLOCKAUDIT_FUZZ_SCALE`` scales every share (``0.1`` for a
quick local run, ``10`` for a long one); the default is 1, the CI budget.

Each fuzz test counts the inputs it really ran (every example hypothesis calls it with) under
its own group (``loaders``, ``importers``, ``dns``...). ``tests/conftest.py`` prints the counts at
the end of the session; with ``BLOCKAUDIT_FUZZ_ENFORCE=1`` (``.ci/run`` sets it) it fails a session
that generated less than ``BUDGET``, so a fuzz test that quietly stops generating is noticed.
"""

from __future__ import annotations

import collections
import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

BUDGET = 100_000
COUNTS: collections.Counter[str] = collections.Counter()

F = TypeVar("F", bound=Callable[..., Any])


def scale() -> float:
    try:
        return max(0.0, float(os.environ.get("BLOCKAUDIT_FUZZ_SCALE", "1")))
    except ValueError:
        return 1.0


def fuzz(examples: int, group: str) -> Callable[[F], F]:
    """Run the decorated hypothesis test ``examples`` times the scale, and count each run under ``group``."""

    def wrap(test: F) -> F:
        hooks = getattr(test, "hypothesis", None)
        if hooks is None:
            raise TypeError("@fuzz goes above @given")
        inner = hooks.inner_test

        @functools.wraps(inner)
        def counted(*args: Any, **kwargs: Any) -> Any:
            COUNTS[group] += 1
            return inner(*args, **kwargs)

        hooks.inner_test = counted  # hypothesis's documented hook for wrapping each example
        return settings(  # type: ignore[no-any-return]
            max_examples=max(1, int(examples * scale())),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(test)

    return wrap
