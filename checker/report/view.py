"""The report view-model: a run as plain JSON-ready data, the one source every format renders from."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

from checker import __version__, classify
from checker.models import (
    Certificate,
    Deadline,
    DeadlineInfo,
    Fetch,
    Health,
    Identity,
    Observation,
    Order,
    QueryKind,
    Record,
    Resolver,
    Result,
    Run,
    Source,
    Target,
)
from checker.tally import Scope, Tally

REPORT_SCHEMA = "blockaudit/report/1"
MAX_LISTED_TARGETS = 1000
"""An order's targets listed in a report; ``target_count`` says how many it has (a list of a million
names is the order file's to hold, not every report's)."""

View = dict[str, Any]


# --------------------------------------------------------------------------- view-model


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # without its "+00:00"


def _record(record: Record) -> View:
    return {"name": record.name, "type": record.type, "ttl": record.ttl, "data": record.data}


def observation(obs: Observation) -> View:
    """One observation as plain data, raw response in base64."""
    return {
        "resolver": obs.resolver,
        "qname": obs.qname,
        "qtype": obs.qtype,
        "transport": obs.transport,
        "started_at": _time(obs.started_at),
        "rcode": obs.rcode,
        "flags": list(obs.flags),
        "answers": [_record(r) for r in obs.answers],
        "authority": [_record(r) for r in obs.authority],
        "ede": [{"code": e.code, "text": e.text} for e in obs.ede],
        "elapsed_ms": obs.elapsed_ms,
        "attempts": obs.attempts,
        "rejected": obs.rejected,
        "error": obs.error,
        "wire": base64.b64encode(obs.wire).decode("ascii") if obs.wire is not None else None,
    }


def _source(source: Source) -> View:
    return {"url": source.url, "note": source.note}


def _deadline(deadline: Deadline | None) -> View | None:
    if deadline is None:
        return None
    if deadline.due is not None:
        return {"due": _time(deadline.due)}
    return {"within": deadline.within_text, "from": deadline.start.value if deadline.start else None}


def _target(target: Target) -> View:
    view: View = {target.kind.value: target.value, "line": target.line}
    if target.kind.value == "domain":
        view["subdomains"] = target.subdomains
    if target.site:
        view["site"] = target.site
    return view


def _order(order: Order, run: Run, scope: Scope) -> View:
    return {
        "id": order.id,
        "title": order.title,
        "authority": order.authority,
        "jurisdiction": order.jurisdiction,
        "judge": order.judge,
        "case_number": order.case_number,
        "order_type": order.order_type.value,
        "issued": order.issued.isoformat(),
        "inferred": list(order.inferred),
        "verification": order.verification.value,
        "parties": {"plaintiffs": list(order.plaintiffs), "defendants": list(order.defendants)},
        "sources": [_source(s) for s in order.sources],
        "valid": {"from": order.valid_from.isoformat(),
                  "until": order.valid_until.isoformat() if order.valid_until else None},
        "in_force": order.id not in run.orders.not_in_force,
        "deadline": _deadline(order.deadline),
        "served": _time(order.served),
        "notified": _time(order.notified),
        "targets": [_target(t) for t in order.targets[:MAX_LISTED_TARGETS]],
        "target_count": len(order.targets),
        "exemptions": [t.value for t in order.exemptions],
        "amendments": [
            {"id": a.id, "date": a.date.isoformat(), "kind": a.kind.value,
             "deadline": _deadline(a.deadline), "notified": _time(a.notified),
             "sources": [_source(s) for s in a.sources], "note": a.note,
             "targets": [_target(t) for t in a.targets[:MAX_LISTED_TARGETS]], "target_count": len(a.targets)}
            for a in order.amendments
        ],
        "events": [{"date": e.date.isoformat(), "what": e.what, "inferred": e.inferred} for e in order.events],
        "notes": order.notes,
        "path": order.path,
        "line": order.line,
        "status": scope.status().value,
        "counts": scope.counts(),
        "deadlines": scope.deadlines(),
    }


def _health(health: Health) -> View:
    return {
        "healthy": health.healthy,
        "healthy_after": health.healthy_after,
        "rewrites_nxdomain": health.rewrites_nxdomain,
        "detail": health.detail,
        "observations": [observation(o) for o in health.observations],
    }


def _identity(resolver: Resolver, found: Identity | None) -> View | None:
    if found is None or resolver.identity == ():
        return None  # not asked: an older run, a static check, or probes switched off
    return {
        "source_address": found.source_address,
        "answers": {label: list(values) for label, values in found.answers},
        "intercepted": found.intercepted,
        "detail": found.detail,
        "observations": [observation(o) for o in found.observations],
    }


def _resolver(
    resolver: Resolver, health: Health | None, scope: Scope, config: str | None = None,
    identity: Identity | None = None,
) -> View:
    view: View = {
        "name": resolver.name,
        "operator": resolver.operator,
        "role": resolver.role.value,
        # A verify-config run has no network address: its "resolver" is the candidate config file.
        "address": f"config file {config}" if config else resolver.address,
        "protocol": "static" if config else resolver.protocol.value,
        "url": resolver.url,
        "block": {
            "addresses": sorted(str(a) for a in resolver.block.addresses),
            "cnames": sorted(resolver.block.cnames),
            "drop": resolver.block.drop,
        },
        "qps": resolver.qps,
        "health": _health(health) if health else None,
        "country": resolver.country,
        "identity": _identity(resolver, identity),
    }
    if resolver.role.value == "subject":
        view["status"] = scope.status().value
        view["counts"] = scope.counts()
        view["counts_by_kind"] = scope.counts_by_kind()
        view["deadlines"] = scope.deadlines()
    return view


def _deadline_info(info: DeadlineInfo | None) -> View | None:
    if info is None:
        return None
    return {
        "due_at": _time(info.due_at), "status": info.status, "seconds_left": info.seconds_left,
        "blocked_since": _time(info.blocked_since), "on_time": info.on_time, "basis": info.basis,
        "order": info.order,
    }


def _deadline_counts(results: Iterable[Result]) -> dict[str, int]:
    items = [r.deadline.status for r in results if r.deadline is not None]
    return {"pending": items.count("pending"), "overdue": items.count("overdue")}


def result(item: Result) -> View:
    """One result as plain data."""
    return {
        "query_name": item.query.name,
        "domain": item.query.domain,
        "kind": item.query.kind.value,
        "orders": list(item.query.orders),
        "resolver": item.resolver,
        "verdict": item.verdict.value,
        "method": item.method.value if item.method else None,
        "reason": item.reason.value if item.reason else None,
        "detail": item.detail,
        "deadline": _deadline_info(item.deadline),
        "observations": [observation(o) for o in item.observations],
        "web": [fetch(f) for f in item.web],
    }


def _certificate(cert: Certificate | None) -> View | None:
    if cert is None:
        return None
    return {
        "subject": cert.subject, "issuer": cert.issuer, "names": list(cert.names),
        "not_before": _time(cert.not_before), "not_after": _time(cert.not_after), "sha256": cert.sha256,
        "valid": cert.valid, "error": cert.error,
    }


def fetch(item: Fetch) -> View:
    """One HTTP(S) fetch as plain data, the body in base64 with its SHA-256."""
    return {
        "name": item.name, "address": item.address, "port": item.port, "scheme": item.scheme,
        "started_at": _time(item.started_at), "elapsed_ms": item.elapsed_ms, "status": item.status,
        "headers": [[k, v] for k, v in item.headers], "title": item.title,
        "body_sha256": hashlib.sha256(item.body).hexdigest(), "body_size": len(item.body),
        "body_truncated": item.body_truncated, "body": base64.b64encode(item.body).decode("ascii"),
        "redirects": list(item.redirects), "redirect_elsewhere": item.redirect_elsewhere,
        "certificate": _certificate(item.certificate), "error": item.error,
    }


def counts_by_kind(results: Iterable[Result]) -> dict[str, dict[str, int]]:
    """Verdict counts for ordered names, exemptions and canaries apart (accessible is good for the last two)."""
    items = list(results)
    return {kind.value: classify.counts(r for r in items if r.query.kind is kind) for kind in QueryKind}


def view_model(run: Run, tally: Tally | None = None, *, results: bool = True) -> View:
    """Everything a report shows, as plain JSON-ready data, sorted for identical output.

    The counts come from ``tally`` when given (a run whose results were streamed rather than
    kept), else from ``run.results``. ``results=False`` leaves the ``results`` and ``controls``
    lists empty, for a writer that streams them itself.
    """
    if tally is None:
        tally = Tally.of(run.results, {r.name: r.operator for r in run.resolvers.subjects})
    health = {h.resolver: h for h in run.health}
    identities = {i.resolver: i for i in run.identities}
    point = run.settings.get("vantage")
    vantage: dict[str, Any] = point if isinstance(point, dict) else {}
    members: dict[str, list[str]] = {}
    for resolver in run.resolvers.subjects:
        members.setdefault(resolver.operator, []).append(resolver.name)
    return {
        "schema": REPORT_SCHEMA,
        "tool": {"name": "blockaudit", "version": __version__},
        "run": {
            "id": run.id,
            "started_at": _time(run.started_at),
            "finished_at": _time(run.finished_at),
            "vantage": run.vantage,
            "vantage_host": vantage.get("fqdn") or vantage.get("host") or run.vantage,
            "vantage_addresses": list(vantage.get("addresses") or []),
            "settings": run.settings,
            "resolver_file": run.resolvers.path,
            "canaries": list(run.resolvers.canaries),
        },
        "orders": [_order(o, run, tally.scope("order", o.id)) for o in run.orders.orders],
        "not_checkable": [
            {"order": order_id, "kind": t.kind.value, "value": t.value,
             "reason": "DNS cannot check an IP or URL target"}
            for order_id, t in run.orders.not_checkable
        ],
        "resolvers": [
            _resolver(r, health.get(r.name), tally.scope("resolver", r.name),
                      str(run.settings["config"]) if run.settings.get("mode") == "verify-config" else None,
                      identities.get(r.name))
            for r in run.resolvers.resolvers
        ],
        "operators": [
            {"name": name, "resolvers": members[name], **tally.scope("operator", name).view()}
            for name in sorted(members)
        ],
        "results": [result(r) for r in run.results] if results else [],
        "controls": [observation(o) for o in run.controls] if results else [],
        "summary": {
            **tally.run.view(),
            "names": tally.names(),
            "violations": tally.run.violations,
        },
    }
