"""Typed aiohttp application keys shared by the route modules."""

from __future__ import annotations

from aiohttp import web

from simulator.state import SimState

STATE: web.AppKey[SimState] = web.AppKey("state", SimState)
