"""TLS for the loopback server.

Every real client insists on HTTPS (azure-identity rejects an ``http://`` authority), so the simulator
serves TLS with a throwaway ``trustme`` CA. Clients trust it through ``SSL_CERT_FILE=<ca pem>``
(httpx reads it when a client is created) or an explicit ``verify=`` / ``connection_verify=``.

One trap: aiohttp builds its default verifying ``SSLContext`` once, when ``aiohttp`` is first
imported, so setting ``SSL_CERT_FILE`` later does not reach azure-core's aiohttp transport (used by
azure-identity aio and azure-monitor-query aio). Either set the variable before that import (a
subprocess with :meth:`Simulator.env`), pass ``connection_verify=<ca pem>`` to those clients, or call
:func:`trust_in_process` in a test or demo process.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost")


class SimulatorTLS:
    """A fresh CA and a server certificate for ``127.0.0.1`` and ``localhost``."""

    def __init__(self) -> None:
        self.ca = trustme.CA(organization_name="Webex sync remediator simulator")
        self._server_cert = self.ca.issue_cert(*SERVER_NAMES)

    @property
    def ca_pem(self) -> bytes:
        return bytes(self.ca.cert_pem.bytes())

    def write_ca_pem(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the CA certificate (PEM) to ``path`` or a new temp file; return the path."""
        if path is None:
            fd, name = tempfile.mkstemp(prefix="webex-sim-ca-", suffix=".pem")
            os.close(fd)
            path = name
        target = Path(path)
        target.write_bytes(self.ca_pem)
        return target

    def server_context(self) -> ssl.SSLContext:
        """The server-side context aiohttp serves with."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only (for callers that prefer ``verify=ctx``)."""
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


def trust_in_process(ca_pem_path: str | os.PathLike[str]) -> None:
    """Make this process trust the simulator CA, for every client library at once.

    Sets ``SSL_CERT_FILE`` (httpx, new OpenSSL default contexts) and adds the CA to aiohttp's cached
    default context, which was built at import time and would otherwise ignore the variable. Meant for
    tests and the demo only: it widens what this process trusts.
    """
    path = os.fspath(ca_pem_path)
    os.environ["SSL_CERT_FILE"] = path
    try:
        from aiohttp import connector
    except ImportError:  # pragma: no cover - aiohttp is a dependency of the simulator itself
        return
    cached = getattr(connector, "_SSL_CONTEXT_VERIFIED", None)
    if isinstance(cached, ssl.SSLContext):
        cached.load_verify_locations(cafile=path)
