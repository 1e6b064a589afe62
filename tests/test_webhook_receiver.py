"""Issue 15, point 7: the documented webhook receiver (docs/examples/webhook_receiver.py) rejects
forgeries and malformed headers without crashing, recognises a replay inside the time window, and
the delivery id it keys on is signed, unique per delivery and stable across our retries."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from shared.notify import render
from shared.notify.channels import WebhookChannel
from shared.notify.render import json_body
from shared.notify.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    delivery_id_for,
    sign_webhook,
    signature_headers,
    verify_webhook,
)
from tests.helpers import eventgrid_event, incidents, receive_verify_messages, run_intake
from tests.test_render_hostile import COMBO, hostile_view

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "webhook_receiver.py"
SECRET = b"s3cret-for-the-receiver"
T0 = 1_800_000_000


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_receiver_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses/enum need the module registered
    spec.loader.exec_module(module)
    return module


receiver = _load()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


BODY = json_body(render(hostile_view(COMBO), "webhook").payload or {})


def verifier(clock: Clock | None = None, **kwargs: Any) -> Any:
    return receiver.WebhookVerifier(SECRET, clock=clock or Clock(), **kwargs)


def signed(delivery: str = "d-1", *, at: float = T0, body: bytes = BODY) -> dict[str, str]:
    return signature_headers(body, SECRET, delivery_id=delivery, now=at)


async def test_a_real_delivery_is_new_then_a_replay_inside_the_window() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    rendered = render(hostile_view(COMBO), "webhook")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        channel = WebhookChannel("https://hooks.example/notices", SECRET.decode(), client=client)
        assert (await channel.send(rendered)).ok
        assert (await channel.send(rendered)).ok
    first, second = seen
    assert first.headers[DELIVERY_HEADER] != second.headers[DELIVERY_HEADER], "two sends, two deliveries"
    clock = Clock(float(first.headers[TIMESTAMP_HEADER]))
    v = verifier(clock)
    assert v.check(first.content, first.headers) is receiver.Verdict.NEW
    clock.now += 299  # the old snippet accepted this copy
    assert v.check(first.content, first.headers) is receiver.Verdict.REPLAY
    assert v.check(second.content, second.headers) is receiver.Verdict.NEW
    clock.now += 2
    assert v.check(first.content, first.headers) is receiver.Verdict.INVALID, "too old"


def test_our_retry_of_one_delivery_is_recognised() -> None:
    """A retry is signed anew (new timestamp) with the same delivery id: valid, but already taken."""
    clock = Clock()
    v = verifier(clock)
    assert v.check(BODY, signed("inc-1-opened", at=T0)) is receiver.Verdict.NEW
    clock.now = T0 + 120
    assert v.check(BODY, signed("inc-1-opened", at=T0 + 120)) is receiver.Verdict.REPLAY
    assert v.check(BODY, signed("inc-1-resolved", at=T0 + 120)) is receiver.Verdict.NEW


@pytest.mark.parametrize(
    "change",
    [
        {TIMESTAMP_HEADER: "²"},  # crashed the old snippet: "²".isdigit() is true, int("²") raises
        {TIMESTAMP_HEADER: "１８００００００００"},  # fullwidth digits
        {TIMESTAMP_HEADER: "1800000000.0"},
        {TIMESTAMP_HEADER: "-1800000000"},
        {TIMESTAMP_HEADER: " 1800000000"},
        {TIMESTAMP_HEADER: "9" * 400},
        {TIMESTAMP_HEADER: ""},
        {SIGNATURE_HEADER: "sha256=é" + "0" * 63},  # non-ASCII: compare_digest on str raised TypeError
        {SIGNATURE_HEADER: "sha256=" + "0" * 64},
        {SIGNATURE_HEADER: ""},
        {DELIVERY_HEADER: "d-2"},  # the delivery id is signed: another id, another signature
        {DELIVERY_HEADER: "d-1\u00e9"},
        {DELIVERY_HEADER: "d 1"},
        {DELIVERY_HEADER: "d" * 101},
        {DELIVERY_HEADER: ""},
    ],
    ids=lambda c: repr(c)[:60],
)
def test_malformed_or_forged_headers_are_invalid_never_an_exception(change: dict[str, str]) -> None:
    headers = {**signed(), **change}
    assert receiver.WebhookVerifier(SECRET, clock=Clock()).check(BODY, headers) is receiver.Verdict.INVALID
    assert not verify_webhook(
        BODY,
        SECRET,
        headers[SIGNATURE_HEADER],
        headers[TIMESTAMP_HEADER],
        delivery_id=headers[DELIVERY_HEADER],
        now=T0,
    )


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER])
def test_a_missing_header_is_invalid(missing: str) -> None:
    headers = {k: v for k, v in signed().items() if k != missing}
    assert verifier().check(BODY, headers) is receiver.Verdict.INVALID


def test_tampering_and_other_secrets_are_invalid_and_header_case_does_not_matter() -> None:
    v = verifier()
    assert v.check(BODY + b" ", signed()) is receiver.Verdict.INVALID
    other = signature_headers(BODY, b"other secret", delivery_id="d-1", now=T0)
    assert v.check(BODY, other) is receiver.Verdict.INVALID
    lower = {k.lower(): val for k, val in signed().items()}  # frameworks differ in header case
    assert v.check(BODY, lower) is receiver.Verdict.NEW


def test_memory_is_bounded_and_forgets_only_what_can_no_longer_pass() -> None:
    clock = Clock()
    v = verifier(clock, max_remembered=3)
    for n in range(5):
        assert v.check(BODY, signed(f"d-{n}")) is receiver.Verdict.NEW
    assert len(v._seen) == 3
    assert v.check(BODY, signed("d-4")) is receiver.Verdict.REPLAY
    clock.now = T0 + 301
    assert v.check(BODY, signed("d-9", at=T0 + 301)) is receiver.Verdict.NEW
    assert set(v._seen) == {"d-9"}, "expired ids are dropped"


def test_signed_material_includes_the_delivery_id() -> None:
    import hashlib
    import hmac

    expected = "sha256=" + hmac.new(SECRET, f"{T0}.d-1.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(BODY, SECRET, T0, "d-1") == expected
    with pytest.raises(ValueError, match="delivery id"):
        sign_webhook(BODY, SECRET, T0, "d 1")


def test_delivery_ids_are_stable_per_delivery_and_distinct_across_deliveries() -> None:
    one = delivery_id_for("tenant", "inc-1", "webhook", "opened")
    assert one == delivery_id_for("tenant", "inc-1", "webhook", "opened")
    others = {
        delivery_id_for("tenant", "inc-1", "webhook", "reminder-2"),
        delivery_id_for("tenant", "inc-2", "webhook", "opened"),
        delivery_id_for("tenant2", "inc-1", "webhook", "opened"),
        delivery_id_for("tenant", "inc-1webhook", "", "opened"),
    }
    assert one not in others and len(others) == 4


def test_deploy_doc_points_at_the_tested_receiver() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = doc[doc.index("## The generic webhook") :]
    section = section[: section.index("\n## ", 1)]
    for header in (SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER):
        assert f"`{header}`" in section
    assert "docs/examples/webhook_receiver.py" in section
    assert "```python" not in section, "no second, untested copy of the receiver in the doc"


@pytest.fixture
async def channels(sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]) -> Any:
    """Every channel on, pointed at the simulator's receivers."""
    from tests.notice_helpers import enable_all_channels

    await enable_all_channels(monkeypatch, services_env)
    return sim


async def test_a_retried_delivery_keeps_its_id(channels: Any, app_functions: dict[str, Any]) -> None:
    """Through the app: the webhook answers 500 once; the retry (the next verification run) carries
    the same X-Remediator-Delivery, newly signed, and the receiver takes it once."""
    from tests.notice_helpers import CHANNEL_PATHS, WEBHOOK_SECRET

    await channels.add_fault(CHANNEL_PATHS["webhook"], method="POST", status=500, times=1)
    records = await channels.delete("integration", actor="mallory@contoso.example")
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(records[0]))
    with pytest.raises(Exception, match="webhook"):
        await run_intake(app_functions)
    (msg,) = await receive_verify_messages(wait=8.0)
    await app_functions["verify_incident"].get_user_function()(msg)

    attempts = await channels.requests(path=CHANNEL_PATHS["webhook"], method="POST")
    assert len(attempts) >= 2
    first, retry = attempts[0]["headers"], attempts[1]["headers"]
    (inc,) = await incidents()
    expected = delivery_id_for(inc.tenant_id, inc.incident_id, "webhook", "opened")
    assert first[DELIVERY_HEADER] == retry[DELIVERY_HEADER] == expected
    (post,) = [p for p in (await channels.state())["webhook_posts"] if p["body"]["notice"] == "opened"]
    assert post["delivery"] == expected
    assert verify_webhook(
        post["raw"].encode(),
        WEBHOOK_SECRET.encode(),
        post["signature"],
        post["timestamp"],
        delivery_id=post["delivery"],
        now=float(post["timestamp"]),
    )
