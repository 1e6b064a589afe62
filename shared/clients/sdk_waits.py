"""The Azure SDKs' retry waits, on the project clock.

azure-core's retry policies (tables, Log Analytics, azure-identity's token requests) and the storage
queue's policy all wait by ``await transport.sleep(seconds)``; the default transport calls
``asyncio.sleep``. Here that one call goes to :meth:`shared.core.clock.Clock.sleep` instead:

- in Azure nothing changes — the clock sleeps for real, the same seconds the policy chose (the
  bounds on those waits are set where each client is built: ``shared.clients.storage``,
  ``shared.clients.loganalytics``, ``shared.clients.credentials``);
- in tests the clock's sleeper moves time forward, so a connection-reset retry or a storage 503 is
  retried as in production without the suite waiting one, three or eight seconds for it.
"""

from __future__ import annotations

import functools
from typing import Any

from shared.core.clock import clock


class ClockSleep:
    """Stands in for the transport where a retry policy only asks it to ``sleep``."""

    async def sleep(self, duration: float) -> None:
        await clock.sleep(duration)


@functools.cache
def _transport_class() -> type[Any]:
    from azure.core.pipeline.transport import AioHttpTransport

    class ClockTransport(AioHttpTransport):  # type: ignore[misc]  # azure-core's aiohttp module is untyped
        """azure-core's aiohttp transport (the SDKs' default) whose retry waits read the clock."""

        async def sleep(self, duration: float) -> None:
            await clock.sleep(duration)

    return ClockTransport


def clock_transport() -> Any:
    """A new transport for one SDK client (the client owns and closes it); proxy and netrc settings
    from the environment only where it has some (:func:`shared.clients.http_pools.environment_proxies_or_netrc`):
    with azure-core's default every Table and Queue request looked both up in a worker thread."""
    from shared.clients.http_pools import environment_proxies_or_netrc

    return _transport_class()(use_env_settings=environment_proxies_or_netrc())
