"""The provider-mode settings (issue 17): single-tenant stays the default and unchanged; provider mode
needs the provider app's client id; the tenants table name is checked."""

from __future__ import annotations

import pytest

from shared.core.errors import ConfigError
from shared.core.names import SWEEP_QUEUE
from shared.core.settings import load_settings

BASE = {"TENANT_ID": "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b", "WEBEX_ORG_ID": "org-1"}
APP = "5B0C7E4E-2F1D-4C1A-9A51-7D2F3B8C9E01"


def test_single_is_the_default() -> None:
    s = load_settings(BASE)
    assert (s.tenancy_mode, s.provider_app_client_id, s.tenants_table) == ("single", None, "tenants")
    assert SWEEP_QUEUE == "webex-tenant-sweep"


def test_provider_mode() -> None:
    s = load_settings(
        {**BASE, "TENANCY_MODE": " Provider ", "PROVIDER_APP_CLIENT_ID": APP, "TENANTS_TABLE": "custTenants"}
    )
    assert (s.tenancy_mode, s.provider_app_client_id, s.tenants_table) == ("provider", APP.lower(), "custTenants")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"TENANCY_MODE": "provider"}, "PROVIDER_APP_CLIENT_ID: required when TENANCY_MODE=provider"),
        ({"TENANCY_MODE": "many"}, "TENANCY_MODE"),
        ({"PROVIDER_APP_CLIENT_ID": "not-a-guid"}, "PROVIDER_APP_CLIENT_ID: must be a GUID"),
        ({"TENANTS_TABLE": "te"}, "TENANTS_TABLE"),
        ({"TENANTS_TABLE": "ten-ants"}, "TENANTS_TABLE"),
        ({"TENANTS_TABLE": "1tenants"}, "TENANTS_TABLE"),
        ({"TENANTS_TABLE": "t" * 64}, "TENANTS_TABLE"),
    ],
)
def test_refused(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings({**BASE, **env})
