"""Settings, read once from the environment exactly as Azure app settings name them.

One :class:`ConfigError` lists every missing or invalid setting, so a tenant fixes its deployment in
one pass instead of one failed invocation per setting. Secrets are ``SecretStr`` so they never print.
Every name here is set by ``infra/`` or documented as optional in the README (a test checks both
sides).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from shared.core.catalogue import DEFAULT_LOGIN_BASE, Catalogue, is_guid, is_valid_tenant
from shared.core.errors import ConfigError
from shared.core.names import INTAKE_QUEUE, POISON_QUEUE, STORAGE_CONNECTION, VERIFY_QUEUE

if TYPE_CHECKING:
    from shared.core.action_links import LinkKeys

__all__ = ["INTAKE_QUEUE", "POISON_QUEUE", "STORAGE_CONNECTION", "VERIFY_QUEUE"]

KEY_VAULT_REFERENCE_PREFIX = "@microsoft.keyvault("
"""App Service passes a Key Vault reference it could not resolve (secret missing, no access) to the
app as its literal text. Such a value is a placeholder, not a value: read as "unset"."""

log = logging.getLogger(__name__)


def is_unresolved_reference(value: object) -> bool:
    """Is ``value`` the literal text of an App Service Key Vault reference (case-insensitive)?"""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return isinstance(raw, str) and raw.strip().lower().startswith(KEY_VAULT_REFERENCE_PREFIX)


def split_addresses(text: str) -> tuple[str, ...]:
    """E-mail recipients as ``MAIL_TO`` / ``OPS_EMAILS`` give them: separated by ``,`` or ``;``, each
    trimmed, empty entries dropped; raises ValueError on an entry that is not an address. The
    template applies the same split/trim/filter chain to the alert receivers (infra/app/alerts.bicep;
    tests/test_infra_profiles.py evaluates both on the same inputs)."""
    addrs = tuple(a.strip() for a in text.replace(";", ",").split(",") if a.strip())
    for a in addrs:
        if "@" not in a or any(c in a for c in "<>\r\n\t ,;"):
            raise ValueError(f"not an e-mail address: {a[:80]!r}")
    return addrs


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError("must be an https:// URL")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password (user@host): the request would go to another host")
    if any(ord(c) < 0x21 or c == "\\" for c in value):
        raise ValueError("must not contain spaces, control characters or backslashes")
    return value.rstrip("/")


# The hosts each cloud serves these APIs from (public, US Government incl. DoD, China; Webex and
# its FedRAMP cloud). Anything else needs ALLOW_CUSTOM_ENDPOINTS=true (the simulator, a proxy):
# these URLs receive the app's Graph/Log Analytics tokens and the Webex client secret and refresh
# token, and the login base is put in every consent button.
KNOWN_ENDPOINT_HOSTS: dict[str, frozenset[str]] = {
    "GRAPH_BASE_URL": frozenset(
        {"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}
    ),
    "ENTRA_LOGIN_BASE": frozenset(
        {
            "login.microsoftonline.com",
            "login.microsoftonline.us",
            "login.chinacloudapi.cn",
            "login.partner.microsoftonline.cn",
        }
    ),
    "LOG_ANALYTICS_ENDPOINT": frozenset(
        {"api.loganalytics.io", "api.loganalytics.azure.com", "api.loganalytics.us", "api.loganalytics.azure.cn"}
    ),
    "WEBEX_API_BASE": frozenset({"webexapis.com", "api-usgov.webex.com"}),
    "WEBEX_IDENTITY_BASE": frozenset({"identity.webex.com", "identity-b-us.webex.com"}),
}
_WEBEX_IDENTITY_HOST = re.compile(r"identity(?:-[a-z0-9]{1,10}){0,3}\.webex\.com")
"""Control Hub's identity service has a host per region (``identity-b-us.webex.com`` …): any
``identity…`` host directly under webex.com is Cisco's."""
_ENDPOINT_FIELDS = {
    "GRAPH_BASE_URL": "graph_base_url",
    "ENTRA_LOGIN_BASE": "entra_login_base",
    "LOG_ANALYTICS_ENDPOINT": "log_analytics_endpoint",
    "WEBEX_API_BASE": "webex_api_base",
    "WEBEX_IDENTITY_BASE": "webex_identity_base",
}


def unknown_endpoint(setting: str, url: str) -> str | None:
    """Why ``url`` is not a known endpoint for ``setting`` (``None``: it is): host not in
    :data:`KNOWN_ENDPOINT_HOSTS`, or a port other than 443."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    known = KNOWN_ENDPOINT_HOSTS[setting]
    regional = setting == "WEBEX_IDENTITY_BASE" and _WEBEX_IDENTITY_HOST.fullmatch(host) is not None
    if host not in known and not regional:
        return (
            f"{host or 'no host'} is not a known host for it ({', '.join(sorted(known))}); "
            "set ALLOW_CUSTOM_ENDPOINTS=true to use another one"
        )
    if parts.port not in (None, 443):
        return f"port {parts.port} is not the API's; set ALLOW_CUSTOM_ENDPOINTS=true to use another one"
    return None


class Settings(BaseModel):
    """Validated settings. Field aliases are the app-setting names."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    tenant_id: Annotated[str, Field(alias="TENANT_ID")]
    webex_org_id: Annotated[str, Field(alias="WEBEX_ORG_ID")]

    graph_base_url: Annotated[str, Field(alias="GRAPH_BASE_URL")] = "https://graph.microsoft.com/v1.0"
    log_analytics_endpoint: Annotated[str, Field(alias="LOG_ANALYTICS_ENDPOINT")] = "https://api.loganalytics.io"
    log_analytics_workspace_id: Annotated[str | None, Field(alias="LOG_ANALYTICS_WORKSPACE_ID")] = None
    entra_login_base: Annotated[str, Field(alias="ENTRA_LOGIN_BASE")] = DEFAULT_LOGIN_BASE

    webex_api_base: Annotated[str, Field(alias="WEBEX_API_BASE")] = "https://webexapis.com/v1"
    webex_identity_base: Annotated[str, Field(alias="WEBEX_IDENTITY_BASE")] = "https://identity-b-us.webex.com"
    webex_access_token: Annotated[SecretStr | None, Field(alias="WEBEX_ACCESS_TOKEN")] = None
    webex_bot_token: Annotated[SecretStr | None, Field(alias="WEBEX_BOT_TOKEN")] = None
    webex_room_id: Annotated[str | None, Field(alias="WEBEX_ROOM_ID")] = None
    webex_identity_app_id: Annotated[str | None, Field(alias="WEBEX_IDENTITY_APP_ID")] = None
    # Webex service app (shared/clients/webex_auth.py): client id in settings; client secret and refresh
    # token from Key Vault (WEBEX_KEY_VAULT_URL) or from these settings (Key Vault references work).
    webex_client_id: Annotated[str | None, Field(alias="WEBEX_CLIENT_ID")] = None
    webex_client_secret: Annotated[SecretStr | None, Field(alias="WEBEX_CLIENT_SECRET")] = None
    webex_refresh_token: Annotated[SecretStr | None, Field(alias="WEBEX_REFRESH_TOKEN")] = None
    webex_key_vault_url: Annotated[str | None, Field(alias="WEBEX_KEY_VAULT_URL")] = None
    webex_refresh_token_secret: Annotated[str, Field(alias="WEBEX_REFRESH_TOKEN_SECRET")] = "webex-refresh-token"  # noqa: S105 - a name
    webex_client_secret_secret: Annotated[str, Field(alias="WEBEX_CLIENT_SECRET_SECRET")] = "webex-client-secret"  # noqa: S105 - a name
    webex_scim_canary_user_id: Annotated[str | None, Field(alias="WEBEX_SCIM_CANARY_USER_ID")] = None

    teams_webhook_url: Annotated[SecretStr | None, Field(alias="TEAMS_WEBHOOK_URL")] = None
    notify_webhook_url: Annotated[str | None, Field(alias="NOTIFY_WEBHOOK_URL")] = None
    notify_webhook_secret: Annotated[SecretStr | None, Field(alias="NOTIFY_WEBHOOK_SECRET")] = None

    # Signed "Check now" / "Acknowledge" links (shared/core/action_links.py): Key Vault references in
    # Azure; the previous key still verifies links signed before a rotation. PUBLIC_BASE_URL is the
    # function app's https host the links point at.
    action_link_key: Annotated[SecretStr | None, Field(alias="ACTION_LINK_KEY")] = None
    action_link_key_previous: Annotated[SecretStr | None, Field(alias="ACTION_LINK_KEY_PREVIOUS")] = None
    public_base_url: Annotated[str | None, Field(alias="PUBLIC_BASE_URL")] = None

    mail_sender: Annotated[str | None, Field(alias="MAIL_SENDER")] = None
    mail_to: Annotated[tuple[str, ...], Field(alias="MAIL_TO")] = ()

    incidents_table: Annotated[str, Field(alias="INCIDENTS_TABLE")] = "incidents"
    # Many tenants (issue 17): "single" (the default) watches TENANT_ID; "provider" also reads the
    # tenants table and reaches each customer tenant through the provider's multi-tenant app, whose
    # credential is the managed identity as a federated identity credential (no secret).
    tenancy_mode: Annotated[Literal["single", "provider"], Field(alias="TENANCY_MODE")] = "single"
    provider_app_client_id: Annotated[str | None, Field(alias="PROVIDER_APP_CLIENT_ID")] = None
    tenants_table: Annotated[str, Field(alias="TENANTS_TABLE")] = "tenants"
    audit_cadence_minutes: Annotated[int, Field(alias="AUDIT_CADENCE", ge=1, le=24 * 60)] = 10
    """Provider mode: minutes between routine audit-log reads of one tenant (staggered by tenant; a
    change found reads at once). 10 fits 1,000 tenants in the app's 122 reads per 10 s with room
    for on-change reads (shared.app.audit_cadence, docs/tenants.md)."""
    health_schedule: Annotated[str, Field(alias="HEALTH_SCHEDULE")] = "0 */1 * * * *"
    verify_delays: Annotated[tuple[int, ...], Field(alias="VERIFY_DELAYS")] = (60, 120, 300, 600, 900, 1800)
    """Seconds before run 1, 2, 3 …; past the list the last delay repeats (every 30 min by default)."""
    verify_deadline_hours: Annotated[float, Field(alias="VERIFY_DEADLINE_HOURS", gt=0, le=24 * 30)] = 24.0
    reminder_hours: Annotated[float, Field(alias="REMINDER_HOURS", gt=0)] = 4.0
    alert_query_padding_minutes: Annotated[int, Field(alias="ALERT_QUERY_PADDING_MINUTES", ge=0, le=1440)] = 15
    alert_query: Annotated[str, Field(alias="ALERT_QUERY", max_length=20_000)] = ""
    audit_poll_overlap_minutes: Annotated[int, Field(alias="AUDIT_POLL_OVERLAP_MINUTES", ge=0, le=1440)] = 20
    """Audit records reach Graph up to 15 min late (P95 2 min, P99 5 min: Microsoft Entra reporting
    latencies); the poll re-reads this far behind where its last complete read began."""
    max_payload_bytes: Annotated[int, Field(alias="MAX_PAYLOAD_BYTES", ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    auto_restore: Annotated[bool, Field(alias="AUTO_RESTORE")] = False
    prevention_notes: Annotated[bool, Field(alias="PREVENTION_NOTES")] = False
    allow_custom_endpoints: Annotated[bool, Field(alias="ALLOW_CUSTOM_ENDPOINTS")] = False
    """Base URLs outside :data:`KNOWN_ENDPOINT_HOSTS` are refused unless this is ``true``."""

    unresolved_references: tuple[str, ...] = ()
    """Setting names whose value was an unresolved Key Vault reference, read as unset (no alias: no
    app setting feeds it; :meth:`_drop_unresolved_references` fills it)."""

    @model_validator(mode="before")
    @classmethod
    def _drop_unresolved_references(cls, data: Any) -> Any:
        """One secret missing from Key Vault must not stop every trigger: the setting whose reference
        did not resolve counts as unset (its channel or feature is off), and its NAME is remembered
        so the admins are told (shared.config_problems) — never its value."""
        if not isinstance(data, Mapping):
            return data
        unresolved = sorted(k for k, v in data.items() if k != "unresolved_references" and is_unresolved_reference(v))
        if not unresolved:
            return data
        kept = {k: v for k, v in data.items() if k not in unresolved}
        kept["unresolved_references"] = tuple(sorted({*data.get("unresolved_references", ()), *unresolved}))
        return kept

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        v = v.strip()
        if not is_valid_tenant(v):
            raise ValueError("must be the Entra tenant id (a GUID) or its primary domain")
        return v.lower()

    @field_validator("webex_org_id")
    @classmethod
    def _org(cls, v: str) -> str:
        v = v.strip()
        if not v or len(v) > 200 or any(c in v for c in "/?#\\ "):
            raise ValueError("must be the Webex organization id from Control Hub")
        return v

    @field_validator("tenancy_mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("tenants_table")
    @classmethod
    def _table_name(cls, v: str) -> str:
        v = v.strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", v):
            raise ValueError("must be a table name (3-63 letters and digits, starting with a letter)")
        return v

    @model_validator(mode="after")
    def _provider_app(self) -> Settings:
        """Provider mode reaches customer tenants only through the provider's app: its id is required."""
        if self.tenancy_mode == "provider" and self.provider_app_client_id is None:
            raise ValueError("PROVIDER_APP_CLIENT_ID: required when TENANCY_MODE=provider")
        return self

    @field_validator("webex_identity_app_id", "log_analytics_workspace_id", "provider_app_client_id")
    @classmethod
    def _guid_or_none(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not is_guid(v.strip()):
            raise ValueError("must be a GUID")
        return v.strip().lower()

    @field_validator(
        "graph_base_url", "log_analytics_endpoint", "entra_login_base", "webex_api_base", "webex_identity_base"
    )
    @classmethod
    def _url(cls, v: str) -> str:
        return _https_url(v.strip())

    @model_validator(mode="after")
    def _known_endpoints(self) -> Settings:
        """Each API base URL on a known host of its cloud, unless ALLOW_CUSTOM_ENDPOINTS."""
        if self.allow_custom_endpoints:
            return self
        for setting, attr in _ENDPOINT_FIELDS.items():
            why = unknown_endpoint(setting, getattr(self, attr))
            if why is not None:
                raise ValueError(f"{setting}: {why}")
        return self

    @field_validator("webex_refresh_token_secret", "webex_client_secret_secret")
    @classmethod
    def _secret_name(cls, v: str) -> str:
        v = v.strip()
        if not v or len(v) > 127 or not all(c.isascii() and (c.isalnum() or c == "-") for c in v):
            raise ValueError("must be a Key Vault secret name (1-127 letters, digits and dashes)")
        return v

    @field_validator("webex_client_id", "webex_scim_canary_user_id")
    @classmethod
    def _plain_id(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip()
        if len(v) > 200 or any(c in v for c in "/?#\\ "):
            raise ValueError("must be an id without spaces or URL characters")
        return v

    @field_validator("notify_webhook_url", "webex_key_vault_url", "public_base_url")
    @classmethod
    def _optional_url(cls, v: str | None) -> str | None:
        return _https_url(v.strip()) if v and v.strip() else None

    @field_validator("teams_webhook_url")
    @classmethod
    def _optional_secret_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        _https_url(v.get_secret_value().strip())
        return v

    @field_validator("mail_to", mode="before")
    @classmethod
    def _split_mail(cls, v: Any) -> Any:
        return split_addresses(v) if isinstance(v, str) else v

    @field_validator("verify_delays", mode="before")
    @classmethod
    def _split_delays(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                delays = tuple(int(x) for x in v.split(",") if x.strip())
            except ValueError:
                raise ValueError("must be comma-separated seconds, e.g. 60,120,300") from None
            if not delays or any(d < 1 or d > 7 * 24 * 3600 for d in delays):
                raise ValueError("each delay must be 1..604800 seconds")
            return delays
        return v

    @field_validator("health_schedule")
    @classmethod
    def _ncrontab(cls, v: str) -> str:
        if len(v.split()) != 6:
            raise ValueError("must be an NCRONTAB expression with 6 fields (seconds first)")
        return v

    @property
    def catalogue(self) -> Catalogue:
        return _catalogue(self.webex_identity_app_id)

    @property
    def graph_scope(self) -> str:
        """Token scope for the Graph endpoint in use (sovereign clouds have their own host)."""
        parts = urlsplit(self.graph_base_url)
        return f"{parts.scheme}://{parts.netloc}/.default"

    @property
    def email_enabled(self) -> bool:
        return bool(self.mail_sender and self.mail_to)

    @property
    def webex_service_app(self) -> bool:
        """Tokens come from the service app's refresh token (else the static WEBEX_ACCESS_TOKEN)."""
        return bool(self.webex_client_id and (self.webex_key_vault_url or self.webex_refresh_token))

    @property
    def webex_messages_enabled(self) -> bool:
        return bool(self.webex_bot_token and self.webex_room_id)

    @property
    def webhook_enabled(self) -> bool:
        """The generic webhook sends only signed: a URL without its HMAC key stays off (and is
        reported by :attr:`problems`), it never sends unsigned."""
        return bool(self.notify_webhook_url and self.notify_webhook_secret is not None)

    @property
    def action_links_enabled(self) -> bool:
        """Notices carry signed links only with a usable key and the app's public URL."""
        return (
            self.public_base_url is not None and self._link_key_problem() is None and self.action_link_key is not None
        )

    def link_keys(self) -> LinkKeys | None:
        """The keys action links are signed and verified with (``None``: links are off)."""
        from shared.core.action_links import LinkKeys

        if not self.action_links_enabled or self.action_link_key is None:
            return None
        previous = self.action_link_key_previous
        return LinkKeys.from_text(
            self.action_link_key.get_secret_value(), previous.get_secret_value() if previous else None
        )

    def _link_key_problem(self) -> str | None:
        from shared.core.action_links import MIN_KEY_BYTES

        for name, key in (("ACTION_LINK_KEY", self.action_link_key),
                          ("ACTION_LINK_KEY_PREVIOUS", self.action_link_key_previous)):  # fmt: skip
            if key is not None and len(key.get_secret_value().encode("utf-8")) < MIN_KEY_BYTES:
                return f"{name} is shorter than {MIN_KEY_BYTES} bytes: the Check now / Acknowledge links are off"
        return None

    @property
    def problems(self) -> tuple[SettingProblem, ...]:
        """What is wrong with the configuration without making it unusable: each problem turns one
        channel or feature off, never the app (a ConfigError would stop every trigger, and with it
        every other channel). Reported by the health timer (once, to the admins) and by ``check``."""
        found = [
            SettingProblem(
                (name,), f"{name}: its Key Vault reference did not resolve; {_NEEDED_FOR.get(name, 'read as unset')}"
            )
            for name in self.unresolved_references
        ]
        pairs = (
            ("NOTIFY_WEBHOOK_URL", self.notify_webhook_url, "NOTIFY_WEBHOOK_SECRET", self.notify_webhook_secret,
             "the webhook channel is off (notices are only sent signed)"),
            ("WEBEX_ROOM_ID", self.webex_room_id, "WEBEX_BOT_TOKEN", self.webex_bot_token,
             "the Webex space channel is off"),
            ("MAIL_SENDER", self.mail_sender, "MAIL_TO", self.mail_to, "the e-mail channel is off"),
        )  # fmt: skip
        for first, first_value, second, second_value, effect in pairs:
            for have, have_value, lack, lack_value in ((first, first_value, second, second_value),
                                                       (second, second_value, first, first_value)):  # fmt: skip
                if have_value and not lack_value and lack not in self.unresolved_references:
                    found.append(SettingProblem((have, lack), f"{have} is set but {lack} is not: {effect}"))
        weak = self._link_key_problem()
        if weak is not None:
            found.append(SettingProblem((weak.split(" ", 1)[0],), weak))
        if self.action_link_key is not None and self.public_base_url is None:
            found.append(SettingProblem(("ACTION_LINK_KEY", "PUBLIC_BASE_URL"),
                                        "ACTION_LINK_KEY is set but PUBLIC_BASE_URL is not: the Check now / "
                                        "Acknowledge links are off"))  # fmt: skip
        return tuple(found)


_NEEDED_FOR = {
    "TEAMS_WEBHOOK_URL": "the Teams channel is off",
    "WEBEX_BOT_TOKEN": "the Webex space channel is off",
    "NOTIFY_WEBHOOK_SECRET": "the webhook channel is off (notices are only sent signed)",
    "NOTIFY_WEBHOOK_URL": "the webhook channel is off",
    "WEBEX_ACCESS_TOKEN": "the Webex sync-status checks have no token",
    "WEBEX_CLIENT_SECRET": "the Webex service app cannot renew its token",
    "WEBEX_REFRESH_TOKEN": "the Webex service app cannot renew its token",
    "MAIL_SENDER": "the e-mail channel is off",
    "MAIL_TO": "the e-mail channel is off",
    "ACTION_LINK_KEY": "the Check now / Acknowledge links are off",
    "ACTION_LINK_KEY_PREVIOUS": "links signed with the previous key are refused",
}


@dataclass(frozen=True, slots=True)
class SettingProblem:
    """One configuration problem: the app-setting names involved (never values) and what it means."""

    settings: tuple[str, ...]
    message: str


@lru_cache(maxsize=8)
def _catalogue(identity_app_id: str | None) -> Catalogue:
    return Catalogue(identity_app_id)


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """How to reach the storage account: a connection string (Azurite, local) or identity-based
    service URIs (Azure: ``AzureWebJobsStorage__queueServiceUri`` / ``__tableServiceUri`` with
    ``__credential=managedidentity`` and ``__clientId``)."""

    connection_string: str | None = None
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    client_id: str | None = None


def storage_config(env: Mapping[str, str] | None = None, prefix: str = STORAGE_CONNECTION) -> StorageConfig:
    env = os.environ if env is None else env
    conn = env.get(prefix, "").strip()
    if conn:
        return StorageConfig(connection_string=conn)
    queue_uri, table_uri = _service_uri(env, prefix, "queue"), _service_uri(env, prefix, "table")
    if not queue_uri or not table_uri:
        raise ConfigError(
            [
                f"{prefix}: set a connection string, or {prefix}__queueServiceUri and {prefix}__tableServiceUri "
                "(identity-based; the deployment sets them from the storage account, in any Azure cloud)"
            ]
        )
    return StorageConfig(
        queue_service_uri=queue_uri, table_service_uri=table_uri, client_id=env.get(f"{prefix}__clientId") or None
    )


def _service_uri(env: Mapping[str, str], prefix: str, service: str) -> str:
    """``{prefix}__{service}ServiceUri`` as the deployment sets it (the account's own endpoint, so the
    cloud's storage suffix is never assumed here), without the trailing slash ARM returns."""
    return env.get(f"{prefix}__{service}ServiceUri", "").strip().rstrip("/")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment into :class:`Settings`, or raise one :class:`ConfigError` naming
    every problem (by its app-setting name)."""
    env = os.environ if env is None else env
    names = {f.alias for f in Settings.model_fields.values() if f.alias}
    raw = {k: v for k, v in env.items() if k in names and v != ""}
    unresolved = sorted(k for k, v in raw.items() if is_unresolved_reference(v))
    for name in unresolved:
        log.warning(
            "app setting %s holds a Key Vault reference App Service could not resolve (secret missing or no "
            "access): read as unset, so what needs it stays off until the secret exists and the app restarts",
            name,
            extra={"event": "setting_unresolved", "setting": name},
        )
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "settings"
            msg = "missing" if err["type"] == "missing" else str(err["msg"]).removeprefix("Value error, ")
            if name in unresolved and err["type"] == "missing":
                msg = "its Key Vault reference did not resolve (create the secret, grant access, restart the app)"
            problems.append(f"{name}: {msg}" if err["loc"] else msg)  # a model check names its settings
        raise ConfigError(problems) from None
    for problem in settings.problems:
        if not set(problem.settings) <= set(unresolved):  # those were logged above
            log.warning("configuration: %s", problem.message,
                        extra={"event": "setting_problem", "setting": ",".join(problem.settings)})  # fmt: skip
    return settings


def login_base_from(env: Mapping[str, str]) -> str:
    """``ENTRA_LOGIN_BASE`` checked as :class:`Settings` checks it, for the offline commands that
    build consent URLs without loading every setting; raises :class:`ConfigError`."""
    raw = env.get("ENTRA_LOGIN_BASE", "").strip() or DEFAULT_LOGIN_BASE
    try:
        url = _https_url(raw)
    except ValueError as exc:
        raise ConfigError([f"ENTRA_LOGIN_BASE: {exc}"]) from None
    custom = env.get("ALLOW_CUSTOM_ENDPOINTS", "").strip().lower() in ("true", "1", "yes")
    why = None if custom else unknown_endpoint("ENTRA_LOGIN_BASE", url)
    if why is not None:
        raise ConfigError([f"ENTRA_LOGIN_BASE: {why}"])
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, loaded on first use (not at import: cold start stays fast)."""
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
