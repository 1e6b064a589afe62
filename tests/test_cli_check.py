"""``python -m shared.cli check``: one table row per check (check, verdict, evidence, ms), ``--json``
for machines, exit 0 healthy / 1 unhealthy / 2 configuration error — in process and as a real
subprocess against the simulator and Azurite."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
CHECKS = {
    "config.channels",
    "graph.service_principal.integration",
    "graph.service_principal.identity",
    "graph.consent_grant.integration",
    "webex.sync_status",
    "webex.scim",
}


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def _subprocess(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "check", *args],
        cwd=ROOT, env=env if env is not None else dict(os.environ), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def _table_rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    header = lines[0].split()
    assert header == ["check", "verdict", "evidence", "ms"]
    assert set(lines[1]) <= {"-", " "}
    rows = {}
    for line in lines[2:]:
        if not line.strip() or line.startswith("overall:"):
            continue
        cells = line.split()
        rows[cells[0]] = cells
    return rows


async def test_table_healthy_exit_0(sim: Any) -> None:
    code, out, err = await _in_thread(_cli)
    assert code == 0, err
    rows = _table_rows(out)
    assert set(rows) == CHECKS
    for cells in rows.values():
        assert cells[1] == "healthy"
        float(cells[-1])  # the last column is how long the check took, in ms
    assert "org answers (3 users)" in out
    assert out.rstrip().endswith("overall: HEALTHY")


async def test_json_unhealthy_exit_1_and_no_notice_sent(sim: Any) -> None:
    await sim.delete("integration")
    code, out, _ = await _in_thread(_cli, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["healthy"] is False
    verdicts = {c["check"]: c["verdict"] for c in doc["checks"]}
    assert verdicts["graph.service_principal.integration"] == "missing"
    assert verdicts["graph.consent_grant.integration"] == "missing"
    assert verdicts["webex.sync_status"] == "consent_missing"
    assert all(set(c) == {"check", "verdict", "evidence", "ms"} for c in doc["checks"])
    assert all(isinstance(c["ms"], float | int) and c["ms"] >= 0 for c in doc["checks"])
    state = await sim.state()
    assert state["webex_messages"] == [] and state["sent_mails"] == [], "a person's check notifies nobody"


async def test_configuration_error_exit_2(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENANT_ID")
    monkeypatch.setenv("VERIFY_DELAYS", "soon")
    code, out, err = await _in_thread(_cli)
    assert code == 2 and out == ""
    assert "TENANT_ID: missing" in err and "VERIFY_DELAYS" in err
    assert await sim.requests() == [], "nothing is called with a broken configuration"


async def test_subprocess_exit_codes_against_the_simulator(sim: Any) -> None:
    healthy = await _in_thread(_subprocess)
    assert healthy.returncode == 0, healthy.stderr
    assert set(_table_rows(healthy.stdout)) == CHECKS

    await sim.revoke()
    broken = await _in_thread(_subprocess, "--json")
    assert broken.returncode == 1, broken.stderr
    verdicts = {c["check"]: c["verdict"] for c in json.loads(broken.stdout)["checks"]}
    assert verdicts["graph.consent_grant.integration"] == "consent_missing"
    assert verdicts["webex.sync_status"] == "consent_missing"
    calls = await sim.requests(path="/WebexApplications/status$")
    assert len(calls) == 2 and all(c["token_valid"] for c in calls), "the subprocess really called the simulator"

    env = {k: v for k, v in os.environ.items() if k != "WEBEX_ORG_ID"}
    misconfigured = await _in_thread(_subprocess, env=env)
    assert misconfigured.returncode == 2
    assert "WEBEX_ORG_ID: missing" in misconfigured.stderr


async def test_webhook_url_without_secret_is_a_misconfigured_row_not_a_config_error(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", "https://hooks.example/itsm")
    monkeypatch.delenv("NOTIFY_WEBHOOK_SECRET", raising=False)
    code, out, err = await _in_thread(_cli, "--json")
    assert code == 1, err  # unhealthy like any failed check; the other checks still ran
    doc = json.loads(out)
    rows = {c["check"]: c for c in doc["checks"]}
    assert set(rows) == CHECKS
    assert rows["config.channels"]["verdict"] == "misconfigured"
    assert "NOTIFY_WEBHOOK_URL is set but NOTIFY_WEBHOOK_SECRET is not" in rows["config.channels"]["evidence"]
    assert rows["graph.service_principal.integration"]["verdict"] == "healthy"


async def test_unresolved_key_vault_reference_is_a_misconfigured_row(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/teams-webhook-url)"
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", reference)
    code, out, err = await _in_thread(_cli)
    assert code == 1, err
    rows = _table_rows(out)
    assert rows["config.channels"][1] == "misconfigured"
    assert "TEAMS_WEBHOOK_URL: its Key Vault reference did not resolve" in out
    assert "kv-x" not in out + err, "the setting is named, its value never shown"


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The CLI runs its own event loop (asyncio.run) or blocks on a child: keep the test loop free."""
    import asyncio
    import functools

    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))
