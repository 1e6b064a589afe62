"""``python -m shared.cli demo`` (the `make demo` contract in the README): one whole lifecycle on
Azurite and the simulator, a timeline, and a last line that is one JSON summary object."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


async def test_demo_runs_the_whole_lifecycle_and_ends_with_a_json_summary(sim: Any, tmp_path: Path) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", "demo", "--output", str(tmp_path)],
            cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip

    done = await asyncio.to_thread(run)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["kind"] == "integration_deleted" and summary["resolved"] is True
    assert summary["notifications"] == {"email": 2, "webex": 2}, "opened + resolved on each channel"
    assert summary["verification_attempts"] >= 2 and summary["time_to_recover_seconds"] > 0
    timeline = "\n".join(lines[:-1])
    for step in ("deletes", "intake queue processed", "verification 1", "consent", "resolved"):
        assert step in timeline, step
    opened = (tmp_path / "email-opened.html").read_text(encoding="utf-8")
    assert "adminconsent" in opened and summary["incident_id"] in opened
    mails = (await sim.state())["sent_mails"]
    assert len(mails) == 2, "the simulator received what the summary counts"
    assert summary["resolved_by"] == "check_now", "the admin's click resolved it, not the next scheduled run"
    assert "clicks “Check now”" in timeline
    assert summary["status_page"] == str(tmp_path / "status.html")
    status = (tmp_path / "status.html").read_text(encoding="utf-8")
    assert summary["incident_id"] in status and "Last 30 days (1)" in status


def test_demo_without_the_services_says_how_to_run_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SIMULATOR_URL", "AzureWebJobsStorage")}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", "--output", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "make demo" in done.stderr
