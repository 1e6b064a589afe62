"""Fast incident tests: the incident store over the in-memory table, channels that only count."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.clients.table import Table
from shared.incidents.store import Delivery, Incident, IncidentStore
from tests.fakes.memtable import MemTable

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
OPENED = datetime(2026, 11, 29, 5, 24, 55, tzinfo=UTC)


def incident(**changes: Any) -> Incident:
    base: dict[str, Any] = {
        "tenant_id": TENANT,
        "app_key": "integration",
        "app_id": "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae",
        "incident_id": "inc-20261129T052455Z-integration-3f9a1c",
        "kind": "integration_deleted",
        "action": "notify_consent",
        "state": "open",
        "opened_at": OPENED,
        "updated_at": OPENED,
        "first_record_id": "rec-1",
        # already told: the opening notice went out (a run sends it itself when no channel ever claimed it)
        "deliveries": {"webhook/opened": Delivery(status="sent", at="2026-11-29T05:24:56Z", attempts=1)},
    }
    base.update(changes)
    return Incident(**base)


@dataclass
class CountingChannel:
    """A channel that accepts every notice and counts what it was given."""

    name: str
    sent: list[str] = field(default_factory=list)

    def enabled(self, settings: Any) -> bool:
        return True

    async def send(self, rendered: Any, *, thread_ref: str | None = None) -> Any:
        from shared.notify.channels import SendResult

        self.sent.append(rendered.incident_id)
        return SendResult(self.name, ok=True, status=200, message_ref=f"{self.name}-{len(self.sent)}")


@pytest.fixture
async def table() -> Table:
    """The project's table module over the in-memory SDK client (tests/test_table_contract.py
    proves it answers as Azurite does)."""
    client = MemTable("incidents")
    await client.create_table()
    return Table(client)  # type: ignore[arg-type]


@pytest.fixture
def store(table: Table) -> IncidentStore:
    return IncidentStore(table)


@pytest.fixture
def settings() -> Any:
    from shared.core.settings import Settings

    return Settings.model_validate({"TENANT_ID": TENANT, "WEBEX_ORG_ID": "org-1"})
