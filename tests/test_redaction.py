"""Issue 15, points 8 and 9: upstream text is redacted wherever it is shown (notices on every
channel, ``check`` evidence, logs), and logged values cannot forge a log line (CR/LF and the other
control characters are escaped). The end-to-end case uses the simulator's token endpoint in
``echo_form`` mode: its refusal echoes the form it received, client secret and refresh token
included."""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest

from shared.core.redaction import MASK, escape_controls, redact, remember_secret, safe_log_value
from tests.notice_helpers import delivered, enable_all_channels, notice_text


async def test_echoed_form_never_reaches_evidence_notices_or_logs(
    sim: Any,
    app_creds: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    services_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from shared.app.runtime import get_services, reset_services
    from shared.core.settings import reset_settings
    from tests.check_helpers import webex_status

    caplog.set_level(logging.DEBUG)
    creds = app_creds
    await sim.webex_tokens(echo_form=True)
    await sim.revoke_webex_tokens()
    for key, value in creds.items():
        monkeypatch.setenv(key, value)
    await enable_all_channels(monkeypatch, services_env)
    reset_settings()
    await reset_services()
    svc = await get_services()

    result = await webex_status(svc)  # what `check` prints as evidence, and the notice's evidence
    assert result.verdict == "authorization_expired"
    (answer,) = [r for r in await sim.requests(path="/webexapis/v1/access_token$") if r["status"] == 400]
    assert MASK in result.evidence, "the echoed form was there to redact"

    got = await delivered(sim)
    shown = [result.evidence]
    for channel, posts in got.items():
        assert posts, f"{channel}: the authorization notice went out"
        shown += [notice_text(channel, p) for p in posts]
        shown += [json.dumps(p.get("body") or p.get("json") or "") for p in posts]
    shown.append(caplog.text)
    shown.append(" ".join(r.getMessage() for r in caplog.records))
    for secret in (creds["WEBEX_CLIENT_SECRET"], creds["WEBEX_REFRESH_TOKEN"]):
        for text in shown:
            assert secret not in text
    assert answer is not None


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("client_secret=abc123def456&grant_type=refresh_token", "abc123def456"),
        ("refresh_token=rt-ZZZ%2Fyyy&x=1", "rt-ZZZ%2Fyyy"),
        ("ACCESS_TOKEN=tok.en-1;", "tok.en-1"),
        ('{"client_secret": "s3cr3t-value", "n": 1}', "s3cr3t-value"),
        ('{"refreshToken":"a\\"b-c"}', 'a\\"b-c'),
        ("Authorization: Bearer abc.def-ghi~jkl", "abc.def-ghi~jkl"),
        ("id eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl end", "eyJhbGciOiJSUzI1NiJ9"),
        ("secret " + "0123456789abcdef" * 4 + " end", "0123456789abcdef" * 4),
        ("b64 " + "QWxhZGRpbjpvcGVuIHNlc2FtZQ1234567890abcdEFGH==", "QWxhZGRpbjpvcGVuIHNlc2FtZQ1234567890abcdEFGH"),
        ("teams https://x.example/wf?api-version=1&sig=AbC123_-x", "AbC123_-x"),
    ],
)
def test_token_shapes_are_redacted(text: str, gone: str) -> None:
    out = redact(text)
    assert gone not in out and MASK in out


@pytest.mark.parametrize(
    "text",
    [
        "Cisco Webex Identity Integration (1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e) deleted at 2026-01-01T00:00:00Z",
        "trackingid ROUTER_5F3A1B2C-1234-4D5E-8F90-ABCDEF012345",
        "https://graph.microsoft.com/v1.0/servicePrincipals/1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        "state-identity-app-1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e-and-more-words",
        "HTTP 401; code 701018; admin consent is missing for the application",
        "a_very_long_identifier_without_any_digits_in_it_at_all_here",
    ],
)
def test_ordinary_evidence_is_kept(text: str) -> None:
    assert redact(text) == text


def test_remembered_secrets_are_redacted_verbatim_and_form_encoded() -> None:
    secret = "sim~" + secrets.token_urlsafe(12) + "/+"
    remember_secret(secret)
    from urllib.parse import quote, quote_plus

    for shown in (secret, quote_plus(secret), quote(secret, safe=""), quote(secret, safe="").replace("~", "%7E")):
        assert shown not in redact(f"x {shown} y")
    assert redact("short") == "short"
    remember_secret("short")  # too short to remember: ordinary words stay
    assert redact("a short word") == "a short word"


HOSTILE = (
    lambda n: "a1" * n,
    lambda n: "client_secret=" * (n // 14 + 1),
    lambda n: '"token": "' * (n // 10 + 1),
    lambda n: "\x00\r\n" * n,
)


def _cost(text: str) -> float:
    """CPU seconds of redacting and escaping ``text``, the least of three runs (noise only adds)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        redact(text)
        escape_controls(text)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("make", HOSTILE, ids=["runs", "equals", "unclosed-json", "controls"])
def test_redact_is_linear_on_hostile_input(make: Callable[[int], str]) -> None:
    """Oversized and pathological input: long runs, many '=' and unclosed JSON strings. Four times
    the input costs about four times the CPU (a quadratic scan would cost sixteen), whatever the
    machine's load: a ratio, not a time limit."""
    for size in (0, 1, 4096):
        redact(make(size))  # small and empty inputs pass through
    small, large = _cost(make(128 * 1024)), _cost(make(512 * 1024))
    assert large < 8 * small + 0.02, (small, large)


def test_control_characters_are_escaped() -> None:
    assert escape_controls("a\r\nb\tc\x00d\x1be\x7ff\x85g\u2028h\u2029") == (
        "a\\r\\nb\\tc\\x00d\\x1be\\x7ff\\x85g\\u2028h\\u2029"
    )
    assert safe_log_value(3) == 3 and safe_log_value(None) is None and safe_log_value(1.5) == 1.5
    assert safe_log_value(ValueError("x\ny")) == "x\\ny"


FORGED = "sp-1\r\nCRITICAL shared.app.verification incident inc-1 resolved\nCRITICAL all good"


@pytest.mark.parametrize(
    "emit",
    [
        lambda log: log.warning("service principal %s removed", FORGED),
        lambda log: log.warning("service principal %(id)s removed", {"id": FORGED}),
        lambda log: log.warning("Graph: %s", ValueError(FORGED)),
        lambda log: log.warning("record %r", FORGED.encode()),
        lambda log: log.warning(FORGED),  # already-formatted text, no arguments
    ],
)
def test_a_forged_log_line_cannot_appear(emit: Any) -> None:
    """An id with CR/LF from an audit record or an API answer stays on its own line."""
    from shared.core.logsafety import install

    install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    log = logging.getLogger("shared.app.sweep")
    log.addHandler(handler)
    try:
        emit(log)
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("WARNING ")
    assert not any(line.startswith("CRITICAL") for line in lines)
