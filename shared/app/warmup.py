"""First-use costs paid off the event loop: the SDK imports, msgraph's model registry, the templates.

All invocations of a worker share one event loop, so a callback that runs long delays every other
invocation. The heavy SDKs are imported where first used (cold start stays light), and that first
use used to happen *on the loop*: the storage SDK and aiohttp on the first push (≈0.5 s), the
identity, tables and Graph SDKs on the first queue or timer invocation, and msgraph-sdk's lazy import
of ≈1,200 model modules the first time a service principal was deserialized (≈1 s on its own).

Each trigger awaits :func:`warm` with its *tier* before anything else: the tier's work runs once per
process in a worker thread (``asyncio.to_thread``) while the loop keeps serving other invocations.
Importing in a thread is safe: Python's per-module import locks make a concurrent import of the same
module wait for the first one, and the loop thread only imports these modules after ``warm``
returned. A later invocation finds the tier done and pays nothing (one set lookup).

* ``push`` — what the Event Grid and alert triggers need to parse, classify and write the intake
  queue (settings, normalizers, the storage queue SDK and its aiohttp transport);
* ``full`` — everything else the queue and timer triggers use: identity, tables, Graph (msgraph-sdk's
  client, request builders and kiota), httpx and httpcore, the notice templates (compiled), Log
  Analytics. After a push tier, the full tier starts in the background, so the intake invocation the
  push leads to finds it done or under way;
* ``models`` — msgraph's model registry (a sample of each model answer deserialized), only for the
  opt-in paths that still read or write kiota models (restore, prevention notes): the answers the
  checks read are decoded by :mod:`shared.clients.graph_objects` and never load it.

After each tier the objects it created (modules, classes, compiled templates: hundreds of thousands,
alive for the life of the process) are moved out of the cyclic garbage collector's reach with
:func:`gc.freeze`. Otherwise the next full collection walks them all, on whatever callback happens to
allocate at that moment: 70–95 ms of a first verification or tick went there (measured by
``bench/bench_first_invocation.py``), a pause every later full collection would repeat.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

PUSH_MODULES = (
    "shared.core.settings",
    "shared.app.runtime",
    "shared.detect.intake",
    "shared.clients.intake_queue",
    "shared.detect.normalize",
    "shared.detect.normalize.graph_pages",
    "shared.clients.storage",
    "shared.core.logsafety",
    "shared.core.retry",
    "azure.core.pipeline.transport._aiohttp",
    "azure.storage.queue.aio",
    "azure.storage.queue._shared.policies_async",
)

FULL_MODULES = (
    *PUSH_MODULES,
    "shared.app.push",
    "shared.app.pipeline",
    "shared.app.verification",
    "shared.app.sweep",
    "shared.app.health_check",
    "shared.checks.report",
    "shared.checks.graph",
    "shared.checks.webex",
    "shared.checks.run",
    "shared.app.checking",
    "shared.app.operational_notices",
    "shared.detect.findings",
    "shared.detect.audit_poll",
    "shared.clients.checkpoints",
    "shared.incidents.store",
    "shared.checks.identity_app",
    "shared.incidents.notices",
    "shared.notify.channels",
    "shared.notify.render",
    "shared.incidents.operational",
    "shared.checks.config_report",
    "shared.app.poison",
    "shared.app.restore",
    "shared.checks.prevention",
    "shared.clients.credentials",
    "shared.clients.graph",
    "shared.clients.loganalytics",
    "shared.clients.webex_auth",
    "shared.clients.webex_scim",
    "shared.clients.webex_status",
    "shared.clients.verify_queue",
    "azure.identity.aio",
    "azure.data.tables.aio",
    "azure.monitor.query.aio",
    "httpx",
    "httpcore",  # httpx imports it (and h2, hpack, hyperframe: ≈0.3 s) when a client is built
    "httpcore._async.http2",
    "anyio._backends._asyncio",  # httpcore's first connection picks its anyio backend (≈0.1 s)
    "anyio.streams.tls",
    "msgraph.graph_service_client",
    "msgraph.graph_request_adapter",
    "msgraph_core",
    "kiota_http.middleware.options",
    "kiota_authentication_azure.azure_identity_authentication_provider",
    "kiota_serialization_json.json_parse_node_factory",
    "kiota_serialization_json.json_serialization_writer_factory",
    "kiota_serialization_text.text_parse_node_factory",
    "kiota_serialization_form.form_parse_node_factory",
    "kiota_serialization_multipart.multipart_serialization_writer_factory",
    "kiota_abstractions.base_request_configuration",
    "msgraph.generated.service_principals.service_principals_request_builder",
    "msgraph.generated.service_principals.item.service_principal_item_request_builder",
    "msgraph.generated.users.users_request_builder",
    "msgraph.generated.users.item.user_item_request_builder",
    "msgraph.generated.directory.directory_request_builder",
    "msgraph.generated.directory.deleted_items.deleted_items_request_builder",
    "msgraph.generated.audit_logs.audit_logs_request_builder",
    "msgraph.generated.service_principals.delta.delta_request_builder",
    "msgraph.generated.directory.deleted_items.graph_service_principal.graph_service_principal_request_builder",
    "msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder",
    "msgraph.generated.oauth2_permission_grants.oauth2_permission_grants_request_builder",
    "msgraph.generated.service_principals.item.app_role_assignments.app_role_assignments_request_builder",
    "msgraph.generated.users.item.send_mail.send_mail_request_builder",
    "msgraph.generated.users.item.send_mail.send_mail_post_request_body",
    "msgraph.generated.models.o_data_errors.o_data_error",
)

# Responses msgraph-sdk deserializes into models (the first one imports ~1,200 model modules).
_GRAPH_MODELS = (
    "msgraph.generated.models.service_principal_collection_response.ServicePrincipalCollectionResponse",
    "msgraph.generated.models.o_auth2_permission_grant_collection_response.OAuth2PermissionGrantCollectionResponse",
    "msgraph.generated.models.app_role_assignment_collection_response.AppRoleAssignmentCollectionResponse",
    "msgraph.generated.models.o_data_errors.o_data_error.ODataError",
)
_SAMPLE = b'{"value": [{"@odata.type": "#microsoft.graph.servicePrincipal", "id": "1", "appId": "2"}]}'

_locks = {tier: threading.Lock() for tier in ("push", "full", "models")}
_done: set[str] = set()


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def _graph_models() -> None:
    """Deserialize a sample of each response model: kiota's lazy imports happen here, not on the loop."""
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory

    factory = JsonParseNodeFactory()
    for path in _GRAPH_MODELS:
        module, _, cls = path.rpartition(".")
        model = getattr(importlib.import_module(module), cls)
        factory.get_root_parse_node("application/json", _SAMPLE).get_object_value(model)


def _templates() -> None:
    from shared.notify.render import environment

    env = environment()
    for name in env.list_templates():
        env.get_template(name)


TIERS: dict[str, tuple[Callable[[], None], ...]] = {
    "push": (lambda: _import_all(PUSH_MODULES),),
    "full": (lambda: _import_all(FULL_MODULES), _templates),
    "models": (_graph_models,),
}


def warm_now(tier: str) -> None:
    """Do ``tier``'s work in this thread, once per process (blocking: call it off the loop)."""
    if tier in _done:
        return
    with _locks[tier]:
        if tier in _done:
            return
        for step in TIERS[tier]:
            step()
        _done.add(tier)
        gc.freeze()


def is_warm(tier: str) -> bool:
    return tier in _done


async def warm(tier: str) -> None:
    """Wait until ``tier`` is warm, doing the work in a worker thread the first time."""
    if tier in _done:
        return
    try:
        await asyncio.to_thread(warm_now, tier)
    except Exception as error:  # never fails an invocation: the work then happens where it is used
        log.warning("warm-up of %s failed: %s: %s", tier, type(error).__name__, error)
        return
    if tier == "push" and "full" not in _done:
        _background_full()


def _background_full() -> None:
    def run() -> None:
        try:
            warm_now("full")
        except Exception as error:  # the invocation that needs it will warm (and fail) on its own
            log.warning("background warm-up failed: %s", type(error).__name__)

    threading.Thread(target=run, name="warm-full", daemon=True).start()
