"""The address helpers of checker.models agree with the standard library's ipaddress."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checker.models import address_text, parse_address
from tests.fuzzing import fuzz


@fuzz(3000, "models")
@given(st.ip_addresses())
def test_address_text_is_str(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert address_text(address) == str(address)
    assert parse_address(str(address)) == address


@fuzz(3000, "models")
@given(st.text(alphabet="0123456789abcdef:.%x ", max_size=45))
def test_parse_address_accepts_no_more_than_ipaddress(text: str) -> None:
    try:
        expected: object = ipaddress.ip_address(text)
    except ValueError:
        expected = None
    got = parse_address(text)
    assert got is None or got == expected


def test_parse_address_edges() -> None:
    assert parse_address("01.2.3.4") is None
    assert parse_address("fe80::1%eth0") is None
    assert parse_address("::ffff:1.2.3.4") == ipaddress.ip_address("::ffff:1.2.3.4")
    assert address_text(ipaddress.ip_address("::ffff:1.2.3.4")) == str(ipaddress.ip_address("::ffff:1.2.3.4"))
    assert parse_address("") is None


def test_targets_equal_the_tuple_of_their_records() -> None:
    import pickle

    from checker.models import Target, TargetKind, Targets

    items = (
        Target(TargetKind.DOMAIN, "a.example", subdomains=True, site="A", line=3),
        Target(TargetKind.IP, "192.0.2.1", line=None),
        Target(TargetKind.URL, "https://b.example/x", line=9),
    )
    targets = Targets(items)
    assert len(targets) == 3
    assert targets == items and items == targets and tuple(targets) == items
    assert targets[0] == items[0] and targets[-1] == items[-1] and targets[1:] == items[1:]
    assert hash(targets) == hash(items)
    assert pickle.loads(pickle.dumps(targets)) == targets
    assert Targets(()) == () and not Targets()
    assert targets != items[:2] and targets != Targets(items[:2])
    assert "3 in all" in repr(targets)
    with pytest.raises(IndexError):
        targets[3]


def test_big_records_repr_as_counts() -> None:
    """Python 3.11's asyncio.run formats the repr of the main task's result (the Run) at exit:
    a million names listed would be hundreds of megabytes for nothing."""
    import datetime as dt

    from checker.models import OrderedName, OrderSet, QueryKind, ResolverSet, Run

    names = tuple(OrderedName(f"n{i}.example", QueryKind.ORDERED, False, ("o",)) for i in range(10_000))
    orders = OrderSet(orders=(), names=names)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    run = Run(id="r", started_at=now, finished_at=now, orders=orders, resolvers=ResolverSet((), ("c.test",)),
              results=(), health=(), controls=(), vantage="here")
    assert "names=<10000>" in repr(orders)
    assert len(repr(run)) < 500
