"""The ``/_sim`` control API: reset, scenarios, faults, recorded requests, state, clock.

Plain JSON with no authentication: it exists for tests, the demo and benchmarks on loopback. Each
scenario answers with the audit records it appended so a caller can assert on them directly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from simulator.audit import Actor
from simulator.errors import json_response
from simulator.faults import Fault, release_holds
from simulator.keys import STATE
from simulator.state import DEFAULT_ACTOR, NotFoundError, ScenarioError, SimState
from simulator.timefmt import graph_time

MAX_TENANTS_PER_CALL = 5000
MAX_TENANTS = 20000


class BadInput(ValueError):
    pass


async def _body(request: web.Request) -> dict[str, Any]:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise BadInput("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadInput("body must be a JSON object")
    return data


def _app(data: dict[str, Any]) -> str:
    app = data.get("app", "integration")
    if app not in ("integration", "identity"):
        raise BadInput("app must be 'integration' or 'identity'")
    return str(app)


def _actor(data: dict[str, Any]) -> Actor:
    actor = data.get("actor") or DEFAULT_ACTOR
    if not isinstance(actor, str):
        raise BadInput("actor must be a UPN string")
    return Actor(upn=actor)


def _handler(fn: Any, *, per_tenant: bool = True) -> Any:
    """A control route; ``?tenant=<id>`` points a per-tenant one (scenarios, state, behaviour, reset)
    at that tenant's world. Requests, faults and the clock are the simulator's, whatever the tenant."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            state = request.app[STATE]
            if per_tenant and request.query.get("tenant"):
                state = state.world(request.query["tenant"])
            result = await fn(request, state, await _body(request))
        except (BadInput, ScenarioError, ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        except NotFoundError as exc:
            return json_response({"error": f"not found: {exc}"}, 404)
        return json_response(result)

    return wrapped


async def reset(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    release_holds(state.held)
    state.reset(data)
    return {"ok": True, **state.snapshot()["config"]}


async def delete(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    sp_id = data.get("sp_id")
    if sp_id is not None and not isinstance(sp_id, str):
        raise BadInput("sp_id must be a string")
    records = state.delete(_app(data), bool(data.get("hard", False)), _actor(data), sp_id)
    return {"records": records}


async def disable(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    rec = state.set_enabled(_app(data), False, _actor(data))
    return {"records": [rec] if rec else []}


async def enable(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    rec = state.set_enabled(_app(data), True, _actor(data))
    return {"records": [rec] if rec else []}


async def consent(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    records = state.consent(_actor(data), _app(data))
    sp = state.sp_by_app(_app(data))
    return {"records": records, "service_principal": sp}


async def revoke(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    return {"records": state.revoke(_actor(data))}


async def restore(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Restore from the recycle bin as an admin in the portal would (Graph has its own route)."""
    gone = state.deleted_by_app(_app(data))
    if gone is None:
        raise ScenarioError(f"{_app(data)} is not in the recycle bin")
    return {"service_principal": state.restore(gone.sp["id"], _actor(data)), "records": [state.audits[-1].record]}


async def activity(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """An unrelated audited change (noise): ``{"activity", "app"?: integration|identity, "actor"?}``."""
    name = data.get("activity")
    if not isinstance(name, str):
        raise BadInput("activity must be a string")
    app = _app(data) if data.get("app") is not None else None
    return {"records": [state.record_activity(name, app, _actor(data))]}


async def add_sp(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Another service principal: ``{"display_name", "app_id"?, "actor"?, "owner_org"?, "by_integration"?}``."""
    name, app_id, owner_org = data.get("display_name"), data.get("app_id"), data.get("owner_org")
    if not isinstance(name, str) or not all(v is None or isinstance(v, str) for v in (app_id, owner_org)):
        raise BadInput("display_name must be a string, app_id and owner_org strings or absent")
    by_integration = data.get("by_integration") is True
    sp = state.add_service_principal(name, app_id, _actor(data), owner_org=owner_org, by_integration=by_integration)
    return {"service_principal": sp}


async def app_role(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Grant the app an application permission on Graph: ``{"app"?, "app_role_id"?, "actor"?}``."""
    role = data.get("app_role_id")
    if role is not None and not isinstance(role, str):
        raise BadInput("app_role_id must be a string")
    return {"assignment": state.assign_app_role(_app(data), role, _actor(data)), "records": [state.audits[-1].record]}


async def add_fault(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    fault = Fault.from_json(data)
    state.faults.append(fault)
    return {"id": fault.id, "fault": fault.describe()}


async def clear_faults(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    count = len(state.faults)
    state.faults.clear()
    release_holds(state.held)  # held calls end with their connection cut
    return {"cleared": count}


async def list_faults(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    return {"faults": [f.describe() for f in state.faults]}


async def list_requests(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    path, method = request.query.get("path"), request.query.get("method")
    try:
        regex = re.compile(path) if path else None
    except re.error as exc:
        raise BadInput(f"path is not a valid regex: {exc}") from None
    found = [
        r
        for r in state.requests
        if (regex is None or regex.search(r["path"])) and (not method or r["method"] == method.upper())
    ]
    return {"requests": found}


async def clear_requests(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    count = len(state.requests)
    state.requests.clear()
    return {"cleared": count}


async def get_state(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    return state.snapshot()


async def advance_clock(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    seconds = data.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise BadInput("seconds must be a number")
    state.clock.advance(float(seconds))
    snap = state.snapshot()
    return {"now": snap["now"], "offset_seconds": snap["clock_offset_seconds"]}


async def webex_tokens(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Change the Webex token endpoint's behaviour: lifetimes (seconds), refresh-token rotation,
    and ``echo_form`` (refusals echo the form received, secrets included)."""
    policy = state.webex_policy
    for name in ("access_lifetime", "refresh_lifetime"):
        if name in data:
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BadInput(f"{name} must be a positive integer (seconds)")
            setattr(policy, name, value)
    for flag in ("rotate", "echo_form"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise BadInput(f"{flag} must be a boolean")
            setattr(policy, flag, data[flag])
    return dict(state.snapshot()["webex_tokens"])


async def webex_revoke(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """An admin de-authorizes the service app in Control Hub: every issued token stops working."""
    return {"revoked": state.revoke_webex_tokens()}


async def webex_status_mode(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """How Control Hub's undocumented status call behaves (simulator.controlhub):
    ``{"mode": as_today|admin_only|unknown_body|lagging, "lag_seconds"?: number}``."""
    mode, lag = data.get("mode", "as_today"), data.get("lag_seconds")
    if not isinstance(mode, str):
        raise BadInput("mode must be a string")
    if lag is not None and (not isinstance(lag, int | float) or isinstance(lag, bool)):
        raise BadInput("lag_seconds must be a number")
    state.status_call.configure(mode, None if lag is None else float(lag))
    return state.status_call.describe()


async def service_app_token(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """A token pair of the org's authorized service app (what "Generate tokens" hands an admin): an
    access token that is valid for the public API but is nobody's administrator session."""
    cfg = state.config
    pair = state.issue_webex_pair(cfg.webex_client_id, cfg.webex_client_secret, cfg.org_id)
    assert isinstance(pair, dict)
    return pair


async def la_limits(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Log Analytics result limit: ``{"max_rows": n | null}``; a longer result is sent as a partial
    result (200 with ``error`` beside ``tables``; simulator.kqlcheck)."""
    value = data.get("max_rows")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise BadInput("max_rows must be a non-negative integer or null")
    state.la_limits.max_rows = value
    return {"max_rows": value}


async def put_secret(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    name, value = data.get("name"), data.get("value")
    if not isinstance(name, str) or not name or not isinstance(value, str):
        raise BadInput("name and value must be strings")
    return {"name": name, "version": state.set_secret(name, value)["version"]}


async def graph_behaviour(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Change how strict simulated Graph is (simulator.graph_behaviour.GraphBehaviour fields)."""
    state.graph_behaviour.update(data)
    return state.graph_behaviour.describe()


async def expire_delta(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Every delta link issued so far dies now (as after 7 days, or a tenant migration)."""
    state.delta_epoch += 1
    return {"epoch": state.delta_epoch}


async def add_tenants(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """More tenants: ``{"count"?: 1..5000}`` new ones, or one ``{"tenant_id"?, "tenant_domain"?}``."""
    count, tid, domain = data.get("count", 1), data.get("tenant_id"), data.get("tenant_domain")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_TENANTS_PER_CALL:
        raise BadInput(f"count must be an integer from 1 to {MAX_TENANTS_PER_CALL}")
    if not all(v is None or isinstance(v, str) for v in (tid, domain)) or (count > 1 and (tid or domain)):
        raise BadInput("tenant_id and tenant_domain are strings, for one tenant only")
    if len(state.tenants) + count > MAX_TENANTS:
        raise BadInput(f"at most {MAX_TENANTS} extra tenants")
    worlds = [state.add_tenant(tid, domain) for _ in range(count)]
    return {"tenants": [w.describe_tenant() for w in worlds]}


async def list_tenants(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    return {"default": state.describe_tenant(), "tenants": [w.describe_tenant() for w in state.tenants.values()]}


async def remove_tenant(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    state.remove_tenant(request.match_info["tenant_id"])
    return {"removed": request.match_info["tenant_id"]}


async def throttle_tenant(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Graph throttles one tenant: ``{"seconds": 600, "scope"?: "all" | "audit"}``."""
    seconds, scope = data.get("seconds"), data.get("scope", "all")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not isinstance(scope, str):
        raise BadInput("seconds must be a number, scope a string")
    throttle = state.throttle_tenant(request.match_info["tenant_id"], float(seconds), scope)
    return {"until": graph_time(throttle.until), "scope": throttle.scope}


async def provider_consent(request: web.Request, state: SimState, data: dict[str, Any]) -> dict[str, Any]:
    """Grant (``{"granted": true}``) or revoke the provider app's admin consent in one tenant."""
    granted = data.get("granted")
    if not isinstance(granted, bool):
        raise BadInput("granted must be a boolean")
    world = state.world(request.match_info["tenant_id"])
    world.provider_consented = granted
    return world.describe_tenant()


def register(app: web.Application) -> None:
    r = app.router
    r.add_post("/_sim/reset", _handler(reset))
    r.add_post("/_sim/scenario/delete", _handler(delete))
    r.add_post("/_sim/scenario/disable", _handler(disable))
    r.add_post("/_sim/scenario/enable", _handler(enable))
    r.add_post("/_sim/scenario/consent", _handler(consent))
    r.add_post("/_sim/scenario/revoke", _handler(revoke))
    r.add_post("/_sim/scenario/restore", _handler(restore))
    r.add_post("/_sim/scenario/activity", _handler(activity))
    r.add_post("/_sim/scenario/add-sp", _handler(add_sp))
    r.add_post("/_sim/scenario/app-role", _handler(app_role))
    r.add_post("/_sim/faults", _handler(add_fault, per_tenant=False))
    r.add_get("/_sim/faults", _handler(list_faults, per_tenant=False))
    r.add_delete("/_sim/faults", _handler(clear_faults, per_tenant=False))
    r.add_get("/_sim/requests", _handler(list_requests, per_tenant=False))
    r.add_delete("/_sim/requests", _handler(clear_requests, per_tenant=False))
    r.add_get("/_sim/state", _handler(get_state))
    r.add_post("/_sim/clock/advance", _handler(advance_clock, per_tenant=False))
    r.add_post("/_sim/tenants", _handler(add_tenants, per_tenant=False))
    r.add_get("/_sim/tenants", _handler(list_tenants, per_tenant=False))
    r.add_delete("/_sim/tenants/{tenant_id}", _handler(remove_tenant, per_tenant=False))
    r.add_post("/_sim/tenants/{tenant_id}/throttle", _handler(throttle_tenant, per_tenant=False))
    r.add_post("/_sim/tenants/{tenant_id}/provider-consent", _handler(provider_consent, per_tenant=False))
    r.add_post("/_sim/webex/tokens", _handler(webex_tokens))
    r.add_post("/_sim/webex/revoke", _handler(webex_revoke))
    r.add_post("/_sim/webex/status", _handler(webex_status_mode))
    r.add_post("/_sim/webex/service-app-token", _handler(service_app_token))
    r.add_post("/_sim/loganalytics/limits", _handler(la_limits))
    r.add_post("/_sim/keyvault/secrets", _handler(put_secret))
    r.add_post("/_sim/graph/behaviour", _handler(graph_behaviour))
    r.add_get("/_sim/graph/behaviour", _handler(graph_behaviour))
    r.add_post("/_sim/graph/expire-delta", _handler(expire_delta))
