"""Rule cells a mutation survived (issue 16, point 7): which apps a row covers, and how AccountEnabled is spelled.

Expected values are literals: a row narrowed or widened, or a spelling dropped, fails here."""

from __future__ import annotations

import pytest

from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.core.models import AuditRecord, ModifiedProperty, Source, TargetResource
from shared.detect.classify import classify

CAT = Catalogue()
IDENTITY_ID = "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"
OTHER_ID = "00000003-0000-0ff1-ce00-000000000000"
INTEGRATION = (INTEGRATION_APP_ID, "Cisco Webex Identity Integration")
IDENTITY = (None, "Cisco Webex Identity")  # matched by its exact name: no appId configured
OTHER = (OTHER_ID, "Office 365 SharePoint Online")


def verdict(activity: str, app: tuple[str | None, str], catalogue: Catalogue = CAT, **props: object) -> tuple[str, ...]:
    modified = tuple(ModifiedProperty(name, old, new) for name, (old, new) in props.items())
    target = TargetResource("c2a5f6e1-8b7d-4c3e-9a1f-2d4b6e8f0a1c", app[1], "ServicePrincipal", app[0], modified)
    c = classify(AuditRecord("Directory_x_1", activity, Source.GRAPH, result="success", targets=(target,)), catalogue)
    return c.kind.value, c.action.value, c.app.key if c.app else "-", c.rule


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (INTEGRATION, ("integration_restored", "verify", "integration", "app-re-enabled")),
        (IDENTITY, ("integration_restored", "verify", "identity", "app-re-enabled")),
        (OTHER, ("unrelated", "ignore", "-", "not-a-webex-app")),
    ],
)
def test_re_enabling_either_webex_app_asks_for_verification(
    app: tuple[str | None, str], expected: tuple[str, ...]
) -> None:
    assert verdict("Update service principal", app, AccountEnabled=("[false]", "[true]")) == expected


def test_re_enabling_the_configured_identity_app_by_id() -> None:
    configured = Catalogue(IDENTITY_ID)
    got = verdict("Update service principal", (IDENTITY_ID, "Renamed"), configured, AccountEnabled=([False], [True]))
    assert got == ("integration_restored", "verify", "identity", "app-re-enabled")


@pytest.mark.parametrize(
    "activity", ["Remove delegated permission grant", "Remove app role assignment from service principal"]
)
def test_consent_revoked_is_the_integrations_alone(activity: str) -> None:
    assert verdict(activity, INTEGRATION) == (
        "consent_revoked",
        "notify_consent",
        "integration",
        "integration-consent-revoked",
    )
    assert verdict(activity, IDENTITY) == ("unrelated", "ignore", "identity", "no-rule-for-activity")
    assert verdict(activity, (IDENTITY_ID, "Renamed"), Catalogue(IDENTITY_ID))[0] == "unrelated"
    assert verdict(activity, OTHER) == ("unrelated", "ignore", "-", "not-a-webex-app")


DISABLED = ("integration_disabled", "notify_reenable", "integration", "app-disabled")
RE_ENABLED = ("integration_restored", "verify", "integration", "app-re-enabled")
NO_CHANGE = ("unrelated", "ignore", "integration", "no-rule-for-activity")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("1", "0", DISABLED),
        ("yes", "no", DISABLED),
        ("true", "false", DISABLED),
        ("[true]", "[0]", DISABLED),
        (['"yes"'], ['"no"'], DISABLED),
        ("True", " NO ", DISABLED),
        ("0", "1", RE_ENABLED),
        ("no", "yes", RE_ENABLED),
        ("false", "true", RE_ENABLED),
        ("[0]", "[1]", RE_ENABLED),
        (None, "YES", RE_ENABLED),  # set for the first time
        ("1", "yes", NO_CHANGE),  # true to true: not a fix
        ("0", "no", ("integration_disabled", "notify_reenable", "integration", "app-disabled")),  # still off: reported
        ("0", "2", NO_CHANGE),  # neither spelling: unknown, not guessed
        ("0", "", NO_CHANGE),
        ("0", "[1, 0]", NO_CHANGE),
    ],
)
def test_account_enabled_spellings(old: object, new: object, expected: tuple[str, ...]) -> None:
    assert verdict("Update service principal", INTEGRATION, AccountEnabled=(old, new)) == expected


def test_what_no_rule_reads_names_neither_app_nor_rule_row() -> None:
    """An activity no rule reads is answered before the targets are looked at: no app, and the reason."""
    assert verdict("Add member to group", INTEGRATION) == ("unrelated", "ignore", "-", "no-rule-for-activity")
    assert verdict("Add member to group", OTHER) == ("unrelated", "ignore", "-", "no-rule-for-activity")


@pytest.mark.parametrize("activity", ["Add service principal", "Restore service principal", "Consent to application"])
def test_restored_names_its_row(activity: str) -> None:
    assert verdict(activity, IDENTITY) == ("integration_restored", "verify", "identity", "app-restored")
