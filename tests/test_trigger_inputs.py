"""Bad input to each trigger: a clear answer, nothing half-written, nothing retried forever."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from tests.helpers import http_request, incidents

ALERT_V2 = Path(__file__).parent / "fixtures" / "reference" / "azmon_common_alert_full_LogAlertsV2_webhook.json"


@pytest.mark.parametrize(
    ("body", "ctype", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": ', "application/json", 400),
        (b'{"hello": "world"}', "application/json", 400),
        (b"<xml/>", "text/xml", 415),
        (b"[" * 2_000_000, "application/json", 413),
    ],
)
async def test_alert_endpoint_rejects_bad_bodies(
    sim: Any, app_functions: dict[str, Any], body: bytes, ctype: str, status: int
) -> None:
    handler = app_functions["monitor_alert"].get_user_function()
    response = await handler(http_request(body, content_type=ctype))
    assert response.status_code == status
    assert b"error" in response.get_body()
    assert await incidents() == []


async def test_alert_resolved_closes_nothing(sim: Any, app_functions: dict[str, Any]) -> None:
    alert = json.loads(ALERT_V2.read_text())
    alert["data"]["essentials"]["monitorCondition"] = "Resolved"
    handler = app_functions["monitor_alert"].get_user_function()
    response = await handler(http_request(json.dumps(alert).encode()))
    assert response.status_code == 202
    assert await sim.requests(path="/loganalytics/") == []


@pytest.mark.parametrize("body", [b"not json", b'{"tenant_id": "t"}', b"\xff\xfe", b'{"v": 1, "attempt": "x"}'])
async def test_verify_drops_bad_messages(sim: Any, app_functions: dict[str, Any], body: bytes) -> None:
    handler = app_functions["verify_incident"].get_user_function()
    await handler(func.QueueMessage(id="m1", body=body))  # logged and consumed: returns, no raise
    assert await incidents() == []


def _as_delivered(body: dict[str, Any]) -> Any:
    """What the Python worker hands the trigger for this JSON body (its own Event Grid decoder:
    an ``EventGridEvent`` or, for a CloudEvents subscription, a ``CloudEvent``)."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    return EventGridEventInConverter.decode(Datum(type="json", value=json.dumps(body)), trigger_metadata=None)


@pytest.mark.parametrize("encoding", ["data", "data_base64"])
async def test_cloudevents_delivery_is_processed_like_the_event_grid_schema(
    sim: Any, app_functions: dict[str, Any], encoding: str
) -> None:
    import base64

    from tests.helpers import run_intake

    records = await sim.delete("integration", actor="mallory@contoso.example")
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": "ce-0001",
        "source": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/audit",
        "type": "Webex.AuditRecord",
        "time": "2026-11-29T06:00:00.1234567+00:00",
        "datacontenttype": "application/json",
    }
    if encoding == "data":
        body["data"] = records[0]
    else:
        body["data_base64"] = base64.b64encode(json.dumps(records[0]).encode()).decode()
    event = _as_delivered(body)
    assert isinstance(event, func.CloudEvent), "the worker really hands over a CloudEvent"

    await app_functions["eventgrid_audit"].get_user_function()(event)
    assert await run_intake(app_functions) == 1
    (inc,) = await incidents()
    assert inc.kind == "integration_deleted" and inc.initiator_label == "mallory@contoso.example"


async def test_metric_alert_is_acknowledged_with_nothing_queued(sim: Any, app_functions: dict[str, Any]) -> None:
    """A metric alert routed to the endpoint by mistake is readable: 202 with the reason, nothing
    queued (a 4xx would only make someone chase a bug that is a routing choice)."""
    from tests.helpers import raw_queue_bodies

    body = (ALERT_V2.parent / "azmon_common_alert_schema_full_metric_sample.json").read_bytes()
    response = await app_functions["monitor_alert"].get_user_function()(http_request(body))
    assert response.status_code == 202
    answer = json.loads(response.get_body())
    assert answer["queued"] == 0 and "not a log search alert" in json.dumps(answer)
    assert await raw_queue_bodies("webex-intake") == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"specversion": "1.0", "id": "a", "source": "s", "type": "t", "data": {}}, func.CloudEvent),
        ({"id": "b", "eventType": "t", "subject": "s", "data": {}, "dataVersion": "1"}, func.EventGridEvent),
    ],
)
def test_the_payload_not_the_annotation_picks_the_event_class(
    app_functions: dict[str, Any], body: dict[str, Any], expected: type
) -> None:
    """What functions/eventgrid.py's docstring says: ``specversion`` in the JSON picks ``CloudEvent``
    (the trigger is annotated ``EventGridEvent``); the annotation is only checked at indexing, where
    either class passes and a ``Union`` does not."""
    import inspect

    from azure.functions.eventgrid import EventGridEventInConverter

    user_function = app_functions["eventgrid_audit"].get_user_function()
    assert inspect.signature(user_function).parameters["event"].annotation in (
        "func.EventGridEvent",
        func.EventGridEvent,
    )
    assert type(_as_delivered(body)) is expected
    assert EventGridEventInConverter.check_input_type_annotation(func.CloudEvent)
    assert EventGridEventInConverter.check_input_type_annotation(func.EventGridEvent)
    assert not EventGridEventInConverter.check_input_type_annotation(func.EventGridEvent | func.CloudEvent)  # type: ignore[arg-type]
