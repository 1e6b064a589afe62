"""The app layer sends what checks owe (a check never sends): once per key, failures logged, and
nothing at all when a person runs ``check`` (notify=False)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.app.checking import CheckingDeps, check_and_notify
from shared.app.operational_notices import ConfigAnnouncements, announce_config_problems, send_owed
from shared.checks.report import NoticeOwed
from shared.clients.webex_auth import WebexAuthExpired
from tests.unit.checks.fakes import FakeAuth, clients, healthy_graph, settings


class Sender:
    """Records each notice; ``accept`` says which channels took it (``[]``: told before / all failed)."""

    def __init__(self, accept: list[str] | None = None, fail: bool = False) -> None:
        self.sent: list[tuple[Any, str | None]] = []
        self.accept = ["email"] if accept is None else accept
        self.fail = fail

    async def __call__(self, notice: Any, *, once_key: str | None = None) -> list[str]:
        if self.fail:
            raise RuntimeError("channel builder broke")
        self.sent.append((notice, once_key))
        return list(self.accept)


OWED = NoticeOwed("webex_scim_misconfigured", "Title", ("one", "two"), "key-1", evidence="HTTP 403", log_when_sent=True)


async def test_owed_notices_are_sent_with_their_evidence_line(caplog: pytest.LogCaptureFixture) -> None:
    send = Sender()
    plain = NoticeOwed("identity_app_lookalike", "T2", ("a",), "key-2")
    with caplog.at_level(logging.WARNING, logger="shared.app.operational_notices"):
        await send_owed(send, [OWED, plain])
    assert [(n.kind, n.title, n.lines, key) for n, key in send.sent] == [
        ("webex_scim_misconfigured", "Title", ("one", "two", "Evidence: HTTP 403"), "key-1"),
        ("identity_app_lookalike", "T2", ("a",), "key-2"),
    ]
    assert [(r.getMessage(), r.__dict__.get("event")) for r in caplog.records] == [
        ("Title: HTTP 403", "webex_scim_misconfigured")
    ], "logged once, when sent, only for the notices that ask for it"


async def test_a_notice_told_before_is_not_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shared.app.operational_notices"):
        await send_owed(Sender(accept=[]), [OWED])
    assert caplog.records == []


async def test_a_failing_sender_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="shared.app.operational_notices"):
        await send_owed(Sender(fail=True), [OWED, OWED])
    assert [r.getMessage() for r in caplog.records] == ["could not send the webex_scim_misconfigured notice"] * 2


async def test_check_and_notify_sends_what_the_report_owes() -> None:
    send = Sender()
    deps = CheckingDeps(clients(graph=healthy_graph(), auth=FakeAuth(WebexAuthExpired("dead", origin="fp"))), send)
    report = await check_and_notify(deps)
    assert [key for _, key in send.sent] == ["webex-auth-expired:fp"]
    assert report.first("webex.sync_status") is not None


async def test_a_person_running_check_notifies_nobody() -> None:
    send = Sender()
    deps = CheckingDeps(clients(graph=healthy_graph(), auth=FakeAuth(WebexAuthExpired("dead", origin="fp"))), send)
    report = await check_and_notify(deps, notify=False)
    assert send.sent == []
    assert [n.once_key for n in report.owed] == ["webex-auth-expired:fp"], "still in the report"


async def test_configuration_problems_are_announced_once_per_process() -> None:
    broken = settings(NOTIFY_WEBHOOK_URL="https://hooks.example/x")
    memory = ConfigAnnouncements()
    refused = Sender(accept=[])
    assert await announce_config_problems(broken, refused, memory) == []
    assert memory.told is None, "nobody took it: the next tick asks again"
    send = Sender()
    assert await announce_config_problems(broken, send, memory) == ["email"]
    assert await announce_config_problems(broken, send, memory) == []
    assert len(send.sent) == 1, "this process told them: no second round trip"
    ((notice, key),) = send.sent
    assert notice.kind == "configuration_problem" and key == memory.told


async def test_no_problem_no_announcement() -> None:
    send = Sender()
    assert await announce_config_problems(settings(), send, ConfigAnnouncements()) == []
    assert send.sent == []
