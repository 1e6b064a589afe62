"""The binding metadata the app declares: a broken decorator fails here, not in Azure."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def functions(app_functions: dict[str, Any]) -> dict[str, Any]:
    return app_functions


def _trigger(fn: Any) -> dict[str, Any]:
    bindings = [b.get_dict_repr() for b in fn.get_bindings()]
    return next(b for b in bindings if b["type"].endswith("Trigger"))


def test_five_functions_registered(functions: dict[str, Any]) -> None:
    assert set(functions) == {
        "eventgrid_audit",
        "monitor_alert",
        "intake_process",
        "health_check",
        "verify_incident",
        "verify_poison",
        "notice_action",
        "status_page",
        "tenant_sweep",
        "tenant_sweep_poison",
    }


def test_action_link_route_is_anonymous_get_and_post(functions: dict[str, Any]) -> None:
    t = _trigger(functions["notice_action"])
    assert t["type"] == "httpTrigger"
    assert t["route"] == "actions/{token}"
    assert sorted(str(getattr(m, "value", m)).upper() for m in t["methods"]) == ["GET", "POST"]
    assert str(t["authLevel"]).lower().endswith("anonymous"), "a link in a mail carries no function key"


def test_status_route_is_anonymous_get_behind_app_service_auth(functions: dict[str, Any]) -> None:
    t = _trigger(functions["status_page"])
    assert t["type"] == "httpTrigger"
    assert t["route"] == "status"
    assert [str(getattr(m, "value", m)).upper() for m in t["methods"]] == ["GET"]
    assert str(t["authLevel"]).lower().endswith("anonymous"), "App Service Authentication guards it"


def test_eventgrid_trigger(functions: dict[str, Any]) -> None:
    assert _trigger(functions["eventgrid_audit"])["type"] == "eventGridTrigger"


def test_alert_route_post_function_key(functions: dict[str, Any]) -> None:
    t = _trigger(functions["monitor_alert"])
    assert t["type"] == "httpTrigger"
    assert t["route"] == "alerts"
    assert [str(getattr(m, "value", m)).upper() for m in t["methods"]] == ["POST"]
    assert str(t["authLevel"]).lower().endswith("function")


def test_timer_schedule_from_app_setting(functions: dict[str, Any]) -> None:
    t = _trigger(functions["health_check"])
    assert t["type"] == "timerTrigger"
    assert t["schedule"] == "%HEALTH_SCHEDULE%"
    assert t["runOnStartup"] is False


def test_queue_trigger(functions: dict[str, Any]) -> None:
    t = _trigger(functions["verify_incident"])
    assert t["type"] == "queueTrigger"
    assert t["queueName"] == "webex-verify"
    assert t["connection"] == "AzureWebJobsStorage"


def test_intake_queue_trigger(functions: dict[str, Any]) -> None:
    from shared.core.settings import INTAKE_QUEUE, VERIFY_QUEUE

    t = _trigger(functions["intake_process"])
    assert t["type"] == "queueTrigger"
    assert t["queueName"] == INTAKE_QUEUE == "webex-intake"
    assert INTAKE_QUEUE != VERIFY_QUEUE
    assert t["connection"] == "AzureWebJobsStorage"


def test_push_triggers_have_no_output_bindings(functions: dict[str, Any]) -> None:
    """The push triggers write to the intake queue through the SDK (one client, base64, a clear
    error to raise on); an output binding would write only after the function returned."""
    for name in ("eventgrid_audit", "monitor_alert"):
        kinds = [b.get_dict_repr()["type"] for b in functions[name].get_bindings()]
        assert not [k for k in kinds if k == "queue"], name


def test_poison_queue_trigger(functions: dict[str, Any]) -> None:
    t = _trigger(functions["verify_poison"])
    assert t["type"] == "queueTrigger"
    assert t["queueName"] == "webex-verify-poison", "the host's <queue>-poison naming rule"
    assert t["connection"] == "AzureWebJobsStorage"


def test_tenant_sweep_queue_trigger(functions: dict[str, Any]) -> None:
    from shared.core.names import SWEEP_QUEUE

    t = _trigger(functions["tenant_sweep"])
    assert t["type"] == "queueTrigger"
    assert t["queueName"] == SWEEP_QUEUE == "webex-tenant-sweep"
    assert t["connection"] == "AzureWebJobsStorage"


def test_tenant_sweep_poison_queue_trigger(functions: dict[str, Any]) -> None:
    from shared.core.names import SWEEP_POISON_QUEUE

    t = _trigger(functions["tenant_sweep_poison"])
    assert t["type"] == "queueTrigger"
    assert t["queueName"] == SWEEP_POISON_QUEUE == "webex-tenant-sweep-poison", "the host's <queue>-poison rule"
    assert t["connection"] == "AzureWebJobsStorage"


def test_host_json_queue_settings() -> None:
    import json
    from pathlib import Path

    host = json.loads((Path(__file__).resolve().parent.parent / "host.json").read_text())
    queues = host["extensions"]["queues"]
    assert queues["messageEncoding"] == "base64"
    from shared.core.names import MAX_DEQUEUE_COUNT

    assert queues["maxDequeueCount"] == MAX_DEQUEUE_COUNT == 5, "the poison notice says MAX_DEQUEUE_COUNT"
    assert host["functionTimeout"]
