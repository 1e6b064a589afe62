"""Onboarding a customer tenant (``python -m shared.cli tenants onboard``): does the provider's app
reach it, and if not, what is missing.

The access check is one Graph read as that tenant (the Webex integration's service principal, which
the checks read every minute): it proves the token request works (consent granted, the federated
credential accepted) and that ``Application.Read.All`` is granted. Each failure is told as the step
the customer's admin or the provider still owes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from shared.core.catalogue import INTEGRATION_APP_ID
from shared.core.errors import TransientError, UpstreamError

if TYPE_CHECKING:
    from shared.clients.graph import ServicePrincipal
    from shared.clients.tenants import TenantStore
    from shared.core.tenant import Tenant


class SpReader(Protocol):
    async def service_principals_by_app_id(self, app_id: str) -> list[ServicePrincipal]: ...


@dataclass(frozen=True, slots=True)
class Access:
    """The outcome of the access check: ``ok``, and what it found or what is missing."""

    ok: bool
    detail: str
    integration_present: bool = False


_AADSTS = re.compile(r"AADSTS(\d{5,8})")
_MISSING = {
    "65001": "the customer's admin has not granted consent to the provider's app yet: open the URL above",
    "700016": "the provider's app is not in the customer's directory: the customer's admin opens the URL above",
    "90002": "no such tenant: check the tenant id",
    "90072": "the provider's app is not in the customer's directory: the customer's admin opens the URL above",
    "7000215": "the token request was refused: the provider's app has no federated credential for this "
    "deployment's managed identity (infra creates it)",
    "70021": "no federated identity credential of the provider's app matches this deployment's managed identity",
    "700024": "the managed identity's assertion was refused (expired or wrong audience)",
    "7000112": "the provider's app is disabled in the customer's tenant",
    "50020": "the customer's tenant refuses the provider's app",
}


def missing_from_token_error(text: str) -> str:
    """What a refused token request means for onboarding (by its AADSTS code)."""
    code = _AADSTS.search(text)
    if code is not None and code.group(1) in _MISSING:
        return f"{_MISSING[code.group(1)]} (AADSTS{code.group(1)})"
    suffix = f" (AADSTS{code.group(1)})" if code else ""
    return "no token for the customer's tenant: consent for the provider's app is missing or was revoked" + suffix


async def check_access(graph: SpReader) -> Access:
    """One Graph read as the tenant; never raises for an answer, only for a programming error."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        found = await graph.service_principals_by_app_id(INTEGRATION_APP_ID)
    except ClientAuthenticationError as exc:
        return Access(False, missing_from_token_error(str(exc)))
    except UpstreamError as exc:
        if exc.status == 403:
            return Access(False, "the provider's app reaches the tenant but lacks Application.Read.All: the "
                                 "customer's admin grants it (open the URL above again)")  # fmt: skip
        if exc.status == 401:
            return Access(False, missing_from_token_error(str(exc)))
        return Access(False, f"Graph refused the read: {exc}")
    except TransientError as exc:
        return Access(False, f"Graph did not answer, try again: {exc}")
    if not found:
        return Access(True, "access works; the Webex integration is not in this tenant (yet)")
    return Access(True, "access works; the Webex integration's service principal is there", True)


async def onboard(store: TenantStore, graph: SpReader, tenant: Tenant, now: datetime) -> Access:
    """Check access as ``tenant``; when it works, record ``onboarded_at`` on its row."""
    access = await check_access(graph)
    if access.ok:
        await store.set_onboarded(tenant.tenant_id, now)
    return access
