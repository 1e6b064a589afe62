"""Every supported payload → :class:`~shared.core.models.Extraction` (audit records + alert windows).

:func:`extract` recognises the shape and hands each part to its reader:

* Graph ``directoryAudits`` page (``{"value": [...]}``), one ``directoryAudit``, or a list of them;
* Log Analytics ``AuditLogs`` rows (objects) or the query API's ``{"tables": [...]}`` form;
* the diagnostic-settings stream ``{"records": [...]}``, modern and 2019 (flattened) records;
* Event Grid schema events and CloudEvents 1.0 (``data`` or ``data_base64``), one or an array,
  whose ``data`` is any of these shapes;
* the Azure Monitor common alert schema (Log Alerts V2 windows, legacy Log Analytics contexts
  with embedded rows).

Raw bytes come in through :func:`extract_json` (anything pushed at us: HTTP bodies, files) or
:func:`extract_page` (a page Graph sent in answer to the audit poll). Both try the typed lane for
Graph audit pages first (``graph_pages.py``), which gives this module's answer or declines, and
otherwise run :func:`~shared.detect.payload.parse_json` and :func:`extract`.

Keys are matched case-insensitively everywhere because each source spells them differently.
Only :class:`~shared.core.errors.PayloadError` escapes: for a payload that is not a supported shape at
all, more than :data:`MAX_RECORDS` records, or an alert with nothing to re-query. Parts that cannot
be used (a record without an activity, an Event Grid event of another type, the subscription
validation handshake) are listed in ``Extraction.skipped`` and the rest is kept — so an Event Grid
batch is never dead-lettered because one event in it is foreign.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

from shared.core.errors import PayloadError
from shared.core.models import AuditRecord, Extraction, Source
from shared.detect.normalize._util import (
    MAX_NESTING,
    MAX_RECORDS,
    Context,
    TooManyRecords,
    as_dict,
    loads_nested,
    lower_keys,
    short,
    text,
    timestamp,
)
from shared.detect.normalize.alerts import alert_into, is_common_alert
from shared.detect.normalize.audit import CAMEL, PASCAL, legacy_record_from, record_from
from shared.detect.normalize.rows import tables_into
from shared.detect.normalize.tenant import merged_tenant, tenant_in_path
from shared.detect.payload import RepeatedKeys, parse_json

__all__ = [
    "MAX_RECORDS",
    "diagnostic_record_into",
    "extract",
    "extract_json",
    "extract_page",
    "json_type",
    "object_into",
]

VALIDATION_EVENT = "microsoft.eventgrid.subscriptionvalidationevent"
_AUDIT_CATEGORIES = frozenset({"auditlogs", "audit"})
_LA_MARKERS = ("timegenerated", "aadtenantid", "sourcesystem")
_MODERN_MARKERS = ("activitydisplayname", "targetresources", "initiatedby")


def extract(payload: Any) -> Extraction:
    """Normalize a parsed payload (see the module docstring); raises only :class:`PayloadError`."""
    out = Extraction()
    ctx = Context(skipped=out.skipped)
    if isinstance(payload, dict):
        if not _object_into(payload, out, ctx, "", 0):
            raise PayloadError(f"unsupported payload: object with keys {_key_list(payload)}")
    elif isinstance(payload, list):
        _list_into(payload, out, ctx, "", 0)
    else:
        raise PayloadError(f"unsupported payload: a JSON {_json_type(payload)}, expected an object or array")
    return out


def extract_json(data: bytes | bytearray | memoryview | str, *, limit: int) -> Extraction:
    """``extract(parse_json(data, limit=limit))``, with a typed fast lane for Graph audit pages.

    The lane (:mod:`shared.detect.normalize.graph_pages`) either gives exactly what the generic path
    would or declines, so the answer, every note and every error are the generic path's.
    """
    return _read(data, limit, "refuse")[0]


def extract_page(data: bytes, *, limit: int, repeated_keys: RepeatedKeys) -> tuple[Extraction, str | None]:
    """:func:`extract_json` of a Graph collection page, with its ``@odata.nextLink`` (the audit poll).

    ``repeated_keys="last"`` is for a page Graph sent in answer to our own request over TLS: read as
    every Graph SDK reads it (a repeated key keeps its last value), which spares the duplicate-key
    check; size, UTF-8, depth, syntax, types and every other rule still hold. Pushed payloads
    (HTTP bodies, queue messages, files) always refuse a repeated key.
    """
    return _read(data, limit, repeated_keys)


def _read(
    data: bytes | bytearray | memoryview | str, limit: int, repeated_keys: RepeatedKeys
) -> tuple[Extraction, str | None]:
    if not isinstance(data, str) and len(data) <= limit:
        from shared.detect.normalize.graph_pages import graph_page

        fast = graph_page(bytes(data), repeated_keys=repeated_keys)
        if fast is not None:
            return fast
    payload = parse_json(data, limit=limit, repeated_keys=repeated_keys)
    link = payload.get("@odata.nextLink") if isinstance(payload, dict) else None
    return extract(payload), link if isinstance(link, str) else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _key_list(obj: dict[Any, Any]) -> str:
    keys = [k for k in list(obj)[:5] if isinstance(k, str)]
    rendered = ", ".join(short(k[:20]) for k in keys)
    return rendered[:100] or "(none)"


def _list_into(items: list[Any], out: Extraction, ctx: Context, where: str, depth: int) -> None:
    """A JSON array of any shapes (records, rows, events). Unknown items are skipped with a note,
    but an array where *nothing* is recognised is not a payload we support."""
    if len(items) > MAX_RECORDS:
        raise TooManyRecords
    unknown: list[str] = []
    for index, item in enumerate(items):
        ctx.take()
        label = f"{where}item {index}: "
        if not (isinstance(item, dict) and _object_into(item, out, ctx, label, depth)):
            unknown.append(label + ("unsupported object" if isinstance(item, dict) else f"a {_json_type(item)}"))
    if unknown:
        if len(unknown) == len(items):
            raise PayloadError(f"unsupported payload: none of the {len(items)} array items is a supported shape")
        out.skipped.extend(unknown)


class _At(NamedTuple):
    """Where an object is read into: the extraction, its context, the label prefix, the nesting depth."""

    out: Extraction
    ctx: Context
    where: str
    depth: int


_Into = Callable[[dict[Any, Any], dict[str, Any], _At], None]
"""Reads one object of a known shape: (the object, its lower-keyed form, where it goes)."""


def _object_into(obj: dict[Any, Any], out: Extraction, ctx: Context, where: str, depth: int) -> bool:
    """Route one object by shape; ``False`` when the shape is not one we read."""
    keys = lower_keys(obj)
    into = _container_shape(keys) or _record_shape(keys)
    if into is None:
        return False
    into(obj, keys, _At(out, ctx, where, depth))
    return True


def _container_shape(keys: dict[str, Any]) -> _Into | None:
    """The reader of an object that holds records or windows — an alert, a CloudEvent, an Event
    Grid event, diagnostic ``records``, query ``tables``, a Graph page — in that order of precedence."""
    if is_common_alert(keys):
        return _alert
    if "specversion" in keys and "type" in keys:
        return _cloud_event
    if "eventtype" in keys and ("data" in keys or "eventtime" in keys):
        return _grid_event
    if isinstance(keys.get("records"), list):
        return _records
    if isinstance(keys.get("tables"), list):
        return _tables
    value = keys.get("value")
    if isinstance(value, list) and ("@odata.context" in keys or not value or isinstance(value[0], dict)):
        return _page
    return None


def _record_shape(keys: dict[str, Any]) -> _Into | None:
    """The reader of one record: a directoryAudit or AuditLogs row, or a diagnostic record."""
    if "activitydisplayname" in keys or ("operationname" in keys and "id" in keys and "properties" not in keys):
        return _audit_record
    if "operationname" in keys and isinstance(keys.get("properties"), dict | str):
        return _diagnostic_record
    return None


def _alert(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    alert_into(keys, at.out, at.ctx, at.where)


def _cloud_event(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    _event_into(keys, at.out, at.ctx, at.where, at.depth, cloud=True)


def _grid_event(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    _event_into(keys, at.out, at.ctx, at.where, at.depth, cloud=False)


def _records(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    _diagnostic_into(keys["records"], at.out, at.ctx, at.where)


def _tables(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    tables_into(keys, at.out, at.ctx, at.where)


def _page(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    _graph_page_into(keys["value"], at.out, at.ctx, at.where)


def _audit_record(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    """A directoryAudit (camelCase) or an AuditLogs row (PascalCase, or with its markers)."""
    is_la = "ActivityDisplayName" in obj or any(m in keys for m in _LA_MARKERS)
    record = record_from(
        obj,
        Source.LOG_ANALYTICS if is_la else Source.GRAPH,
        at.ctx,
        at.where.rstrip(": "),
        spelling=PASCAL if is_la else CAMEL,
    )
    if record is not None:
        at.out.records.append(record)


def _diagnostic_record(obj: dict[Any, Any], keys: dict[str, Any], at: _At) -> None:
    _diagnostic_record_into(obj, at.out, at.ctx, at.where.rstrip(": "))


def _graph_page_into(items: list[Any], out: Extraction, ctx: Context, where: str) -> None:
    if len(items) > MAX_RECORDS:
        raise TooManyRecords
    append = out.records.append
    for index, item in enumerate(items):
        ctx.take()
        label = f"{where}value {index}"
        if not isinstance(item, dict):
            ctx.skip(label, f"a {_json_type(item)}, not a directoryAudit object")
            continue
        record = record_from(item, Source.GRAPH, ctx, label)
        if record is not None:
            append(record)


def _diagnostic_into(records: list[Any], out: Extraction, ctx: Context, where: str) -> None:
    if len(records) > MAX_RECORDS:
        raise TooManyRecords
    for index, item in enumerate(records):
        ctx.take()
        label = f"{where}records {index}"
        if not isinstance(item, dict):
            ctx.skip(label, f"a {_json_type(item)}, not a record object")
            continue
        _diagnostic_record_into(item, out, ctx, label)


def _diagnostic_record_into(item: dict[Any, Any], out: Extraction, ctx: Context, label: str) -> None:
    """One diagnostic-settings record: modern (``properties`` is a directoryAudit) or 2019."""
    envelope = lower_keys(item)
    category = text(envelope.get("category"))
    if category and category.lower() not in _AUDIT_CATEGORIES:
        ctx.skip(label, f"category {short(category)} is not an audit log")
        return
    props = as_dict(envelope.get("properties"))
    if props is None:
        ctx.skip(label, "record has no properties object")
        return
    p_keys = lower_keys(props)
    if any(m in p_keys for m in _MODERN_MARKERS):
        record = record_from(
            props,
            Source.DIAGNOSTIC,
            ctx,
            label,
            tenant=merged_tenant(text(envelope.get("tenantid")), tenant_in_path(envelope.get("resourceid"))),
            ingested=timestamp(envelope.get("time")),
            fallback_activity=text(envelope.get("operationname")),
            fallback_result=text(envelope.get("resulttype")),
        )
    else:
        record = legacy_record_from(envelope, p_keys, ctx, label)
    if record is not None:
        out.records.append(record)


def _event_data(keys: dict[str, Any], cloud: bool) -> Any:
    """An event's ``data``: inline JSON, JSON text, or (CloudEvents) ``data_base64``.

    Raises :class:`PayloadError` naming what is wrong; the caller turns it into a skip note.
    """
    data = keys.get("data")
    if data is None and cloud and "data_base64" in keys:
        encoded = keys.get("data_base64")
        if not isinstance(encoded, str):
            raise PayloadError("data_base64 is not a string")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadError("data_base64 is not valid base64") from None
        return parse_json(raw, limit=len(raw) + 1)
    if isinstance(data, str):
        return loads_nested(data)
    return data


def _envelope_tenant(keys: dict[str, Any], out: Extraction, first: int) -> None:
    """An envelope naming a tenant (``/tenants/{guid}/…`` in ``source``, ``subject`` or ``topic``)
    adds that marker to every record its data held (shared.detect.normalize.tenant)."""
    markers = [tenant_in_path(keys.get(k)) for k in ("source", "subject", "topic")]
    if not any(markers):
        return
    for index in range(first, len(out.records)):
        record = out.records[index]
        merged = merged_tenant(record.tenant_id, *markers)
        if merged != record.tenant_id:
            fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(AuditRecord)}
            out.records[index] = AuditRecord(**{**fields, "tenant_id": merged})


def _event_into(keys: dict[str, Any], out: Extraction, ctx: Context, where: str, depth: int, *, cloud: bool) -> None:
    """An Event Grid or CloudEvents envelope. Unknown types are acknowledged with a note (Event Grid
    would otherwise retry them for 24 hours); a broken part never fails the whole batch."""
    event_type = text(keys.get("type" if cloud else "eventtype")) or ""
    label = f"{where}event {short(text(keys.get('id')) or '')} ({short(event_type)})"
    if event_type.lower() == VALIDATION_EVENT:
        ctx.skip(label, "subscription validation handshake, answered by the trigger")
        return
    if depth >= MAX_NESTING:
        ctx.skip(label, "envelopes nested too deep")
        return
    before = (len(out.records), len(out.alerts))
    try:
        data = _event_data(keys, cloud)
        if isinstance(data, dict):
            known = _object_into(data, out, ctx, f"{label} ", depth + 1)
        elif isinstance(data, list) and data:
            _list_into(data, out, ctx, f"{label} ", depth + 1)
            known = True
        else:
            known = False
    except TooManyRecords:
        raise
    except PayloadError as exc:
        del out.records[before[0] :]
        del out.alerts[before[1] :]
        ctx.skip(label, f"data unreadable: {exc}")
        return
    _envelope_tenant(keys, out, before[0])
    if not known:
        ctx.skip(label, "data is not a supported audit or alert shape")


def object_into(obj: dict[Any, Any], out: Extraction, ctx: Context, where: str) -> bool:
    """One object of any shape :func:`extract` reads inside an array (a record, a row, a page, an
    event, an alert) into ``out``; ``False`` when it is none of them. For readers that stream the
    items of an array themselves (shared/detect/normalize/exports.py)."""
    return _object_into(obj, out, ctx, where, 0)


diagnostic_record_into = _diagnostic_record_into
json_type = _json_type
