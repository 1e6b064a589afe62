"""The Azure credential for Graph and Log Analytics.

In Azure: the user-assigned managed identity (``AZURE_CLIENT_ID`` names it) through
``DefaultAzureCredential``. Locally and in tests: ``EnvironmentCredential`` (client id + secret)
against ``AZURE_AUTHORITY_HOST`` — the same setting that points at a sovereign cloud's login host —
here the loopback simulator's token endpoint, so the production bearer-token policies really run.

The token requests' retry policy is bounded like every other call (``shared.core.retry``): azure-identity's
default policy sleeps whatever ``Retry-After`` the token endpoint sends (600 s seen in the fault
matrix) inside the invocation. A longer wait than :data:`shared.core.retry.MAX_INPROCESS_WAIT` is not
retried here: the token request fails, the invocation fails, and the platform retries it later. The
IMDS credential keeps its own policy (azure-identity sets it explicitly); Functions use the App
Service identity endpoint, which takes this one.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


@cache
def bounded_retry_policy_class() -> type[Any]:
    """An ``AsyncRetryPolicy`` that does not retry a response asking for a longer wait than we sleep.

    One class for the process, and one set of retried status codes for all its instances: each
    per-tenant credential (provider mode) holds two of these policies, and azure-core builds a new
    ~8 KB set of codes for every instance — 16 MB for a thousand tenants (bench/bench_tenants.py)."""
    from azure.core.pipeline.policies import AsyncRetryPolicy

    from shared.clients.sdk_waits import ClockSleep
    from shared.core.retry import MAX_INPROCESS_WAIT

    shared_codes: dict[frozenset[int], set[Any]] = {}

    class BoundedRetryPolicy(AsyncRetryPolicy[Any, Any]):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            codes = self._retry_on_status_codes  # azure-core only reads it (``in``)
            self._retry_on_status_codes = shared_codes.setdefault(frozenset(codes), codes)

        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            retry_after = self.get_retry_after(response)
            if retry_after is not None and retry_after > MAX_INPROCESS_WAIT:
                return False
            return bool(super().is_retry(settings, response))

        async def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
            """The same wait the policy chooses, slept on the project clock (``shared.clients.sdk_waits``)."""
            sleeper: Any = ClockSleep()  # only its ``sleep`` is used by the policy
            await super().sleep(settings, sleeper, response)

    return BoundedRetryPolicy


def make_credential() -> AsyncTokenCredential:
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(
        exclude_interactive_browser_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_shared_token_cache_credential=True,
        retry_policy_class=bounded_retry_policy_class(),
    )
