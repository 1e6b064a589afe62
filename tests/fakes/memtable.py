"""An in-memory ``azure.data.tables.aio.TableClient``: the subset the project uses, as Azurite answers it.

Fast incident tests run the real store code (``shared.incidents``, ``shared.clients.checkpoints``, the
Webex token cache) on this instead of Azurite. What it has to get exactly right is what the code's
correctness rests on, and ``tests/test_table_contract.py`` runs the same cases against this fake and
against Azurite:

- ``create_entity`` is insert-if-absent: an existing row raises ``ResourceExistsError`` (409,
  ``EntityAlreadyExists``);
- ``update_entity`` with an ETag and ``MatchConditions.IfNotModified`` raises ``ResourceModifiedError``
  (412, ``UpdateConditionNotSatisfied``) when the row changed since; on a missing row it raises
  ``ResourceNotFoundError`` (404); every write gives the row a new ETag;
- ``get_entity`` of a missing row raises ``ResourceNotFoundError`` (404); ``select`` keeps the named
  properties;
- ``delete_entity`` with a stale ETag raises ``ResourceModifiedError`` (412); a missing row is not an
  error (the SDK swallows the service's 404);
- ``upsert_entity`` inserts or replaces/merges, unconditionally; ``submit_transaction`` does so for
  up to 100 rows of one partition at once, all or nothing;
- ``query_entities`` evaluates the OData filters the code writes (``eq ne gt ge lt le``, ``and or not``,
  parentheses, string/number/bool/datetime literals, ``@name`` parameters substituted by the SDK's own
  function), string comparisons by code unit as the service does;
- operations on a table that was never created raise ``ResourceNotFoundError`` (``TableNotFound``).

Values go through the SDK's own serializer and deserializer (``_add_entity_properties`` /
``_convert_to_entity``), so the types read back (``TablesEntityDatetime``, ``EntityProperty`` for
Int64, ``metadata["etag"]``) are the ones the real client returns.

Several clients share rows through one :class:`MemAccount` (two workers on the same table).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, TableErrorCode, TableTransactionError, UpdateMode
from azure.data.tables._deserialize import _convert_to_entity
from azure.data.tables._serialize import _add_entity_properties, _parameter_filter_substitution

_BAD_KEY = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
MAX_KEY = 1024  # characters, PartitionKey and RowKey each


def _error(
    kind: type[HttpResponseError], status: int, code: str, message: str, *, decoded: bool = True
) -> HttpResponseError:
    """An error as the SDK raises it from the service's answer: type, status and — where the SDK
    decodes the answer (every operation but ``create_entity``) — ``error_code`` as a ``TableErrorCode``."""
    error = kind(message=f"{message}\nErrorCode:{code}")
    error.status_code = status
    error.reason = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 412: "Precondition Failed"}[status]
    if decoded:
        error.error_code = TableErrorCode(code)  # type: ignore[attr-defined]
    return error


@dataclass
class _Row:
    wire: dict[str, Any]  # the properties as sent on the wire (``_add_entity_properties``)
    etag: str
    timestamp: str


@dataclass
class MemAccount:
    """The storage account: tables by name, and the last write's time (ETags derive from it)."""

    tables: dict[str, dict[tuple[str, str], _Row]] = field(default_factory=dict)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _last: datetime = field(default=datetime.min.replace(tzinfo=UTC))

    def stamp(self) -> tuple[str, str]:
        """A new (ETag, Timestamp) pair in Azurite's format. Timestamps strictly increase (a frozen or
        coarse clock still gives every write its own ETag, so a stale ETag never matches)."""
        self._last = max(self.now().astimezone(UTC), self._last + timedelta(microseconds=1))
        ts = self._last.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        return f"W/\"datetime'{quote(ts, safe='')}'\"", ts

    def table(self, name: str) -> MemTable:
        return MemTable(name, account=self)


class MemTable:
    """``TableClient``'s async surface used by the project (see the module docstring)."""

    def __init__(self, table_name: str, *, account: MemAccount | None = None) -> None:
        self.table_name = table_name
        self.account = account if account is not None else MemAccount()

    # --- the client's lifecycle ------------------------------------------------------------------
    async def __aenter__(self) -> MemTable:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        return None

    # --- the table -------------------------------------------------------------------------------
    async def create_table(self) -> None:
        await asyncio.sleep(0)  # a network call: gathered coroutines interleave here
        if self.table_name in self.account.tables:
            raise _error(ResourceExistsError, 409, "TableAlreadyExists", "The table specified already exists.")
        self.account.tables[self.table_name] = {}

    async def delete_table(self) -> None:
        await asyncio.sleep(0)  # a network call: gathered coroutines interleave here
        self.account.tables.pop(self.table_name, None)

    def _rows(self) -> dict[tuple[str, str], _Row]:
        rows = self.account.tables.get(self.table_name)
        if rows is None:
            raise _error(ResourceNotFoundError, 404, "TableNotFound", "The table specified does not exist.")
        return rows

    # --- entities --------------------------------------------------------------------------------
    async def create_entity(self, entity: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        key, wire = _prepare(entity)
        rows = self.account.tables.get(self.table_name)
        if rows is None:
            raise _error(ResourceNotFoundError, 404, "TableNotFound", "The table does not exist.", decoded=False)
        if key in rows:
            raise _error(ResourceExistsError, 409, "EntityAlreadyExists", "The entity already exists.", decoded=False)
        return self._store(rows, key, wire)

    async def update_entity(
        self,
        entity: Mapping[str, Any],
        mode: UpdateMode | str = UpdateMode.MERGE,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        await asyncio.sleep(0)
        if match_condition and not etag and isinstance(entity, TableEntity):
            etag = entity.metadata.get("etag")
        key, wire = _prepare(entity)
        rows = self._rows()
        current = rows.get(key)
        if current is None:
            raise _error(ResourceNotFoundError, 404, "ResourceNotFound", "The specified resource does not exist.")
        self._check_etag(current, etag, match_condition)
        return self._store(rows, key, _merged(current, wire, mode))

    async def upsert_entity(
        self, entity: Mapping[str, Any], mode: UpdateMode | str = UpdateMode.MERGE, **kwargs: Any
    ) -> dict[str, Any]:
        await asyncio.sleep(0)
        key, wire = _prepare(entity)
        rows = self._rows()
        current = rows.get(key)
        return self._store(rows, key, wire if current is None else _merged(current, wire, mode))

    async def get_entity(
        self, partition_key: str, row_key: str, *, select: str | list[str] | None = None, **kwargs: Any
    ) -> TableEntity:
        await asyncio.sleep(0)
        row = self._rows().get((partition_key, row_key))
        if row is None:
            raise _error(ResourceNotFoundError, 404, "ResourceNotFound", "The specified resource does not exist.")
        return _entity(row, select)

    async def delete_entity(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        entity = kwargs.pop("entity", None) or (args[0] if args and isinstance(args[0], Mapping) else None)
        if entity is not None:
            partition_key, row_key = entity["PartitionKey"], entity["RowKey"]
        else:
            partition_key = kwargs.pop("partition_key", None) or args[0]
            row_key = kwargs.pop("row_key", None) or args[1]
        etag, match_condition = kwargs.get("etag"), kwargs.get("match_condition")
        if match_condition and not etag and isinstance(entity, TableEntity):
            etag = entity.metadata.get("etag")
        rows = self._rows()
        current = rows.get((partition_key, row_key))
        if current is None:
            return  # the SDK swallows the service's 404 on delete
        self._check_etag(current, etag, match_condition)
        del rows[(partition_key, row_key)]

    async def submit_transaction(self, operations: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """An entity group transaction of ``("upsert", entity[, {"mode": …}])`` operations (the one
        kind the project sends): all or nothing, at most 100, each row once — else
        ``TableTransactionError`` (400), nothing written; rows of two partitions are refused by the
        SDK before anything is sent (``ValueError``)."""
        await asyncio.sleep(0)
        ops = list(operations)
        prepared = []
        for op in ops:
            if op[0] != "upsert":
                raise ValueError(f"the in-memory table takes upsert operations in a transaction, not {op[0]!r}")
            prepared.append((*_prepare(op[1]), (op[2] if len(op) > 2 else {}).get("mode", UpdateMode.MERGE)))
        keys = [key for key, _, _ in prepared]
        if len({pk for pk, _ in keys}) > 1:  # the SDK's own check, before anything is sent
            raise ValueError("Partition Keys in the batch must all be the same.")
        if len(ops) > 100 or len(set(keys)) < len(keys):
            raise _error(TableTransactionError, 400, "InvalidInput", "The batch request is not valid.", decoded=False)
        rows = self._rows()
        out = []
        for key, wire, mode in prepared:
            current = rows.get(key)
            out.append(self._store(rows, key, wire if current is None else _merged(current, wire, mode)))
        return out

    def query_entities(
        self,
        query_filter: str,
        *,
        parameters: dict[str, Any] | None = None,
        select: str | list[str] | None = None,
        results_per_page: int | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[TableEntity]:
        matches = compile_filter(_parameter_filter_substitution(parameters, query_filter))
        return self._iterate(matches, select)

    def list_entities(
        self, *, select: str | list[str] | None = None, results_per_page: int | None = None, **kwargs: Any
    ) -> AsyncIterator[TableEntity]:
        return self._iterate(lambda _row: True, select)

    async def _iterate(
        self, matches: Callable[[dict[str, Any]], bool], select: str | list[str] | None
    ) -> AsyncIterator[TableEntity]:
        rows = self._rows()
        for key in sorted(rows, key=lambda k: (_units(k[0]), _units(k[1]))):
            row = rows.get(key)
            if row is not None and matches(_typed(row)):
                yield _entity(row, select)

    # --- helpers ---------------------------------------------------------------------------------
    def _check_etag(self, current: _Row, etag: str | None, match_condition: MatchConditions | None) -> None:
        if match_condition == MatchConditions.IfNotModified:
            if not etag:
                raise ValueError("etag is required for MatchConditions.IfNotModified")
            if etag != current.etag:
                raise _error(
                    ResourceModifiedError,
                    412,
                    "UpdateConditionNotSatisfied",
                    "The update condition specified in the request was not satisfied.",
                )

    def _store(self, rows: dict[tuple[str, str], _Row], key: tuple[str, str], wire: dict[str, Any]) -> dict[str, Any]:
        etag, timestamp = self.account.stamp()
        rows[key] = _Row(wire, etag, timestamp)
        return {"date": self.account.now(), "etag": etag, "version": "2019-02-02"}


def _prepare(entity: Mapping[str, Any]) -> tuple[tuple[str, str], dict[str, Any]]:
    """The entity as the SDK sends it, checked as the service checks it (400 on a bad key)."""
    wire = _add_entity_properties(entity)
    pk, rk = wire.get("PartitionKey"), wire.get("RowKey")
    for name, value in (("PartitionKey", pk), ("RowKey", rk)):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be present in an entity")
        if len(value) > MAX_KEY or _BAD_KEY.search(value):
            raise _error(HttpResponseError, 400, "InvalidInput", f"The {name} is not valid.")
    wire = {k: v for k, v in wire.items() if k not in {"Timestamp", "Timestamp@odata.type"}}
    return (pk, rk), wire  # type: ignore[return-value]


def _merged(current: _Row, wire: dict[str, Any], mode: UpdateMode | str) -> dict[str, Any]:
    if mode == UpdateMode.REPLACE:
        return wire
    if mode == UpdateMode.MERGE:
        merged = dict(current.wire)
        for name in wire:
            if not name.endswith("@odata.type"):
                merged.pop(name + "@odata.type", None)
        merged.update(wire)
        return merged
    raise ValueError(f"Update mode {mode} is not supported.")


def _entity(row: _Row, select: str | list[str] | None) -> TableEntity:
    entry: dict[str, Any] = {"odata.etag": row.etag, **row.wire, "Timestamp": row.timestamp}
    entry["Timestamp@odata.type"] = "Edm.DateTime"
    if select:
        wanted = set(select.split(",") if isinstance(select, str) else select)
        entry = {k: v for k, v in entry.items() if k.startswith("odata.") or k.removesuffix("@odata.type") in wanted}
    return _convert_to_entity(entry)


def _typed(row: _Row) -> dict[str, Any]:
    """Property values as the filter compares them (Int64 as int, DateTime as datetime)."""
    out: dict[str, Any] = {"Timestamp": _parse_datetime(row.timestamp)}
    for name, value in row.wire.items():
        if name.endswith("@odata.type"):
            continue
        kind = row.wire.get(name + "@odata.type")
        if kind == "Edm.Int64":
            out[name] = int(value)
        elif kind == "Edm.DateTime":
            out[name] = _parse_datetime(value)
        elif kind == "Edm.Double":
            out[name] = float(value)
        else:
            out[name] = value
    return out


def _parse_datetime(text: str) -> datetime:
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z?", text)
    if not m:
        raise ValueError(f"not a datetime: {text!r}")
    frac = (m.group(2) or "")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{m.group(1)}.{frac}").replace(tzinfo=UTC)


def _units(text: str) -> bytes:
    """Order of strings as the service compares them (UTF-16 code units, not code points)."""
    return text.encode("utf-16-be", "surrogatepass")


# --- the OData filter subset -------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<dt>datetime'[^']*')"
    r"|(?P<guid>guid'[^']*')"
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?L?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _error(
                HttpResponseError, 400, "InvalidInput", f"Unreadable filter at {pos}: {text[pos : pos + 20]!r}"
            )
        pos = m.end()
        kind = m.lastgroup
        raw = m.group(kind or "")
        if kind == "str":
            out.append(("lit", raw[1:-1].replace("''", "'")))
        elif kind == "dt":
            out.append(("lit", _parse_datetime(raw[9:-1])))
        elif kind == "guid":
            out.append(("lit", raw[5:-1]))
        elif kind == "num":
            out.append(("lit", int(raw.rstrip("L")) if re.fullmatch(r"-?\d+L?", raw) else float(raw)))
        elif kind == "word" and raw in ("true", "false"):
            out.append(("lit", raw == "true"))
        elif kind == "word":
            out.append(("op" if raw in (*_COMPARE, "and", "or", "not") else "name", raw))
        else:
            out.append((kind or "", raw))
    return out


Predicate = Callable[[dict[str, Any]], bool]


def compile_filter(text: str) -> Predicate:
    """``$filter`` text → a predicate over a row's typed properties. A property the row lacks makes
    its comparison false (as the service does); comparing different types is false too."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, Any]:
        nonlocal pos
        if pos >= len(tokens):
            raise _error(HttpResponseError, 400, "InvalidInput", "The filter ends too early.")
        pos += 1
        return tokens[pos - 1]

    def disjunction() -> Predicate:
        left = conjunction()
        while peek() == ("op", "or"):
            take()
            right = conjunction()
            left = _either(left, right)
        return left

    def conjunction() -> Predicate:
        left = unary()
        while peek() == ("op", "and"):
            take()
            right = unary()
            left = _both(left, right)
        return left

    def unary() -> Predicate:
        if peek() == ("op", "not"):
            take()
            inner = unary()
            return lambda row: not inner(row)
        if peek() == ("open", "("):
            take()
            inner = disjunction()
            if take() != ("close", ")"):
                raise _error(HttpResponseError, 400, "InvalidInput", "Unbalanced parentheses in the filter.")
            return inner
        return comparison()

    def comparison() -> Predicate:
        kind, name = take()
        op_kind, op = take()
        lit_kind, literal = take()
        if kind != "name" or op_kind != "op" or op not in _COMPARE or lit_kind != "lit":
            raise _error(
                HttpResponseError, 400, "InvalidInput", "Only `Property op literal` comparisons are supported."
            )
        return _compare(name, op, literal)

    predicate = disjunction()
    if pos != len(tokens):
        raise _error(HttpResponseError, 400, "InvalidInput", "Unexpected text after the filter.")
    return predicate


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) or b(row)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) and b(row)


def _compare(name: str, op: str, literal: Any) -> Predicate:
    def test(row: dict[str, Any]) -> bool:
        if name not in row:
            return False
        value = row[name]
        if isinstance(literal, bool) != isinstance(value, bool):
            return False
        if isinstance(literal, str) != isinstance(value, str):
            return False
        if isinstance(literal, datetime) != isinstance(value, datetime):
            return False
        left, right = (_units(value), _units(literal)) if isinstance(value, str) else (value, literal)
        return {
            "eq": left == right,
            "ne": left != right,
            "gt": left > right,
            "ge": left >= right,
            "lt": left < right,
            "le": left <= right,
        }[op]

    return test
