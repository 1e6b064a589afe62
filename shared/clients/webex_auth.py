"""Webex access tokens that keep working for months without anyone touching them.

Two ways to authenticate the Control Hub status and SCIM calls:

- **Static** (``WEBEX_ACCESS_TOKEN``): the simplest option; it stops working when the token expires
  and a person has to paste a new one.
- **Service app** (``WEBEX_CLIENT_ID`` plus a client secret and a refresh token): a Control Hub full
  admin authorizes the service app once; its access token is renewed at
  ``POST {WEBEX_API_BASE}/access_token`` (form: ``grant_type=refresh_token``, ``client_id``,
  ``client_secret``, ``refresh_token``; developer.webex.com/docs/service-apps). The access token is
  cached until shortly before ``expires_in`` runs out and renewed once more when a call answers 401.

Where the refresh token lives, and why:

- **Key Vault** (``WEBEX_KEY_VAULT_URL``, secret names ``WEBEX_REFRESH_TOKEN_SECRET`` and
  ``WEBEX_CLIENT_SECRET_SECRET``), read with the app's managed identity. When Webex hands out a new
  refresh token it is written back as a new secret version, so every instance and every restart
  reads the current one. The recommended setup.
- **App settings** (``WEBEX_CLIENT_SECRET``, ``WEBEX_REFRESH_TOKEN``; Key Vault references work
  there too, but they are read-only to the app). A rotated refresh token cannot be written back to
  an app setting without redeploying, so it is kept in the incidents table (row
  ``webex-refresh-token``, readable only by the app's identity, encrypted at rest) together with a
  fingerprint of the app-setting value it replaced. Next time the stored token is preferred — unless
  the app setting changed since (an admin re-authorized and pasted a new token), then the setting
  wins.

An expired or revoked refresh token (Webex answers 400 ``invalid_grant`` / 401) is not retried in a
loop: :class:`WebexAuthExpired` says exactly what to do, and the same dead token is not sent again
until the stored one changes. No token or secret is ever logged, and none is in an exception text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from shared.core.clock import clock
from shared.core.errors import RemediatorError, TransientError
from shared.core.redaction import redact, remember_secret
from shared.core.retry import parse_retry_after

if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.core.settings import Settings, StorageConfig

log = logging.getLogger(__name__)

REAUTHORIZE = (
    "the project's Webex authorization expired — re-authorize the service app in Control Hub "
    "(Management → Apps → Service apps), then store the new refresh token"
)
TOKEN_ROW = "webex-refresh-token"  # noqa: S105 - a row key, not a secret
MAX_MARGIN = timedelta(minutes=5)
TIMEOUT = 15.0


class WebexAuthExpired(RemediatorError):
    """The refresh token (or the service app's client secret) no longer works: only a person can fix
    it, by re-authorizing the service app in Control Hub. Carries the evidence, never a token."""

    def __init__(
        self, detail: str, *, origin: str = "unknown", status: int | None = None, tracking_id: str | None = None
    ) -> None:
        detail = redact(detail)  # the token endpoint's own text: shown in notices, logs, check
        super().__init__(f"{REAUTHORIZE} ({detail})")
        self.detail = detail
        self.origin = origin  # fingerprint of the refused refresh token: one notice per dead token
        self.status = status
        self.tracking_id = tracking_id


def fingerprint(secret: str) -> str:
    """A short, one-way name for a secret: lets us compare and dedupe without storing or logging it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Credentials:
    client_secret: str | None
    refresh_token: str | None


class SecretSource(Protocol):
    """Where the client secret and refresh token come from, and where a rotated one goes."""

    async def load(self) -> Credentials: ...

    async def save_refresh_token(self, token: str) -> None: ...

    async def aclose(self) -> None: ...


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("127.0.0.1", "localhost", "::1")


def vault_client(vault_url: str, credential: AsyncTokenCredential) -> Any:
    """An aio ``SecretClient`` for ``vault_url`` (one per process may serve every tenant's secrets)."""
    from azure.keyvault.secrets.aio import SecretClient

    # The SDK checks that the vault's auth challenge names a resource in the vault's own domain;
    # only the loopback simulator cannot satisfy that (an IP address has no parent domain).
    return SecretClient(vault_url, credential, verify_challenge_resource=not _is_loopback(vault_url))


class KeyVaultSecrets:
    """Both secrets in Key Vault (``azure-keyvault-secrets`` aio, the app's managed identity). With
    ``client`` it reads through a shared ``SecretClient`` (per-tenant sources) and leaves it open."""

    def __init__(
        self, vault_url: str, credential: AsyncTokenCredential | None, refresh_name: str, secret_name: str,
        *, client: Any = None,
    ) -> None:  # fmt: skip
        self._owns = client is None
        if client is None:
            if credential is None:
                raise ValueError("KeyVaultSecrets needs a credential or a shared client")
            client = vault_client(vault_url, credential)
        self._client = client
        self._refresh_name = refresh_name
        self._secret_name = secret_name

    @property
    def refresh_label(self) -> str:
        """What a missing refresh token is called in the evidence: the secret's name."""
        return f"refresh token (Key Vault secret {self._refresh_name})"

    async def _get(self, name: str) -> str | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            secret = await self._client.get_secret(name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise TransientError(f"Key Vault unavailable reading {name}: {type(exc).__name__}") from None
        return secret.value or None

    async def load(self) -> Credentials:
        refresh, secret = await asyncio.gather(self._get(self._refresh_name), self._get(self._secret_name))
        return Credentials(client_secret=secret, refresh_token=refresh)

    async def save_refresh_token(self, token: str) -> None:
        from azure.core.exceptions import AzureError

        try:
            await self._client.set_secret(self._refresh_name, token, content_type="webex-refresh-token")
        except AzureError as exc:
            raise TransientError(f"Key Vault unavailable writing {self._refresh_name}: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        if self._owns:
            await self._client.close()


class AppSettingSecrets:
    """Secrets from app settings; a rotated refresh token kept in the incidents table (see above)."""

    def __init__(self, settings: Settings, storage: StorageConfig) -> None:
        from shared.clients.storage import table_client

        self._settings = settings
        self._table = table_client(storage, settings.incidents_table)
        self._partition = settings.tenant_id

    @property
    def _configured(self) -> str | None:
        value = self._settings.webex_refresh_token
        return value.get_secret_value() if value else None

    async def load(self) -> Credentials:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        secret = self._settings.webex_client_secret
        configured = self._configured
        refresh = configured
        try:
            row = await self._table.get_entity(self._partition, TOKEN_ROW)
        except ResourceNotFoundError:
            row = None
        except AzureError as exc:
            raise TransientError(f"table storage unavailable: {type(exc).__name__}") from None
        if row is not None and configured and row.get("origin") == fingerprint(configured) and row.get("token"):
            refresh = str(row["token"])
        return Credentials(client_secret=secret.get_secret_value() if secret else None, refresh_token=refresh)

    async def save_refresh_token(self, token: str) -> None:
        from azure.core.exceptions import AzureError

        configured = self._configured
        entity = {
            "PartitionKey": self._partition,
            "RowKey": TOKEN_ROW,
            "token": token,
            "origin": fingerprint(configured) if configured else "",
            "saved_at": clock.now().isoformat(),
        }
        try:
            await self._table.upsert_entity(entity)
        except AzureError as exc:
            raise TransientError(f"table storage unavailable: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        await self._table.close()


@dataclass(frozen=True, slots=True)
class _Cached:
    token: str
    renew_at: datetime
    source: str  # fingerprint of the refresh token that produced it


class WebexAuth:
    """Hands out the current Webex access token (static or service app). One per worker process."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, source: SecretSource | None) -> None:
        self._settings = settings
        self._http = http
        self._source = source
        self._cached: _Cached | None = None
        self._dead: tuple[str, str] | None = None  # (fingerprint, evidence) of a refused refresh token
        self._unsaved: str | None = None  # a rotated refresh token we could not store yet
        self._lock = asyncio.Lock()

    @property
    def refreshable(self) -> bool:
        return self._source is not None

    @property
    def mode(self) -> str:
        return "service_app" if self._source is not None else "static"

    async def access_token(self) -> str | None:
        """A token good for at least a few more minutes; ``None`` when nothing is configured."""
        if self._source is None:
            static = self._settings.webex_access_token
            return static.get_secret_value() if static else None
        cached = self._cached
        if cached is not None and clock.now() < cached.renew_at:
            return cached.token
        return await self._refresh(stale=cached)

    async def renew(self) -> str | None:
        """The token was refused (401): get a new one now, once. Static tokens cannot be renewed."""
        if self._source is None:
            return await self.access_token()
        return await self._refresh(stale=self._cached, force=True)

    async def _refresh(self, *, stale: _Cached | None, force: bool = False) -> str:
        assert self._source is not None
        async with self._lock:
            current = self._cached
            if current is not None and current is not stale and clock.now() < current.renew_at:
                return current.token  # another task refreshed while we waited
            creds = await self._source.load()
            if self._unsaved is not None:  # newer than what the store holds: use it, store it now
                creds = Credentials(client_secret=creds.client_secret, refresh_token=self._unsaved)
                await self._save(self._unsaved)
            if not self._settings.webex_client_id or not creds.client_secret or not creds.refresh_token:
                missing = [
                    name
                    for name, value in (
                        ("WEBEX_CLIENT_ID", self._settings.webex_client_id),
                        ("client secret", creds.client_secret),
                        (getattr(self._source, "refresh_label", "refresh token"), creds.refresh_token),
                    )
                    if not value
                ]
                raise WebexAuthExpired(f"missing: {', '.join(missing)}", origin="missing")
            remember_secret(creds.client_secret)
            remember_secret(creds.refresh_token)
            origin = fingerprint(creds.refresh_token)
            if self._dead is not None and self._dead[0] == origin:  # not sent again: no crash loop
                raise WebexAuthExpired(f"{self._dead[1]}; not retried until the token changes", origin=origin)
            pair = await self._exchange(creds.client_secret, creds.refresh_token, origin)
            new_refresh = pair.get("refresh_token")
            if isinstance(new_refresh, str):
                remember_secret(new_refresh)
            if isinstance(new_refresh, str) and new_refresh and new_refresh != creds.refresh_token:
                # Webex may already have retired the old token: never lose the new one, even when
                # the store is down (kept in memory and stored on the next refresh).
                self._unsaved = new_refresh
                await self._save(new_refresh)
                origin = fingerprint(new_refresh)
            lifetime = _seconds(pair.get("expires_in"), default=3600.0)
            margin = min(MAX_MARGIN, timedelta(seconds=lifetime / 10))
            token = str(pair["access_token"])
            remember_secret(token)
            self._cached = _Cached(token, clock.now() + timedelta(seconds=lifetime) - margin, origin)
            if force:
                log.info("Webex access token renewed after a refusal")
            return token

    async def _save(self, token: str) -> None:
        assert self._source is not None
        try:
            await self._source.save_refresh_token(token)
        except TransientError as exc:
            log.warning("could not store the new Webex refresh token yet (%s); kept in memory", exc)
            return
        if self._unsaved == token:
            self._unsaved = None
        log.info("Webex issued a new refresh token; stored it (%s)", self.mode)

    async def _exchange(self, client_secret: str, refresh_token: str, origin: str) -> dict[str, Any]:
        import httpx

        url = self._settings.webex_api_base.rstrip("/") + "/access_token"
        form = {
            "grant_type": "refresh_token",
            "client_id": self._settings.webex_client_id or "",
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
        try:
            response = await self._http.post(
                url, data=form, headers={"Accept": "application/json"}, timeout=httpx.Timeout(TIMEOUT)
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"Webex token endpoint unreachable: {type(exc).__name__}") from None
        tracking = response.headers.get("trackingid")
        status = response.status_code
        if status in (400, 401):
            message = redact(_message(response), (client_secret, refresh_token))
            detail = f"token endpoint answered {status}{': ' + message if message else ''}" + (
                f"; trackingid {tracking}" if tracking else ""
            )
            self._dead = (origin, detail)
            self._cached = None
            raise WebexAuthExpired(
                detail,
                origin=origin,
                status=status,
                tracking_id=tracking,
            )
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError(
                f"Webex token endpoint answered {status}" + (f" (trackingid {tracking})" if tracking else ""),
                retry_after=retry_after,
            )
        try:
            pair = response.json()
        except ValueError:
            pair = None
        if status != 200 or not isinstance(pair, dict) or not isinstance(pair.get("access_token"), str):
            raise TransientError(
                f"Webex token endpoint answered {status} without a token"
                + (f" (trackingid {tracking})" if tracking else "")
            )
        return pair

    async def aclose(self) -> None:
        if self._source is not None:
            await self._source.aclose()


def _seconds(value: Any, *, default: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


def _message(response: httpx.Response) -> str:
    """Webex's own error text (``message`` / ``error_description``), short; never echoes the request."""
    try:
        body = json.loads(response.text[:4096])
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for key in ("message", "error_description", "error"):
        if isinstance(body.get(key), str):
            return str(body[key])[:200]
    return ""


def build_auth(
    settings: Settings, storage: StorageConfig, http: httpx.AsyncClient, credential: AsyncTokenCredential | None
) -> WebexAuth:
    """Static token unless a service app is configured; Key Vault when its URL is set."""
    source: SecretSource | None = None
    if settings.webex_service_app:
        if settings.webex_key_vault_url:
            assert credential is not None
            source = KeyVaultSecrets(
                settings.webex_key_vault_url,
                credential,
                settings.webex_refresh_token_secret,
                settings.webex_client_secret_secret,
            )
        else:
            source = AppSettingSecrets(settings, storage)
    return WebexAuth(settings, http, source)


TENANT_SERVICE_APP_NEEDS = "a per-tenant Webex service app needs WEBEX_CLIENT_ID and WEBEX_KEY_VAULT_URL"


def tenant_secret_name(base: str, tenant_id: str) -> str:
    """The Key Vault secret holding one customer tenant's refresh token: ``{base}-{tenant GUID}``
    (``webex-refresh-token-6f1c…``); ``base`` is ``WEBEX_REFRESH_TOKEN_SECRET``."""
    from shared.core.tenant import tenant_guid

    name = f"{base}-{tenant_guid(tenant_id)}"
    if len(name) > 127:  # Key Vault's limit on a secret name
        raise ValueError(f"WEBEX_REFRESH_TOKEN_SECRET is too long to derive per-tenant names ({len(name)} > 127)")
    return name


class _NotConfigured:
    """The source of a tenant whose service app cannot be reached: every load says what is missing."""

    def __init__(self, detail: str = TENANT_SERVICE_APP_NEEDS) -> None:
        self._detail = detail

    async def load(self) -> Credentials:
        raise WebexAuthExpired(f"missing: {self._detail}", origin="missing")

    async def save_refresh_token(self, token: str) -> None:  # pragma: no cover - load never succeeds
        raise WebexAuthExpired(f"missing: {self._detail}", origin="missing")

    async def aclose(self) -> None:
        return None


def build_tenant_auth(settings: Settings, http: httpx.AsyncClient, vault: Any, tenant_id: str) -> WebexAuth:
    """One customer tenant's service-app token holder (``webex_auth = service_app``): the provider's
    service app (``WEBEX_CLIENT_ID``, client secret ``WEBEX_CLIENT_SECRET_SECRET``) as authorized in
    the customer's own org, whose refresh token is the tenant's own Key Vault secret
    (:func:`tenant_secret_name`), written back there when Webex rotates it. ``vault``: the process's
    shared ``SecretClient`` (``None`` when no vault is configured: every token request then says so)."""
    source: SecretSource
    if vault is None or not settings.webex_client_id or not settings.webex_key_vault_url:
        source = _NotConfigured()
    else:
        try:
            refresh = tenant_secret_name(settings.webex_refresh_token_secret, tenant_id)
        except ValueError as exc:  # a name Key Vault would refuse: that tenant's notice says why
            source = _NotConfigured(str(exc))
        else:
            source = KeyVaultSecrets(settings.webex_key_vault_url, None, refresh, settings.webex_client_secret_secret,
                                     client=vault)  # fmt: skip
    return WebexAuth(settings, http, source)
