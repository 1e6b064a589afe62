"""Injected failures: throttling, outages, slow answers, malformed bodies, dropped connections.

The project's promise is that a passing error makes the function fail so the platform retries, and a
permanent one does not loop. Those paths only run when something fails, so tests ask for failures
here. A fault matches by method and a regex on the path, applies before normal handling, and is used
up after ``times`` matches (``times`` null: forever).

A *hold* (``hold="before"`` or ``"after"``, with ``skip``: let that many matching calls through
first) is how the crash harness (tests/crash/) kills a worker at its k-th call: the call hangs,
before the service acts on it or after it acted and before its answer leaves, until
:func:`release_holds`; then its connection is cut. The harness sees the held call in the recording
(``held``) and kills the worker meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_ids = itertools.count(1)


@dataclass(slots=True)
class Fault:
    """One fault rule. ``status`` None with a ``delay`` only slows the real answer down."""

    path: str = ".*"
    method: str | None = None
    status: int | None = None
    retry_after: str | None = None
    body: Any = None
    malformed: bool = False
    delay: float = 0.0
    times: int | None = 1
    drop: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    skip: int = 0
    hold: str | None = None
    id: int = field(default_factory=lambda: next(_ids))
    hits: int = 0
    passed: int = 0
    _regex: re.Pattern[str] | None = None
    _release: asyncio.Event | None = None

    def __post_init__(self) -> None:
        try:
            self._regex = re.compile(self.path)
        except re.error as exc:
            raise ValueError(f"path is not a valid regex: {exc}") from None
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or null (forever)")
        if self.delay < 0 or self.delay > 600:
            raise ValueError("delay must be 0..600 seconds")
        if self.method is not None:
            self.method = self.method.upper()
        if self.hold not in (None, "before", "after"):
            raise ValueError('hold must be "before", "after" or null')
        if not 0 <= self.skip <= 100_000:
            raise ValueError("skip must be 0..100000")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        allowed = {
            "path", "method", "status", "retry_after", "body", "malformed", "delay", "times", "drop", "headers",
            "skip", "hold",
        }  # fmt: skip
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        kwargs = dict(data)
        if kwargs.get("retry_after") is not None:
            kwargs["retry_after"] = str(kwargs["retry_after"])
        if kwargs.get("path") is None:
            kwargs["path"] = ".*"
        if "times" not in kwargs:
            kwargs["times"] = 1
        kwargs["delay"] = float(kwargs.get("delay") or 0.0)
        kwargs["malformed"] = bool(kwargs.get("malformed", False))
        kwargs["drop"] = bool(kwargs.get("drop", False))
        kwargs["headers"] = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
        kwargs["skip"] = int(kwargs.get("skip") or 0)
        return cls(**kwargs)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() not in self.method.split("|"):  # "POST|PUT": either
            return False
        assert self._regex is not None
        return self._regex.search(path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "retry_after": self.retry_after,
            "malformed": self.malformed,
            "delay": self.delay,
            "drop": self.drop,
            "times": self.times,
            "hits": self.hits,
            "skip": self.skip,
            "hold": self.hold,
        }


def take_fault(faults: list[Fault], method: str, path: str) -> Fault | None:
    """The first live fault matching the request, counted as used (removed once exhausted); a fault
    still skipping lets the request pass (and counts it)."""
    for fault in faults:
        if fault.matches(method, path):
            if fault.passed < fault.skip:
                fault.passed += 1
                return None
            fault.hits += 1
            if fault.exhausted:
                faults.remove(fault)
            return fault
    return None


async def delay_or_drop(fault: Fault, request: web.Request, entry: dict[str, Any]) -> web.Response | None:
    """The part of a fault every loopback server applies alike, recorded on the request ``entry``:
    wait ``delay``, then, for ``drop``, cut the connection (the returned response never arrives).
    ``None``: the server goes on to answer (with the fault's status/body, or normally)."""
    entry["fault"] = fault.id
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.drop:
        entry["status"] = "dropped"
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)
    return None


async def hold_request(fault: Fault, request: web.Request, entry: dict[str, Any], held: list[Fault]) -> web.Response:
    """Hang the call (recorded as ``held``) until :func:`release_holds`, then cut its connection:
    the caller never gets an answer, whether the service acted on the call or not."""
    entry["fault"] = fault.id
    entry["held"] = fault.hold
    if fault._release is None:
        fault._release = asyncio.Event()
    held.append(fault)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(fault._release.wait(), timeout=600)
    entry["status"] = "dropped"
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


def release_holds(held: list[Fault]) -> int:
    """Let every held call end (its connection is cut): the worker that made it is gone by now."""
    count = 0
    for fault in held:
        if fault._release is not None:
            fault._release.set()
            count += 1
    held.clear()
    return count
