"""One audit record (Graph ``directoryAudit``, Log Analytics ``AuditLogs`` row, diagnostic-settings
record) → :class:`~shared.core.models.AuditRecord`.

The three modern shapes carry the same fields under different casing (Graph camelCase, Log
Analytics PascalCase columns with camelCase JSON inside, possibly as JSON text), so one function
reads all of them through lower-cased keys. The 2019 diagnostic shape flattened everything into
``__``-joined strings and gets its own reader. A record that cannot be read is skipped with a reason
in the extraction, never dropped silently and never fatal for the rest of the payload.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import partial
from typing import Any

from shared.core.models import AuditRecord, Initiator, ModifiedProperty, Source, TargetResource
from shared.detect.classify import RULE_ACTIVITIES, activity_key
from shared.detect.normalize._util import (
    MAX_DETAILS,
    MAX_PROPERTIES,
    MAX_TARGETS,
    NAME_CAP,
    VALUE_CAP,
    Context,
    as_dict,
    as_list,
    decode_value,
    first_guid,
    get,
    key_map,
    short,
    text,
    timestamp,
)
from shared.detect.normalize.deferred import DeferredRecord, Rest, Summary
from shared.detect.normalize.tenant import merged_tenant, tenant_in_path

_UNKNOWN = Initiator()
# Modified properties that carry the app's appId (first GUID inside), in the order they are trusted.
# "TargetId.ServicePrincipalNames" lists the appId first on "Update service principal" records.
_APP_ID_PROPERTIES = ("appid", "appprincipalid", "serviceprincipal.appid", "targetid.serviceprincipalnames")
_APP_TARGET_TYPES = frozenset({"serviceprincipal", "application"})


def derived_id(*parts: str | None) -> str:
    """A stable id for records that carry none (the 2019 stream): the same event seen twice gets
    the same id, so the incident dedupe still works."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode("utf-8", "replace")).hexdigest()
    return f"derived_{digest[:32]}"


def initiator_from(value: Any) -> Initiator:
    """``initiatedBy`` → :class:`Initiator`. Entra sets ``user`` or ``app`` (the other is ``null``
    or absent); a user object whose fields are all null counts as absent."""
    obj = value if type(value) is dict else as_dict(value)
    if not obj:
        return _UNKNOWN
    user = obj["user"] if "user" in obj else get(obj, "user")
    if type(user) is dict:
        upn = text(user["userPrincipalName"] if "userPrincipalName" in user else get(user, "userPrincipalName"))
        uid = text(user["id"] if "id" in user else get(user, "id"))
        name = text(user["displayName"] if "displayName" in user else get(user, "displayName"))
        if upn or uid or name:
            return Initiator("user", uid, name, upn, text(get(user, "ipAddress")))
    app = get(obj, "app")
    if type(app) is dict:
        name = text(get(app, "displayName")) or text(get(app, "servicePrincipalName"))
        aid = text(get(app, "appId")) or text(get(app, "servicePrincipalId"))
        if name or aid:
            return Initiator("app", aid, name)
    return _UNKNOWN


def details_from(value: Any) -> tuple[tuple[str, str], ...]:
    """``additionalDetails`` ``[{key, value}]`` → ``((key, value), …)``; non-text values skipped."""
    items = value if type(value) is list else as_list(value)
    if not items:
        return ()
    out: list[tuple[str, str]] = []
    for item in items[:MAX_DETAILS]:
        if type(item) is dict:
            key = text(item["key"] if "key" in item else get(item, "key"))
            val = text(item["value"] if "value" in item else get(item, "value"))
            if key is not None and val is not None:
                out.append((key, val))
    return tuple(out)


def properties_from(value: Any) -> tuple[ModifiedProperty, ...]:
    """``modifiedProperties`` with old/new decoded from Entra's JSON-encoded strings."""
    if type(value) is not list:
        return ()
    out: list[ModifiedProperty] = []
    for item in value[:MAX_PROPERTIES]:
        if type(item) is not dict:
            continue
        name = item["displayName"] if "displayName" in item else get(item, "displayName")
        if type(name) is not str:
            continue
        old = item["oldValue"] if "oldValue" in item else get(item, "oldValue")
        new = item["newValue"] if "newValue" in item else get(item, "newValue")
        out.append(ModifiedProperty(name[:NAME_CAP], decode_value(old), decode_value(new)))
    return tuple(out)


def _app_id_in(modified: tuple[ModifiedProperty, ...]) -> str | None:
    by_name = {prop.name.lower(): prop for prop in modified}
    for name in _APP_ID_PROPERTIES:
        prop = by_name.get(name)
        if prop is not None:
            found = first_guid(prop.new) or first_guid(prop.old)
            if found:
                return found
    return None


def targets_from(value: Any, detail_app_id: str | None) -> tuple[TargetResource, ...]:
    """``targetResources`` → targets, each with the best ``app_id`` the record offers.

    A service principal's appId is often not on the target: it is taken, in order, from the target
    itself, from ``additionalDetails`` ``AppId`` (only for service-principal/application targets, so
    a user target of the same record does not inherit it), then from the appId-bearing modified properties
    (``AppId``, ``AppPrincipalId``, ``ServicePrincipal.AppId``, ``TargetId.ServicePrincipalNames``).
    """
    items = value if type(value) is list else as_list(value)
    if not items:
        return ()
    out: list[TargetResource] = []
    for item in items[:MAX_TARGETS]:
        if type(item) is not dict:
            continue
        ttype = text(item["type"] if "type" in item else get(item, "type"))
        raw_modified = item["modifiedProperties"] if "modifiedProperties" in item else get(item, "modifiedProperties")
        modified = properties_from(raw_modified)
        app_id = text(item["appId"] if "appId" in item else get(item, "appId"))
        if not app_id and detail_app_id and (ttype is None or ttype.lower() in _APP_TARGET_TYPES):
            app_id = detail_app_id
        if not app_id and modified:
            app_id = _app_id_in(modified)
        tid = text(item["id"] if "id" in item else get(item, "id"))
        name = text(item["displayName"] if "displayName" in item else get(item, "displayName"))
        out.append(TargetResource(tid, name, ttype, app_id, modified))
    return tuple(out)


class Spelling:
    """The key spellings of one source, tried first (exact probe) before the case-insensitive scan."""

    __slots__ = (
        "activity",
        "additional",
        "category",
        "correlation",
        "id",
        "initiator",
        "logged_by",
        "operation",
        "resource_id",
        "result",
        "result_type",
        "targets",
        "tenant",
        "time",
        "time_generated",
    )

    def __init__(self, pascal: bool) -> None:
        def k(name: str) -> str:
            return name[0].upper() + name[1:] if pascal else name

        self.id = k("id")
        self.activity = k("activityDisplayName")
        self.operation = k("operationName")
        self.time = k("activityDateTime")
        self.time_generated = k("timeGenerated")
        self.correlation = k("correlationId")
        self.result = k("result")
        self.result_type = k("resultType")
        self.category = k("category")
        self.logged_by = k("loggedByService")
        self.initiator = k("initiatedBy")
        self.targets = k("targetResources")
        self.additional = k("additionalDetails")
        # Log Analytics' TenantId column is the *workspace*; the Entra tenant is AADTenantId.
        self.tenant = "AADTenantId" if pascal else "tenantId"
        self.resource_id = k("resourceId")  # "/tenants/{guid}/providers/Microsoft.aadiam" (normalize.tenant)


CAMEL = Spelling(pascal=False)
PASCAL = Spelling(pascal=True)


def record_from(
    obj: dict[Any, Any],
    source: Source,
    ctx: Context,
    where: str,
    *,
    spelling: Spelling = CAMEL,
    tenant: str | None = None,
    ingested: datetime | None = None,
    fallback_activity: str | None = None,
    fallback_result: str | None = None,
) -> AuditRecord | None:
    """Normalize one modern record; ``None`` (with a note in ``ctx``) when it cannot be used.

    ``spelling`` is the source's casing, probed first because it nearly always hits; any other
    casing is still found by the case-insensitive fallback in :func:`get`.
    """
    n = spelling
    activity = text(_field(obj, n.activity)) or text(_field(obj, n.operation)) or fallback_activity
    if not activity or not activity.strip():
        ctx.skip(where, "record has no activity name")
        return None
    record_id = text(_field(obj, n.id))
    if not record_id:
        raw_time = _field(obj, n.time)
        correlation = text(_field(obj, n.correlation))
        if correlation and type(raw_time) is str:
            record_id = derived_id(correlation, raw_time, activity)
        else:
            ctx.skip(where, f"record {short(activity)} has no id and no correlationId+time to derive one")
            return None
    activity = activity.strip()
    if activity_key(activity) not in RULE_ACTIVITIES:
        raw_targets = _field(obj, n.targets)
        raw_details = _field(obj, n.additional)
        if (raw_targets is None or type(raw_targets) is list) and (raw_details is None or type(raw_details) is list):
            # No rule reads this record: normalize the rest only if someone asks (deferred.py).
            return DeferredRecord.create(
                record_id,
                activity,
                source,
                partial(_rest, obj, n, tenant, ingested, fallback_result),
                summary=partial(_summary, obj, n, tenant),
            )
    rest = _rest(obj, n, tenant, ingested, fallback_result)
    raw_targets = _field(obj, n.targets)
    if raw_targets and not rest[-2] and as_list(raw_targets) is None:
        ctx.skip(where, f"record {short(record_id)}: targetResources is not a list or JSON array")
        return None
    return AuditRecord(record_id, activity, source, *rest)


def _field(obj: dict[Any, Any], key: str) -> Any:
    """``obj[key]``: the source's exact spelling first (one C-level probe); on a miss (an absent
    field, another casing) through the record's case-insensitive key map, cached per key tuple —
    every record of one source has the same keys, so that is one tuple and one probe."""
    if key in obj:
        return obj[key]
    actual = key_map(obj).get(key.lower())
    return None if actual is None else obj[actual]


def _rest(
    obj: dict[Any, Any],
    n: Spelling,
    tenant: str | None,
    ingested: datetime | None,
    fallback_result: str | None,
) -> Rest:
    """Every field of a modern record after id, activity and source, in :class:`AuditRecord` order."""
    if ingested is None and n is PASCAL:
        ingested = timestamp(_field(obj, n.time_generated))
    result = text(_field(obj, n.result)) or text(_field(obj, n.result_type)) or fallback_result
    targets, details = _targets_and_details(_field(obj, n.targets), _field(obj, n.additional))
    return (
        _tenant_of(obj, n, tenant),
        timestamp(_field(obj, n.time)),
        ingested,
        result.lower() if result else None,
        text(_field(obj, n.category)),
        text(_field(obj, n.correlation)),
        text(_field(obj, n.logged_by)),
        initiator_from(_field(obj, n.initiator)),
        targets,
        details,
    )


def _tenant_of(obj: dict[Any, Any], n: Spelling, tenant: str | None) -> str | None:
    """Every tenant marker of a modern record and its envelope's, merged (shared.detect.normalize.tenant):
    one function, so a ``classify`` summary line names the tenant exactly as the full record does."""
    return merged_tenant(
        text(_field(obj, n.tenant)),
        text(_field(obj, "aadTenantId")),
        tenant_in_path(_field(obj, n.resource_id)),
        tenant,
    )


def _summary(obj: dict[Any, Any], n: Spelling, tenant: str | None) -> Summary:
    """:meth:`DeferredRecord.line_summary`: the fields of :func:`_rest` a ``classify`` line shows,
    the first target's reduced to its id and app id, found as :func:`targets_from` finds them but
    decoding only the modified properties that can carry an appId (tests/test_classify_exports.py
    checks both agree on thousands of mutated records)."""
    raw_targets = _field(obj, n.targets)
    items = raw_targets if type(raw_targets) is list else as_list(raw_targets)
    target_id = app_id = None
    for item in (items or ())[:MAX_TARGETS]:
        if type(item) is dict:
            target_id = text(_field(item, "id"))
            app_id = _first_target_app_id(item, _field(obj, n.additional))
            break
    return (
        _tenant_of(obj, n, tenant),
        timestamp(_field(obj, n.time)),
        initiator_from(_field(obj, n.initiator)),
        target_id,
        app_id,
    )


def _first_target_app_id(item: dict[Any, Any], raw_details: Any) -> str | None:
    """``targets_from(...)[0].app_id`` for the target ``item`` (keys found as :func:`get` finds
    them, through the cached key map: most targets have no ``appId``, and a miss is a scan)."""
    app_id = text(_field(item, "appId"))
    if app_id:
        return app_id
    ttype = text(_field(item, "type"))
    if ttype is None or ttype.lower() in _APP_TARGET_TYPES:
        app_id = _detail_app_id(raw_details)
        if app_id:
            return app_id
    raw = _field(item, "modifiedProperties")
    if type(raw) is not list:
        return None
    found: dict[str, tuple[Any, Any]] = {}  # as _app_id_in's by-name map: the last of a name wins
    for prop in raw[:MAX_PROPERTIES]:
        if type(prop) is not dict:
            continue
        name = prop["displayName"] if "displayName" in prop else get(prop, "displayName")
        if type(name) is str and (key := name[:NAME_CAP].lower()) in _APP_ID_PROPERTIES:
            old = prop["oldValue"] if "oldValue" in prop else get(prop, "oldValue")
            new = prop["newValue"] if "newValue" in prop else get(prop, "newValue")
            found[key] = (old, new)
    for key in _APP_ID_PROPERTIES:
        pair = found.get(key)
        if pair is not None and (guid := _guid_in(pair[1]) or _guid_in(pair[0])):
            return guid
    return None


def _guid_in(raw: Any) -> str | None:
    """``first_guid(decode_value(raw))``. A JSON array of strings with no escape, no nested array
    or object and at most :data:`MAX_PROPERTIES` items (``["<guid>"]``, as Entra writes them) holds
    its first GUID where the text does, so the text is searched without decoding it."""
    if (
        type(raw) is str
        and len(raw) <= VALUE_CAP
        and raw.lstrip()[:1] == "["
        and "\\" not in raw
        and "{" not in raw
        and raw.count("[") == 1
        and raw.count('"') <= 2 * MAX_PROPERTIES
    ):
        return first_guid(raw)
    return first_guid(decode_value(raw))


def _detail_app_id(raw_details: Any) -> str | None:
    """The ``AppId`` of ``additionalDetails`` as :func:`_targets_and_details` reads it."""
    for key, val in details_from(raw_details):
        if key.lower() == "appid":
            return val.strip().lower() or None
    return None


def rest_of(obj: dict[Any, Any], spelling: Spelling) -> Rest:
    """:func:`_rest` of a record read on its own (no envelope tenant, ingestion time or result)."""
    return _rest(obj, spelling, None, None, None)


def _targets_and_details(
    raw_targets: Any, raw_details: Any
) -> tuple[tuple[TargetResource, ...], tuple[tuple[str, str], ...]]:
    details = details_from(raw_details)
    detail_app_id = None
    for key, val in details:
        if key.lower() == "appid":
            detail_app_id = val.strip().lower() or None
            break
    return targets_from(raw_targets, detail_app_id), details


# The 2019 stream: properties.targetResourceType names the "__"-joined fields of targetResourceName.
_LEGACY_FIELDS = {
    "objectid": "id",
    "objectclass": "type",
    "displayname": "name",
    "name": "name",
    "appid": "app_id",
    "appprincipalid": "app_id",
    "tenantcontextid": "tenant",
}


def _legacy_target(type_spec: str | None, name_spec: str | None) -> tuple[TargetResource | None, str | None]:
    if not name_spec:
        return None, None
    values = name_spec.split("__")
    names = type_spec.split("__") if type_spec else []
    fields: dict[str, str] = {}
    if len(names) == len(values):
        for n, v in zip(names, values, strict=True):
            mapped = _LEGACY_FIELDS.get(n.strip().lower())
            if mapped and v:
                fields.setdefault(mapped, v)
            if n.strip().lower() == "upn" and v:
                fields.setdefault("name", v)
    else:
        fields["name"] = name_spec
    app_id = fields.get("app_id")
    return (
        TargetResource(fields.get("id"), fields.get("name"), fields.get("type"), app_id.lower() if app_id else None),
        fields.get("tenant"),
    )


def _legacy_properties(value: Any) -> tuple[ModifiedProperty, ...]:
    """``targetUpdatedProperties``: empty, or JSON text of ``[{Name, OldValue, NewValue}]``."""
    items = as_list(value)
    if not items:
        return ()
    out: list[ModifiedProperty] = []
    for item in items[:MAX_PROPERTIES]:
        if isinstance(item, dict):
            name = text(get(item, "name")) or text(get(item, "displayName"))
            if name:
                out.append(
                    ModifiedProperty(name, decode_value(get(item, "oldValue")), decode_value(get(item, "newValue")))
                )
    return tuple(out)


def legacy_record_from(envelope: dict[str, Any], props: dict[str, Any], ctx: Context, where: str) -> AuditRecord | None:
    """A 2019 diagnostic record (``envelope`` lower-keyed, ``props`` its lower-keyed properties).

    The activity is ``operationName``; the id is ``properties.id`` when present, else derived from
    correlationId + time + operation, which is stable across redeliveries of the same record.
    """
    activity = text(envelope.get("operationname"))
    if not activity or not activity.strip():
        ctx.skip(where, "legacy record has no operationName")
        return None
    raw_time = envelope.get("time")
    correlation = text(envelope.get("correlationid"))
    record_id = text(props.get("id"))
    if not record_id:
        if not correlation or not isinstance(raw_time, str):
            ctx.skip(where, f"legacy record {short(activity)} has no id and no correlationId+time")
            return None
        record_id = derived_id(correlation, raw_time, activity)
    target, target_tenant = _legacy_target(text(props.get("targetresourcetype")), text(props.get("targetresourcename")))
    targets: tuple[TargetResource, ...] = ()
    if target is not None:
        modified = _legacy_properties(props.get("targetupdatedproperties"))
        app_id = target.app_id or (_app_id_in(modified) if modified else None)
        targets = (TargetResource(target.id, target.display_name, target.type, app_id, modified),)
    identity = text(envelope.get("identity"))
    identity_type = (text(props.get("identitytype")) or "").lower()
    if identity and identity_type == "upn":
        initiator = Initiator("user", user_principal_name=identity)
    elif identity:
        initiator = Initiator(
            "app" if identity_type in ("app", "serviceprincipal") else "unknown", display_name=identity
        )
    else:
        initiator = _UNKNOWN
    details = details_from(props.get("additionaldetails"))
    result = text(envelope.get("resulttype"))
    event_time = timestamp(raw_time)
    return AuditRecord(
        record_id=record_id,
        activity=activity.strip(),
        source=Source.DIAGNOSTIC,
        tenant_id=merged_tenant(
            text(envelope.get("tenantid")), target_tenant, tenant_in_path(envelope.get("resourceid"))
        ),
        event_time=event_time,
        ingested_time=event_time,
        result=result.lower() if result else None,
        category=text(props.get("auditeventcategory")) or text(envelope.get("category")),
        correlation_id=correlation,
        initiator=initiator,
        targets=targets,
        additional_details=details,
    )
