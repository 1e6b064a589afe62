"""shared/core/catalogue.py: tenant and GUID validation, the lookups, and the consent URL, as literals.

Each test here kills a mutant ``make mutation`` found surviving (docs/testing.md): a bound moved by
one, a refusal that returns the wrong value, a lookup that answers for the wrong key.
"""

from __future__ import annotations

import dataclasses

import pytest

from shared.core.catalogue import (
    INTEGRATION,
    INTEGRATION_APP_ID,
    Catalogue,
    WebexApp,
    consent_url,
    is_guid,
    is_valid_tenant,
)

IDENTITY_ID = "5B6F0E2C-3C1A-4E0E-9F3E-2A8D6C1B7E44"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("72f988bf-86f1-41af-91ab-2d7cd011db47", True),
        ("72F988BF-86F1-41AF-91AB-2D7CD011DB47", True),
        ("72f988bf86f141af91ab2d7cd011db47", False),
        ("72f988bf-86f1-41af-91ab-2d7cd011db4", False),
        ("", False),
        (None, False),
    ],
)
def test_is_guid(value: str | None, expected: bool) -> None:
    assert is_guid(value) is expected


def _domain(length: int) -> str:
    """A syntactically valid domain of exactly ``length`` characters (labels of 63, dot-separated)."""
    labels: list[str] = []
    remaining = length - len(".com")
    while remaining > 0:
        size = min(63, remaining)
        if remaining - size == 1:  # a lone dot would be left over: shorten this label
            size -= 2
        labels.append("a" * size)
        remaining -= size + 1
    name = ".".join(labels) + ".com"
    assert len(name) == length
    return name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TENANT, True),
        ("contoso.onmicrosoft.com", True),
        ("Contoso.OnMicrosoft.com", True),
        ("", False),
        (None, False),
        ("contoso", False),
        ("-contoso.com", False),
        ("contoso.com/evil", False),
        ("common", False),
    ],
)
def test_is_valid_tenant(value: str | None, expected: bool) -> None:
    assert is_valid_tenant(value) is expected


def test_a_tenant_of_253_characters_is_valid_and_254_is_not() -> None:
    assert is_valid_tenant(_domain(252)) is True
    assert is_valid_tenant(_domain(253)) is True
    assert is_valid_tenant(_domain(254)) is False
    assert is_valid_tenant(_domain(300)) is False


def test_webex_app_is_frozen_hashable_and_slotted() -> None:
    app = WebexApp("integration", "Cisco Webex Identity Integration", INTEGRATION_APP_ID, consentable=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.key = "other"  # type: ignore[misc]
    assert {app: 1}[INTEGRATION] == 1
    assert not hasattr(app, "__dict__")


def test_the_identity_app_is_never_consentable_and_its_id_is_lower_cased() -> None:
    catalogue = Catalogue(IDENTITY_ID)
    assert catalogue.identity == WebexApp(
        "identity", "Cisco Webex Identity", "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44", consentable=False
    )
    assert Catalogue().identity == WebexApp("identity", "Cisco Webex Identity", None, consentable=False)
    assert catalogue.integration == WebexApp(
        "integration", "Cisco Webex Identity Integration", "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae", consentable=True
    )


def test_a_configured_identity_id_must_be_a_guid() -> None:
    with pytest.raises(ValueError, match="identity app id must be a GUID"):
        Catalogue("Cisco Webex Identity")
    with pytest.raises(ValueError, match="identity app id must be a GUID"):
        Catalogue("")


def test_by_key() -> None:
    catalogue = Catalogue(IDENTITY_ID)
    assert catalogue.by_key("integration") is catalogue.integration
    assert catalogue.by_key("identity") is catalogue.identity
    assert catalogue.by_key("Integration") is None
    assert catalogue.by_key("") is None


def test_by_app_id_trims_and_folds_case() -> None:
    catalogue = Catalogue(IDENTITY_ID)
    assert catalogue.by_app_id(" 90DB942A-C1EB-4E8D-82E4-EEBF64A7E2AE ") is catalogue.integration
    assert catalogue.by_app_id("5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44") is catalogue.identity
    assert catalogue.by_app_id("00000003-0000-0ff1-ce00-000000000000") is None
    assert catalogue.by_app_id("") is None
    assert catalogue.by_app_id(None) is None


def test_by_display_name_only_while_no_identity_id_is_configured() -> None:
    unpinned, pinned = Catalogue(), Catalogue(IDENTITY_ID)
    assert unpinned.by_display_name("Cisco Webex Identity") is unpinned.identity
    assert unpinned.by_display_name("cisco webex identity") is None
    assert unpinned.by_display_name("Cisco Webex Identity ") is None
    assert unpinned.by_display_name("") is None
    assert pinned.by_display_name("Cisco Webex Identity") is None
    # The integration is matched by appId alone, never by its name.
    assert unpinned.by_display_name("Cisco Webex Identity Integration") is None


def test_match_prefers_the_app_id() -> None:
    catalogue = Catalogue()
    assert catalogue.match(INTEGRATION_APP_ID, "Cisco Webex Identity") is catalogue.integration
    assert catalogue.match("00000003-0000-0ff1-ce00-000000000000", "Cisco Webex Identity") is catalogue.identity
    assert catalogue.match(None, None) is None


def test_needles_are_what_match_can_match() -> None:
    assert Catalogue().needles == (b"90db942a-c1eb-4e8d-82e4-eebf64a7e2ae", b"cisco webex identity")
    assert Catalogue(IDENTITY_ID).needles == (
        b"90db942a-c1eb-4e8d-82e4-eebf64a7e2ae",
        b"5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44",
    )


def test_consent_url_literal() -> None:
    assert consent_url(INTEGRATION, TENANT) == (
        "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/adminconsent"
        "?client_id=90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
    )
    assert consent_url(INTEGRATION, "contoso.onmicrosoft.com", "https://login.microsoftonline.us/") == (
        "https://login.microsoftonline.us/contoso.onmicrosoft.com/adminconsent"
        "?client_id=90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
    )
    assert consent_url(INTEGRATION, "common") == (
        "https://login.microsoftonline.com/common/adminconsent?client_id=90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
    )


def test_no_consent_url_for_an_app_consent_cannot_restore() -> None:
    assert consent_url(Catalogue(IDENTITY_ID).identity, TENANT) is None
    not_consentable = WebexApp("integration", "Cisco Webex Identity Integration", INTEGRATION_APP_ID, False)
    assert consent_url(not_consentable, TENANT) is None
    no_id = WebexApp("integration", "Cisco Webex Identity Integration", None, consentable=True)
    assert consent_url(no_id, TENANT) is None
    other = WebexApp("integration", "Other", "00000003-0000-0ff1-ce00-000000000000", consentable=True)
    assert consent_url(other, TENANT) is None


@pytest.mark.parametrize("tenant", ["", "evil.example/x?y=", "contoso", "a" * 254 + ".com"])
def test_consent_url_refuses_a_tenant_that_is_not_one(tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant id must be a GUID or a domain name"):
        consent_url(INTEGRATION, tenant)
