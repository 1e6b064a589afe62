"""The one table module (:class:`shared.clients.table.Table`) over both backends: insert-if-absent,
ETag replace and delete answered the same on Azurite and on the in-memory client the fast incident
tests use (tests/test_table_contract.py holds the SDK-level contract of that client)."""

from __future__ import annotations

from typing import Any

import pytest

P = "tenant-1"


@pytest.fixture
def table(any_table: Any) -> Any:
    return any_table


async def test_insert_is_insert_if_absent(table: Any) -> None:
    first = await table.insert({"PartitionKey": P, "RowKey": "a", "v": 1})
    assert isinstance(first, str) and first
    assert await table.insert({"PartitionKey": P, "RowKey": "a", "v": 2}) is None
    row = await table.get(P, "a")
    assert row["v"] == 1
    assert row.metadata["etag"] == first
    assert await table.get(P, "missing") is None


async def test_replace_is_checked_against_the_etag(table: Any) -> None:
    first = await table.insert({"PartitionKey": P, "RowKey": "b", "v": 1})
    second = await table.replace({"PartitionKey": P, "RowKey": "b", "v": 2}, first)
    assert isinstance(second, str) and second != first
    assert await table.replace({"PartitionKey": P, "RowKey": "b", "v": 3}, first) is None  # 412: stale
    assert (await table.get(P, "b"))["v"] == 2
    assert await table.replace({"PartitionKey": P, "RowKey": "gone", "v": 1}, second) is None  # 404


async def test_delete_is_checked_against_the_etag(table: Any) -> None:
    first = await table.insert({"PartitionKey": P, "RowKey": "c", "v": 1})
    second = await table.replace({"PartitionKey": P, "RowKey": "c", "v": 2}, first)
    assert await table.delete(P, "c", etag=first) is False  # 412: changed since read
    assert (await table.get(P, "c"))["v"] == 2
    assert await table.delete(P, "c", etag=second) is True
    assert await table.get(P, "c") is None
    assert await table.delete(P, "c", etag=second) is True  # already gone: the SDK swallows the 404


async def test_upsert_overwrites_whatever_is_there(table: Any) -> None:
    await table.insert({"PartitionKey": P, "RowKey": "d", "v": 1, "old": "x"})
    etag = await table.upsert({"PartitionKey": P, "RowKey": "d", "v": 5})
    row = await table.get(P, "d")
    assert row["v"] == 5 and "old" not in row
    assert row.metadata["etag"] == etag


async def test_ensure_is_idempotent(table: Any) -> None:
    await table.ensure()
    await table.ensure()  # the table exists: nothing, not a storage error
    assert await table.insert({"PartitionKey": P, "RowKey": "e"}) is not None


async def test_upsert_all_writes_many_rows_of_several_partitions_100_a_request(table: Any) -> None:
    """The fan-out's queued markers: 1,000 tenants were 1,000 upserts, now 10 transactions."""
    await table.insert({"PartitionKey": P, "RowKey": "m000", "v": -1, "old": "x"})
    rows = [{"PartitionKey": P, "RowKey": f"m{i:03d}", "v": i} for i in range(250)]
    rows += [{"PartitionKey": "other", "RowKey": "m000", "v": 1}, {"PartitionKey": "other", "RowKey": "m000", "v": 2}]
    sent: list[int] = []
    client = table._client
    real = client.submit_transaction

    async def counting(ops: Any, **kw: Any) -> Any:
        ops = list(ops)
        sent.append(len(ops))
        return await real(ops, **kw)

    client.submit_transaction = counting
    await table.upsert_all(rows)
    assert sorted(sent) == [1, 50, 100, 100]  # per partition, at most 100 a request; a row twice: the last
    found = await table.query("PartitionKey eq @p", {"p": P})
    assert sorted(r["v"] for r in found) == list(range(250))
    first = await table.get(P, "m000")
    assert first["v"] == 0 and "old" not in first  # replaced, as upsert does
    assert (await table.get("other", "m000"))["v"] == 2
    await table.upsert_all([])  # nothing to write: no request
    assert len(sent) == 4


async def test_upsert_all_sends_a_batch_again_once_when_the_connection_dropped(table: Any) -> None:
    """A pooled connection the server closed while idle: the batch (a POST) is not retried by the SDK;
    upserts are idempotent, so the batch goes again once. A second drop is a transient failure."""
    from azure.core.exceptions import ServiceResponseError

    from shared.core.errors import TransientError

    client = table._client
    real = client.submit_transaction
    drops = [1]

    async def flaky(ops: Any, **kw: Any) -> Any:
        if drops[0] > 0:
            drops[0] -= 1
            raise ServiceResponseError("Server disconnected")
        return await real(ops, **kw)

    client.submit_transaction = flaky
    await table.upsert_all([{"PartitionKey": P, "RowKey": "f1", "v": 1}])
    assert (await table.get(P, "f1"))["v"] == 1
    drops[0] = 2
    with pytest.raises(TransientError):
        await table.upsert_all([{"PartitionKey": P, "RowKey": "f2", "v": 2}])
    assert await table.get(P, "f2") is None
