"""The tenant ids a consent URL may be built with (shared/core/catalogue.py): the boundaries as literals."""

from __future__ import annotations

import pytest

from shared.core.catalogue import is_valid_tenant

LONGEST = ("a" * 63 + ".") * 3 + "a" * 61  # 253 characters: DNS's longest name
assert len(LONGEST) == 253


@pytest.mark.parametrize(
    "tenant",
    [
        "",
        None,
        LONGEST + "a",  # 254 characters
        "x" * 254,
        " 72f988bf-86f1-41af-91ab-2d7cd011db47",
        "72f988bf-86f1-41af-91ab-2d7cd011db47/../common",
        "contoso",
        "contoso.onmicrosoft.com?x=1",
        "72f988bf-86f1-41af-91ab-2d7cd011db47\n",  # "$" matches before a final newline; fullmatch does not
        "contoso.onmicrosoft.com\n",
    ],
)
def test_refused(tenant: str | None) -> None:
    assert is_valid_tenant(tenant) is False


@pytest.mark.parametrize(
    "tenant",
    [
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
        "contoso.onmicrosoft.com",
        LONGEST,
    ],
)
def test_accepted(tenant: str) -> None:
    assert is_valid_tenant(tenant) is True


def test_a_trailing_newline_never_reaches_a_consent_url() -> None:
    from shared.core.catalogue import INTEGRATION, consent_url, is_guid

    assert is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47\n") is False
    with pytest.raises(ValueError):
        consent_url(INTEGRATION, "contoso.com\n")
