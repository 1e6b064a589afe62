"""Senders: deliver a :class:`~shared.notify.render.Rendered` notice and report what happened.

Senders never raise for delivery failures; they return a :class:`SendResult` that says whether the
failure may pass (``retriable``: 429, 5xx, timeouts, network) so the caller can fail the function and
let the platform retry, or record a permanent failure (other 4xx) and move on. Nothing here sleeps
for ``Retry-After``: the hint is passed up so the caller reschedules (docs/reliability.md, "Bounded
in-process waiting").

Secrets — bot token, webhook secret, and the Teams Workflows URL itself (its ``sig`` query parameter
is a credential) — never appear in ``SendResult.error``, exceptions or ``repr``: errors carry only a
status, an exception class name and the service's own error text with any secret redacted.

Settings the senders need (app-setting names): e-mail ``MAIL_SENDER``, ``MAIL_TO``; Webex
``WEBEX_BOT_TOKEN``, ``WEBEX_ROOM_ID``, ``WEBEX_API_BASE``; Teams ``TEAMS_WEBHOOK_URL``; generic
webhook ``NOTIFY_WEBHOOK_URL``, ``NOTIFY_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from shared.core.retry import parse_retry_after
from shared.core.settings import Settings
from shared.notify.escape import clean, clip
from shared.notify.render import Rendered, json_body
from shared.notify.signing import new_delivery_id, signature_headers

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_ERROR_LIMIT = 300


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one delivery attempt.

    ``message_ref`` threads follow-ups: the Webex message id (``parentId``) or the e-mail
    ``Message-ID`` (``In-Reply-To``). ``retry_after`` is the server's hint in seconds, if any.
    """

    channel: str
    ok: bool
    status: int | None = None
    message_ref: str | None = None
    retry_after: float | None = None
    tracking_id: str | None = None
    error: str | None = None
    retriable: bool = False

    @property
    def permanent(self) -> bool:
        """Failed, and retrying will not help (a 4xx other than 408/425/429, or not configured)."""
        return not self.ok and not self.retriable


@runtime_checkable
class Channel(Protocol):
    """What the notifier needs of a sender."""

    name: str

    def enabled(self, settings: Settings) -> bool: ...

    async def send(self, rendered: Rendered, *, thread_ref: str | None = None) -> SendResult: ...


# --- helpers ------------------------------------------------------------------------------------------


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced, bounded and on one line."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return clip(clean(text), _ERROR_LIMIT)


def _service_message(response: httpx.Response) -> str:
    """The error text a service put in its JSON body (Webex ``message``, Graph ``error.message``)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(body, dict):
        return ""
    message = body.get("message")
    if isinstance(body.get("error"), dict):
        message = body["error"].get("message") or message
    return message if isinstance(message, str) else ""


def _result_from_response(
    channel: str, response: httpx.Response, secrets: Sequence[str | None], ok_statuses: frozenset[int]
) -> SendResult:
    status = response.status_code
    tracking = response.headers.get("trackingid") or response.headers.get("x-ms-request-id")
    if status in ok_statuses:
        return SendResult(channel, ok=True, status=status, tracking_id=tracking)
    retriable = status in (408, 425, 429) or status >= 500
    detail = _service_message(response)
    error = redact(f"HTTP {status}" + (f": {detail}" if detail else ""), secrets)
    return SendResult(
        channel,
        ok=False,
        status=status,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        tracking_id=tracking,
        error=error,
        retriable=retriable,
    )


def _transport_failure(channel: str, exc: Exception) -> SendResult:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "network error"
    return SendResult(channel, ok=False, error=f"{kind} ({type(exc).__name__})", retriable=True)


def _secret(value: str | SecretStr | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value() or None
    return value or None


async def _post(
    client: httpx.AsyncClient | None, url: str, *, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST with the given client, or a short-lived one (no event-loop-bound state kept between
    function invocations)."""
    if client is not None:
        return await client.post(url, content=content, headers=headers)
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False) as own:
        return await own.post(url, content=content, headers=headers)


# --- Webex ------------------------------------------------------------------------------------------------


class WebexChannel:
    """Webex bot message to a space: ``POST {WEBEX_API_BASE}/messages`` with ``{roomId, markdown,
    parentId?}``. The response ``id`` is the ``message_ref``; pass the opening notice's id as
    ``thread_ref`` so follow-ups become replies (Webex threads one level deep only)."""

    name = "webex"

    def __init__(
        self,
        room_id: str | None,
        *,
        token: str | SecretStr | None = None,
        client: httpx.AsyncClient | None = None,
        api_base: str = "https://webexapis.com/v1",
    ) -> None:
        self.room_id = room_id
        self._token = _secret(token)
        self._client = client
        self._url = api_base.rstrip("/") + "/messages"

    @classmethod
    def from_settings(cls, settings: Settings, client: httpx.AsyncClient | None = None) -> WebexChannel:
        return cls(
            settings.webex_room_id, token=settings.webex_bot_token, client=client, api_base=settings.webex_api_base
        )

    def __repr__(self) -> str:
        return f"WebexChannel(room_id={self.room_id!r}, token={'***' if self._token else None})"

    def enabled(self, settings: Settings) -> bool:
        return bool(self.room_id and (self._token or self._client is not None))

    async def send(self, rendered: Rendered, *, thread_ref: str | None = None) -> SendResult:
        body: dict[str, Any] = {"roomId": self.room_id, "markdown": rendered.text}
        if thread_ref:
            body["parentId"] = thread_ref
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = await _post(self._client, self._url, content=json.dumps(body).encode(), headers=headers)
        except httpx.HTTPError as exc:
            return _transport_failure(self.name, exc)
        result = _result_from_response(self.name, response, [self._token], frozenset({200}))
        if not result.ok:
            return result
        try:
            message_id = response.json().get("id")
        except (ValueError, AttributeError):
            message_id = None
        return SendResult(
            self.name,
            ok=True,
            status=result.status,
            message_ref=message_id if isinstance(message_id, str) else None,
            tracking_id=result.tracking_id,
        )


# --- Teams ------------------------------------------------------------------------------------------------


class TeamsChannel:
    """Adaptive Card to a Teams Workflows webhook (``TEAMS_WEBHOOK_URL``); 200 or 202 is success.
    Workflows posts cannot be threaded, so ``thread_ref`` is ignored. The URL is a credential."""

    name = "teams"

    def __init__(self, url: str | SecretStr | None, *, client: httpx.AsyncClient | None = None) -> None:
        self._url = _secret(url)
        self._client = client

    def __repr__(self) -> str:
        return f"TeamsChannel(url={'***' if self._url else None})"

    def enabled(self, settings: Settings) -> bool:
        return bool(self._url)

    async def send(self, rendered: Rendered, *, thread_ref: str | None = None) -> SendResult:
        if not self._url or rendered.payload is None:
            return SendResult(self.name, ok=False, error="not configured or not a Teams rendering")
        try:
            response = await _post(
                self._client,
                self._url,
                content=json_body(rendered.payload),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return _transport_failure(self.name, exc)
        return _result_from_response(self.name, response, [self._url], frozenset({200, 202}))


# --- generic webhook ---------------------------------------------------------------------------------


class WebhookChannel:
    """Signed JSON POST to ``NOTIFY_WEBHOOK_URL`` with ``NOTIFY_WEBHOOK_SECRET`` (see
    :mod:`shared.notify.signing`); any 2xx is success."""

    name = "webhook"

    def __init__(
        self, url: str | None, secret: str | bytes | SecretStr | None, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self._url = url or None
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self._secret = raw.encode("utf-8") if isinstance(raw, str) else raw or None
        self._client = client

    def __repr__(self) -> str:
        return f"WebhookChannel(url={self._url!r}, secret={'***' if self._secret else None})"

    def enabled(self, settings: Settings) -> bool:
        return bool(self._url and self._secret)

    async def send(self, rendered: Rendered, *, thread_ref: str | None = None) -> SendResult:
        if not self._url or not self._secret or rendered.payload is None:
            return SendResult(self.name, ok=False, error="not configured or not a webhook rendering")
        body = json_body(rendered.payload)
        delivery_id = rendered.delivery_id or new_delivery_id()  # one-off sends (operational notices)
        headers = {"Content-Type": "application/json", **signature_headers(body, self._secret, delivery_id=delivery_id)}
        secret_text = self._secret.decode("utf-8", "replace")
        try:
            response = await _post(self._client, self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return _transport_failure(self.name, exc)
        return _result_from_response(self.name, response, [secret_text], frozenset(range(200, 300)))


# --- e-mail -------------------------------------------------------------------------------------------------


def mime_message(
    rendered: Rendered, sender: str, to: Sequence[str], *, message_id: str, thread_ref: str | None = None
) -> bytes:
    """A ``multipart/alternative`` message (text + HTML) as RFC 5322 bytes."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = rendered.subject or ""
    msg["Message-ID"] = message_id
    if thread_ref:
        msg["In-Reply-To"] = thread_ref
        msg["References"] = thread_ref
    msg["X-Remediator-Incident"] = clip(clean(rendered.incident_id), 100)
    msg.set_content(rendered.text)
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes()


class EmailChannel:
    """Mail through Microsoft Graph ``POST /users/{MAIL_SENDER}/sendMail`` (Mail.Send, app-only).

    Graph's JSON form carries a single body (text *or* HTML). To send both parts, the default
    (``mime=True``) posts a base64 MIME ``multipart/alternative`` message with
    ``Content-Type: text/plain`` — the documented MIME form of the same endpoint — through the
    client's own request adapter, so auth, retry and throttling middleware still apply. Costs of
    MIME: Graph always saves a copy in the sender's Sent Items (``saveToSentItems`` is JSON-only).
    The MIME form also lets us set ``Message-ID``/``In-Reply-To``, so follow-ups thread in mail
    clients. ``mime=False`` uses the JSON form (HTML body only, not saved to Sent Items).

    ``graph`` is a ``msgraph.GraphServiceClient`` built elsewhere; msgraph is imported only when a
    mail is sent (the SDK is slow to import).
    """

    name = "email"

    def __init__(self, graph: Any, sender: str | None, to: Sequence[str], *, mime: bool = True) -> None:
        self._graph = graph
        self.sender = sender
        self.to = tuple(to)
        self.mime = mime

    @classmethod
    def from_settings(cls, settings: Settings, graph: Any, *, mime: bool = True) -> EmailChannel:
        return cls(graph, settings.mail_sender, settings.mail_to, mime=mime)

    def __repr__(self) -> str:
        return f"EmailChannel(sender={self.sender!r}, to={len(self.to)} recipients, mime={self.mime})"

    def enabled(self, settings: Settings) -> bool:
        return bool(self.sender and self.to and self._graph is not None)

    async def send(self, rendered: Rendered, *, thread_ref: str | None = None) -> SendResult:
        from kiota_abstractions.api_error import APIError

        if not self.sender or not self.to:
            return SendResult(self.name, ok=False, error="MAIL_SENDER and MAIL_TO are not set")
        domain = self.sender.rpartition("@")[2] or "webex-sync-remediator.invalid"
        message_id = make_msgid(idstring="remediator", domain=domain)
        try:
            if self.mime:
                await self._send_mime(rendered, message_id, thread_ref)
            else:
                await self._send_json(rendered)
        except APIError as exc:
            return self._api_failure(exc)
        except httpx.HTTPError as exc:
            return _transport_failure(self.name, exc)
        return SendResult(self.name, ok=True, status=202, message_ref=message_id if self.mime else None)

    async def _send_mime(self, rendered: Rendered, message_id: str, thread_ref: str | None) -> None:
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        raw = mime_message(rendered, self.sender or "", self.to, message_id=message_id, thread_ref=thread_ref)
        builder = self._graph.users.by_user_id(self.sender).send_mail
        info = RequestInformation(Method.POST, builder.url_template, builder.path_parameters)
        info.headers.try_add("Accept", "application/json")
        info.set_stream_content(base64.b64encode(raw), "text/plain")
        await builder.request_adapter.send_no_response_content_async(info, {"XXX": ODataError})

    async def _send_json(self, rendered: Rendered) -> None:
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.message import Message
        from msgraph.generated.models.recipient import Recipient
        from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

        if rendered.html is not None:
            body = ItemBody(content_type=BodyType.Html, content=rendered.html)
        else:
            body = ItemBody(content_type=BodyType.Text, content=rendered.text)
        message = Message(
            subject=rendered.subject or "",
            body=body,
            to_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in self.to],
        )
        request = SendMailPostRequestBody(message=message, save_to_sent_items=False)
        await self._graph.users.by_user_id(self.sender).send_mail.post(request)

    def _api_failure(self, exc: Any) -> SendResult:
        status = getattr(exc, "response_status_code", None)
        headers = getattr(exc, "response_headers", None) or {}
        lowered = {str(k).lower(): str(v) for k, v in dict(headers).items()}
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None)
        message = getattr(error, "message", None)
        detail = ": ".join(str(p) for p in (code, message) if p)
        return SendResult(
            self.name,
            ok=False,
            status=status,
            retry_after=parse_retry_after(lowered.get("retry-after")),
            tracking_id=lowered.get("request-id") or lowered.get("client-request-id"),
            error=redact(f"Graph HTTP {status}" + (f": {detail}" if detail else ""), []),
            retriable=status is None or status in (408, 429) or status >= 500,
        )


def build_channels(
    settings: Settings, *, graph: Any = None, http_client: httpx.AsyncClient | None = None
) -> list[Channel]:
    """Every channel the settings enable — the one rule for incident and operational notices.

    E-mail needs ``graph`` (a ``msgraph.GraphServiceClient``; build it only when
    ``settings.email_enabled``, the SDK is slow to import); the others share ``http_client`` (a
    short-lived client per send when None). Order: e-mail, Webex, Teams, webhook.
    """
    channels: list[Channel] = []
    if settings.email_enabled and graph is not None:
        channels.append(EmailChannel.from_settings(settings, graph))
    if settings.webex_messages_enabled:
        channels.append(WebexChannel.from_settings(settings, http_client))
    if settings.teams_webhook_url is not None:
        channels.append(TeamsChannel(settings.teams_webhook_url, client=http_client))
    if settings.webhook_enabled:
        channels.append(WebhookChannel(settings.notify_webhook_url, settings.notify_webhook_secret, client=http_client))
    return channels
