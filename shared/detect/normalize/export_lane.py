"""The fast lane of ``classify FILE`` for a Graph ``directoryAudits`` page on disk (docs/classify.md).

The streaming reader (exports.py) builds a dict for every record with ijson: about the cost of
``json.loads``, whatever the record holds. A Graph page up to :data:`LANE_MAX` bytes is read here
instead: the file is mapped read-only (no copy), msgspec splits the page's ``value`` array into
:class:`msgspec.Raw` items (views into the mapping, validating the JSON syntax of the whole file)
and each item is decoded into graph_pages' typed ``directoryAudit`` schema, which defers every
record no rule reads (shared/detect/normalize/graph_pages.py).

The lane gives exactly the streaming reader's records, notes and errors, or steps aside:

* **before printing anything** it declines (``None``) unless the file is a regular file of at most
  :data:`LANE_MAX` bytes, its first bytes are what the streaming reader streams as a Graph page
  (same sniffing code: not JSON Lines, the records array ``value``, no byte-order mark), the whole
  file is one JSON object of only ``value``, ``@odata.context`` and ``@odata.nextLink`` written
  once each (colons outside the items counted, as graph_pages counts them), and no item comes near
  :data:`~shared.detect.normalize.exports.ITEM_CAP` (the streaming reader's cap, with a margin for how it
  measures). A truncated or broken file is a syntax error here, so the streaming reader reads it
  and reports the break exactly as it always did;
* **part-way**, at the first item the typed schema refuses (another field, a number, a lone
  surrogate, another casing), it stops with :attr:`GraphFileLane.taken` items read and printed;
  the caller resumes the streaming reader at that item (``read_export(..., skip_items=taken)``),
  which decides the rest, notes and errors included.

The schema's nesting is seven levels, so a page the lane reads can never trip the streaming
reader's depth guard (64). Within a record a repeated key keeps its last value in both readers.
``tests/test_export_lane.py`` compares the two on the fixtures, generated pages and mutated records.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, NamedTuple, Protocol

import msgspec
from msgspec import UNSET, Struct

from shared.core.clock import format_timestamp
from shared.core.models import Extraction, Initiator, Source
from shared.detect.classify import RULE_ACTIVITIES, activity_key
from shared.detect.normalize._util import _GUID, MAX_DETAILS, MAX_PROPERTIES, NAME_CAP, Context, timestamp
from shared.detect.normalize.audit import (
    _APP_ID_PROPERTIES,
    _APP_TARGET_TYPES,
    _guid_in,
    initiator_from,
)
from shared.detect.normalize.deferred import DeferredRecord, Summary
from shared.detect.normalize.graph_pages import (
    _ENCODER,
    _ESCAPED_BACKSLASH,
    Text,
    _Initiator,
    _ModifiedProperty,
    _Record,
    _record,
    _Target,
    _User,
)
from shared.detect.normalize.tenant import merged_tenant
from shared.detect.payload import without_bom

LANE_MAX = 160 * 1024 * 1024
"""Largest file the lane reads. The file is mapped, not copied, but the mapped pages it reads count
in the process's peak RSS, which is about the file's size plus ~0.2 KB a record (a 191 MiB page
of 210,000 records peaked at 244 MiB; one of 159 MiB, 174,000 records, at 208 MiB). A bigger file is
streamed in bounded memory."""

_COLON = b":"
_UNICODE_ESCAPE = b"\\u003"  # the common prefix of "\\u003a" and "\\u003A" (a colon written as an escape)
_COUNT_CHUNK = 4 * 1024 * 1024
_PROBE = 64  # bytes of the first and last item searched for to locate them in the file


class _RawPage(Struct, forbid_unknown_fields=True, gc=False):
    value: list[msgspec.Raw]
    context: Text = msgspec.field(default=UNSET, name="@odata.context")
    next_link: Text = msgspec.field(default=UNSET, name="@odata.nextLink")


_PAGE = msgspec.json.Decoder(_RawPage)
_RECORD = msgspec.json.Decoder(_Record)
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class Render(Protocol):
    """What the caller makes of a record no rule reads (the CLI: its output line), given what its
    line shows: the record's id and activity (stripped), the first target's app id, the event time
    as :func:`~shared.core.clock.format_timestamp` writes it, the initiator's label, the source and
    the first target's id. Such a record names no tenant (the typed schema holds no tenant marker)."""

    def __call__(
        self,
        *,
        record_id: str,
        activity: str,
        app_id: str | None,
        event_time: str | None,
        initiator: str,
        source: Source,
        target_id: str | None,
    ) -> object: ...


class Glanced(NamedTuple):
    """A record whose activity a rule reads, whose text can vouch for it (see ``graph_pages._record``),
    with what :class:`Render` made of it as if no rule read it: when the classifier's verdict on
    ``record`` names no app (most such records are about other apps), ``line`` is its line but for
    the verdict's kind, action and rule."""

    record: DeferredRecord
    line: object


@dataclass(slots=True)
class Rendered(Extraction):
    """A batch of a lane given a :class:`Render`: ``lines`` holds, in file order, what it returned
    for each record no rule reads, a :class:`Glanced` for each record a rule reads whose text can
    vouch for it, and the ``AuditRecord`` itself for every other record; ``records`` stays empty
    (skip notes are in ``skipped`` as usual)."""

    lines: list[object] = field(default_factory=list)


class GraphFileLane:
    """Iterate it for the page's batches; afterwards :attr:`complete` says whether every item was
    read, and :attr:`taken` how many items were (the streaming reader resumes after them).

    With ``render``, the batches are :class:`Rendered`: each record no rule reads goes from its
    typed form straight to ``render`` (no :class:`DeferredRecord`, no summary, nothing kept), so
    the typed record is freed as soon as it is read (the allocator reuses its memory, which keeps
    the decode in the CPU cache: three times faster than holding a batch of them)."""

    def __init__(self, mapping: mmap.mmap, page: _RawPage, batch: int, render: Render | None = None) -> None:
        self._mapping = mapping
        self._items = page.value
        self._batch = batch
        self._render = render
        self.taken = 0
        self.complete = False

    def __iter__(self) -> Iterator[Extraction]:
        try:
            if self._render is None:
                yield from self._batches()
            else:
                yield from self._rendered(self._render)
        finally:
            self._items = []  # the Raw items hold the mapping's buffer: release them before closing it
            # An exception's traceback may still hold a frame with items in it: the mapping is then
            # unmapped when they are freed, and the exception is what the caller must see.
            with contextlib.suppress(BufferError):
                self._mapping.close()

    def _batches(self) -> Iterator[Extraction]:
        items, size = self._items, self._batch
        decode = _RECORD.decode
        for start in range(0, len(items), size):
            out = Extraction()
            ctx = Context(skipped=out.skipped)
            append = out.records.append
            for index in range(start, min(start + size, len(items))):
                try:
                    typed = decode(items[index])
                except _DECODE_ERRORS:
                    yield out
                    return  # the streaming reader takes over at this item
                record = _deferred(typed) or _record(typed, ctx, index)
                if record is not None:
                    append(record)
                self.taken = index + 1
            yield out
        self.complete = True

    def _rendered(self, render: Render) -> Iterator[Rendered]:
        """:meth:`_batches` with each record no rule reads rendered by :func:`_glance`."""
        items, size = self._items, self._batch
        decode = _RECORD.decode
        for start in range(0, len(items), size):
            out = Rendered()
            ctx = Context(skipped=out.skipped)
            append = out.lines.append
            for index in range(start, min(start + size, len(items))):
                try:
                    typed = decode(items[index])
                except _DECODE_ERRORS:
                    yield out
                    return  # the streaming reader takes over at this item
                line: object | None = _glance(typed, render)
                if line is None:
                    record = _deferred(typed)
                    if record is not None:  # a rule reads its activity; its text can vouch for it
                        line = Glanced(record, _line_of(typed, record.record_id, record.activity, render))
                    else:
                        line = _record(typed, ctx, index)
                if line is not None:
                    append(line)
                self.taken = index + 1
            yield out
        self.complete = True


def _glance(item: _Record, render: Render) -> object | None:
    """``render`` of a record no rule reads, from its typed fields: what :func:`_deferred` and the
    record's ``line_summary`` give, in one step; ``None`` for every other record (a rule reads its
    activity, or :func:`_deferred` would not take it), which is then built as a record."""
    activity, record_id = item.activityDisplayName, item.id
    if not (type(activity) is str and type(record_id) is str and record_id and len(record_id) <= NAME_CAP):
        return None
    unread = _UNREAD.get(activity)
    if unread is None:
        unread = _unread(activity)
    return _line_of(item, record_id, unread, render) if unread else None


def _unread(activity: str) -> str:
    """The stripped activity when :func:`_deferred` would take it (within the cap, not blank) and
    no rule reads it, else ``""``; remembered for the few dozen activities a log repeats (bounded,
    short ones only)."""
    stripped = activity.strip() if len(activity) <= NAME_CAP else ""
    if stripped and activity_key(stripped) in RULE_ACTIVITIES:
        stripped = ""
    if len(activity) <= 200:
        if len(_UNREAD) >= 1024:
            _UNREAD.clear()
        _UNREAD[activity] = stripped
    return stripped


_UNREAD: dict[str, str] = {}


def _line_of(item: _Record, record_id: str, activity: str, render: Render) -> object:
    """``render`` of the typed record (its id and activity already read); :func:`_first_target`
    inlined (this runs for nearly every record)."""
    targets = item.targetResources
    target_id = app_id = None
    if type(targets) is list and targets:
        first = targets[0]
        given = first.id
        if type(given) is str:
            target_id = given if len(given) <= NAME_CAP else given[:NAME_CAP]
        app_id = _first_target_app_id(first, item.additionalDetails)
    return render(
        record_id=record_id,
        activity=activity,
        app_id=app_id,
        event_time=_event_time(item.activityDateTime),
        initiator=_label(item.initiatedBy),
        source=Source.GRAPH,
        target_id=target_id,
    )


def _first_target(targets: Any, details: Any) -> tuple[str | None, str | None]:
    """The first target's id (capped) and app id, as ``audit._summary`` reads them."""
    if type(targets) is list and targets:
        first = targets[0]
        given = first.id
        target_id = (given if len(given) <= NAME_CAP else given[:NAME_CAP]) if type(given) is str else None
        return target_id, _first_target_app_id(first, details)
    return None, None


def _label(initiated: Any) -> str:
    """``Initiator.label`` of :func:`_initiator`'s answer; a user's UPN without building one."""
    if type(initiated) is not _Initiator:
        return _NO_INITIATOR.label  # null or absent
    user = initiated.user
    if type(user) is _User:
        upn = user.userPrincipalName
        if type(upn) is str and upn:
            return upn if len(upn) <= NAME_CAP else upn[:NAME_CAP]
    return _initiator(initiated).label


def _event_time(value: Text) -> str | None:
    """``format_timestamp(timestamp(value))`` (``None`` when it reads no time). Graph's own shape,
    ``YYYY-MM-DDTHH:MM:SS.fffffff`` then ``Z`` or ``+00:00``, is cut instead of parsed once its
    ``YYYY-MM-DDTHH:`` has been read by the parser (remembered, bounded: a month has 720 hours):
    the rest of that shape is always a valid time, and its seventh fraction digit is truncated."""
    if type(value) is not str:
        return None
    hour = value[:14]
    if hour in _HOURS and _CLOCK_TAIL(value, 14):
        return value[:26] + "Z"
    when = timestamp(value)
    if when is None:
        return None
    written = format_timestamp(when)
    if _CLOCK_TAIL(value, 14) and written == value[:26] + "Z" and hour.isascii():
        if len(_HOURS) >= 4096:
            _HOURS.clear()
        _HOURS.add(hour)
    return written


_HOURS: set[str] = set()
_CLOCK_TAIL = re.compile(r"[0-5][0-9]:[0-5][0-9]\.[0-9]{6,7}(?:Z|\+00:00)").fullmatch


def _deferred(item: _Record) -> DeferredRecord | None:
    """graph_pages' ``_record`` for its common cases (text id and activity within the cap; no rule
    reads the activity, or the record's text can vouch for it), with the typed line summary;
    ``None`` for every other case (graph_pages' ``_record`` then reads it)."""
    activity, record_id = item.activityDisplayName, item.id
    if not (type(activity) is str and type(record_id) is str and record_id and len(record_id) <= NAME_CAP):
        return None
    if len(activity) > NAME_CAP or not (activity := activity.strip()):
        return None
    if activity_key(activity) not in RULE_ACTIVITIES:
        return DeferredRecord.create(record_id, activity, Source.GRAPH, item.rest, summary=partial(_summarise, item))
    body = _ENCODER.encode(item).lower()
    if body.isascii() and _ESCAPED_BACKSLASH not in body:
        return DeferredRecord.create(
            record_id, activity, Source.GRAPH, item.rest, body, summary=partial(_summarise, item)
        )
    return None


def _summarise(item: _Record) -> Summary:
    """``line_summary`` of a deferred typed record: what ``audit._summary`` gives for the record's
    plain-dict form (the streaming reader's), read from the typed fields. Computed once, when the
    line is printed (bound to its record by ``partial``, cheaper than an object a record);
    ``tests/unit/detect/normalize/test_export_lane_summary.py`` and ``tests/test_export_lane.py``
    check both agree on generated and mutated records."""
    initiated, when = item.initiatedBy, item.activityDateTime
    target_id, app_id = _first_target(item.targetResources, item.additionalDetails)
    return (
        _NO_TENANT,  # the schema holds no tenant marker (tenantId, aadTenantId, resourceId)
        timestamp(None if when is UNSET else when),
        _initiator(initiated) if type(initiated) is _Initiator else _NO_INITIATOR,
        target_id,
        app_id,
    )


def _text(value: Text) -> str | None:
    """``text()`` of a typed text field (text, null or unset; unset reads as absent): capped text."""
    if type(value) is str:
        return value if len(value) <= NAME_CAP else value[:NAME_CAP]
    return None


def _initiator(initiated: _Initiator) -> Initiator:
    """``audit.initiator_from`` for a typed ``initiatedBy`` (a user with any of UPN, id or name;
    else an app with a name or id; else unknown)."""
    user = initiated.user
    if type(user) is _User:
        upn, uid, name = _text(user.userPrincipalName), _text(user.id), _text(user.displayName)
        if upn or uid or name:
            made = _NEW_INITIATOR(Initiator)  # Initiator("user", uid, name, upn, ip), a fifth of the cost
            _SET_KIND(made, "user")
            _SET_UID(made, uid)
            _SET_NAME(made, name)
            _SET_UPN(made, upn)
            _SET_IP(made, _text(user.ipAddress))
            return made
    return initiator_from(msgspec.to_builtins(initiated))  # an app, or nobody: rare


# The frozen dataclass's __init__ sets each slot through object.__setattr__; its slots' own setters,
# bound once here, do the same (as deferred.py builds records). A test checks both give equal objects.
_NEW_INITIATOR = Initiator.__new__
_SET_KIND, _SET_UID, _SET_NAME, _SET_UPN, _SET_IP = (
    Initiator.__dict__[name].__set__ for name in ("kind", "id", "display_name", "user_principal_name", "ip_address")
)


def _first_target_app_id(target: _Target, details: Any) -> str | None:
    """``audit._first_target_app_id`` for a typed target (same order, same helpers)."""
    app_id = target.appId
    if type(app_id) is str and app_id:
        return app_id if len(app_id) <= NAME_CAP else app_id[:NAME_CAP]
    ttype = target.type
    if ttype is UNSET:
        ttype = target.Type
    if type(ttype) is not str or _is_app_type(ttype):
        app_id = _detail_app_id(details)
        if app_id:
            return app_id
    props = target.modifiedProperties
    return _property_app_id(props) if type(props) is list and props else None


def _is_app_type(ttype: str) -> bool:
    """Whether the capped, lower-cased type is an app's; remembered for the few types a log
    repeats (bounded, short types only)."""
    known = _APP_TYPES.get(ttype)
    if known is None:
        known = (ttype if len(ttype) <= NAME_CAP else ttype[:NAME_CAP]).lower() in _APP_TARGET_TYPES
        if len(ttype) <= 200:
            if len(_APP_TYPES) >= 1024:
                _APP_TYPES.clear()
            _APP_TYPES[ttype] = known
    return known


_APP_TYPES: dict[str, bool] = {}


def _property_app_id(props: list[_ModifiedProperty]) -> str | None:
    """The first GUID of the app-id properties (``audit._first_target_app_id``'s last step): the
    last property of each app-id name, in :data:`_APP_ID_PROPERTIES` order; a target names one
    such property at most, as a rule, which is read without a map."""
    found: dict[str, _ModifiedProperty] | None = None  # once two app-id names appear: the last of each
    only: _ModifiedProperty | None = None  # until then: the last of the one name seen
    only_key = ""
    for prop in props if len(props) <= MAX_PROPERTIES else props[:MAX_PROPERTIES]:
        name = prop.displayName
        if type(name) is str:
            key = _NAME_KEYS.get(name)
            if key is None:
                key = _name_key(name)
            if not key:
                continue
            if found is not None:
                found[key] = prop
            elif only is None or key == only_key:
                only, only_key = prop, key
            else:
                found = {only_key: only, key: prop}
    if found is None:
        return None if only is None else _guid(only.newValue) or _guid(only.oldValue)
    for key in _APP_ID_PROPERTIES:
        last = found.get(key)
        if last is not None and (guid := _guid(last.newValue) or _guid(last.oldValue)):
            return guid
    return None


_NAME_KEYS: dict[str, str] = {}


def _name_key(name: str) -> str:
    """The lower-cased, capped name when it is one of :data:`_APP_ID_PROPERTIES`, else ``""``;
    remembered for the few dozen property names a log repeats (bounded, short names only)."""
    key = (name if len(name) <= NAME_CAP else name[:NAME_CAP]).lower()
    key = key if key in _APP_IDS else ""
    if len(name) <= 200:
        if len(_NAME_KEYS) >= 1024:
            _NAME_KEYS.clear()
        _NAME_KEYS[name] = key
    return key


def _detail_app_id(details: Any) -> str | None:
    """``audit._detail_app_id`` of typed ``additionalDetails`` (the first ``AppId`` pair whose key
    and value are both text decides)."""
    if type(details) is not list:
        return None  # null or absent
    for pair in details if len(details) <= MAX_DETAILS else details[:MAX_DETAILS]:
        key, value = pair.key, pair.value
        if (
            type(key) is str
            and type(value) is str
            and (key if len(key) <= NAME_CAP else key[:NAME_CAP]).lower() == "appid"
        ):
            return (value if len(value) <= NAME_CAP else value[:NAME_CAP]).strip().lower() or None
    return None


def _guid(value: Text) -> str | None:
    """``audit._guid_in`` of a typed value; Entra's own ``["<guid>"]`` read without a search."""
    if type(value) is str and (entra := _ENTRA_GUID(value)) is not None:
        return entra[1].lower()
    return _guid_in(None if value is UNSET else value)


_ENTRA_GUID = re.compile(r'\["(' + _GUID.pattern + r')"\]').fullmatch


_APP_IDS = frozenset(_APP_ID_PROPERTIES)
_NO_TENANT = merged_tenant(None, None, None, None)
_NO_INITIATOR = initiator_from(None)


def graph_file(
    stream: BinaryIO, head: bytes, *, item_cap: int, batch: int, render: Render | None = None
) -> GraphFileLane | None:
    """The lane over ``stream``, which the streaming reader would stream as a Graph page (its
    sniffing decided that from ``head``, the file's first bytes), or ``None`` to stream it;
    ``render``: see :class:`GraphFileLane`."""
    size = _regular_size(stream)
    if size is None or not 0 < size <= LANE_MAX or without_bom(head) != head:
        return None
    try:
        mapping = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # a file system that cannot map, a file emptied since fstat
        return None
    try:
        page = _PAGE.decode(mapping)
    except _DECODE_ERRORS:
        mapping.close()
        return None
    inside = sum(map(len, page.value))
    outside = size - inside  # the page's own bytes: header, commas, whitespace, tail
    if outside + max(map(len, page.value), default=0) > item_cap or not _written_once(mapping, page, inside):
        del page
        mapping.close()
        return None
    return GraphFileLane(mapping, page, batch, render)


def _written_once(mapping: mmap.mmap, page: _RawPage, inside: int) -> bool:
    """Whether the page's own members are written once each: a repeated ``value`` would be
    streamed twice by the streaming reader, but msgspec keeps the last. Outside the items every
    colon separates one member; inside the two strings colons survive decoding one for one, unless
    written as an escape (``\\u003a``), which declines the lane. ``inside`` is the items' length.

    A compact page (one comma between items, as Graph writes them) is checked on its header and
    tail alone (:func:`_item_span` locates them); any other page by counting every colon of the
    file and of its items (two passes over the file)."""
    span = _item_span(mapping, page.value, inside)
    if span is not None:
        outside = (mapping[: span[0]], mapping[span[1] :])
        if any(_UNICODE_ESCAPE in part for part in outside):
            return False  # a colon of the page's strings may be written as an escape
        colons = sum(part.count(_COLON) for part in outside)
        return colons - _member_colons(page) == _members(page)
    if mapping.find(_UNICODE_ESCAPE) >= 0:  # one scan: "\\u003a" and "\\u003A" share it (and it is rare)
        return False  # a colon may be written as an escape (anywhere: the page's strings are not located)
    total = sum(mapping[at : at + _COUNT_CHUNK].count(_COLON) for at in range(0, len(mapping), _COUNT_CHUNK))
    items, step = page.value, 4096
    inside_colons = sum(b"".join(items[at : at + step]).count(_COLON) for at in range(0, len(items), step))
    return total - inside_colons - _member_colons(page) == _members(page)


def _members(page: _RawPage) -> int:
    return 1 + sum(member is not UNSET for member in (page.context, page.next_link))


def _member_colons(page: _RawPage) -> int:
    """Colons inside the page's own strings, decoded (each was one colon byte, unless escaped)."""
    return sum(member.count(":") for member in (page.context, page.next_link) if isinstance(member, str))


def _item_span(mapping: mmap.mmap, items: list[msgspec.Raw], inside: int) -> tuple[int, int] | None:
    """``(start, end)`` of the bytes from the first item to the last when the items sit one comma
    apart, else ``None``. The first item's opening bytes are searched from the start and the last
    item's closing bytes from the end: those hits are at or outside the true ends, and the span they
    bound holds every item and at least one byte between each, so a span of exactly the items' length
    plus one byte a gap is the true one, its gaps are the array's commas, and every other byte of
    the file is the page's header or tail."""
    if not items:
        return None
    head, tail = bytes(memoryview(items[0])[:_PROBE]), bytes(memoryview(items[-1])[-_PROBE:])
    start, last = mapping.find(head, 0), mapping.rfind(tail, 0)  # from 0, whatever the position
    if start < 0 or last < 0 or last + len(tail) - start != inside + len(items) - 1:
        return None
    return start, last + len(tail)


def _regular_size(stream: BinaryIO) -> int | None:
    """The size of a regular file opened for reading (not a pipe's spooled copy, not a socket)."""
    if not isinstance(stream, io.BufferedReader):
        return None
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # stdin from a pipe, an in-memory stream
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None
