"""Reading and validating order files (``blockaudit/order/1``) and merging their names."""

from __future__ import annotations

import datetime as dt
import ipaddress
import operator
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from checker import schemas
from checker.errors import OrderError
from checker.models import (
    Amendment,
    AmendmentKind,
    Deadline,
    DeadlineStart,
    Event,
    Order,
    OrderedName,
    OrderSet,
    OrderType,
    QueryKind,
    Source,
    Target,
    TargetKind,
    Verification,
)
from checker.orders.durations import parse_duration
from checker.orders.names import InvalidName, normalise
from checker.yamlfile import Node, load

SCHEMA = "blockaudit/order/1"
ORDER_SUFFIXES = (".yaml", ".yml")

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,126}[a-z0-9])?$")
_JURISDICTION = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")
_INFERABLE = ("issued", "valid.from", "valid.until", "served", "notified", "deadline")

_REQUIRED = ("schema", "id", "title", "authority", "jurisdiction", "order_type", "issued",
             "verification", "targets")
_OPTIONAL = ("judge", "case_number", "sources", "valid", "deadline", "exemptions", "amendments",
             "served", "notified", "inferred", "events", "notes", "parties")


def _enum_values(enum: Iterable[object]) -> list[str]:
    return [str(getattr(member, "value", member)) for member in enum]


def _slug(node: Node, what: str) -> str:
    value = node.str()
    if not _ID.match(value):
        raise node.fail(
            f"{what} {value!r} must be lower-case letters, digits and inner '-'",
            hint="for example us-sdny-annas-archive",
        )
    return value


def _url(node: Node) -> str:
    value = node.str().strip()
    if not re.match(r"^https?://[^\s/]+", value):
        raise node.fail(f"{value!r} is not an http(s) URL")
    return value


def _sources(node: Node) -> tuple[Source, ...]:
    out = []
    for item in node.items():
        fields = item.mapping(required=("url",), optional=("note",))
        note = fields["note"].optional_str() if "note" in fields else None
        out.append(Source(url=_url(fields["url"]), note=note))
    return tuple(out)


def _domain(node: Node) -> str:
    try:
        return normalise(node.str())
    except InvalidName as exc:
        raise node.fail(f"{node.str()!r} is not a valid domain name: {exc}") from None


def _targets(node: Node) -> tuple[Target, ...]:
    out: list[Target] = []
    seen: dict[tuple[TargetKind, str], int] = {}
    for item in node.items():
        fields = item.mapping(optional=("domain", "ip", "url", "subdomains", "site", "note"))
        kinds = [k for k in ("domain", "ip", "url") if k in fields]
        if len(kinds) != 1:
            raise item.fail("a target needs exactly one of 'domain', 'ip' or 'url'")
        kind = TargetKind(kinds[0])
        value_node = fields[kinds[0]]
        if kind is TargetKind.DOMAIN:
            value = _domain(value_node)
        elif kind is TargetKind.IP:
            text = value_node.str().strip()
            try:
                network = ipaddress.ip_network(text, strict=True)
            except ValueError:
                raise value_node.fail(f"{text!r} is not an IP address or CIDR network") from None
            value = str(network.network_address) if network.num_addresses == 1 else str(network)
        else:
            value = _url(value_node)
        if "subdomains" in fields and kind is not TargetKind.DOMAIN:
            raise fields["subdomains"].fail("only a 'domain' target can have subdomains")
        subdomains = fields["subdomains"].bool() if "subdomains" in fields else False
        site = _slug(fields["site"], "site") if "site" in fields else None
        key = (kind, value)
        if key in seen:
            raise value_node.fail(f"{value} is listed twice (first on line {seen[key]})")
        seen[key] = item.line
        out.append(Target(kind=kind, value=value, subdomains=subdomains, site=site, line=item.line))
    return tuple(out)


def _exemptions(node: Node) -> tuple[Target, ...]:
    out: list[Target] = []
    seen: dict[str, int] = {}
    for item in node.items():
        value_node = item
        if item.is_mapping:
            fields = item.mapping(required=("domain",), optional=("note",))
            value_node = fields["domain"]
        value = _domain(value_node)
        if value in seen:
            raise value_node.fail(f"{value} is listed twice (first on line {seen[value]})")
        seen[value] = item.line
        out.append(Target(kind=TargetKind.DOMAIN, value=value, line=item.line))
    return tuple(out)


def _deadline(node: Node) -> Deadline:
    fields = node.mapping(optional=("within", "from", "due"))
    if "due" in fields:
        if "within" in fields or "from" in fields:
            raise node.fail("give either 'due' or 'within' with 'from', not both")
        return Deadline(due=fields["due"].datetime())
    if "within" not in fields or "from" not in fields:
        raise node.fail("a deadline needs 'within' and 'from', or 'due'")
    text = fields["within"].str()
    try:
        within = parse_duration(text)
    except ValueError as exc:
        raise fields["within"].fail(str(exc)) from None
    start = fields["from"].choice(DeadlineStart, _enum_values(DeadlineStart))
    return Deadline(within=within, within_text=text.strip().upper(), start=start)


def _amendments(node: Node, targets: tuple[Target, ...]) -> tuple[tuple[Amendment, ...], tuple[Node, ...]]:
    """The amendments, and for each the node its deadline is reported at (its own deadline, else its date)."""
    out: list[Amendment] = []
    where: list[Node] = []
    present = {(t.kind, t.value) for t in targets}
    ids: dict[str, int] = {}
    for item in node.items():
        fields = item.mapping(
            required=("id", "date", "kind", "targets"),
            optional=("deadline", "notified", "sources", "note"),
        )
        amendment_id = _slug(fields["id"], "amendment id")
        if amendment_id in ids:
            raise fields["id"].fail(
                f"amendment id {amendment_id!r} is used twice (first on line {ids[amendment_id]})",
            )
        ids[amendment_id] = fields["id"].line
        date = fields["date"].date()
        if out and date < out[-1].date:
            raise fields["date"].fail(
                f"amendments must be oldest first; {date} is before {out[-1].date}",
            )
        kind = fields["kind"].choice(AmendmentKind, _enum_values(AmendmentKind))
        amended = _targets(fields["targets"])
        for target in amended:
            key = (target.kind, target.value)
            if kind is AmendmentKind.REMOVE and key not in present:
                raise fields["targets"].fail(f"removes {target.value}, which the order does not name")
            if kind is AmendmentKind.ADD:
                present.add(key)
            else:
                present.discard(key)
        where.append(fields.get("deadline", fields["date"]))
        out.append(Amendment(
            id=amendment_id,
            date=date,
            kind=kind,
            targets=amended,
            deadline=_deadline(fields["deadline"]) if "deadline" in fields else None,
            notified=fields["notified"].datetime() if "notified" in fields else None,
            sources=_sources(fields["sources"]) if "sources" in fields else (),
            note=fields["note"].optional_str() if "note" in fields else None,
        ))
    return tuple(out), tuple(where)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _ends(node: Node, deadline: Deadline | None, starts: dict[DeadlineStart, dt.datetime | None]) -> None:
    """Refuse a deadline that would end after 9999-12-31 (the last day Python's dates hold), counted
    from the start it names when that start is recorded, as ``checker.deadlines`` counts it."""
    if deadline is None or deadline.within is None or deadline.start is None:
        return
    start = starts.get(deadline.start)
    if start is None:
        return
    try:
        start + deadline.within
    except OverflowError:
        raise node.fail(
            f"{deadline.within_text} from {deadline.start.value} ({start.date()}) ends after the year 9999",
        ) from None


def _check_deadlines(order: Order, deadline: Node | None, amendments: tuple[Node, ...]) -> None:
    """Every deadline of the order, and of each amendment that adds names, ends by the year 9999;
    ``deadline`` is the order's deadline node, ``amendments`` where each amendment's is reported."""
    if deadline is not None:
        _ends(deadline, order.deadline, {
            DeadlineStart.ISSUED: _midnight(order.issued), DeadlineStart.SERVED: order.served,
            DeadlineStart.NOTIFIED: order.notified,
        })
    for node, amendment in zip(amendments, order.amendments, strict=True):
        if amendment.kind is AmendmentKind.REMOVE:
            continue
        _ends(node, amendment.deadline or order.deadline, {
            DeadlineStart.ISSUED: _midnight(amendment.date), DeadlineStart.SERVED: amendment.notified or order.served,
            DeadlineStart.NOTIFIED: amendment.notified,
        })


def _events(node: Node) -> tuple[Event, ...]:
    out = []
    for item in node.items():
        fields = item.mapping(required=("date", "what"), optional=("inferred",))
        inferred = fields["inferred"].bool() if "inferred" in fields else False
        out.append(Event(date=fields["date"].date(), what=fields["what"].str(), inferred=inferred))
    return tuple(out)


def _names(node: Node) -> tuple[str, ...]:
    return tuple(item.str() for item in node.items())


def load_order(path: Path) -> Order:
    """Read and validate one order file; every error names the file, line and field."""
    root = load(path, OrderError)
    schemas.check("order", root)
    fields = root.mapping(required=_REQUIRED, optional=_OPTIONAL)
    schema = fields["schema"].str()
    if schema != SCHEMA:
        raise fields["schema"].fail(f"unsupported schema {schema!r}", hint=f"expected {SCHEMA}")
    jurisdiction = fields["jurisdiction"].str()
    if not _JURISDICTION.match(jurisdiction):
        raise fields["jurisdiction"].fail(
            f"{jurisdiction!r} is not an ISO 3166 code", hint="for example US, DE or GB-ENG",
        )
    issued = fields["issued"].date()
    valid_from, valid_until = issued, None
    if "valid" in fields:
        valid = fields["valid"].mapping(optional=("from", "until"))
        if "from" in valid:
            valid_from = valid["from"].date()
        if "until" in valid and not valid["until"].is_null:
            valid_until = valid["until"].date()
            if valid_until < valid_from:
                raise valid["until"].fail(f"ends ({valid_until}) before it starts ({valid_from})")
    targets = _targets(fields["targets"])
    exemptions = _exemptions(fields["exemptions"]) if "exemptions" in fields else ()
    amendments, amendment_nodes = _amendments(fields["amendments"], targets) if "amendments" in fields else ((), ())
    ordered = {t.value for t in targets} | {
        t.value for a in amendments for t in a.targets if a.kind is AmendmentKind.ADD
    }
    if not ordered:
        raise fields["targets"].fail("the order names no target", hint="list at least one domain, ip or url")
    for exemption in exemptions:
        if exemption.value in ordered:
            raise OrderError(
                f"field 'exemptions': {exemption.value} is both ordered blocked and exempt",
                path=str(path), line=exemption.line,
            )
    inferred: tuple[str, ...] = ()
    if "inferred" in fields:
        inferred = _names(fields["inferred"])
        for item, name in zip(fields["inferred"].items(), inferred, strict=True):
            if name not in _INFERABLE:
                raise item.fail(f"{name!r} cannot be marked inferred", hint="one of " + ", ".join(_INFERABLE))
    plaintiffs: tuple[str, ...] = ()
    defendants: tuple[str, ...] = ()
    if "parties" in fields:
        parties = fields["parties"].mapping(optional=("plaintiffs", "defendants"))
        plaintiffs = _names(parties["plaintiffs"]) if "plaintiffs" in parties else ()
        defendants = _names(parties["defendants"]) if "defendants" in parties else ()
    order = Order(
        id=_slug(fields["id"], "order id"),
        title=fields["title"].str(),
        authority=fields["authority"].str(),
        jurisdiction=jurisdiction,
        order_type=fields["order_type"].choice(OrderType, _enum_values(OrderType)),
        issued=issued,
        verification=fields["verification"].choice(Verification, _enum_values(Verification)),
        valid_from=valid_from,
        valid_until=valid_until,
        targets=targets,
        path=str(path),
        judge=fields["judge"].optional_str() if "judge" in fields else None,
        case_number=fields["case_number"].optional_str() if "case_number" in fields else None,
        sources=_sources(fields["sources"]) if "sources" in fields else (),
        deadline=_deadline(fields["deadline"]) if "deadline" in fields else None,
        served=fields["served"].datetime() if "served" in fields else None,
        notified=fields["notified"].datetime() if "notified" in fields else None,
        exemptions=exemptions,
        amendments=amendments,
        inferred=inferred,
        events=_events(fields["events"]) if "events" in fields else (),
        notes=fields["notes"].optional_str() if "notes" in fields else None,
        plaintiffs=plaintiffs,
        defendants=defendants,
        line=fields["id"].line,
    )
    _check_deadlines(order, fields.get("deadline"), amendment_nodes)
    return order


def discover(paths: Sequence[Path]) -> list[Path]:
    """Order files named directly, plus every ``*.yaml``/``*.yml`` below named folders, sorted."""
    files: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.suffix in ORDER_SUFFIXES and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise OrderError("folder holds no order files (*.yaml, *.yml)", path=str(path))
            files.extend(p for p in found if p.resolve() not in seen)
            seen.update(p.resolve() for p in found)
        elif not path.exists():
            raise OrderError("no such file or folder", path=str(path))
        elif path.resolve() not in seen:
            seen.add(path.resolve())
            files.append(path)
    return files


def load_any(path: Path, input_format: str | None = None) -> Order:
    """An order file, or a foreign list (hosts, RPZ, RKN dump…) read as an order in memory.

    ``.yaml``/``.yml`` files are order files unless ``input_format`` says otherwise; any other
    file is imported by ``input_format`` or by the format its name and first lines show.
    """
    if input_format is None and path.suffix in ORDER_SUFFIXES:
        return load_order(path)
    from checker.orders.importers import guess_format, load_foreign  # noqa: PLC0415 - only for lists

    fmt = input_format or guess_format(path)
    if fmt is None:
        raise OrderError("not an order file, and its list format cannot be told from its name or first lines",
                         path=str(path), line=1,
                         hint="give --input-format (plain, hosts, csv, citizenlab, adblock, rpz, "
                              "unbound, dnsmasq, rkn)")
    return load_foreign(path, fmt)


def load_orders(paths: Sequence[Path], on: dt.date, input_format: str | None = None) -> OrderSet:
    """Load every order, refuse duplicate ids, and merge the names of the orders in force on ``on``.

    Folders yield their ``*.yaml``/``*.yml`` order files; files named directly may also be
    foreign lists (see ``load_any``).
    """
    orders: list[Order] = []
    by_id: dict[str, Order] = {}
    for file in discover(paths):
        order = load_any(file, input_format)
        if order.id in by_id:
            first = by_id[order.id]
            raise OrderError(
                f"field 'id': order id {order.id!r} is already used by {first.path}:{first.line}",
                path=order.path, line=order.line,
            )
        by_id[order.id] = order
        orders.append(order)
    return merge(orders, on)


def merge(orders: Sequence[Order], on: dt.date) -> OrderSet:
    """Merge names over orders: each keeps every order that requires it (in force on ``on``)."""
    # Names keep their orders as tuples shared between names (a million names of one order hold
    # one tuple, not a million sets).
    ordered: dict[str, tuple[bool, tuple[str, ...]]] = {}
    shared: dict[object, object] = {}
    exempt: dict[str, tuple[Order, Target]] = {}
    not_checkable: list[tuple[str, Target]] = []
    not_in_force: list[str] = []
    for order in sorted(orders, key=lambda o: o.id):
        if not order.in_force(on):
            not_in_force.append(order.id)
            continue
        for target in order.effective_targets(on):
            if target.kind is not TargetKind.DOMAIN:
                not_checkable.append((order.id, target))
                continue
            subdomains, ids = ordered.get(target.value, (False, ()))
            if order.id not in ids:
                ids = tuple(sorted((*ids, order.id)))
                ids = shared.setdefault(ids, ids)  # type: ignore[assignment]
            pair = (subdomains or target.subdomains, ids)
            ordered[target.value] = shared.setdefault(pair, pair)  # type: ignore[assignment]
        for target in order.exemptions:
            exempt.setdefault(target.value, (order, target))
    for name, (order, target) in exempt.items():
        if name in ordered:
            others = ", ".join(sorted(ordered[name][1]))
            raise OrderError(
                f"field 'exemptions': {name} is exempt here but ordered blocked by {others}",
                path=order.path, line=target.line,
            )
    exempt_ids: dict[str, set[str]] = {}
    for order in orders:
        if order.in_force(on):
            for target in order.exemptions:
                exempt_ids.setdefault(target.value, set()).add(order.id)
    by_domain = operator.attrgetter("domain")
    names = sorted((OrderedName(domain=d, kind=QueryKind.ORDERED, subdomains=s, orders=ids)
                    for d, (s, ids) in ordered.items()), key=by_domain)
    del ordered
    names += sorted((OrderedName(domain=d, kind=QueryKind.EXEMPTION, subdomains=False, orders=tuple(sorted(ids)))
                     for d, ids in exempt_ids.items()), key=by_domain)
    return OrderSet(
        orders=tuple(sorted(orders, key=lambda o: o.id)),
        names=tuple(names),
        not_checkable=tuple(not_checkable),
        not_in_force=tuple(not_in_force),
    )
