"""run_classify: one JSON line per record, exit codes, the one-line error, and consent URLs that
come only from the catalogue and the configured tenant."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.cli.classify import run_classify
from shared.core.catalogue import INTEGRATION_APP_ID

FIXTURES = Path(__file__).parent / "fixtures" / "payloads"
TENANT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
CONFIGURED = "0c0ffee0-1234-4abc-8def-0123456789ab"
LOGIN = "https://login.microsoftonline.com"


def run(
    path: str, tenant: str | None = CONFIGURED, identity: str | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_classify(path, tenant_id=tenant, login_base=LOGIN, identity_app_id=identity, out=out, err=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_lines_for_a_graph_page() -> None:
    code, lines, err = run(str(FIXTURES / "graph_page_deletions.json"))
    assert code == 0 and err == ""
    soft, hard, other = lines
    assert soft["record_id"] == "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000001_7ZH3P_16428397"
    assert soft["kind"] == "integration_deleted" and soft["action"] == "notify_consent"
    assert soft["app"] == "integration" and soft["app_id"] == INTEGRATION_APP_ID
    assert soft["consent_url"] == f"{LOGIN}/{CONFIGURED}/adminconsent?client_id={INTEGRATION_APP_ID}"
    assert soft["event_time"] == "2024-05-01T10:11:12.123456Z"
    assert soft["initiator"] == "admin@contoso.onmicrosoft.com"
    assert soft["source"] == "graph" and soft["target_id"] == "c2a5f6e1-8b7d-4c3e-9a1f-2d4b6e8f0a1c"
    assert soft["tenant_id"] == CONFIGURED  # Graph records carry no tenant: the configured one
    assert hard["kind"] == "integration_hard_deleted"
    assert other["kind"] == "unrelated" and "consent_url" not in other and other["app"] is None


def test_tenant_from_record_and_common_fallback() -> None:
    _, lines, _ = run(str(FIXTURES / "loganalytics_auditlogs_rows.json"), tenant=None)
    assert lines[0]["tenant_id"] == TENANT  # from AADTenantId
    assert lines[0]["consent_url"] == f"{LOGIN}/common/adminconsent?client_id={INTEGRATION_APP_ID}"


def test_forged_record_cannot_steer_the_consent_url() -> None:
    code, lines, _ = run(str(FIXTURES / "graph_list_forged.json"))
    assert code == 0
    forged, lookalike = lines
    assert forged["tenant_id"] == "evil.example"  # reported as seen...
    assert forged["consent_url"] == f"{LOGIN}/{CONFIGURED}/adminconsent?client_id={INTEGRATION_APP_ID}"  # ...never used
    assert "evil" not in forged["consent_url"] and "11111111" not in forged["consent_url"]
    assert lookalike["kind"] == "unrelated" and "consent_url" not in lookalike


def test_identity_app_has_no_consent_url() -> None:
    _, lines, _ = run(
        str(FIXTURES / "graph_record_identity_deleted.json"), identity="5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"
    )
    assert lines[0]["kind"] == "identity_app_deleted" and lines[0]["action"] == "notify_reprovision"
    assert lines[0]["app"] == "identity" and "consent_url" not in lines[0]


def test_alert_window_line() -> None:
    code, lines, _ = run(str(FIXTURES / "alert_log_v2_no_rows.json"))
    assert code == 0
    (line,) = lines
    assert line["needs_query"] is True and line["condition"] == "Fired"
    assert line["window_start"] == "2024-05-01T10:10:00.000000Z"
    assert line["note"] == "log search alerts carry no rows: the audit rows must be fetched from the workspace"
    assert line["alert_id"].endswith("000000000001")


def test_notes_go_to_stderr_and_exit_zero() -> None:
    code, lines, err = run(str(FIXTURES / "eventgrid_validation.json"))
    assert code == 0 and lines == []
    assert "validation" in err


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_classifies(name: str) -> None:
    code, _, _ = run(str(FIXTURES / name))
    assert code == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"value": [', "truncated JSON"),
        (b"\xff\xfe", "invalid UTF-8"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b"[" * 100_000, "invalid JSON"),
        (b'{"error": {"code": "Forbidden"}}', "unsupported payload"),
        (b"42", "unsupported payload"),
    ],
)
def test_unreadable_payload_is_exit_2_with_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, lines, err = run(str(path))
    assert code == 2 and lines == []
    assert err.count("\n") == 1 and err.startswith(f"classify: {path}: ") and problem in err


def test_missing_file(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nope.json"))
    assert code == 2 and err == f"classify: {tmp_path / 'nope.json'}: No such file or directory\n"


def test_blank_file_of_any_size_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (10 * 1024 * 1024 + 10))
    code, _, err = run(str(path))
    assert code == 2 and "empty" in err and err.count("\n") == 1


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (FIXTURES / "graph_record_other_app.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, lines, _ = run("-")
    assert code == 0 and lines[0]["kind"] == "unrelated"


def test_bad_configured_tenant_is_exit_2() -> None:
    code, _, err = run(str(FIXTURES / "graph_page_deletions.json"), tenant="https://evil.example/")
    assert code == 2 and err.count("\n") == 1 and "configuration" in err
