"""Tests of checker.orders.loader: reading order files, their errors, and merging names over orders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from checker.bundled import orders_dir
from checker.errors import BlockauditError, OrderError
from checker.models import AmendmentKind, OrderType, QueryKind, TargetKind, Verification
from checker.orders.loader import discover, load_order, load_orders

BUNDLED = orders_dir() / "us-sdny-annas-archive.yaml"

ANNAS = {f"annas-archive.{tld}" for tld in ("org", "li", "se", "in", "pm", "gl", "gs", "gd", "pk")}

# A small valid order; the tests below rely on its line numbers (shown on the right).
ORDER = """\
schema: blockaudit/order/1
id: test-order
title: "Test v. Example"
authority: "Test Court"
jurisdiction: DE
order_type: preliminary_injunction
issued: 2026-01-10
verification: verified
valid: {from: 2026-01-10, until: null}
deadline: {within: P5D, from: issued}
targets:
  - {domain: example-blocked.com, subdomains: true, site: example}
  - {domain: other-blocked.net}
exemptions: [example.org]
amendments:
  - {id: add-1, date: 2026-02-01, kind: add, targets: [{domain: added-blocked.org}]}
"""
#  1 schema / 2 id / 3 title / 4 authority / 5 jurisdiction / 6 order_type / 7 issued
#  8 verification / 9 valid / 10 deadline / 11 targets / 12-13 targets[0..1] / 14 exemptions
# 15 amendments / 16 amendments[0] / 17 an appended amendments[1]

ON = dt.date(2026, 3, 1)


def write(folder: Path, text: str, name: str = "order.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def order_text(
    order_id: str = "test-order",
    targets: str = "  - {domain: example-blocked.com, subdomains: true}\n",
    valid: str = "{from: 2026-01-10, until: null}",
    extra: str = "",
) -> str:
    """A minimal order with the given id, targets (YAML list items) and validity."""
    return (
        "schema: blockaudit/order/1\n"
        f"id: {order_id}\n"
        "title: T\n"
        "authority: A\n"
        "jurisdiction: DE\n"
        "order_type: tro\n"
        "issued: 2026-01-10\n"
        "verification: verified\n"
        f"valid: {valid}\n"
        "targets:\n"
        f"{targets}"
        f"{extra}"
    )


# --------------------------------------------------------------------------- the bundled order


def test_bundled_order_loads() -> None:
    order = load_order(BUNDLED)
    assert order.id == "us-sdny-annas-archive"
    assert order.order_type is OrderType.PERMANENT_INJUNCTION
    assert order.jurisdiction == "US"
    assert order.case_number is None
    assert order.verification is Verification.UNVERIFIED
    assert "issued" in order.inferred
    assert order.issued == dt.date(2026, 4, 14)
    assert order.valid_until is None
    assert order.path == str(BUNDLED)
    assert order.sources, "every fact comes from a named source"
    effective = order.effective_targets()
    assert {t.value for t in effective} == ANNAS
    assert len(effective) == 9
    assert all(t.kind is TargetKind.DOMAIN and t.subdomains for t in effective)


def test_bundled_amendment_adds_gd_and_pk() -> None:
    order = load_order(BUNDLED)
    amendment = {a.id: a for a in order.amendments}["add-2026-06-cuii"]
    assert amendment.kind is AmendmentKind.ADD
    assert amendment.date == dt.date(2026, 6, 15)
    assert {t.value for t in amendment.targets} == {"annas-archive.gd", "annas-archive.pk"}
    assert {t.value for t in order.targets} == ANNAS - {"annas-archive.gd", "annas-archive.pk"}


def test_bundled_folder_merges_nine_names() -> None:
    orders = load_orders([orders_dir()], dt.date(2026, 7, 1))
    names = {n.domain: n for n in orders.names if n.kind is QueryKind.ORDERED}
    assert set(names) >= ANNAS
    for domain in ANNAS:
        assert names[domain].subdomains
        assert "us-sdny-annas-archive" in names[domain].orders


def test_loaded_values(tmp_path: Path) -> None:
    order = load_order(write(tmp_path, ORDER))
    assert order.id == "test-order"
    assert order.line == 2
    assert order.deadline is not None
    assert order.deadline.within == dt.timedelta(days=5)
    assert order.deadline.within_text == "P5D"
    assert [(t.value, t.subdomains, t.site, t.line) for t in order.targets] == [
        ("example-blocked.com", True, "example", 12),
        ("other-blocked.net", False, None, 13),
    ]
    assert [e.value for e in order.exemptions] == ["example.org"]
    assert [t.value for t in order.effective_targets()] == [
        "example-blocked.com", "other-blocked.net", "added-blocked.org",
    ]


def test_domains_are_normalised(tmp_path: Path) -> None:
    text = order_text(targets="  - {domain: WWW.Bücher.DE.}\n  - {domain: ß.de}\n")
    order = load_order(write(tmp_path, text))
    assert [t.value for t in order.targets] == ["www.xn--bcher-kva.de", "xn--zca.de"]


# --------------------------------------------------------------------------- errors


APPEND = object()
"""Marks an edit that appends its text to the order instead of replacing some."""

ERROR_CASES = [
    # (id, old, new, line, fragments the message must hold)
    ("malformed-yaml", 'authority: "Test Court"\n', 'authority: "Test Court"\n  stray: [\n', 5,
     ["malformed YAML"]),
    ("wrong-type-string", 'title: "Test v. Example"', "title: 42", 3,
     ["field 'title'", "expected a string, found number 42"]),
    ("wrong-type-bool", "{domain: other-blocked.net}", "{domain: other-blocked.net, subdomains: 'yes'}", 13,
     ["field 'targets[1].subdomains'", "expected true or false"]),
    ("wrong-type-list", "exemptions: [example.org]", "exemptions: example.org", 14,
     ["field 'exemptions'", "expected a list"]),
    ("unknown-key", "authority:", "autority:", 4,
     ["unknown key 'autority'", "did you mean 'authority'?"]),
    ("unknown-nested-key", "{domain: other-blocked.net}", "{domain: other-blocked.net, subdomain: true}", 13,
     ["unknown key 'targets[1].subdomain'", "did you mean 'subdomains'?"]),
    ("invalid-domain", "other-blocked.net", "other_blocked.net", 13,
     ["field 'targets[1].domain'", "'other_blocked.net' is not a valid domain name"]),
    ("url-as-domain", "{domain: other-blocked.net}", "{domain: 'https://other-blocked.net/'}", 13,
     ["field 'targets[1].domain'", "URL"]),
    ("duplicate-target", "{domain: other-blocked.net}", "{domain: Example-Blocked.COM.}", 13,
     ["field 'targets[1].domain'", "example-blocked.com is listed twice", "first on line 12"]),
    ("duplicate-exemption", "exemptions: [example.org]", "exemptions: [example.org, EXAMPLE.org]", 14,
     ["field 'exemptions[1]'", "example.org is listed twice"]),
    ("exemption-also-ordered", "exemptions: [example.org]", "exemptions: [other-blocked.net]", 14,
     ["field 'exemptions'", "other-blocked.net is both ordered blocked and exempt"]),
    ("exemption-added-by-amendment", "exemptions: [example.org]", "exemptions: [added-blocked.org]", 14,
     ["field 'exemptions'", "added-blocked.org is both ordered blocked and exempt"]),
    ("target-with-two-kinds", "{domain: other-blocked.net}", "{domain: other-blocked.net, ip: 192.0.2.1}", 13,
     ["field 'targets[1]'", "exactly one of"]),
    ("bad-ip", "{domain: other-blocked.net}", "{ip: 192.0.2.300}", 13,
     ["field 'targets[1].ip'", "192.0.2.300"]),
    ("subdomains-on-ip", "{domain: other-blocked.net}", "{ip: 192.0.2.1, subdomains: true}", 13,
     ["field 'targets[1].subdomains'", "only a 'domain' target"]),
    ("amendment-out-of-order", APPEND,
     "  - {id: add-2, date: 2026-01-15, kind: add, targets: [{domain: x-blocked.org}]}\n", 17,
     ["field 'amendments[1].date'", "oldest first"]),
    ("amendment-removes-unknown", APPEND,
     "  - {id: rm-1, date: 2026-03-01, kind: remove, targets: [{domain: not-there.org}]}\n", 17,
     ["field 'amendments[1].targets'", "removes not-there.org", "does not name"]),
    ("amendment-duplicate-id", APPEND,
     "  - {id: add-1, date: 2026-03-01, kind: add, targets: [{domain: x-blocked.org}]}\n", 17,
     ["field 'amendments[1].id'", "'add-1' is used twice"]),
    ("amendment-bad-kind", APPEND,
     "  - {id: x-1, date: 2026-03-01, kind: ad, targets: [{domain: x-blocked.org}]}\n", 17,
     ["field 'amendments[1].kind'", "did you mean 'add'?"]),
    ("jurisdiction-name", "jurisdiction: DE", "jurisdiction: Germany", 5,
     ["field 'jurisdiction'", "'Germany' is not an ISO 3166 code"]),
    ("jurisdiction-lower-case", "jurisdiction: DE", "jurisdiction: de", 5,
     ["field 'jurisdiction'", "ISO 3166"]),
    ("order-type", "order_type: preliminary_injunction", "order_type: preliminary_injuction", 6,
     ["field 'order_type'", "did you mean 'preliminary_injunction'?"]),
    ("verification", "verification: verified", "verification: yes", 8,
     ["field 'verification'", "expected one of verified, unverified"]),
    ("deadline-months", "within: P5D", "within: P1M", 10,
     ["field 'deadline.within'", "'P1M' is not an ISO 8601 duration"]),
    ("deadline-zero", "within: P5D", "within: P0D", 10,
     ["field 'deadline.within'", "not a positive duration"]),
    ("deadline-from", "from: issued}", "from: isued}", 10,
     ["field 'deadline.from'", "did you mean 'issued'?"]),
    ("deadline-incomplete", "deadline: {within: P5D, from: issued}", "deadline: {within: P5D}", 10,
     ["field 'deadline'", "needs 'within' and 'from', or 'due'"]),
    ("deadline-both", "deadline: {within: P5D, from: issued}",
     "deadline: {due: 2026-01-20T00:00:00Z, within: P5D, from: issued}", 10,
     ["field 'deadline'", "not both"]),
    ("deadline-due", "deadline: {within: P5D, from: issued}", "deadline: {due: tomorrow}", 10,
     ["field 'deadline.due'", "expected a time"]),
    ("valid-until-before-from", "until: null", "until: 2026-01-09", 9,
     ["field 'valid.until'", "ends (2026-01-09) before it starts (2026-01-10)"]),
    ("impossible-date", "issued: 2026-01-10", "issued: 2026-02-30", 7,
     ["field 'issued'", "2026-02-30"]),
    ("schema", "blockaudit/order/1", "blockaudit/order/2", 1,
     ["field 'schema'", "unsupported schema 'blockaudit/order/2'", "expected blockaudit/order/1"]),
    ("missing-required-key", 'authority: "Test Court"\n', "", 1,
     ["missing required key 'authority'"]),
    ("order-id", "id: test-order", "id: Test_Order", 2,
     ["field 'id'", "'Test_Order' must be lower-case"]),
    ("inferred", APPEND, "inferred: [title]\n", 17,
     ["field 'inferred[0]'", "'title' cannot be marked inferred"]),
    ("source-url", APPEND, "sources: [{url: 'ftp://example.org/x'}]\n", 17,
     ["field 'sources[0].url'", "not an http(s) URL"]),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in ERROR_CASES],
)
def test_errors_name_path_line_and_field(
    tmp_path: Path, old: object, new: str, line: int, fragments: list[str],
) -> None:
    if old is APPEND:
        text = ORDER + new
    else:
        assert isinstance(old, str)
        assert old in ORDER
        text = ORDER.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(OrderError) as info:
        load_order(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert (info.value.path, info.value.line) == (str(path), line)
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


def test_order_error_is_the_common_base() -> None:
    assert issubclass(OrderError, BlockauditError)


def test_the_base_order_is_valid(tmp_path: Path) -> None:
    load_order(write(tmp_path, ORDER))


@pytest.mark.parametrize(
    "amendment",
    [
        "  - {id: rm-1, date: 2026-03-01, kind: remove, targets: [{domain: other-blocked.net}]}\n",
        "  - {id: rm-1, date: 2026-03-01, kind: remove, targets: [{domain: added-blocked.org}]}\n",
    ],
)
def test_amendment_may_remove_an_ordered_or_added_name(tmp_path: Path, amendment: str) -> None:
    order = load_order(write(tmp_path, ORDER + amendment))
    assert len(order.effective_targets()) == 2


def test_amendment_cannot_remove_a_name_removed_before(tmp_path: Path) -> None:
    text = ORDER + (
        "  - {id: rm-1, date: 2026-03-01, kind: remove, targets: [{domain: other-blocked.net}]}\n"
        "  - {id: rm-2, date: 2026-03-02, kind: remove, targets: [{domain: other-blocked.net}]}\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(OrderError, match=r"removes other-blocked\.net") as info:
        load_order(path)
    assert info.value.line == 18


# --------------------------------------------------------------------------- merging


def test_a_name_in_two_orders_keeps_both_ids(tmp_path: Path) -> None:
    write(tmp_path, order_text("zeta-order", "  - {domain: shared.example, subdomains: false}\n"), "z.yaml")
    write(tmp_path, order_text("alpha-order", "  - {domain: Shared.Example., subdomains: true}\n"), "a.yaml")
    orders = load_orders([tmp_path], ON)
    assert [o.id for o in orders.orders] == ["alpha-order", "zeta-order"]
    [name] = orders.names
    assert name.domain == "shared.example"
    assert name.kind is QueryKind.ORDERED
    assert name.orders == ("alpha-order", "zeta-order")
    assert name.subdomains is True


def test_subdomains_false_everywhere_stays_false(tmp_path: Path) -> None:
    one = write(tmp_path, order_text("one", "  - {domain: shared.example}\n"), "one.yaml")
    two = write(tmp_path, order_text("two", "  - {domain: shared.example, subdomains: false}\n"), "two.yaml")
    [name] = load_orders([one, two], ON).names
    assert name.subdomains is False


def test_names_are_sorted_ordered_first(tmp_path: Path) -> None:
    path = write(tmp_path, ORDER)
    orders = load_orders([path], ON)
    assert [(n.domain, n.kind) for n in orders.names] == [
        ("added-blocked.org", QueryKind.ORDERED),
        ("example-blocked.com", QueryKind.ORDERED),
        ("other-blocked.net", QueryKind.ORDERED),
        ("example.org", QueryKind.EXEMPTION),
    ]


def test_duplicate_order_id_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, order_text("same-id", "  - {domain: one.example}\n"), "a.yaml")
    second = write(tmp_path, order_text("same-id", "  - {domain: two.example}\n"), "b.yaml")
    with pytest.raises(OrderError) as info:
        load_orders([first, second], ON)
    message = str(info.value)
    assert message.startswith(f"{second}:2: ")
    assert "field 'id'" in message
    assert "'same-id'" in message
    assert f"{first}:2" in message


def test_exempt_in_one_order_and_ordered_in_another(tmp_path: Path) -> None:
    ordering = write(tmp_path, order_text("ordering", "  - {domain: contested.example}\n"), "a.yaml")
    exempting = write(
        tmp_path,
        order_text("exempting", "  - {domain: other.example}\n", extra="exemptions: [contested.example]\n"),
        "b.yaml",
    )
    with pytest.raises(OrderError) as info:
        load_orders([ordering, exempting], ON)
    assert str(info.value).startswith(f"{exempting}:12: field 'exemptions': contested.example")
    assert "ordering" in str(info.value)


@pytest.mark.parametrize(
    ("valid", "on", "in_force"),
    [
        ("{from: 2026-01-10, until: 2026-02-01}", dt.date(2026, 3, 1), False),  # ended
        ("{from: 2026-06-01, until: null}", dt.date(2026, 3, 1), False),  # not yet
        ("{from: 2026-01-10, until: 2026-03-01}", dt.date(2026, 3, 1), True),  # last day
        ("{from: 2026-03-01}", dt.date(2026, 3, 1), True),  # first day
        ("{until: null}", dt.date(2026, 1, 10), True),  # from defaults to issued
        ("{until: null}", dt.date(2026, 1, 9), False),
    ],
)
def test_orders_not_in_force_are_reported_not_merged(
    tmp_path: Path, valid: str, on: dt.date, in_force: bool,
) -> None:
    write(tmp_path, order_text("current", "  - {domain: current.example}\n",
                               valid="{from: 2025-01-01, until: null}"), "a.yaml")
    write(tmp_path, order_text("timed", "  - {domain: timed.example}\n", valid=valid), "b.yaml")
    orders = load_orders([tmp_path], on)
    domains = {n.domain for n in orders.names}
    assert [o.id for o in orders.orders] == ["current", "timed"]
    if in_force:
        assert orders.not_in_force == ()
        assert domains == {"current.example", "timed.example"}
    else:
        assert orders.not_in_force == ("timed",)
        assert domains == {"current.example"}


def test_ip_and_url_targets_are_not_checkable(tmp_path: Path) -> None:
    targets = (
        "  - {domain: site.example}\n"
        "  - {ip: 192.0.2.10}\n"
        "  - {ip: 2001:DB8::0:1}\n"
        "  - {ip: 198.51.100.0/24}\n"
        "  - {url: 'https://site.example/page'}\n"
    )
    orders = load_orders([write(tmp_path, order_text(targets=targets))], ON)
    assert [n.domain for n in orders.names] == ["site.example"]
    assert [(order_id, t.kind, t.value) for order_id, t in orders.not_checkable] == [
        ("test-order", TargetKind.IP, "192.0.2.10"),
        ("test-order", TargetKind.IP, "2001:db8::1"),
        ("test-order", TargetKind.IP, "198.51.100.0/24"),
        ("test-order", TargetKind.URL, "https://site.example/page"),
    ]


def test_removed_target_is_not_merged(tmp_path: Path) -> None:
    text = ORDER + "  - {id: rm-1, date: 2026-02-15, kind: remove, targets: [{domain: other-blocked.net}]}\n"
    order = load_order(write(tmp_path, text))
    assert "other-blocked.net" in {t.value for t in order.targets}
    assert "other-blocked.net" not in {t.value for t in order.effective_targets()}
    orders = load_orders([write(tmp_path, text)], ON)
    assert "other-blocked.net" not in {n.domain for n in orders.names}
    assert "added-blocked.org" in {n.domain for n in orders.names}


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (dt.date(2026, 5, 31), {"example-blocked.com", "other-blocked.net", "added-blocked.org"}),
        (dt.date(2026, 6, 1), {"example-blocked.com", "other-blocked.net", "added-blocked.org", "later.example"}),
        (dt.date(2026, 7, 1), {"example-blocked.com", "added-blocked.org", "later.example"}),
    ],
)
def test_amendments_apply_from_their_date(tmp_path: Path, on: dt.date, expected: set[str]) -> None:
    text = ORDER + (
        "  - {id: add-2, date: 2026-06-01, kind: add, targets: [{domain: later.example}]}\n"
        "  - {id: rm-1, date: 2026-07-01, kind: remove, targets: [{domain: other-blocked.net}]}\n"
    )
    orders = load_orders([write(tmp_path, text)], on)
    assert {n.domain for n in orders.names if n.kind is QueryKind.ORDERED} == expected


def test_bundled_amendment_applies_from_2026_06_15() -> None:
    before = load_orders([BUNDLED], dt.date(2026, 6, 14))
    after = load_orders([BUNDLED], dt.date(2026, 6, 15))
    assert {n.domain for n in before.names} == ANNAS - {"annas-archive.gd", "annas-archive.pk"}
    assert {n.domain for n in after.names} == ANNAS


# --------------------------------------------------------------------------- finding files


def test_folder_is_searched_recursively_and_hidden_files_skipped(tmp_path: Path) -> None:
    root = tmp_path / "orders"
    found = [
        write(root, order_text("top"), "top.yaml"),
        write(root, order_text("nested"), "de/nested.yml"),
        write(root, order_text("deeper"), "de/by-court/deeper.yaml"),
    ]
    write(root, "not: an order\n", ".hidden.yaml")
    write(root, "not: an order\n", ".git/inside-hidden-folder.yaml")
    write(root, "not: an order\n", "README.md")
    write(root, "not: an order\n", "notes.txt")
    (root / "folder.yaml").mkdir()
    assert discover([root]) == sorted(found)
    orders = load_orders([root], ON)
    assert sorted(o.id for o in orders.orders) == ["deeper", "nested", "top"]


def test_files_and_folders_can_be_mixed(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    inside = write(folder, order_text("inside"), "inside.yaml")
    outside = write(tmp_path, order_text("outside"), "outside.yaml")
    assert discover([outside, folder]) == [outside, inside]


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    write(empty, "x: 1\n", ".hidden.yaml")
    with pytest.raises(OrderError) as info:
        load_orders([empty], ON)
    assert str(info.value).startswith(f"{empty}: ")
    assert "no order files" in str(info.value)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(OrderError) as info:
        load_orders([missing], ON)
    assert str(info.value) == f"{missing}: no such file or folder"


def test_an_order_without_targets_is_refused(tmp_path: Path) -> None:
    text = ORDER.split("targets:", maxsplit=1)[0] + "targets: []\n"
    with pytest.raises(OrderError, match=r"order\.yaml:11: field 'targets': the order names no target"):
        load_order(write(tmp_path, text))


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    path = write(tmp_path / "orders", ORDER)
    assert discover([tmp_path / "orders", path]) == [path]
    assert len(load_orders([tmp_path / "orders", path], ON).orders) == 1
