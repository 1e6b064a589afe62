"""Test session: Azurite and the loopback simulator, started once, reset per test.

Integration tests use the real SDKs (azure-data-tables, azure-storage-queue, msgraph-sdk,
azure-monitor-query, httpx) against real local services; only the registered Functions host is
absent, so tests call the registered user functions with real ``azure.functions`` objects.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
from hypothesis import settings as hypothesis_settings

# CI (``.ci/run``) sets HYPOTHESIS_DERANDOMIZE=1: the property tests draw the same examples every run,
# so a landing is never refused for a counterexample that a random draw found in code the change did
# not touch; a developer's runs keep drawing at random and find new ones. (Loaded before any test
# module registers its own profile, which inherits it.)
if os.environ.get("HYPOTHESIS_DERANDOMIZE") == "1":
    hypothesis_settings.register_profile("derandomized", derandomize=True, print_blob=True)
    hypothesis_settings.load_profile("derandomized")


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                   "all_proxy", "no_proxy")  # fmt: skip


@pytest.fixture
def bare_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No proxy variable and no netrc file (``HOME`` is an empty folder): what a Functions host has
    unless someone configures one (tests/unit/clients/test_env_settings.py, test_storage_env_settings.py)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc there
    monkeypatch.delenv("NETRC", raising=False)
    return tmp_path


@pytest.fixture
def clock_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait asked of the project clock, in seconds (:func:`_no_waiting`'s sleeper still moves
    time instead of sleeping)."""
    from shared.core.clock import clock

    asked: list[float] = []
    inner = clock.sleeper
    assert inner is not None

    async def record(seconds: float) -> None:
        asked.append(seconds)
        await inner(seconds)

    monkeypatch.setattr(clock, "sleeper", record)
    return asked


@pytest.fixture(autouse=True)
def _no_waiting() -> Iterator[None]:
    """Retries run every path without sleeping (stamina's test mode keeps attempts); a paced wait
    (``clock.sleep``) moves the project clock instead of sleeping."""
    from shared.core.clock import clock

    async def advance(seconds: float) -> None:
        clock.advance(seconds)

    stamina.set_testing(True, attempts=3)
    clock.sleeper = advance
    yield
    clock.sleeper = None
    stamina.set_testing(False)


@pytest.fixture(scope="session")
def app_functions() -> dict[str, Any]:
    """The registered functions by name (``get_functions()`` may be called only once)."""
    import function_app

    return {f.get_function_name(): f for f in function_app.app.get_functions()}


@pytest.fixture(scope="session")
def services_env() -> Iterator[dict[str, str]]:
    from devtools.services import services

    with services() as env:
        yield env


@pytest.fixture
async def sim(services_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A fresh simulator scenario and a fresh incidents table for one test; env points at both."""
    from shared.app.runtime import reset_services
    from shared.core.clock import clock
    from shared.core.settings import reset_settings
    from simulator.client import SimulatorControl
    from tests.helpers import record_sends

    for key, value in services_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("INCIDENTS_TABLE", "inc" + uuid.uuid4().hex[:12])
    monkeypatch.setenv("MAIL_SENDER", "webex-alerts@contoso.example")
    monkeypatch.setenv("MAIL_TO", "it-admins@contoso.example")
    monkeypatch.setenv("VERIFY_DELAYS", "1,1,2")
    reset_settings()
    await reset_services()
    clock.reset()
    record_sends(monkeypatch)  # lets the queue helpers skip a visibility timeout instead of waiting
    control = SimulatorControl(services_env["SIMULATOR_URL"], verify=services_env["SSL_CERT_FILE"])
    await control.reset()
    # Empty queues per test keep tests independent.
    from azure.storage.queue.aio import QueueClient

    conn = services_env["AzureWebJobsStorage"]
    for name in ("webex-verify", "webex-intake"):
        async with QueueClient.from_connection_string(conn, name) as q:
            with contextlib.suppress(Exception):  # the queue may not exist yet
                await q.clear_messages()
    yield control
    await reset_services()
    reset_settings()
    clock.reset()
    await control.aclose()


@pytest.fixture
async def app_creds(sim: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A service app in the simulated org; the app reads its secrets from app settings."""
    import secrets

    creds = {
        "WEBEX_CLIENT_ID": "C" + secrets.token_hex(16),
        "WEBEX_CLIENT_SECRET": secrets.token_hex(16),
        "WEBEX_REFRESH_TOKEN": "rt-" + secrets.token_urlsafe(24),
    }
    await sim.reset(
        webex_client_id=creds["WEBEX_CLIENT_ID"],
        webex_client_secret=creds["WEBEX_CLIENT_SECRET"],
        webex_refresh_token=creds["WEBEX_REFRESH_TOKEN"],
    )
    monkeypatch.delenv("WEBEX_ACCESS_TOKEN", raising=False)
    return creds


@pytest.fixture
async def heal(sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]) -> Any:
    """Auto-restore on, every channel configured (tests/test_auto_restore.py, test_graph_strictness.py)."""
    from tests.notice_helpers import enable_all_channels

    monkeypatch.setenv("AUTO_RESTORE", "true")
    await enable_all_channels(monkeypatch, services_env)
    return sim


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "sim" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(params=["memory", "azurite"])
async def any_table(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh table through the project's one table module (shared.clients.table.Table), once on
    the in-memory client the fast tests use and once on Azurite: tests that take it hold both to
    the same answers."""
    from shared.clients.table import Table
    from tests.fakes.memtable import MemTable

    name = "t" + uuid.uuid4().hex[:12]
    if request.param == "memory":
        memory = Table(MemTable(name))  # type: ignore[arg-type]
        await memory.ensure()
        yield memory
        return
    from azure.data.tables.aio import TableClient

    env = request.getfixturevalue("services_env")
    client = TableClient.from_connection_string(env["AzureWebJobsStorage"], table_name=name)
    real = Table(client)
    await real.ensure()
    yield real
    await client.delete_table()
    await real.close()
