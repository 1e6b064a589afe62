"""Signed action links (issue 18 point 1): sign/verify, rotation, and the parser under hostile input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.action_links import (
    LINK_LIFETIME,
    MAX_TOKEN_CHARS,
    ExpiredLink,
    ForgedLink,
    LinkAction,
    LinkClaims,
    LinkError,
    LinkKeys,
    MalformedLink,
    OversizedLink,
    WrongAction,
    WrongIncident,
    issue,
    sign,
    verify,
)

NOW = datetime(2026, 11, 29, 5, 24, 55, tzinfo=UTC)
KEY_A = "a" * 32 + "-current-key"
KEY_B = "b" * 32 + "-previous-key"
KEYS = LinkKeys.from_text(KEY_A)
INC = "inc-20261129T052455Z-integration-3f9a1c"
TENANT = "11111111-2222-3333-4444-555555555555"


def token(action: LinkAction = LinkAction.CHECK_NOW, keys: LinkKeys = KEYS, now: datetime = NOW) -> str:
    return issue(tenant_id=TENANT, app_key="integration", incident_id=INC, action=action, now=now, keys=keys)


def forge(body: dict[str, object], key: str = KEY_A) -> str:
    """A token built by hand (same format), for payloads ``sign`` would never produce."""
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    mac = hmac.new(key.encode(), b"webex-remediator/action-link/v1." + payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


GOOD_BODY = {"v": 1, "t": TENANT, "a": "integration", "i": INC, "x": "check_now", "e": 1_900_000_000}


def test_round_trip_binds_incident_action_and_expiry() -> None:
    claims = verify(token(), KEYS, now=NOW, incident_id=INC, action="check_now")
    assert claims == LinkClaims(
        TENANT, "integration", INC, LinkAction.CHECK_NOW, int((NOW + LINK_LIFETIME).timestamp())
    )
    assert claims.expires == int(datetime(2026, 12, 6, 5, 24, 55, tzinfo=UTC).timestamp()), "7 days"
    t = token()
    assert set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), "URL-safe as is"


def test_expires_after_seven_days() -> None:
    t = token()
    verify(t, KEYS, now=NOW + timedelta(days=7) - timedelta(seconds=1))
    with pytest.raises(ExpiredLink):
        verify(t, KEYS, now=NOW + timedelta(days=7))


def test_wrong_incident_and_wrong_action() -> None:
    with pytest.raises(WrongIncident):
        verify(token(), KEYS, now=NOW, incident_id=INC + "x")
    with pytest.raises(WrongAction):
        verify(token(LinkAction.ACKNOWLEDGE), KEYS, now=NOW, action=LinkAction.CHECK_NOW)


def test_rotation_previous_key_verifies_until_dropped() -> None:
    old = LinkKeys.from_text(KEY_B)
    signed_before = token(keys=old)
    rotated = LinkKeys.from_text(KEY_A, KEY_B)
    assert verify(signed_before, rotated, now=NOW).incident_id == INC, "previous key still verifies"
    assert verify(token(keys=rotated), LinkKeys.from_text(KEY_A), now=NOW), "new links use the current key"
    with pytest.raises(ForgedLink):
        verify(signed_before, LinkKeys.from_text(KEY_A), now=NOW)  # rotation finished: the old key is gone


def test_forged_signature_and_tampered_payload() -> None:
    payload, mac = token().split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    with pytest.raises(ForgedLink):
        verify(f"{payload}.{flipped}", KEYS, now=NOW)
    other = forge({**GOOD_BODY, "i": "inc-other"}, key="z" * 40)
    with pytest.raises(ForgedLink):
        verify(other, KEYS, now=NOW)
    # A payload swapped in under a genuine signature of another payload:
    acked = token(LinkAction.ACKNOWLEDGE)
    with pytest.raises(ForgedLink):
        verify(f"{acked.split('.')[0]}.{mac}", KEYS, now=NOW)


def test_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify(token(), LinkKeys.from_text(KEY_A, KEY_B), now=NOW)
    assert len(calls) == 2, "every key compared with hmac.compare_digest"


@pytest.mark.parametrize(
    "bad",
    [
        "", ".", "abc", "abc.", ".abc", "a.b.c", "!!!.???", "abc.de f", "YWJj.\x00\x01", "Zm9v.Zm9v",
        "e30.AAAA", "%2e%2e%2f.x", "<script>.x", "A" * 5 + "." + "B" * 43 + "=",
    ],
)  # fmt: skip
def test_malformed_tokens(bad: str) -> None:
    with pytest.raises(MalformedLink):
        verify(bad, KEYS, now=NOW)


def test_truncated_tokens_are_refused() -> None:
    t = token()
    for cut in (1, 5, 20, len(t) // 2, len(t) - 1):
        with pytest.raises(LinkError):
            verify(t[:cut], KEYS, now=NOW)


def test_oversized_tokens_are_refused_before_decoding() -> None:
    with pytest.raises(OversizedLink):
        verify("A" * (MAX_TOKEN_CHARS + 1), KEYS, now=NOW)
    longest = sign(LinkClaims("t" * 200, "a" * 200, "i" * 200, LinkAction.ACKNOWLEDGE, 2**39), KEYS)
    assert len(longest) <= MAX_TOKEN_CHARS, "the longest ids sign within the cap"
    with pytest.raises(MalformedLink):
        sign(LinkClaims(TENANT, "integration", "i" * 201, LinkAction.CHECK_NOW, 1), KEYS)


@pytest.mark.parametrize(
    "body",
    [
        {**GOOD_BODY, "x": "delete_everything"},
        {**GOOD_BODY, "v": 2},
        {**GOOD_BODY, "e": "1900000000"},
        {**GOOD_BODY, "e": True},
        {**GOOD_BODY, "e": -5},
        {**GOOD_BODY, "e": 10**30},
        {**GOOD_BODY, "i": ""},
        {**GOOD_BODY, "i": "inc\nInjected: header"},
        {**GOOD_BODY, "t": {"$ne": None}},
        {**GOOD_BODY, "extra": 1},
        {k: v for k, v in GOOD_BODY.items() if k != "x"},
        [GOOD_BODY],
    ],
)
def test_hostile_payloads_under_a_genuine_signature_are_malformed(body: object) -> None:
    """Even a payload signed with the key (a key leak, a bug) must parse strictly."""
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    mac = hmac.new(KEY_A.encode(), b"webex-remediator/action-link/v1." + payload.encode(), hashlib.sha256).digest()
    t = f"{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(MalformedLink):
        verify(t, KEYS, now=NOW)


def test_signed_non_json_and_deep_json() -> None:
    for raw in (b"\xff\xfe", b"[" * 100_000, b"not json"):
        payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()[:900]
        mac = hmac.new(KEY_A.encode(), b"webex-remediator/action-link/v1." + payload.encode(), hashlib.sha256)
        t = f"{payload}.{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"
        with pytest.raises(LinkError):
            verify(t, KEYS, now=NOW)


def test_non_text_tokens() -> None:
    for bad in (None, b"abc.def", 42, ["a", "b"]):
        with pytest.raises(MalformedLink):
            verify(bad, KEYS, now=NOW)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        LinkKeys.from_text("short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        LinkKeys.from_text(KEY_A, "short")


# --- settings -------------------------------------------------------------------------------------

BASE_ENV = {"TENANT_ID": TENANT, "WEBEX_ORG_ID": "org-1"}


def test_settings_turn_links_on_only_with_a_key_and_a_url() -> None:
    from shared.core.settings import load_settings

    off = load_settings(BASE_ENV)
    assert off.link_keys() is None and not off.action_links_enabled
    on = load_settings({**BASE_ENV, "ACTION_LINK_KEY": KEY_A, "ACTION_LINK_KEY_PREVIOUS": KEY_B,
                        "PUBLIC_BASE_URL": "https://func-x.azurewebsites.net/"})  # fmt: skip
    keys = on.link_keys()
    assert keys == LinkKeys(KEY_A.encode(), KEY_B.encode())
    assert on.public_base_url == "https://func-x.azurewebsites.net"
    no_url = load_settings({**BASE_ENV, "ACTION_LINK_KEY": KEY_A})
    assert no_url.link_keys() is None
    assert [p.settings for p in no_url.problems] == [("ACTION_LINK_KEY", "PUBLIC_BASE_URL")]
    weak = load_settings({**BASE_ENV, "ACTION_LINK_KEY": "short", "PUBLIC_BASE_URL": "https://f.example"})
    assert weak.link_keys() is None, "a short key turns the links off, not the app"
    assert [p.settings for p in weak.problems] == [("ACTION_LINK_KEY",)]
    assert "short" not in repr(weak), "the key is a secret"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://func-x.azurewebsites.net", True),
        ("https://localhost:7071/", True),
        ("http://127.0.0.1:7071", False),  # every channel's renderer refuses a link that is not https
        ("http://func-x.azurewebsites.net", False),
        ("https://user:pw@func-x.example", False),
        ("javascript:alert(1)", False),
        ("https://func x.example", False),
    ],
)
def test_public_base_url_is_https(value: str, ok: bool) -> None:
    from shared.core.errors import ConfigError
    from shared.core.settings import load_settings

    env = {**BASE_ENV, "PUBLIC_BASE_URL": value}
    if ok:
        assert load_settings(env).public_base_url == value.rstrip("/")
    else:
        with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
            load_settings(env)


def test_action_urls_are_under_the_route() -> None:
    from shared.core.action_links import action_urls

    check, ack = action_urls("https://f.example/", tenant_id=TENANT, app_key="integration", incident_id=INC,
                             now=NOW, keys=KEYS)  # fmt: skip
    assert check.startswith("https://f.example/api/actions/") and ack.startswith("https://f.example/api/actions/")
    assert verify(check.rsplit("/", 1)[1], KEYS, now=NOW).action is LinkAction.CHECK_NOW
    assert verify(ack.rsplit("/", 1)[1], KEYS, now=NOW).action is LinkAction.ACKNOWLEDGE
