"""The Azure credential for Graph and Log Analytics.

In Azure: the user-assigned managed identity (``AZURE_CLIENT_ID`` names it) through
``DefaultAzureCredential``. Locally and in tests: ``EnvironmentCredential`` (client id + secret)
against ``AZURE_AUTHORITY_HOST`` — the same setting that points at a sovereign cloud's login host —
here the loopback simulator's token endpoint, so the production bearer-token policies really run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


def make_credential() -> AsyncTokenCredential:
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(
        exclude_interactive_browser_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_shared_token_cache_credential=True,
    )
