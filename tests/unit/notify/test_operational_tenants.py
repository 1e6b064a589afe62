"""The provider's digest lists tenants: a display name (and a reason quoting an upstream answer) is
data — escaped for each channel like evidence, one line, masked, bounded — and a very long list is
cut with a count, never sent whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.notify.operational import OperationalNotice, TenantLine, render_operational
from shared.notify.render import json_body

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
HOSTILE = "<img src=x onerror=alert(1)> **Evil** [link](https://evil.example) <@all>\r\nBcc: x@y.example"
TENANT = "6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f"


def _notice(count: int = 1) -> OperationalNotice:
    tenants = tuple(
        TenantLine(TENANT if n == 0 else f"{n:08d}-0000-4000-8000-000000000000", HOSTILE if n == 0 else f"T{n}",
                   "unreachable", ("token refused: AADSTS700016 <b>", "second"))
        for n in range(count)
    )  # fmt: skip
    return OperationalNotice("provider_digest", f"{count} of {count} tenants in trouble", ("The last sweep.",),
                             tenants=tenants)  # fmt: skip


def test_email_html_escapes_the_display_name_and_keeps_one_row_per_tenant() -> None:
    r = render_operational(_notice(), "email", now=NOW)
    assert r.html is not None and "<img" not in r.html and "&lt;img src=x" in r.html
    assert r.html.count("<tr>") == 2 and TENANT in r.html and "AADSTS700016 &lt;b&gt;; second" in r.html
    assert "Bcc: x@y.example" in r.text and "\r\nBcc" not in r.text  # one line: no header injection
    assert r.subject is not None and "\n" not in r.subject


def test_webex_markdown_escapes_the_display_name() -> None:
    text = render_operational(_notice(), "webex", now=NOW).text
    line = next(x for x in text.splitlines() if TENANT in x)
    assert line.startswith("- ") and "\\*\\*Evil\\*\\*" in line and "](https://evil.example)" not in line
    assert "<@all>" not in line


def test_teams_card_has_a_fact_set_per_tenant_with_escaped_values() -> None:
    r = render_operational(_notice(2), "teams", now=NOW)
    facts = [b for b in r.payload["attachments"][0]["content"]["body"] if b["type"] == "FactSet"]  # type: ignore[index]
    assert len(facts) == 2
    name = facts[0]["facts"][0]["value"]
    assert "**Evil**" not in name and "[link](https://evil.example)" not in name
    assert name.startswith("\\<img") and "\n" not in name and "\r" not in name


def test_webhook_carries_the_tenant_fields_for_a_ticketing_system() -> None:
    r = render_operational(_notice(), "webhook", now=NOW)
    body = json.loads(json_body(r.payload or {}))
    assert body["kind"] == "provider_digest"
    (row,) = body["tenants"]
    assert row["tenant_id"] == TENANT and row["verdict"] == "unreachable"
    assert "\n" not in row["display_name"] and row["display_name"].startswith("<img")  # JSON: data as data
    assert body["tenants_not_listed"] == 0


@pytest.mark.parametrize("channel", ["email", "webex", "teams", "webhook"])
def test_a_long_list_is_cut_with_a_count(channel: str) -> None:
    r = render_operational(_notice(250), channel, now=NOW)  # type: ignore[arg-type]
    shown = json.dumps(r.payload) if r.payload is not None else (r.html or r.text)
    assert "T199" in shown and "T200" not in shown
    assert "50 more tenants" in shown or (channel == "webhook" and r.payload["tenants_not_listed"] == 50)  # type: ignore[index]


def test_a_notice_without_tenants_renders_as_before() -> None:
    plain = OperationalNotice("verification_poisoned", "t", ("a line",))
    for channel in ("email", "webex", "teams", "webhook"):
        r = render_operational(plain, channel, now=NOW)  # type: ignore[arg-type]
        assert "tenants" not in json.dumps(r.payload or {}) and "Tenant id" not in (r.html or r.text)
