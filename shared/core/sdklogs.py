"""How much the SDKs log: warnings and errors only, unless ``SDK_LOG_LEVEL`` says otherwise.

The Functions worker sets the root logger to INFO, and at INFO the SDKs log every request:
azure-core's HTTP logging policy (request and response headers, per storage call), azure-identity
(each token request), httpx (each request line). In one incident lifecycle that was about nine
lines in ten, each one an Application Insights row the tenant pays for. So their loggers are set
to WARNING: failures still show, the project's own lifecycle lines are untouched.

``SDK_LOG_LEVEL`` (app setting; ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``, default
``WARNING``) turns SDK logging back on for debugging. An unknown value keeps the default and says so.
httpx's request lines stay redacted at any level (:mod:`shared.core.logsafety`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

SDK_LOGGERS = (
    "azure",  # azure.core (http_logging_policy), azure.identity, azure.data.tables, azure.storage, azure.monitor
    "msal",
    "httpx",
    "httpcore",
    "urllib3",
    "kiota_abstractions",
    "kiota_http",
    "kiota_authentication_azure",
    "kiota_serialization_json",
    "msgraph",
    "msgraph_core",
    "opentelemetry",
    "aiohttp",
    "hpack",
    "h2",
)
"""Top-level loggers of the libraries the app uses (child loggers inherit the level)."""

DEFAULT_LEVEL = "WARNING"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

log = logging.getLogger(__name__)


def sdk_log_level(env: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The level ``SDK_LOG_LEVEL`` asks for, and whether the value was understood."""
    env = os.environ if env is None else env
    raw = env.get("SDK_LOG_LEVEL", "").strip().upper()
    if not raw:
        return DEFAULT_LEVEL, True
    return (raw, True) if raw in _LEVELS else (DEFAULT_LEVEL, False)


def configure_sdk_logging(env: Mapping[str, str] | None = None) -> str:
    """Set every SDK logger to the configured level (idempotent, cheap); returns the level set."""
    level, understood = sdk_log_level(env)
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if not understood:
        log.warning("SDK_LOG_LEVEL is not one of %s; SDK loggers stay at %s", ", ".join(_LEVELS), level)
    return level
