"""Coverage-guided fuzzing of the loaders and importers with atheris (optional; not part of the test suite).

The hypothesis fuzz tests (``tests/test_fuzz_loaders.py``, ``tests/orders/test_fuzz_importers.py``)
run a fixed budget in CI; this harness runs the same generators and the same rule
(``tests.mutate.expect_located``: a clean load, or one located ``BlockauditError``) for as long
as you like, steered by libFuzzer's coverage feedback. A crash, a hang, an out-of-memory or any
other exception is a bug: libFuzzer writes the input to ``crash-*`` in the working folder::

    pip install atheris
    python -m tests.fuzz_atheris.fuzz_loaders order -max_total_time=600
    python -m tests.fuzz_atheris.fuzz_loaders importers -runs=1000000 -rss_limit_mb=1024 corpus/

The first argument picks the target (``order``, ``resolvers``, ``fingerprints``, ``importers``,
``all``); the rest go to libFuzzer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]

with atheris.instrument_imports():
    from checker.errors import BlockauditError, FingerprintError, OrderError, ResolverConfigError
    from checker.fingerprints import load_fingerprints
    from checker.orders.importers import load_foreign
    from checker.orders.loader import load_any, load_order
    from checker.resolvers import load_resolvers

from tests.mutate import Entropy, broken, expect_located, mutate, write

Case = tuple[str, bytes, Callable[[Path], object], type[BlockauditError]]


def _order(e: Entropy) -> Case:
    from tests.test_fuzz_loaders import ORDER_FULL, ORDER_MINIMAL, ORDER_SEEDS

    data = broken(e.pick((ORDER_MINIMAL, ORDER_FULL)), e) if e.below(2) else mutate(e.pick(ORDER_SEEDS), e)
    return "order.yaml", data, load_order, OrderError


def _resolvers(e: Entropy) -> Case:
    from tests.test_fuzz_loaders import RESOLVER_SEEDS, RESOLVERS_FULL, RESOLVERS_MINIMAL

    data = broken(e.pick((RESOLVERS_MINIMAL, RESOLVERS_FULL)), e) if e.below(2) else mutate(e.pick(RESOLVER_SEEDS), e)
    return "resolvers.yaml", data, load_resolvers, ResolverConfigError


def _fingerprints(e: Entropy) -> Case:
    from tests.test_fuzz_loaders import FINGERPRINT_SEEDS, FINGERPRINTS_FULL, FINGERPRINTS_MINIMAL

    seeds = (FINGERPRINTS_MINIMAL, FINGERPRINTS_FULL)
    data = broken(e.pick(seeds), e) if e.below(2) else mutate(e.pick(FINGERPRINT_SEEDS), e)
    return "fingerprints.yaml", data, lambda path: load_fingerprints([path], bundled=False), FingerprintError


def _importers(e: Entropy) -> Case:
    from tests.orders.test_fuzz_importers import list_of_lines, mutated_list

    if e.below(4) == 0:
        data = e.raw(4096)
        return e.pick(("list.txt", "hosts", "x.rpz", "dump.csv", "x.conf")), data, load_any, OrderError
    fmt, options, data = list_of_lines(e) if e.below(2) else mutated_list(e)
    return "list.txt", data, lambda path: load_foreign(path, fmt, options=options), OrderError


TARGETS: dict[str, Callable[[Entropy], Case]] = {
    "order": _order, "resolvers": _resolvers, "fingerprints": _fingerprints, "importers": _importers,
}


def main() -> None:
    """Fuzz the target named by the first argument."""
    name = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "all"
    if name != "all" and name not in TARGETS:
        raise SystemExit(f"target {name!r}: one of {', '.join(TARGETS)}, all")
    chosen = list(TARGETS.values()) if name == "all" else [TARGETS[name]]

    def one_input(data: bytes) -> None:
        e = Entropy(data)
        file_name, content, load, error = e.pick(chosen)(e)
        expect_located(load, write(file_name, content), error)

    atheris.Setup([sys.argv[0], *sys.argv[2 if name in sys.argv[1:2] else 1:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
