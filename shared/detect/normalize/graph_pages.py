"""Graph ``directoryAudits`` pages decoded by a typed schema: the fast lane of ``extract_json`` and
``extract_page`` (shared/detect/normalize/__init__.py).

The audit poll reads whole pages of a tenant's audit log, and nearly every record in them is about
users, groups and devices. The generic path (``parse_json`` → ``extract``) builds a dict for every
object, then scans the text a second time for depth and duplicate keys, then walks the dicts
case-insensitively: about 2.5x the cost of plain ``json.loads``. Here msgspec decodes the page
straight into the documented ``directoryAudit`` schema in C (untracked by the garbage collector:
these objects hold no cycles), and only records whose activity some rule reads are normalized.

The lane **declines** (returns ``None``) whenever it cannot promise the generic path's answer, and
the caller then runs the generic path, which also owns every error message. So it only ever takes
a document that is exactly a Graph page in the documented camelCase, where:

* every key is a documented field (``forbid_unknown_fields``; plus ``userAgent`` and the docs'
  ``Type``, both seen in real pages): another casing, a new field or another shape declines at the
  first such key, so no field can be silently missed (the colon count below would also see it);
* every field has the documented type (strings, nulls, lists of objects): numbers, ``NaN``, deep
  nesting (the schema is five levels deep) and lone surrogates fail the decode and decline;
* no key is repeated anywhere (for pushed bytes; a page Graph sent us keeps the last value of a
  repeated key, as Graph's SDKs and the generic path in that mode do). msgspec keeps the last of
  duplicate keys silently, so the page is re-encoded and the colons are counted: outside strings a
  colon separates exactly one member, and inside strings colons survive decoding one for one, so a
  dropped member means fewer colons. The one way a colon can be written differently, the
  ``\\u003a`` escape, declines the lane.

Records it takes are built exactly as :func:`shared.detect.normalize.audit.record_from` builds them: the
rare cases (no activity, no id, text over the cap) and records a rule reads whose text cannot vouch
for them (see :func:`_record`) go through that very function on the record's plain-dict form; the
rest become :class:`DeferredRecord` s whose other fields are filled by the same code on first read.
``tests/test_graph_pages.py`` checks the two paths agree, record for record and note for note, on
pages and on thousands of mutated ones.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

from shared.core.models import AuditRecord, Extraction, Source
from shared.detect.classify import RULE_ACTIVITIES, activity_key
from shared.detect.normalize._util import NAME_CAP, Context
from shared.detect.normalize.audit import CAMEL, record_from, rest_of
from shared.detect.normalize.deferred import DeferredRecord, Rest
from shared.detect.payload import RepeatedKeys, without_bom

_COLON = b":"
_ESCAPED_COLONS = (b"\\u003a", b"\\u003A")
_UNICODE_ESCAPE = b"\\u003"  # the common prefix of both spellings: one scan of the page
_ESCAPED_BACKSLASH = b"\\\\"

Text = str | UnsetType | None


class _Schema(Struct, forbid_unknown_fields=True, gc=False):
    """Base of the schema: unknown keys fail the decode; instances are not GC-tracked (no cycles).
    Fields are declared in the order Graph writes them, rare ones last."""


class _KeyValue(_Schema):
    key: Text = UNSET
    value: Text = UNSET


class _ModifiedProperty(_Schema):
    displayName: Text = UNSET
    oldValue: Text = UNSET
    newValue: Text = UNSET


class _Target(_Schema):
    id: Text = UNSET
    displayName: Text = UNSET
    type: Text = UNSET
    userPrincipalName: Text = UNSET
    groupType: Text = UNSET
    modifiedProperties: list[_ModifiedProperty] | UnsetType | None = UNSET
    Type: Text = UNSET  # as the Graph docs' own example spells it; "type" wins when both appear
    appId: Text = UNSET


class _User(_Schema):
    id: Text = UNSET
    displayName: Text = UNSET
    userPrincipalName: Text = UNSET
    ipAddress: Text = UNSET
    homeTenantId: Text = UNSET
    homeTenantName: Text = UNSET


class _App(_Schema):
    appId: Text = UNSET
    displayName: Text = UNSET
    servicePrincipalId: Text = UNSET
    servicePrincipalName: Text = UNSET


class _Initiator(_Schema):
    user: _User | UnsetType | None = UNSET
    app: _App | UnsetType | None = UNSET


class _Record(_Schema):
    """One ``directoryAudit`` (Graph v1.0), every documented property."""

    id: Text = UNSET
    category: Text = UNSET
    correlationId: Text = UNSET
    result: Text = UNSET
    resultReason: Text = UNSET
    activityDisplayName: Text = UNSET
    activityDateTime: Text = UNSET
    loggedByService: Text = UNSET
    operationType: Text = UNSET
    initiatedBy: _Initiator | UnsetType | None = UNSET
    targetResources: list[_Target] | UnsetType | None = UNSET
    additionalDetails: list[_KeyValue] | UnsetType | None = UNSET
    userAgent: Text = UNSET  # in real captures, though not in the v1.0 reference

    def rest(self) -> Rest:
        """The fields a :class:`DeferredRecord` fills on first read, by the generic reader."""
        return rest_of(msgspec.to_builtins(self), CAMEL)


class _Page(_Schema):
    value: list[_Record]
    context: Text = field(default=UNSET, name="@odata.context")
    next_link: Text = field(default=UNSET, name="@odata.nextLink")


_DECODER = msgspec.json.Decoder(_Page)
_ENCODER = msgspec.json.Encoder()


def graph_page(raw: bytes, *, repeated_keys: RepeatedKeys = "refuse") -> tuple[Extraction, str | None] | None:
    """The records of a Graph audit page in ``raw`` and its ``@odata.nextLink``, or ``None`` when
    the generic path must decide. ``raw`` must already be within the caller's size limit.

    With ``repeated_keys="last"`` (a page Graph sent us, see :func:`shared.detect.normalize.extract_page`)
    a repeated key keeps its last value, as the generic path then does too, and the duplicate check
    (the re-encode and the two colon counts, about a third of the lane's time) is skipped.
    """
    raw = without_bom(raw)
    refuse = repeated_keys == "refuse"
    if refuse and _UNICODE_ESCAPE in raw and any(escaped in raw for escaped in _ESCAPED_COLONS):
        return None
    try:
        page = _DECODER.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # ValidationError is a DecodeError
        return None  # msgspec checks the UTF-8 of every key and string; outside them it is a syntax error
    if refuse and raw.count(_COLON) != _ENCODER.encode(page).count(_COLON):
        return None  # a key written twice somewhere: the generic path names it
    out = Extraction()
    ctx = Context(skipped=out.skipped)
    ctx.take(len(page.value))  # more than MAX_RECORDS: the generic path's 413
    append = out.records.append
    for index, item in enumerate(page.value):
        record = _record(item, ctx, index)
        if record is not None:
            append(record)
    return out, page.next_link if isinstance(page.next_link, str) else None


def _record(item: _Record, ctx: Context, index: int) -> AuditRecord | None:
    """:func:`record_from` for one typed record, deferring what no rule needs yet."""
    activity, record_id = item.activityDisplayName, item.id
    # Typed fields are text, null or unset, so these checks are what ``text()`` would decide;
    # text over the cap (which ``text()`` truncates) is left to the generic reader.
    if (
        isinstance(activity, str)
        and isinstance(record_id, str)
        and record_id
        and len(activity) <= NAME_CAP
        and len(record_id) <= NAME_CAP
    ):
        activity = activity.strip()
        if activity and activity_key(activity) not in RULE_ACTIVITIES:
            return DeferredRecord.create(record_id, activity, Source.GRAPH, item.rest)
        if activity:
            # A rule reads this activity, but most such records are about other apps: keep the
            # record's text so the classifier can tell that without normalizing the targets. Only
            # ASCII text without escaped backslashes qualifies (an escape inside a JSON-encoded
            # value, or a non-ASCII character that case-folds to ASCII, could spell a name there
            # that the text does not show); anything else is normalized now.
            body = _ENCODER.encode(item).lower()
            if body.isascii() and _ESCAPED_BACKSLASH not in body:
                return DeferredRecord.create(record_id, activity, Source.GRAPH, item.rest, body)
    # No activity or no id (a derived id or a skip note), or text that cannot vouch: the generic reader.
    return record_from(msgspec.to_builtins(item), Source.GRAPH, ctx, f"value {index}")
