"""Normalized records and alert windows as plain JSON, for the intake queue.

The triggers normalize and classify in-process and hand the *normalized* records to the intake
queue, so the queue function does not parse the original payload a second time and a message stays
small (only the records about Webex travel). The reader is strict about types: a queue message that
does not decode is permanently bad (:class:`PayloadError`), which the queue function logs and drops.
"""

from __future__ import annotations

from typing import Any

from shared.core.clock import format_timestamp, parse_timestamp
from shared.core.errors import PayloadError
from shared.core.models import AlertWindow, AuditRecord, Initiator, ModifiedProperty, Source, TargetResource


def _ts(value: Any) -> str | None:
    return format_timestamp(value) if value is not None else None


def _opt_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"intake message: {key} must be text")
    return value


def _req_str(obj: dict[str, Any], key: str) -> str:
    value = _opt_str(obj, key)
    if not value:
        raise PayloadError(f"intake message: {key} missing")
    return value


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"intake message: {what} must be an object")
    return value


def _items(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"intake message: {what} must be an array")
    return value


def record_to_dict(r: AuditRecord) -> dict[str, Any]:
    i = r.initiator
    out: dict[str, Any] = {
        "record_id": r.record_id,
        "activity": r.activity,
        "source": str(r.source),
        "tenant_id": r.tenant_id,
        "event_time": _ts(r.event_time),
        "ingested_time": _ts(r.ingested_time),
        "result": r.result,
        "category": r.category,
        "correlation_id": r.correlation_id,
        "logged_by_service": r.logged_by_service,
        "initiator": {
            "kind": i.kind,
            "id": i.id,
            "display_name": i.display_name,
            "user_principal_name": i.user_principal_name,
            "ip_address": i.ip_address,
        },
        "targets": [
            {
                "id": t.id,
                "display_name": t.display_name,
                "type": t.type,
                "app_id": t.app_id,
                "modified": [[p.name, p.old, p.new] for p in t.modified],
            }
            for t in r.targets
        ],
        "additional_details": [[k, v] for k, v in r.additional_details],
    }
    return {k: v for k, v in out.items() if v is not None}


def _target(raw: Any) -> TargetResource:
    obj = _obj(raw, "target")
    modified = []
    for item in _items(obj.get("modified"), "modified"):
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str):
            raise PayloadError("intake message: modified property must be [name, old, new]")
        modified.append(ModifiedProperty(item[0], item[1], item[2]))
    return TargetResource(
        id=_opt_str(obj, "id"),
        display_name=_opt_str(obj, "display_name"),
        type=_opt_str(obj, "type"),
        app_id=_opt_str(obj, "app_id"),
        modified=tuple(modified),
    )


def record_from_dict(raw: Any) -> AuditRecord:
    obj = _obj(raw, "record")
    try:
        source = Source(_req_str(obj, "source"))
    except ValueError:
        raise PayloadError("intake message: unknown record source") from None
    ini = _obj(obj.get("initiator") or {}, "initiator")
    details = []
    for item in _items(obj.get("additional_details"), "additional_details"):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise PayloadError("intake message: additional detail must be [key, value]")
        details.append((item[0], item[1]))
    return AuditRecord(
        record_id=_req_str(obj, "record_id"),
        activity=_req_str(obj, "activity"),
        source=source,
        tenant_id=_opt_str(obj, "tenant_id"),
        event_time=parse_timestamp(obj.get("event_time")),
        ingested_time=parse_timestamp(obj.get("ingested_time")),
        result=_opt_str(obj, "result"),
        category=_opt_str(obj, "category"),
        correlation_id=_opt_str(obj, "correlation_id"),
        logged_by_service=_opt_str(obj, "logged_by_service"),
        initiator=Initiator(
            kind=_opt_str(ini, "kind") or "unknown",
            id=_opt_str(ini, "id"),
            display_name=_opt_str(ini, "display_name"),
            user_principal_name=_opt_str(ini, "user_principal_name"),
            ip_address=_opt_str(ini, "ip_address"),
        ),
        targets=tuple(_target(t) for t in _items(obj.get("targets"), "targets")),
        additional_details=tuple(details),
    )


def window_to_dict(w: AlertWindow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "alert_id": w.alert_id,
        "rule": w.rule,
        "condition": w.condition,
        "start": format_timestamp(w.start),
        "end": format_timestamp(w.end),
        "workspace_id": w.workspace_id,
        "fired_time": _ts(w.fired_time),
    }
    return {k: v for k, v in out.items() if v is not None}


def window_from_dict(raw: Any) -> AlertWindow:
    obj = _obj(raw, "alert")
    start = parse_timestamp(obj.get("start"))
    end = parse_timestamp(obj.get("end"))
    if start is None or end is None:
        raise PayloadError("intake message: alert window times unreadable")
    return AlertWindow(
        alert_id=_req_str(obj, "alert_id"),
        rule=_opt_str(obj, "rule"),
        condition=_req_str(obj, "condition"),
        start=start,
        end=end,
        workspace_id=_opt_str(obj, "workspace_id"),
        fired_time=parse_timestamp(obj.get("fired_time")),
    )
