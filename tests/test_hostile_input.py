"""Hostile input to every parser: only the project's typed errors, 4xx answers or exit 2, in bounded memory.

Random bytes, deep nesting, huge strings, wrong types, invalid UTF-8, duplicate keys and a 10 MB body
go to ``parse_json``, ``extract`` (and the classifier behind it), the verification-queue message
parser, the alert endpoint and the ``classify`` CLI's entry point. Example counts are modest
(the ``hostile`` settings profile) so the suite stays fast; raise ``HYPOTHESIS_PROFILE=hostile-deep``
for a longer local run.
"""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.clients.verify_queue import VerifyMessage
from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.core.errors import PayloadError
from shared.core.models import Extraction, Kind
from shared.detect.classify import classify_extraction
from shared.detect.normalize import extract, extract_json
from shared.detect.payload import parse_json
from tests.unit.detect.json_oracle import oracle

LIMIT = 11 * 1024 * 1024
settings.register_profile(
    "hostile", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("hostile-deep", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "hostile"))

_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
_wrong_types = st.recursive(
    _scalar, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
)


def _record(overrides: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "Directory_x_1",
        "activityDisplayName": "Delete service principal",
        "activityDateTime": "2024-05-01T10:11:12.1234567+00:00",
        "result": "success",
        "initiatedBy": {"user": {"userPrincipalName": "a@b.c"}},
        "targetResources": [
            {
                "id": "sp",
                "type": "ServicePrincipal",
                "displayName": "Cisco Webex Identity Integration",
                "modifiedProperties": [
                    {"displayName": "AppId", "oldValue": None, "newValue": f'["{INTEGRATION_APP_ID}"]'}
                ],
            }
        ],
        "additionalDetails": [{"key": "AppId", "value": INTEGRATION_APP_ID}],
    }
    base.update(overrides)
    return base


_record_keys = st.sampled_from(
    ["id", "activityDisplayName", "activityDateTime", "result", "initiatedBy", "targetResources", "additionalDetails"]
)
_hostile_bodies = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(min_value=60, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=60, max_value=5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.text(min_size=1, max_size=8).map(lambda k: json.dumps(k).encode()).map(lambda k: b"{" + k + b":1," + k + b":2}"),
    st.dictionaries(_record_keys, _wrong_types, max_size=4).map(lambda o: json.dumps(_record(o)).encode()),
    st.binary(min_size=1, max_size=50).map(lambda b: b'{"value": ["' + b + b'"]}'),
)


def _only_payload_errors(body: bytes) -> list[tuple[str, Kind]] | None:
    """Both readers — the generic path, and ``extract_json`` (the typed lane for Graph pages first) —
    read ``body`` into the same (record id, kind) pairs or both refuse it (``None``) with a one-line
    PayloadError; nothing else escapes."""
    readers: list[Callable[[], Extraction]] = [
        lambda: extract(parse_json(body, limit=LIMIT)),
        lambda: extract_json(body, limit=LIMIT),
    ]
    results: list[list[tuple[str, Kind]] | None] = []
    for read in readers:
        try:
            results.append([(r.record_id, c.kind) for r, c in classify_extraction(read(), Catalogue())])
        except PayloadError as exc:
            assert "\n" not in str(exc)
            results.append(None)
    assert results[0] == results[1], "the two readers disagree"
    return results[0]


@PROFILE
@given(_hostile_bodies)
def test_parse_extract_classify_raise_only_payload_error(body: bytes) -> None:
    got = _only_payload_errors(body)
    if not oracle(body, LIMIT)[0]:
        assert got is None, "the gate let through what strict JSON refuses"


_valid_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
)


def _envelopes(record: dict[str, Any], extra: dict[str, Any]) -> list[Any]:
    """One Webex deletion record in every shape a sender wraps it in, with unknown members added."""
    return [
        {**record, **extra},
        [record],
        {"value": [record], "@odata.context": "x", **extra},
        {"records": [{"category": "AuditLogs", "operationName": "x", "properties": record}], **extra},
        {"id": "e", "eventType": "Webex.AuditRecord", "eventTime": "2024-05-01T10:11:12Z", "data": record, **extra},
        {"specversion": "1.0", "id": "e", "source": "s", "type": "Webex.AuditRecord", "data": record, **extra},
    ]


@PROFILE
@given(st.dictionaries(st.text(max_size=8).map(lambda k: "x-" + k), _valid_json, max_size=3))
def test_a_webex_deletion_is_read_in_every_envelope(extra: dict[str, Any]) -> None:
    """The other half of the fuzz test above: valid payloads are accepted, not just hostile ones refused."""
    for envelope in _envelopes(_record({}), extra):
        got = _only_payload_errors(json.dumps(envelope).encode())
        assert got == [("Directory_x_1", Kind.INTEGRATION_DELETED)], envelope


@PROFILE
@given(st.dictionaries(_record_keys, _wrong_types, max_size=5))
def test_wrong_types_in_a_webex_record(overrides: dict[str, Any]) -> None:
    extraction = extract(_record(overrides))
    verdicts = classify_extraction(extraction, Catalogue())
    for record, verdict in verdicts:
        # A wrong type loses the record's meaning (unrelated) at worst; it never turns a deletion into
        # another kind.
        assert verdict.kind in (Kind.INTEGRATION_DELETED, Kind.UNRELATED) and record.record_id
    if not overrides:
        assert [(r.record_id, c.kind) for r, c in verdicts] == [("Directory_x_1", Kind.INTEGRATION_DELETED)]


@PROFILE
@given(st.one_of(st.binary(max_size=300), _hostile_bodies, st.text(max_size=100)))
def test_verify_message_parse(body: bytes | str) -> None:
    try:
        msg = VerifyMessage.from_json(body)
    except PayloadError as exc:
        assert str(exc).startswith("verification message")
        return
    assert VerifyMessage.from_json(msg.to_json()) == msg and 0 <= msg.attempt < 100_000


_field = st.text(min_size=1, max_size=64)


@PROFILE
@given(st.builds(VerifyMessage, tenant_id=_field, app_key=_field, incident_id=_field, attempt=st.integers(0, 99_999)))
def test_valid_verify_messages_are_accepted(msg: VerifyMessage) -> None:
    assert VerifyMessage.from_json(msg.to_json()) == msg
    assert VerifyMessage.from_json(msg.to_json().encode()) == msg


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"value": ["' + b"a" * (10 * 1024 * 1024) + b'"]}', id="10MB-string"),
        pytest.param(b"[" + b",".join([b'"' + b"x" * 1022 + b'"'] * 10240) + b"]", id="10MB-array"),
        pytest.param(b"[" * (10 * 1024 * 1024), id="10MB-open-brackets"),
        pytest.param(b'{"a": "' + b"\xff" * (10 * 1024 * 1024) + b'"}', id="10MB-invalid-utf8"),
        pytest.param(json.dumps({"value": [_record({"id": str(i)}) for i in range(9000)]}).encode(), id="9000-records"),
        pytest.param(  # a Graph page the typed lane takes, with one huge field
            json.dumps({"value": [_record({"result": "x" * (10 * 1024 * 1024)})]}).encode(), id="10MB-graph-page"
        ),
    ],
)
def test_ten_megabytes_in_bounded_memory(body: bytes) -> None:
    tracemalloc.start()
    try:
        _only_payload_errors(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 12 * len(body) + 4 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB for a {len(body) / 1e6:.0f} MB body"


def test_over_the_limit_is_413_before_decoding() -> None:
    body = b" " * (LIMIT + 1)
    tracemalloc.start()
    try:
        with pytest.raises(PayloadError) as info:
            parse_json(body, limit=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.status == 413
    assert peak < 1024 * 1024


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(_hostile_bodies)
async def test_alert_endpoint_answers_4xx_or_202(sim: Any, app_functions: dict[str, Any], body: bytes) -> None:
    from tests.helpers import http_request

    handler = app_functions["monitor_alert"].get_user_function()
    response = await handler(http_request(body))
    assert response.status_code in (202, 400, 413, 415), (response.status_code, response.get_body()[:200])


@settings(max_examples=24, deadline=None, suppress_health_check=list(HealthCheck))
@given(_hostile_bodies)
def test_classify_cli_exits_0_or_2(tmp_path_factory: pytest.TempPathFactory, body: bytes) -> None:
    """The CLI's own entry point in this process (``python -m shared.cli`` runs the same ``main``; the
    interpreter-level run is tests/test_export_lane.py's): an exception escaping it fails the test."""
    from shared.cli.main import main

    path = tmp_path_factory.mktemp("cli") / "payload.json"
    path.write_bytes(body)
    out, err = io.StringIO(), io.StringIO()
    code = main(["classify", str(path)], out, err)
    stderr = err.getvalue()
    assert code in (0, 2), stderr[-500:]
    assert "Traceback" not in stderr
    if code == 2:
        problems = [line for line in stderr.splitlines() if line.startswith("classify:")]
        assert len(problems) == 1, stderr
