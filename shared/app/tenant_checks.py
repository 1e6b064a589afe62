"""``check --tenant X`` / ``check --all`` (provider mode): every check, per customer tenant, each
tenant with its own clients (its Graph token, its state rows, its Webex org), side by side.

One tenant's failure — consent revoked, its token refused, Graph throttling it — is that tenant's
row (``tenant.access``), never an exception that hides the other tenants' results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.checks.report import CheckResult
from shared.core.errors import ConfigError, TransientError, UpstreamError

if TYPE_CHECKING:
    from shared.checks.deps import CheckClients
    from shared.core.tenant import Tenant

DEFAULT_CONCURRENCY = 8
"""Tenants checked at once (each check makes a handful of Graph calls: well inside Graph's limits)."""

ClientsFor = Callable[["Tenant"], Awaitable["CheckClients"]]


@dataclass(frozen=True, slots=True)
class TenantCheck:
    """One tenant's results."""

    tenant: Tenant
    results: tuple[CheckResult, ...]

    @property
    def healthy(self) -> bool:
        return all(r.ok for r in self.results)


async def check_one(tenant: Tenant, clients_for: ClientsFor) -> TenantCheck:
    """Every check as ``tenant``; a failure to reach the tenant is its ``tenant.access`` row."""
    from azure.core.exceptions import ClientAuthenticationError

    from shared.app.onboarding import missing_from_token_error
    from shared.checks.run import run_checks

    try:
        report = await run_checks(await clients_for(tenant))
    except ClientAuthenticationError as exc:
        why = missing_from_token_error(str(exc))
    except (UpstreamError, TransientError, ConfigError) as exc:
        why = str(exc)
    else:
        return TenantCheck(tenant, tuple(report.results))
    return TenantCheck(tenant, (CheckResult("tenant.access", "unhealthy", why, 0.0),))


async def check_tenants(
    tenants: list[Tenant], clients_for: ClientsFor, *, concurrency: int = DEFAULT_CONCURRENCY
) -> list[TenantCheck]:
    """Each tenant checked with its own clients, at most ``concurrency`` at once, in the given order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def gated(tenant: Tenant) -> TenantCheck:
        async with gate:
            return await check_one(tenant, clients_for)

    return list(await asyncio.gather(*(gated(t) for t in tenants)))
