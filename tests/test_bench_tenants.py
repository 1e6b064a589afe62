"""bench/bench_tenants.py cannot rot: its quick mode (20 tenants) runs against the session's Azurite
and simulator, through the product's own path, and its JSON line keeps its shape and its verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

SHAPE = {
    "bench": str,
    "tenants": int,
    "sweep_seconds": float,
    "peak_rss_mb": float,
    "incidents": int,
    "throttled_tenant_delayed_others": bool,
    "audit_reads": int,
    "audit_budget": int,
    "right_contacts": bool,
    "resolved_before_fix": bool,
    "deleted_tenant_incident_states": list,
}


@pytest.mark.integration
def test_twenty_tenants_through_the_product_path(services_env: dict[str, str]) -> None:
    env = {**os.environ, **services_env}
    proc = subprocess.run(  # our own bench, with the session's services
        [sys.executable, str(ROOT / "bench" / "bench_tenants.py"), "--tenants", "20"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    for key, kind in SHAPE.items():
        assert isinstance(figures[key], kind), (key, figures[key])
    assert figures["bench"] == "tenants" and figures["tenants"] == 20
    assert figures["sweep_runs"] == 20 and figures["sweep_errors"] == 0  # every tenant's message ran once
    assert figures["incidents"] == 1 and figures["incident_tenants_right"] is True
    assert figures["incident_kinds"] == ["integration_deleted"]
    assert figures["throttled_tenant_delayed_others"] is False
    assert figures["other_tenants_mailed"] == 0 and figures["mails_to_several_tenants"] == 0
    assert 0 < figures["audit_reads"] <= figures["audit_budget"]
    # the next tick: every tenant but the throttled one swept again, the audit log read only where due
    assert figures["steady_sweep_runs"] == 19 and figures["steady_sweep_errors"] == 0
    assert figures["steady_audit_reads"] < figures["audit_reads"]
    assert figures["peak_in_flight"] <= 24  # host.json's batchSize + newBatchThreshold, whatever they are
