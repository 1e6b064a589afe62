"""A loopback stand-in for Microsoft Entra ID, Microsoft Graph, Log Analytics and Webex.

There is no tenant, workspace or Webex org in CI, so the project's real clients (msgraph-sdk,
azure-identity, azure-monitor-query, httpx) talk to this HTTPS server instead, unmodified, through
the base-URL settings. It answers with the documented payload shapes, plays scenarios (delete,
disable, consent…) and injects faults (429, malformed bodies, dropped connections) on request.

Heavy imports stay inside the submodules: ``import simulator`` alone is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.client import SimulatorControl
    from simulator.server import Simulator, SimulatorThread

__all__ = ["Simulator", "SimulatorControl", "SimulatorThread"]


def __getattr__(name: str) -> Any:
    if name in ("Simulator", "SimulatorThread"):
        from simulator import server

        return getattr(server, name)
    if name == "SimulatorControl":
        from simulator import client

        return client.SimulatorControl
    raise AttributeError(name)
