"""Issue 18: our own words go out as written; event text is escaped for the channel, minimally; the
signed "Check now" and "Acknowledge" links appear in every channel when the view carries them.
Expected values are literals (a consent URL rebuilt with consent_url() would share its bugs)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from shared.core.catalogue import INTEGRATION
from shared.core.models import Action, AuditRecord, Initiator, Kind, Source, TargetResource
from shared.notify import IncidentView, NoticeKind, build_view, render
from shared.notify.render import json_body

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
CONSENT = (
    "https://login.microsoftonline.com/3f2504e0-4f89-41d3-9a0c-0305e82c3301/adminconsent"
    "?client_id=90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
)
CHECK_NOW = "https://remediator.example.net/api/actions/eyJpIjoiaW5jLTQyIiwiYSI6ImNoZWNrX25vdyJ9.c2ln"
ACKNOWLEDGE = "https://remediator.example.net/api/actions/eyJpIjoiaW5jLTQyIiwiYSI6ImFja25vd2xlZGdlIn0.c2ln"
HEADLINE = (
    "Webex directory sync is broken. The enterprise application “Cisco Webex Identity Integration” was deleted "
    "(soft delete: restorable for 30 days)."
)


def view(notice: NoticeKind = NoticeKind.OPENED, *, activity: str = "Delete service principal",
         upn: str = "first_last@contoso.com", action: Action = Action.NOTIFY_CONSENT) -> IncidentView:  # fmt: skip
    record = AuditRecord(
        record_id="Directory_1",
        activity=activity,
        source=Source.GRAPH,
        tenant_id=TENANT,
        initiator=Initiator(kind="user", user_principal_name=upn),
        targets=(TargetResource(id="7d1c6f3e-0000-4000-8000-000000000001", app_id=INTEGRATION.app_id),),
        event_time=datetime(2024, 5, 21, 22, 40, 12, tzinfo=UTC),
    )
    return build_view(
        incident_id="inc-42",
        tenant_id=TENANT,
        notice=notice,
        kind=Kind.INTEGRATION_DELETED,
        action=action,
        app=INTEGRATION,
        detected_at=datetime(2024, 5, 21, 22, 44, tzinfo=UTC),
        record=record,
    )


def with_actions(v: IncidentView) -> IncidentView:
    return dataclasses.replace(v, check_now_url=CHECK_NOW, acknowledge_url=ACKNOWLEDGE)


def card(v: IncidentView) -> dict:  # type: ignore[type-arg]
    payload = render(v, "teams").payload or {}
    return payload["attachments"][0]["content"]  # type: ignore[no-any-return]


# --- our words, as written ---------------------------------------------------------------------------------


def test_webex_writes_our_sentences_without_escapes() -> None:
    md = render(view(), "webex").text
    assert md.startswith(f"**{HEADLINE}**\n")
    assert f"**Fix it now:** [Grant admin consent]({CONSENT}) (sign in as a tenant admin" in md
    assert "\n1. Open the admin-consent link (a private browser window avoids the wrong account) and sign" in md
    assert "\n2. Review the permissions and click Accept. The page shown afterwards may look like an error" in md
    assert "\n- Classification: integration_deleted\n" in md
    assert "\n- Delete type: soft (restorable for 30 days)\n" in md
    assert "\n- Initiated by: first_last@contoso.com (user)\n" in md, "an intraword _ needs no escape"
    assert "\n- Event time: 2024-05-21 22:40 UTC\n" in md
    assert "\\(" not in md and "\\." not in md and "\\_" not in md


def test_teams_writes_our_sentences_without_escapes() -> None:
    c = card(view())
    texts = [b["text"] for b in c["body"] if b["type"] == "TextBlock"]
    assert texts[0] == HEADLINE
    assert texts[1].startswith('Control Hub shows "Azure AD integration error. The request was unauthorized.')
    assert texts[2] == "**Steps**"
    assert texts[3].startswith("**1.** Open the admin-consent link (a private browser window avoids the wrong")
    assert texts[3].endswith(f"need one of the first two). [Grant admin consent]({CONSENT})")
    assert texts[4].startswith("**2.** Review the permissions and click Accept.")
    facts = {f["title"]: f["value"] for b in c["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Classification"] == "integration_deleted"
    assert facts["Delete type"] == "soft (restorable for 30 days)"
    assert facts["Initiated by"] == "first_last@contoso.com (user)"
    assert facts["Application"] == "Cisco Webex Identity Integration (90db942a-c1eb-4e8d-82e4-eebf64a7e2ae)"
    assert not any("\\" in t for t in [*texts, *facts.values()]), "no backslash anywhere without event markup"


# --- event text, escaped minimally ----------------------------------------------------------------------------


def test_event_text_is_escaped_for_each_channel_and_only_as_needed() -> None:
    v = view(activity="# Hard *delete* (ops) [x](http://evil) <@all> _tmp_", upn="- mallory_adm@contoso.com")
    md = render(v, "webex").text
    expected = "\\# Hard \\*delete\\* (ops) \\[x\\](http\u200b:/\u200b/evil) \\<@\u200dall> \\_tmp\\_"
    assert f"\n- Audit activity: {expected}\n" in md
    assert "\n- Initiated by: \\- mallory_adm@contoso.com (user)\n" in md
    facts = {f["title"]: f["value"] for b in card(v)["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Audit activity"] == expected.replace("\\](", "\\]\u200b(")
    assert facts["Initiated by"] == "\\- mallory_adm@contoso.com (user)"
    email = render(v, "email")
    assert "- Audit activity: # Hard *delete* (ops) [x](http\u200b:/\u200b/evil) <@\u200dall> _tmp_\n" in email.text
    assert "# Hard *delete* (ops) [x](http\u200b:/\u200b/evil) &lt;@\u200dall&gt; _tmp_</td>" in (email.html or "")
    doc = json.loads(json_body(render(v, "webhook").payload or {}))
    assert doc["event"]["activity"] == "# Hard *delete* (ops) [x](http://evil) <@all> _tmp_", "raw, JSON-encoded"


# --- the consent URL, literally --------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "teams", "webex", "webhook"])
def test_consent_url_is_the_literal_catalogue_url(channel: str) -> None:
    r = render(view(), channel)  # type: ignore[arg-type]
    if channel == "email":
        assert f'<a href="{CONSENT}"' in (r.html or "") and f"\n{CONSENT}\n" in r.text
    elif channel == "teams":
        assert card(view())["actions"][0] == {
            "type": "Action.OpenUrl", "title": "Grant admin consent", "url": CONSENT, "style": "positive"
        }  # fmt: skip
    elif channel == "webex":
        assert f"[Grant admin consent]({CONSENT})" in r.text
    else:
        assert (r.payload or {})["consent_url"] == CONSENT


# --- Check now / Acknowledge ------------------------------------------------------------------------------------


def test_action_links_in_every_channel_when_set() -> None:
    v = with_actions(view())
    email = render(v, "email")
    assert f"\nCheck now: {CHECK_NOW}\nAcknowledge: {ACKNOWLEDGE}\n" in email.text
    html = email.html or ""
    assert f'<a href="{CHECK_NOW}"' in html and f'<a href="{ACKNOWLEDGE}"' in html
    assert html.index(f'<a href="{CHECK_NOW}"') < html.index("<h3")  # near the top, with the consent button
    md = render(v, "webex").text
    assert f"\n[Check now]({CHECK_NOW}) · [Acknowledge]({ACKNOWLEDGE})\n" in md
    c = card(v)
    assert [(a["title"], a["url"]) for a in c["actions"]] == [
        ("Grant admin consent", CONSENT), ("Check now", CHECK_NOW), ("Acknowledge", ACKNOWLEDGE)
    ]  # fmt: skip
    doc = render(v, "webhook").payload or {}
    assert (doc["check_now_url"], doc["acknowledge_url"]) == (CHECK_NOW, ACKNOWLEDGE)


def test_action_links_in_follow_ups() -> None:
    md = render(with_actions(view(NoticeKind.REMINDER)), "webex").text
    assert md.endswith(f"\n[Check now]({CHECK_NOW}) · [Acknowledge]({ACKNOWLEDGE})\n")
    only_ack = dataclasses.replace(view(NoticeKind.ESCALATED), acknowledge_url=ACKNOWLEDGE)
    assert [a["title"] for a in card(only_ack)["actions"]] == ["Grant admin consent", "Acknowledge"]
    assert render(only_ack, "webex").text.endswith(f"\n[Acknowledge]({ACKNOWLEDGE})\n")


def test_no_action_links_when_unset() -> None:
    v = view()
    assert "Check now" not in render(v, "email").text and "Acknowledge" not in (render(v, "email").html or "")
    assert "Check now" not in render(v, "webex").text
    assert [a["title"] for a in card(v)["actions"]] == ["Grant admin consent"]
    doc = render(v, "webhook").payload or {}
    assert doc["check_now_url"] is None and doc["acknowledge_url"] is None


def test_an_action_link_that_is_not_ours_is_refused() -> None:
    for bad in ("http://remediator.example.net/x", "https://x/a)(javascript:alert(1)", "javascript:alert(1)"):
        for channel in ("email", "teams", "webex", "webhook"):
            with pytest.raises(ValueError, match="trusted"):
                render(dataclasses.replace(view(), acknowledge_url=bad), channel)  # type: ignore[arg-type]
