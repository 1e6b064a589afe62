"""Senders against httpx.MockTransport: success, throttling, server errors, timeouts, no leaks."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from shared.core.catalogue import INTEGRATION
from shared.core.models import Action, Kind
from shared.core.retry import parse_retry_after
from shared.core.settings import Settings
from shared.notify import NoticeKind, build_view, render
from shared.notify.channels import (
    Channel,
    EmailChannel,
    TeamsChannel,
    WebexChannel,
    WebhookChannel,
    build_channels,
)
from shared.notify.render import json_body
from shared.notify.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
TOKEN = "NjA1ZjYxOTMtYm90LXRva2VuLXNlY3JldA_P0A1_secret-token"
TEAMS_URL = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SIGSECRET123"
HOOK_URL = "https://hooks.example.com/remediator"
HOOK_SECRET = "hook-secret-value"

SETTINGS = Settings.model_validate(
    {
        "TENANT_ID": TENANT,
        "WEBEX_ORG_ID": "org-1",
        "WEBEX_BOT_TOKEN": TOKEN,
        "WEBEX_ROOM_ID": "room-1",
        "MAIL_SENDER": "remediator@contoso.com",
        "MAIL_TO": "admin1@contoso.com; admin2@contoso.com",
    }
)


def view(notice: NoticeKind = NoticeKind.OPENED):  # type: ignore[no-untyped-def]
    return build_view(
        incident_id="inc-42",
        tenant_id=TENANT,
        notice=notice,
        kind=Kind.INTEGRATION_DELETED,
        action=Action.NOTIFY_CONSENT,
        app=INTEGRATION,
        detected_at=datetime(2024, 5, 21, 22, 44, tzinfo=UTC),
        webex_org_id="org-1",
    )


def client_for(handler) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def assert_no_secrets(text: str | None) -> None:
    for secret in (TOKEN, "SIGSECRET123", TEAMS_URL, HOOK_SECRET):
        assert secret not in (text or "")


# --- Webex -----------------------------------------------------------------------------------------


async def test_webex_success_records_message_id_and_threads() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "Y2lzY29zcGFyazovL21lc3NhZ2UvMQ", "roomId": "room-1"})

    async with client_for(handler) as client:
        channel = WebexChannel.from_settings(SETTINGS, client)
        first = await channel.send(render(view(), "webex"))
        reply = await channel.send(render(view(NoticeKind.RESOLVED), "webex"), thread_ref=first.message_ref)
    assert first.ok and first.message_ref == "Y2lzY29zcGFyazovL21lc3NhZ2UvMQ" and first.status == 200
    assert reply.ok
    assert str(seen[0].url) == "https://webexapis.com/v1/messages"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    body0 = json.loads(seen[0].content)
    assert body0["roomId"] == "room-1" and "parentId" not in body0
    assert "adminconsent" in body0["markdown"]
    body1 = json.loads(seen[1].content)
    assert body1["parentId"] == "Y2lzY29zcGFyazovL21lc3NhZ2UvMQ"
    assert body1["markdown"].startswith("**Resolved:**")
    assert TOKEN not in repr(channel)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "2.5", "trackingid": "ROUTER_abc"}, 2.5), ({"trackingid": "ROUTER_abc"}, None)],
)
async def test_webex_429(headers: dict[str, str], expected: float | None) -> None:
    async with client_for(lambda r: httpx.Response(429, headers=headers)) as client:
        result = await WebexChannel("room", token=TOKEN, client=client).send(render(view(), "webex"))
    assert not result.ok and result.retriable and result.status == 429
    assert result.retry_after == expected
    assert result.tracking_id == "ROUTER_abc"


async def test_webex_500_is_retriable_and_400_is_permanent_without_leaking_token() -> None:
    async with client_for(lambda r: httpx.Response(503, text="busy")) as client:
        r503 = await WebexChannel("room", token=TOKEN, client=client).send(render(view(), "webex"))
    assert not r503.ok and r503.retriable and r503.status == 503

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            json={"message": f"bad token {TOKEN}", "trackingId": "T1"},
            headers={"trackingid": "T1"},
        )

    async with client_for(echo) as client:
        r401 = await WebexChannel("room", token=TOKEN, client=client).send(render(view(), "webex"))
    assert not r401.ok and not r401.retriable and r401.permanent and r401.status == 401 and r401.tracking_id == "T1"
    assert r401.error and "401" in r401.error and "[redacted]" in r401.error
    assert_no_secrets(r401.error)


@pytest.mark.parametrize("exc", [httpx.ReadTimeout("read timed out"), httpx.ConnectError(f"refused {TEAMS_URL}")])
async def test_transport_failures_are_retriable_and_quiet(exc: Exception) -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise exc

    async with client_for(boom) as client:
        results = [
            await WebexChannel("room", token=TOKEN, client=client).send(render(view(), "webex")),
            await TeamsChannel(TEAMS_URL, client=client).send(render(view(), "teams")),
            await WebhookChannel(HOOK_URL, HOOK_SECRET, client=client).send(render(view(), "webhook")),
        ]
    for result in results:
        assert not result.ok and result.retriable and result.status is None
        assert_no_secrets(result.error)
    if isinstance(exc, httpx.TimeoutException):
        assert all((r.error or "").startswith("timeout") for r in results)


# --- Teams ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 202])
async def test_teams_accepts_200_and_202(status: int) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    async with client_for(handler) as client:
        result = await TeamsChannel(TEAMS_URL, client=client).send(render(view(), "teams"))
    assert result.ok and result.status == status
    payload = json.loads(seen[0].content)
    assert payload["attachments"][0]["content"]["actions"][0]["title"] == "Grant admin consent"
    assert seen[0].headers["content-type"] == "application/json"


async def test_teams_errors_never_include_the_url() -> None:
    async with client_for(lambda r: httpx.Response(429, headers={"Retry-After": "7"})) as client:
        throttled = await TeamsChannel(TEAMS_URL, client=client).send(render(view(), "teams"))
    assert throttled.retriable and throttled.retry_after == 7.0
    body = {"error": {"code": "TriggerInputSchemaMismatch", "message": f"bad input for {TEAMS_URL}"}}
    async with client_for(lambda r: httpx.Response(400, json=body)) as client:
        bad = await TeamsChannel(TEAMS_URL, client=client).send(render(view(), "teams"))
    assert not bad.ok and not bad.retriable and bad.status == 400
    assert_no_secrets(bad.error)
    assert "SIGSECRET123" not in repr(TeamsChannel(TEAMS_URL))


# --- generic webhook --------------------------------------------------------------------------------


async def test_webhook_is_signed_over_the_exact_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    rendered = render(view(), "webhook")
    async with client_for(handler) as client:
        result = await WebhookChannel(HOOK_URL, HOOK_SECRET, client=client).send(rendered)
    assert result.ok and result.status == 204
    request = seen[0]
    body = request.content
    assert body == json_body(rendered.payload or {})
    ts, delivery = request.headers[TIMESTAMP_HEADER], request.headers[DELIVERY_HEADER]
    message = f"{ts}.{delivery}.".encode() + body
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected)
    sig = request.headers[SIGNATURE_HEADER]
    assert verify_webhook(body, HOOK_SECRET.encode(), sig, ts, delivery_id=delivery)
    assert not verify_webhook(body, HOOK_SECRET.encode(), sig, ts, delivery_id=delivery, now=int(ts) + 3600)
    assert not verify_webhook(body + b"x", HOOK_SECRET.encode(), sig, ts, delivery_id=delivery)
    assert json.loads(body)["schema"] == "webex-sync-remediator/notice@1"


async def test_webhook_5xx_retriable() -> None:
    async with client_for(lambda r: httpx.Response(502)) as client:
        result = await WebhookChannel(HOOK_URL, HOOK_SECRET, client=client).send(render(view(), "webhook"))
    assert not result.ok and result.retriable


# --- e-mail through msgraph's request adapter ------------------------------------------------------


def graph_for(handler):  # type: ignore[no-untyped-def]
    from kiota_abstractions.authentication import AnonymousAuthenticationProvider
    from msgraph import GraphRequestAdapter, GraphServiceClient

    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider(), client=client_for(handler))
    return GraphServiceClient(request_adapter=adapter)


async def test_email_mime_has_both_parts() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    channel = EmailChannel.from_settings(SETTINGS, graph_for(handler))
    rendered = render(view(), "email")
    result = await channel.send(rendered)
    assert result.ok and result.message_ref and result.message_ref.startswith("<")
    request = seen[0]
    assert request.method == "POST"
    assert request.url.path == "/v1.0/users/remediator@contoso.com/sendMail"
    assert request.headers["content-type"].startswith("text/plain")
    message = email.message_from_bytes(base64.b64decode(request.content), policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == rendered.subject
    assert message["To"] == "admin1@contoso.com, admin2@contoso.com"
    assert message["Message-ID"] == result.message_ref
    parts = {p.get_content_type(): p.get_content() for p in message.iter_parts()}  # type: ignore[attr-defined]
    assert set(parts) == {"text/plain", "text/html"}
    assert "adminconsent" in parts["text/plain"] and "<ol" in parts["text/html"]

    follow = await channel.send(render(view(NoticeKind.RESOLVED), "email"), thread_ref=result.message_ref)
    assert follow.ok
    reply = email.message_from_bytes(base64.b64decode(seen[1].content), policy=email.policy.default)
    assert reply["In-Reply-To"] == result.message_ref


async def test_email_json_mode_body_shape() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    channel = EmailChannel.from_settings(SETTINGS, graph_for(handler), mime=False)
    rendered = render(view(), "email")
    assert (await channel.send(rendered)).ok
    # msgraph-sdk writes the action parameters PascalCase ("Message", "SaveToSentItems"); Graph
    # treats property names case-insensitively.
    body = {k.lower(): v for k, v in json.loads(seen[0].content).items()}
    assert body["savetosentitems"] is False
    message = body["message"]
    assert message["subject"] == rendered.subject
    assert message["body"]["contentType"] == "html"
    assert message["body"]["content"] == rendered.html
    assert [r["emailAddress"]["address"] for r in message["toRecipients"]] == [
        "admin1@contoso.com",
        "admin2@contoso.com",
    ]


@pytest.mark.parametrize(("status", "retriable"), [(429, True), (503, True), (403, False)])
async def test_email_graph_errors(status: int, retriable: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={"error": {"code": "ErrorAccessDenied" if status == 403 else "TooMany", "message": "nope"}},
            headers={"Retry-After": "3", "request-id": "req-1"},
        )

    result = await EmailChannel.from_settings(SETTINGS, graph_for(handler)).send(render(view(), "email"))
    assert not result.ok and result.status == status and result.retriable is retriable
    assert result.retry_after == 3.0 and result.tracking_id == "req-1"
    assert result.error and str(status) in result.error


async def test_email_timeout_is_retriable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow")

    result = await EmailChannel.from_settings(SETTINGS, graph_for(handler)).send(render(view(), "email"))
    assert not result.ok and result.retriable and result.error == "timeout (ConnectTimeout)"


# --- wiring -------------------------------------------------------------------------------------------------


def test_build_channels_and_protocol() -> None:
    with_teams = SETTINGS.model_copy(update={"teams_webhook_url": SecretStr(TEAMS_URL)})
    channels = build_channels(with_teams, graph=object())
    assert [c.name for c in channels] == ["email", "webex", "teams"]
    assert all(isinstance(c, Channel) for c in channels)
    assert [c.name for c in build_channels(with_teams)] == ["webex", "teams"], "e-mail needs a Graph client"
    bare = Settings.model_validate({"TENANT_ID": TENANT, "WEBEX_ORG_ID": "o"})
    assert build_channels(bare, graph=object(), http_client=httpx.AsyncClient()) == []
    hook = Settings.model_validate(
        {"TENANT_ID": TENANT, "WEBEX_ORG_ID": "o", "NOTIFY_WEBHOOK_URL": HOOK_URL, "NOTIFY_WEBHOOK_SECRET": HOOK_SECRET}
    )
    assert [c.name for c in build_channels(hook)] == ["webhook"]
    room_only = Settings.model_validate({"TENANT_ID": TENANT, "WEBEX_ORG_ID": "o", "WEBEX_ROOM_ID": "room-1"})
    assert build_channels(room_only, http_client=httpx.AsyncClient()) == [], "a room without a bot token sends nothing"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        ("0.25", 0.25),
        ("2.128", 2.128),
        (" 10 ", 10.0),
        ("-5", 0.0),
        ("soon", None),
        (None, None),
        ("", None),
        ("nan", None),
        ("inf", None),
        ("99999999", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 01 Jan 2024 00:00:30 -0000", now=now) == 30.0  # zone-less: UTC
    assert parse_retry_after("Sun, 31 Dec 2023 23:59:00 GMT", now=now) == 0.0  # in the past: now
    assert parse_retry_after("Mon, 99 Foo 2024 00:00:30 GMT", now=now) is None
