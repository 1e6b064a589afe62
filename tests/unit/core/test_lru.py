"""The bounded map provider mode keeps per-tenant clients in: the least recently used leaves first,
and what leaves is handed back for its owner to close."""

from __future__ import annotations

import pytest

from shared.core.lru import Lru


def test_the_least_recently_used_leaves_first_and_is_handed_back() -> None:
    lru: Lru[str, int] = Lru(2)
    assert lru.put("a", 1) == [] and lru.put("b", 2) == []
    assert lru.get("a") == 1  # "a" is now the most recent
    assert lru.put("c", 3) == [2]
    assert "b" not in lru and "a" in lru and len(lru) == 2
    assert lru.get("b") is None


def test_a_call_may_bound_tighter_and_a_replaced_key_is_not_evicted() -> None:
    lru: Lru[str, int] = Lru(5)
    for n, key in enumerate("abcd"):
        lru.put(key, n)
    assert lru.put("e", 4, limit=2) == [0, 1, 2]
    assert lru.put("e", 9) == [] and lru.get("e") == 9 and len(lru) == 2
    assert lru.drain() == [3, 9] and len(lru) == 0


def test_a_map_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Lru(0)
