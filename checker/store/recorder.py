"""Writing observations to the store while a run goes on: in batches, so a crash loses little."""

from __future__ import annotations

import time

from checker.models import Observation
from checker.store.base import ResultRow, Store

BATCH = 200
"""Observations per transaction at most."""
INTERVAL_S = 1.0
"""A batch is committed at least this often while observations arrive."""


class Recorder:
    """A sink for the engine: buffers (phase, observation) pairs and commits them in batches.

    What was committed survives kill -9; ``flush()`` commits the rest (on success, Ctrl-C or an
    error), and ``check --resume`` asks only what was never committed.
    """

    def __init__(self, store: Store, run_id: str, batch: int = BATCH, interval: float = INTERVAL_S) -> None:
        self.store = store
        self.run_id = run_id
        self.batch = batch
        self.interval = interval
        self._pending: list[tuple[str, Observation]] = []
        self._results: list[ResultRow] = []
        self._last = time.monotonic()
        self.written = 0

    def __call__(self, phase: str, observation: Observation) -> None:
        self._pending.append((phase, observation))
        if len(self._pending) >= self.batch or time.monotonic() - self._last >= self.interval:
            self.flush()

    def result(self, row: ResultRow) -> None:
        """Buffer one verdict; verdicts are committed with the observations they rest on (those first)."""
        self._results.append(row)
        if len(self._results) >= self.batch or time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Commit everything buffered."""
        if self._pending:
            self.store.add_observations(self.run_id, self._pending)
            self.written += len(self._pending)
            self._pending = []
        if self._results:
            self.store.add_results(self._results)
            self._results = []
        self._last = time.monotonic()
