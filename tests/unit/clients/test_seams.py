"""The seams between detect/ and clients/ (issue 16 point 2): the Graph client sends the caller's
``$filter`` and hands the answer's bytes to the caller's reader; the models warm-up is injected; the
intake queue carries text that detect/intake.py encodes and decodes. No network: a recording adapter."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.core.errors import PayloadError, TransientError, UpstreamError
from shared.detect.audit_poll import directory_audit_filter, read_audit_page
from shared.detect.classify import WATCHED_ACTIVITIES
from shared.detect.intake import Intake, IntakeMessage, decode_all

BASE = "https://graph.example/v1.0"


class _Adapter:
    """The part of kiota's request adapter the Graph client uses: records each request, answers ``body``."""

    base_url = BASE

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.urls: list[str] = []

    def enable_backing_store(self, store: object) -> None:
        pass

    async def send_primitive_async(self, info: Any, kind: str, errors: object) -> bytes:
        self.urls.append(info.url)
        return self.body


def _graph(body: bytes = b'{"value": []}', **kw: Any) -> tuple[Any, _Adapter]:
    from msgraph.graph_service_client import GraphServiceClient

    from shared.clients.graph import Graph

    adapter = _Adapter(body)
    return Graph(GraphServiceClient(request_adapter=adapter), **kw), adapter


async def test_the_audit_query_is_the_callers_filter_and_the_answer_goes_to_its_reader() -> None:
    graph, adapter = _graph(b'{"value": [], "@odata.nextLink": "' + BASE.encode() + b'/auditLogs/directoryAudits?x=1"}')
    seen: list[bytes] = []
    got = await graph.directory_audits(
        lambda raw: seen.append(raw) or "read", query_filter="activityDisplayName eq 'a'"
    )
    assert got == "read" and seen == [adapter.body]
    (url,) = adapter.urls
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "$filter": ["activityDisplayName eq 'a'"],
        "$orderby": ["activityDateTime asc"],
        "$top": ["100"],
    }
    page = await graph.directory_audits(read_audit_page, link=f"{BASE}/auditLogs/directoryAudits?$skiptoken=y")
    assert adapter.urls[1] == f"{BASE}/auditLogs/directoryAudits?$skiptoken=y"
    assert page.extraction.records == [] and page.next_link == f"{BASE}/auditLogs/directoryAudits?x=1"


async def test_the_audit_query_needs_a_filter_or_a_link_to_graphs_host() -> None:
    graph, adapter = _graph()
    with pytest.raises(ValueError, match="filter or a link"):
        await graph.directory_audits(read_audit_page)
    with pytest.raises(UpstreamError, match="another host"):
        await graph.directory_audits(read_audit_page, link="https://evil.example/v1.0/auditLogs/directoryAudits")
    assert adapter.urls == []


async def test_an_unreadable_page_is_transient_and_asked_again() -> None:
    graph, adapter = _graph(b'{"value": [')
    with pytest.raises(TransientError, match="unreadable audit page"):
        await graph.directory_audits(read_audit_page, query_filter="x")
    assert len(adapter.urls) > 1, "read inside the retried call"


def test_the_filter_names_every_watched_activity_once_from_the_rules() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    since = datetime(2024, 5, 1, 12, 0, 0, 1234, tzinfo=timezone(timedelta(hours=2)))
    flt = directory_audit_filter(since)
    assert flt.startswith(
        "activityDateTime ge 2024-05-01T10:00:00Z and (activityDisplayName eq 'Delete service principal' or "
    )
    assert flt.count("activityDisplayName eq '") == len(WATCHED_ACTIVITIES) == 9
    assert directory_audit_filter(since.astimezone(UTC)) == flt


class _ModelsLoaded(Exception):
    pass


@pytest.mark.parametrize("call", ["restore_deleted", "update_notes"])
async def test_the_kiota_model_calls_await_the_injected_warm_up_first(call: str) -> None:
    async def load_models() -> None:
        raise _ModelsLoaded

    graph, adapter = _graph(load_models=load_models)
    args = ("c2a5f6e1-8b7d-4c3e-9a1f-2d4b6e8f0a1c", "notes")[: 1 if call == "restore_deleted" else 2]
    with pytest.raises(_ModelsLoaded):
        await getattr(graph, call)(*args)
    assert adapter.urls == []


def test_intake_messages_travel_as_their_json_text() -> None:
    one = IntakeMessage("eventgrid", "evt-é", records=({"record_id": "r", "activity": "a", "source": "graph"},))
    two = IntakeMessage("alert", "a-1")
    bodies = Intake(messages=[one, two]).encoded()
    assert bodies == [
        '{"v":1,"origin":"eventgrid","ref":"evt-é","records":[{"record_id":"r","activity":"a","source":"graph"}],"alerts":[]}',
        '{"v":1,"origin":"alert","ref":"a-1","records":[],"alerts":[]}',
    ]
    assert decode_all([bodies[0], "{not json", '{"v": 2}', bodies[1]]) == [one, two], "bad bodies are dropped"
    with pytest.raises(PayloadError):
        IntakeMessage.from_json('{"v": 2}')
