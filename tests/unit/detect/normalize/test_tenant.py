"""shared/detect/normalize/tenant.py: tenant markers in paths and merged across fields, as literals."""

from __future__ import annotations

from typing import Any

import pytest

from shared.detect.normalize.tenant import merged_tenant, tenant_in_path

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"/tenants/{TENANT}/providers/Microsoft.aadiam", TENANT),
        (f"tenants/{TENANT}", TENANT),
        (f"/TENANTS/{TENANT}/applications/90db942a-c1eb-4e8d-82e4-eebf64a7e2ae", TENANT),
        ("/tenants/contoso.onmicrosoft.com?x=1", "contoso.onmicrosoft.com"),
        ("/tenants/abc#frag", "abc"),
        ("/tenants/abc def", "abc"),
        ("/subscriptions/1/tenants/abc/x", "abc"),
        ("/mytenants/abc", None),
        ("/tenants/", None),
        ("/providers/Microsoft.aadiam", None),
        ("", None),
        (None, None),
        (42, None),
        ([f"/tenants/{TENANT}"], None),
    ],
)
def test_tenant_in_path(value: Any, expected: str | None) -> None:
    assert tenant_in_path(value) == expected


def test_a_tenant_segment_is_capped_at_256_characters() -> None:
    assert tenant_in_path("/tenants/" + "a" * 300) == "a" * 256


def test_only_the_first_4096_characters_are_searched() -> None:
    marker = "/tenants/abc"
    assert tenant_in_path("x" * (4096 - len(marker)) + marker) == "abc"
    assert tenant_in_path("x" * (4097 - len(marker)) + marker) == "ab"
    assert tenant_in_path("x" * 4096 + marker) is None


@pytest.mark.parametrize(
    ("markers", "expected"),
    [
        ((), None),
        ((None, "", "   ", 7), None),
        ((TENANT,), TENANT),
        ((f" {TENANT.upper()} ", TENANT, None), TENANT),
        (("b", "A"), "conflicting-tenants:a,b"),
        (("c", "a", "b", "a"), "conflicting-tenants:a,b,c"),
    ],
)
def test_merged_tenant(markers: tuple[Any, ...], expected: str | None) -> None:
    assert merged_tenant(*markers) == expected


def test_a_conflict_is_capped_at_300_characters() -> None:
    merged = merged_tenant("a" * 200, "b" * 200)
    assert merged == "conflicting-tenants:" + "a" * 200 + "," + "b" * 79
    assert merged is not None and len(merged) == 300
