"""``python -m shared.cli check --tenant X`` / ``check --all`` (provider mode) against Azurite and the
simulator: a table of tenants × checks, each tenant checked with its own token; a tenant whose consent
is missing is its own ``tenant.access`` row and hides no other tenant's results; the exit code is the
worst verdict."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.test_tenants_cli import PROVIDER_APP, _run, provider  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("provider")


async def _check(*args: str) -> tuple[int, str, str]:
    import asyncio
    import functools
    import io

    from shared.cli.main import main

    def call() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(["check", *args], out, err), out.getvalue(), err.getvalue()

    result: tuple[int, str, str] = await asyncio.get_running_loop().run_in_executor(None, functools.partial(call))
    return result


async def _customer(sim: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A customer tenant of the simulator's own (its directory, its Identity app), the provider app —
    the simulator's — consented there: the product's whole token chain runs, no fault answers."""
    from shared.app.runtime import get_services, reset_services
    from shared.core.settings import reset_settings

    monkeypatch.setenv("PROVIDER_APP_CLIENT_ID", (await sim.state())["config"]["provider_client_id"])
    reset_settings()
    await reset_services()
    await get_services()  # the incidents table, as a deployment has it: the Identity app is pinned there
    (world,) = await sim.add_tenants(1)
    return str(world["tenant_id"])


async def _refuse(sim: Any, tenant: str) -> None:
    await sim.add_fault(
        f"^/{tenant}/oauth2/v2\\.0/token$", method="POST", status=400, times=None,
        body={"error": "invalid_client", "error_codes": [65001],
              "error_description": "AADSTS65001: The user or administrator has not consented to use the application."},
    )  # fmt: skip


async def test_all_is_a_table_of_tenants_by_checks_and_exits_with_the_worst(
    provider: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, revoked, off = await _customer(provider, monkeypatch), str(uuid.uuid4()), str(uuid.uuid4())
    for tenant, extra in ((good, ()), (revoked, ()), (off, ("--disabled",))):
        assert (await _run("add", tenant, "--contacts", f"it@{tenant[:8]}.example", *extra))[0] == 0
    await _refuse(provider, revoked)

    code, out, err = await _check("--all", "--json")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["healthy"] is False
    by_tenant = {t["tenant"]: t for t in doc["tenants"]}
    assert set(by_tenant) == {good, revoked}  # the disabled tenant is not checked
    assert by_tenant[good]["healthy"] is True
    assert {r["check"] for r in by_tenant[good]["checks"]} >= {"graph.service_principal.integration", "webex.scim"}
    assert [r["check"] for r in by_tenant[revoked]["checks"]] == ["tenant.access"]
    assert "AADSTS65001" in by_tenant[revoked]["checks"][0]["evidence"]
    assert revoked not in json.dumps(by_tenant[good]) and good not in json.dumps(by_tenant[revoked])
    tokens = [r["path"] for r in await provider.requests(method="POST") if r["path"].endswith("/oauth2/v2.0/token")]
    assert f"/{good}/oauth2/v2.0/token" in tokens and f"/{off}/oauth2/v2.0/token" not in tokens

    code, out, _ = await _check("--all")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["tenant", "check", "verdict", "evidence", "ms"]
    assert any(line.startswith(revoked) and "tenant.access" in line for line in lines)
    assert lines[-1] == "overall: UNHEALTHY (1 of 2 tenants unhealthy)"


async def test_one_tenant_healthy_exits_0_and_unknown_exits_2(
    provider: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await _customer(provider, monkeypatch)
    assert (await _run("add", tenant))[0] == 0
    code, out, err = await _check("--tenant", tenant.upper())
    assert code == 0, (out, err)
    assert out.splitlines()[-1] == "overall: HEALTHY (0 of 1 tenants unhealthy)"
    code, _, err = await _check("--tenant", str(uuid.uuid4()))
    assert code == 2 and "is not in the tenants table" in err
    code, _, err = await _check("--tenant", "contoso.example")
    assert code == 2 and "tenant id: must be the tenant's GUID" in err
