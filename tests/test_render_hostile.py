"""Untrusted audit text must render inert in every channel, and the only consent link is ours."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shared.core.catalogue import INTEGRATION, Catalogue
from shared.core.models import Action, AuditRecord, Initiator, Kind, Source, TargetResource
from shared.core.settings import Settings
from shared.notify import NoticeKind, build_view, render, render_preview
from shared.notify.escape import clean
from shared.notify.render import WEBEX_MAX_BYTES, json_body
from shared.notify.signing import sign_webhook
from shared.notify.view import IncidentView, Links

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
SETTINGS = Settings.model_validate({"TENANT_ID": TENANT, "WEBEX_ORG_ID": "2fdb923e-1d23-4e1b-a30f-e9cd88845744"})
EXPECTED_CONSENT = (  # written out: built with consent_url() it would agree with any bug in consent_url()
    "https://login.microsoftonline.com/3f2504e0-4f89-41d3-9a0c-0305e82c3301/adminconsent"
    "?client_id=90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
)
TRUSTED_URLS = {EXPECTED_CONSENT, *Links().all()}

EVIL_CONSENT = "https://login.microsoftonline.com/common/adminconsent?client_id=11111111-1111-1111-1111-111111111111"
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](http://evil)",
    "![i](http://evil/x.png)",
    '"}]},{"type":"Action.OpenUrl","url":"http://evil"',
    '{"type":"Action.OpenUrl","title":"Grant admin consent","url":"http://evil"}',
    "@all please click",
    "<@all>",
    "<@personId:Y2lzY29zcGFyazovL3VzL1BFT1BMRS8x|Boss>",
    "A" * 10_000,
    "é" * 4000 + "😀" * 3000,
    "".join(chr(c) for c in range(32)) + "\u202egnp.exe\u200b\ufeff\x7f\x85",
    "line1\r\nSubject: injected\r\nBcc: x@evil",
    "`code` **bold** _i_ ~~s~~ # h > q | t \\ ( ) !",
    f"Grant consent here: {EVIL_CONSENT}",
    "www.evil.com javascript:alert(1)",
    "_https://evil.example 1https://evil éhttps://evil _www.evil.com https：//evil x//evil",
    "\ud800 lone surrogate",
]
COMBO = " ".join(h[:500] for h in HOSTILE)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hostile_view(
    text: str, notice: NoticeKind = NoticeKind.OPENED, action: Action = Action.NOTIFY_CONSENT
) -> IncidentView:
    record = AuditRecord(
        record_id="Directory_x",
        activity=text,
        source=Source.GRAPH,
        tenant_id=TENANT,
        initiator=Initiator(kind="user", user_principal_name=text, display_name=text),
        targets=(TargetResource(id=text, display_name=text, app_id=INTEGRATION.app_id),),
        event_time=datetime(2024, 5, 21, 22, 40, tzinfo=UTC),
    )
    return build_view(
        incident_id="inc-" + text[:50],
        tenant_id=SETTINGS.tenant_id,
        login_base=SETTINGS.entra_login_base,
        notice=notice,
        kind=Kind.INTEGRATION_DELETED,
        action=action,
        app=INTEGRATION,
        detected_at=datetime(2024, 5, 21, 22, 44, tzinfo=UTC),
        record=record,
        detected_by=["graph", text],
        time_to_recover=timedelta(minutes=42),
        attempts=3,
        webex_org_id=SETTINGS.webex_org_id,
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.add(name)
            if name == "href":
                self.hrefs.append(value or "")


ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "body",
    "h2",
    "h3",
    "p",
    "strong",
    "a",
    "ol",
    "li",
    "table",
    "tr",
    "th",
    "td",
}


def check_email(view: IncidentView) -> None:
    r = render(view, "email")
    assert r.subject is not None
    assert "\n" not in r.subject and "\r" not in r.subject
    assert len(r.subject) <= 200
    assert not CONTROL.search(r.subject)
    assert r.html is not None
    lowered = r.html.lower()
    assert "<script" not in lowered and "<img" not in lowered
    parser = _Tags()
    parser.feed(r.html)
    assert set(parser.tags) <= ALLOWED_TAGS
    assert parser.attrs <= {"lang", "charset", "style", "href", "role"}
    assert set(parser.hrefs) <= TRUSTED_URLS
    for part in (r.text, r.html):
        assert not CONTROL.search(part)
        assert "://evil" not in part  # untrusted URLs are defanged, never clickable
        assert "@all" not in part
    if view.consent_needed:
        assert EXPECTED_CONSENT in r.text
        assert EXPECTED_CONSENT in parser.hrefs


MD_LINK = re.compile(r"(?<!\\)\]\(([^)\s]*)\)")


def check_webex(view: IncidentView) -> None:
    md = render(view, "webex").text
    assert len(md.encode("utf-8")) <= WEBEX_MAX_BYTES
    assert "](http://evil" not in md
    assert set(MD_LINK.findall(md)) <= TRUSTED_URLS
    assert not re.search(r"(?<!\\)<", md)  # no raw HTML, no <@mention>
    assert "@all" not in md
    assert not CONTROL.search(md)
    if view.consent_needed:
        assert f"[Grant admin consent]({EXPECTED_CONSENT})" in md


def _urls(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("url", "contentUrl", "iconUrl", "selectAction") and isinstance(value, str):
                found.append(value)
            found.extend(_urls(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_urls(item))
    return found


def _texts(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k in ("text", "value", "title") and isinstance(v, str)] + [
            t for v in node.values() for t in _texts(v)
        ]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


def check_teams(view: IncidentView) -> None:
    r = render(view, "teams")
    wire = json.loads(json_body(r.payload or {}))
    assert wire["type"] == "message"
    (attachment,) = wire["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    actions = card["actions"]
    assert all(a["type"] == "Action.OpenUrl" for a in actions)
    urls = [a["url"] for a in actions]
    assert urls == ([EXPECTED_CONSENT] if view.consent_needed else [])
    assert set(_urls(wire)) <= TRUSTED_URLS
    for block in card["body"]:
        assert block["type"] in ("TextBlock", "FactSet")
    links = [u for t in _texts(card) for u in MD_LINK.findall(t)]
    assert [Links().enterprise_apps, Links().audit_log, Links().control_hub_settings] == links[-3:]
    for text in _texts(card):
        assert "](http://evil" not in text
        assert set(MD_LINK.findall(text)) <= TRUSTED_URLS
        assert not CONTROL.search(text)
        assert "@all" not in text


def check_webhook(view: IncidentView) -> None:
    r = render(view, "webhook")
    body = json_body(r.payload or {})
    doc = json.loads(body)
    assert doc["schema"] == "webex-sync-remediator/notice@1"
    assert doc["consent_url"] == EXPECTED_CONSENT
    assert doc["app"] == {"display_name": INTEGRATION.display_name, "app_id": INTEGRATION.app_id}
    for value in doc["event"].values():
        assert value is None or (isinstance(value, str) and not CONTROL.search(value) and len(value) <= 1024)


CHECKS = (check_email, check_webex, check_teams, check_webhook)


def _seen(markdown: str) -> str:
    """What a reader of the markdown sees: escapes undone, zero-width characters gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "").replace("\u200d", "")


def check_shown(view: IncidentView, text: str) -> None:
    """The hostile text is shown (defanged and escaped), not dropped: absence of links alone would
    also pass for a card that lost the field."""
    visible = clean(text)[:40].strip()
    card = render(view, "teams").payload or {}
    body = card["attachments"][0]["content"]["body"]
    shown = [b.get("text", "") for b in body] + [f["value"] for b in body for f in b.get("facts", [])]
    assert visible in _seen(" ".join(shown)), "teams"
    assert visible in _seen(render(view, "webex").text), "webex"
    assert visible in render(view, "email").text.replace("\u200b", "").replace("\u200d", ""), "email"


@pytest.mark.parametrize("text", [*HOSTILE, COMBO], ids=lambda t: repr(t[:20]))
@pytest.mark.parametrize("notice", list(NoticeKind))
def test_hostile_text_is_inert_everywhere(text: str, notice: NoticeKind) -> None:
    view = hostile_view(text, notice)
    for check in CHECKS:
        check(view)
    check_shown(view, text)


@pytest.mark.parametrize("action", [Action.NOTIFY_REENABLE, Action.NOTIFY_REPROVISION])
def test_other_actions_render_inert_without_consent_link(action: Action) -> None:
    view = hostile_view(COMBO, action=action)
    assert not view.consent_needed
    for check in CHECKS:
        check(view)
    check_shown(view, COMBO)
    assert EXPECTED_CONSENT not in render(view, "webex").text


@pytest.mark.parametrize("channel", ["email", "teams", "webex", "webhook"])
def test_consent_url_comes_from_catalogue_not_event(channel: str) -> None:
    view = hostile_view(f"Delete service principal {EVIL_CONSENT} client_id=11111111-1111-1111-1111-111111111111")
    assert view.consent_url == EXPECTED_CONSENT
    preview = render_preview(view, channel)  # type: ignore[arg-type]
    assert EXPECTED_CONSENT in preview
    assert EVIL_CONSENT not in preview.replace("\\", "") or channel == "webhook"
    if channel == "webhook":
        assert json.loads(preview)["consent_url"] == EXPECTED_CONSENT


def test_identity_app_has_no_consent_url() -> None:
    app = Catalogue().identity
    view = build_view(
        incident_id="i",
        tenant_id=TENANT,
        notice=NoticeKind.OPENED,
        kind=Kind.IDENTITY_APP_DELETED,
        action=Action.NOTIFY_REPROVISION,
        app=app,
        detected_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    assert view.consent_url is None
    md = render(view, "webex").text
    assert "adminconsent" not in md
    assert "Wizard App set-up" in md


def test_webhook_signature_verifies_with_compare_digest() -> None:
    import hashlib
    import hmac

    body = json_body(render(hostile_view(COMBO), "webhook").payload or {})
    secret = b"s3cret"
    ts = 1_700_000_000
    signature = sign_webhook(body, secret, ts, "d-1")
    expected = "sha256=" + hmac.new(secret, f"{ts}.d-1.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature.encode(), expected.encode())
    assert not hmac.compare_digest(signature.encode(), sign_webhook(body + b" ", secret, ts, "d-1").encode())
    assert not hmac.compare_digest(signature.encode(), sign_webhook(body, secret, ts + 1, "d-1").encode())
    assert not hmac.compare_digest(signature.encode(), sign_webhook(body, secret, ts, "d-2").encode())


_any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=3000) | st.sampled_from(HOSTILE)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_any_text, notice=st.sampled_from(list(NoticeKind)))
def test_property_any_text_is_inert(text: str, notice: NoticeKind) -> None:
    view = hostile_view(text, notice)
    for check in CHECKS:
        check(view)
    if clean(text).strip():
        check_shown(view, text)


def test_webex_stays_under_limit_with_huge_multibyte_fields() -> None:
    view = hostile_view("😀" * 20_000)
    md = render(view, "webex").text
    assert len(md.encode("utf-8")) <= WEBEX_MAX_BYTES
    assert EXPECTED_CONSENT in md  # the fix survives the truncation


def test_no_unicode_format_characters_leak_from_event_text() -> None:
    view = hostile_view("a\u202eb\u2066c\u200bd")
    for channel in ("email", "webex"):
        text = render(view, channel).text  # type: ignore[arg-type]
        assert "a\u202eb" not in text and "ab" in text.replace("\u200b", "")
        assert all(unicodedata.category(ch) != "Cc" or ch == "\n" for ch in text)


DEEP_LINKS = {"Enterprise applications": Links().enterprise_apps, "Entra audit log": Links().audit_log,
              "Control Hub settings": Links().control_hub_settings}  # fmt: skip


@pytest.mark.parametrize("notice", [NoticeKind.OPENED, NoticeKind.RESTORED])
@pytest.mark.parametrize("text", ["mallory@contoso.example", COMBO, "😀" * 20_000], ids=["plain", "combo", "huge"])
def test_webex_opening_message_carries_the_deep_links_within_the_limit(text: str, notice: NoticeKind) -> None:
    md = render(hostile_view(text, notice), "webex").text
    assert len(md.encode("utf-8")) <= WEBEX_MAX_BYTES
    for label, url in DEEP_LINKS.items():
        assert f"[{label}]({url})" in md, label  # before the details, so truncation never eats it


@pytest.mark.parametrize("notice", list(NoticeKind))
def test_teams_card_carries_the_deep_links(notice: NoticeKind) -> None:
    """One line of markdown links (buttons would be cut at a chat card's width, docs/notices.md)."""
    payload = render(hostile_view(COMBO, notice), "teams").payload or {}
    body = payload["attachments"][0]["content"]["body"]
    line = " · ".join(f"[{label}]({url})" for label, url in DEEP_LINKS.items())
    assert [b["text"] for b in body if b.get("text") == line] == [line]


def test_deploy_doc_webhook_receiver_verifies_a_real_delivery() -> None:
    """The receiver docs/deploy.md points at (docs/examples/webhook_receiver.py) takes what the
    channel sends; tests/test_webhook_receiver.py tests it in depth."""
    from shared.notify.signing import signature_headers
    from tests.test_webhook_receiver import receiver

    body = json_body(render(hostile_view(COMBO), "webhook").payload or {})
    headers = signature_headers(body, b"s3cret", delivery_id="d-1")
    verifier = receiver.WebhookVerifier(b"s3cret")
    assert verifier.check(body + b" ", headers) is receiver.Verdict.INVALID
    assert receiver.WebhookVerifier(b"other").check(body, headers) is receiver.Verdict.INVALID
    assert verifier.check(body, headers) is receiver.Verdict.NEW
    assert verifier.check(body, headers) is receiver.Verdict.REPLAY
    old = signature_headers(body, b"s3cret", delivery_id="d-2", now=1_700_000_000)
    assert verifier.check(body, old) is receiver.Verdict.INVALID, "replayed (old timestamp)"
