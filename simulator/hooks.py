"""Receivers for the outgoing notification webhooks: a Teams workflow and the generic signed webhook.

They answer as the real ones do (a Power Automate "When a Teams webhook request is received" trigger
answers 202, a generic receiver 200) and keep nothing themselves: the middleware records every call,
so tests count what arrived and apply faults to these paths like to any other API.
"""

from __future__ import annotations

from aiohttp import web

TEAMS_PATH = "/hooks/teams/workflows/webex-alerts/triggers/manual/paths/invoke"
WEBHOOK_PATH = "/hooks/webhook"


async def teams(request: web.Request) -> web.Response:
    return web.Response(status=202)


async def webhook(request: web.Request) -> web.Response:
    return web.json_response({"received": True}, status=200)


def register(app: web.Application) -> None:
    app.router.add_route("POST", TEAMS_PATH, teams)
    app.router.add_route("POST", WEBHOOK_PATH, webhook)
