"""Logging set-up for the worker: structured incident fields, and Application Insights through
OpenTelemetry when the app runs in Azure.

The Functions host forwards Python log *messages* but not their attributes; custom dimensions need
the OpenTelemetry path (``host.json`` ``telemetryMode: OpenTelemetry``, app setting
``PYTHON_ENABLE_OPENTELEMETRY=true`` — the setting the Python worker reads to stream OpenTelemetry
logs, docs/deploy.md — and ``azure-monitor-opentelemetry`` configured here, in the worker).
Application Insights has local authentication off in our template, so the exporter authenticates
with the app's user-assigned managed identity (``AZURE_CLIENT_ID``). The distro is imported only
when those settings say so: locally, in tests and in benchmarks nothing heavy loads.
A failure to set up telemetry is logged and never stops the app from starting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from shared.core import logcontext

log = logging.getLogger(__name__)

_state = {"started": False}


def otel_enabled(env: Mapping[str, str] | None = None) -> bool:
    """True when the worker should export to Application Insights itself (OpenTelemetry mode)."""
    env = os.environ if env is None else env
    flag = env.get("PYTHON_ENABLE_OPENTELEMETRY", "").strip().lower() == "true"
    return flag and bool(env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip())


def configure() -> bool:
    """Install the log-field factory; start the Azure Monitor exporter when enabled.

    Returns whether the exporter was started (idempotent: only the first call can start it).
    """
    logcontext.install()
    if _state["started"] or not otel_enabled():
        return False
    _state["started"] = True
    if _sdk_already_configured():
        return False  # older workers configure the distro themselves under the same setting
    try:
        from azure.identity import ManagedIdentityCredential
        from azure.monitor.opentelemetry import configure_azure_monitor

        client_id = os.environ.get("AZURE_CLIENT_ID") or None
        configure_azure_monitor(
            credential=ManagedIdentityCredential(client_id=client_id),
            # Web-framework instrumentations have nothing to watch in a Functions worker.
            instrumentation_options={name: {"enabled": False} for name in ("django", "fastapi", "flask", "psycopg2")},
        )
    except Exception as error:  # telemetry must never stop the remediator from starting
        log.warning("Application Insights export not started: %s", type(error).__name__)
        return False
    return True


def _sdk_already_configured() -> bool:
    """Has the worker already installed an OpenTelemetry SDK tracer provider in this process? Worker
    versions whose ``PYTHON_ENABLE_OPENTELEMETRY`` also calls ``configure_azure_monitor`` do; a second
    configuration would export every log line twice."""
    import sys

    if "opentelemetry.trace" not in sys.modules:
        return False
    from opentelemetry import trace

    return type(trace.get_tracer_provider()).__module__.startswith("opentelemetry.sdk")
