"""What the checks use, said in their signatures: :class:`CheckClients` and the small protocols it holds.

The composition root (``shared.app.runtime``) builds one from the process's clients; a unit test
builds one from tiny fakes. Nothing here reaches for a service locator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from shared.clients.checkpoints import StateRow
    from shared.clients.graph import AppRoleAssignment, DeletedServicePrincipal, PermissionGrant, ServicePrincipal
    from shared.core.settings import Settings


class GraphReader(Protocol):
    """The Microsoft Graph reads the checks make (``shared.clients.graph.Graph`` implements them)."""

    async def service_principals_by_app_id(self, app_id: str) -> list[ServicePrincipal]: ...

    async def service_principals_by_display_name(self, name: str) -> list[ServicePrincipal]: ...

    async def service_principal_owner_app_ids(self, sp_id: str) -> tuple[list[str], int]: ...

    async def deleted_service_principals(self, app_id: str) -> list[DeletedServicePrincipal]: ...

    async def permission_grants(self, client_sp_id: str) -> list[PermissionGrant]: ...

    async def app_role_assignments(self, sp_id: str) -> list[AppRoleAssignment]: ...


class WebexTokens(Protocol):
    """The process's Webex token holder (``shared.clients.webex_auth.WebexAuth``)."""

    @property
    def refreshable(self) -> bool: ...

    async def access_token(self) -> str | None: ...

    async def renew(self) -> str | None: ...


class StateRows(Protocol):
    """Named state rows read and replaced under their ETag (``shared.clients.checkpoints.Checkpoints``)."""

    async def get_state(self, name: str) -> StateRow: ...

    async def put_state(self, name: str, values: dict[str, Any], etag: str | None) -> StateRow | None: ...


class WebexStatusMemory:
    """What this process learned about Control Hub's status call: whether it refuses a token that
    SCIM accepts. Then a 401 from it is no reason to renew our token (once per tick would be 1,440
    refreshes a day); SCIM refusing the token too clears it, so the next 401 renews again."""

    def __init__(self) -> None:
        self.refuses_our_token = False


@dataclass(frozen=True, slots=True)
class CheckClients:
    """Everything a check may call. ``webex_status`` lives as long as the process (one per
    composition root), so what one run learned holds for the next."""

    settings: Settings
    graph: GraphReader
    http: httpx.AsyncClient
    webex_auth: WebexTokens
    state: StateRows
    webex_status: WebexStatusMemory
