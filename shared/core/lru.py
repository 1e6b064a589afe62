"""A bounded least-recently-used map whose evictions the owner closes (no I/O here).

Provider mode keeps one object per customer tenant in three places — the token credential, the
Graph client, the Webex token holder — each reused across invocations (its token cache must outlive
one sweep) and bounded, because a deployment may watch more tenants than it should hold open. What
falls out is handed back, so the owner closes it as that object needs (``close``, ``aclose`` or
nothing when it shares a pool).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``limit`` entries, the least recently used first out."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an LRU map holds at least one entry")
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        """The entry (now the most recently used), or ``None``."""
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: K, value: V, *, limit: int | None = None) -> list[V]:
        """Store ``value`` as the most recently used; returns what no longer fits (``limit``, if
        given, bounds this call tighter than :attr:`limit`), oldest first, for the owner to close."""
        self._items[key] = value
        self._items.move_to_end(key)
        bound = self.limit if limit is None else min(limit, self.limit)
        evicted: list[V] = []
        while len(self._items) > max(bound, 1):
            evicted.append(self._items.popitem(last=False)[1])
        return evicted

    def drain(self) -> list[V]:
        """Every entry, oldest first, the map left empty (on close)."""
        items = list(self._items.values())
        self._items.clear()
        return items
