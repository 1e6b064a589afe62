"""Notice receivers: a Microsoft Teams Workflows webhook and a generic signed-webhook endpoint.

Teams and ITSM tools are the far ends of two notice channels; tests need somewhere real for those
POSTs to land so "delivered once" is what the simulator *received*, and so faults (500, 429 with
``Retry-After``, a hang) can be injected on one channel while the others work.

- Teams: ``POST /teams/workflows/{id}/triggers/manual/paths/invoke?...&sig=…`` — the shape of a
  Workflows "When a Teams webhook request is received" trigger URL. Without ``sig`` it answers 401
  ``DirectApiAuthorizationRequired``; a body that is not a ``message`` with an Adaptive Card
  attachment gets 400 ``TriggerInputSchemaMismatch`` (as the Workflows trigger's schema check
  does); otherwise 202 with no body.
- Webhook: ``POST /hooks/{name}`` — any JSON object with the ``X-Remediator-Signature``,
  ``X-Remediator-Timestamp`` and ``X-Remediator-Delivery`` headers is accepted with 204; the
  signature is checked by the tests (they hold the secret), the receiver only requires the headers
  to be present (400 otherwise).

Accepted posts are kept in ``SimState.teams_posts`` / ``SimState.webhook_posts`` (``/_sim/state``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web

from simulator.errors import json_response
from simulator.keys import STATE
from simulator.timefmt import graph_time

TEAMS_PREFIX = "/teams/workflows"
HOOKS_PREFIX = "/hooks"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def teams_url(base_url: str, workflow_id: str = "wf-webex-remediator", sig: str = "sim-sig") -> str:
    """A Workflows-style trigger URL on the simulator (the ``sig`` parameter is its credential)."""
    return (
        f"{base_url.rstrip('/')}{TEAMS_PREFIX}/{quote(workflow_id, safe='')}/triggers/manual/paths/invoke"
        f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={quote(sig, safe='')}"
    )


def webhook_url(base_url: str, name: str = "itsm") -> str:
    return f"{base_url.rstrip('/')}{HOOKS_PREFIX}/{quote(name, safe='')}"


def _workflow_error(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _card_problem(body: dict[str, Any]) -> str | None:
    if body.get("type") != "message":
        return "The input body for trigger 'manual' of type 'Request' must have 'type': 'message'."
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "The input body for trigger 'manual' of type 'Request' must have at least one attachment."
    first = attachments[0]
    if not isinstance(first, dict) or first.get("contentType") != ADAPTIVE_CARD:
        return f"The attachment contentType must be '{ADAPTIVE_CARD}'."
    content = first.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
        return "The attachment content must be an AdaptiveCard."
    return None


async def teams_invoke(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not request.query.get("sig"):
        return _workflow_error(
            401, "DirectApiAuthorizationRequired", "The request must be authenticated only by Shared Access scheme."
        )
    body = _json_object(await request.text())
    problem = "The request body is not a JSON object." if body is None else _card_problem(body)
    if problem is not None or body is None:
        return _workflow_error(400, "TriggerInputSchemaMismatch", problem or "")
    state.teams_posts.append(
        {"workflow": request.match_info["workflow"], "body": body, "time": graph_time(state.clock.now())}
    )
    return web.Response(status=202)


async def webhook_post(request: web.Request) -> web.Response:
    state = request.app[STATE]
    text = await request.text()
    body = _json_object(text)
    if body is None:
        return json_response({"error": "body must be a JSON object"}, 400)
    signature = request.headers.get("X-Remediator-Signature")
    timestamp = request.headers.get("X-Remediator-Timestamp")
    delivery = request.headers.get("X-Remediator-Delivery")
    if not signature or not timestamp or not delivery:
        return json_response(
            {"error": "missing X-Remediator-Signature / X-Remediator-Timestamp / X-Remediator-Delivery"}, 400
        )
    state.webhook_posts.append(
        {
            "name": request.match_info["name"],
            "body": body,
            "raw": text,
            "signature": signature,
            "timestamp": timestamp,
            "delivery": delivery,
            "time": graph_time(state.clock.now()),
        }
    )
    return web.Response(status=204)


def register(app: web.Application) -> None:
    app.router.add_post(TEAMS_PREFIX + "/{workflow}/triggers/manual/paths/invoke", teams_invoke)
    app.router.add_post(HOOKS_PREFIX + "/{name}", webhook_post)
