"""Exporters: the loaded orders as resolver configuration (RPZ, Unbound, dnsmasq, BIND, hosts), one module a format."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from checker.export import bind, dnsmasq, hosts, rpz, unbound
from checker.export.common import (
    ACTION_CHOICES,
    DEFAULT_ORIGIN,
    DEFAULT_ZONE_FILE,
    Action,
    ActionKind,
    ExportError,
    ExportOptions,
    parse_action,
    serial,
)
from checker.models import OrderSet


class ExportFormat(StrEnum):
    """Formats ``blockaudit export FORMAT`` writes."""

    RPZ = "rpz"
    UNBOUND = "unbound"
    DNSMASQ = "dnsmasq"
    BIND = "bind"
    HOSTS = "hosts"


Exporter = Callable[[OrderSet, ExportOptions], str]

EXPORTERS: dict[ExportFormat, Exporter] = {
    ExportFormat.RPZ: rpz.export,
    ExportFormat.UNBOUND: unbound.export,
    ExportFormat.DNSMASQ: dnsmasq.export,
    ExportFormat.BIND: bind.export,
    ExportFormat.HOSTS: hosts.export,
}
"""The exporter of each format."""


def export(fmt: ExportFormat | str, orders: OrderSet, options: ExportOptions | None = None) -> str:
    """The orders in one format, as text; the same orders and options give the same bytes."""
    try:
        chosen = ExportFormat(fmt)
    except ValueError:
        raise ExportError(f"unknown export format {fmt!r}",
                          hint="one of " + ", ".join(f.value for f in ExportFormat)) from None
    return EXPORTERS[chosen](orders, options or ExportOptions())


__all__ = [
    "ACTION_CHOICES",
    "DEFAULT_ORIGIN",
    "DEFAULT_ZONE_FILE",
    "EXPORTERS",
    "Action",
    "ActionKind",
    "ExportError",
    "ExportFormat",
    "ExportOptions",
    "export",
    "parse_action",
    "serial",
]
