"""Classification throughput from raw JSON bytes: ``python bench/bench_classify.py [records] [runs]``.

Builds Graph ``directoryAudits`` pages (500 records each, ids ``Directory_<guid>_<code>_<n>``,
7-digit fractions, JSON-encoded ``modifiedProperties``, appId only in ``additionalDetails`` for some)
in two mixes, then times plain ``json.loads`` of the same bytes against the whole pipeline
(``extract_json`` → ``classify``: the typed lane for Graph pages, shared/normalize/graph_pages.py)
and, for comparison, against the generic path every other shape takes (``parse_json`` → ``extract``
→ ``classify``):

* ``tenant`` — what a real tenant's audit log looks like, and the mix the goal is judged on: about
  85 % user, group, device and policy changes, 15 % application/service-principal changes (mostly
  "Update service principal" on Microsoft's own apps), 1 record in 2,000 about Webex;
* ``webex-heavy`` — the worst case: every record an application/service-principal activity,
  1 record in 5 about the Webex integration (every record fully normalized).

Prints records/s for each and the ratio loads/pipeline (1.0 would mean the pipeline is as fast as
parsing alone; goal: ≥ 100k records/s and ≥ 0.5 on the tenant mix); the median of several runs, and
a final JSON line. Times are CPU seconds of this process (``time.process_time``): on a shared
machine wall time mostly measures the neighbours. Prints figures only: machines differ, so there is nothing to assert.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.classify import classify_extraction
from shared.normalize import extract, extract_json
from shared.payload import parse_json

PAGE = 500
LIMIT = 10 * 1024 * 1024
# (activity, operationType, target type): a tenant's log is mostly about users, groups and devices.
TENANT_ACTIVITIES = (
    *[("Update user", "Update", "User")] * 22,
    *[("Add member to group", "Assign", "Group")] * 14,
    *[("Update device", "Update", "Device")] * 12,
    *[("Update StsRefreshTokenValidFrom Timestamp", "Update", "User")] * 8,
    *[("Add app role assignment grant to user", "Assign", "User")] * 7,
    *[("Remove member from group", "Unassign", "Group")] * 6,
    *[("Update group", "Update", "Group")] * 5,
    *[("Add registered owner to device", "Assign", "Device")] * 4,
    *[("Reset user password", "Update", "User")] * 4,
    *[("Update policy", "Update", "Policy")] * 3,
    *[("Update service principal", "Update", "ServicePrincipal")] * 9,
    *[("Update application", "Update", "Application")] * 2,
    ("Consent to application", "Assign", "ServicePrincipal"),
    ("Add service principal", "Add", "ServicePrincipal"),
    ("Remove delegated permission grant", "Unassign", "ServicePrincipal"),
    ("Add user", "Add", "User"),
)
ACTIVITIES = (
    ("Delete service principal", "Delete"),
    ("Update service principal", "Update"),
    ("Add member to group", "Assign"),
    ("Update user", "Update"),
    ("Add service principal", "Add"),
    ("Update application", "Update"),
    ("Consent to application", "Assign"),
    ("Remove delegated permission grant", "Unassign"),
    ("Reset user password", "Update"),
    ("Add user", "Add"),
)


def record(rng: random.Random, n: int, mix: str) -> dict[str, Any]:
    corr = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if mix == "tenant":
        activity, operation, target_type = rng.choice(TENANT_ACTIVITIES)
        webex = n % 2000 == 0
        if webex:
            activity, operation, target_type = ("Delete service principal", "Delete", "ServicePrincipal")
    else:
        activity, operation = ACTIVITIES[n % len(ACTIVITIES)]
        target_type = "ServicePrincipal"
        webex = n % 5 == 0
    app_id = INTEGRATION_APP_ID if webex else str(uuid.UUID(int=rng.getrandbits(128), version=4))
    name = "Cisco Webex Identity Integration" if webex else f"App {n}"
    details = [{"key": "User-Agent", "value": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"}]
    if n % 2:
        details.append({"key": "AppId", "value": app_id})
    return {
        "id": f"Directory_{corr}_{rng.choice(['7ZH3P', 'BZ4XQ', 'Q2W8N'])}_{rng.randrange(10**8)}",
        "category": "ApplicationManagement",
        "correlationId": corr,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": f"2024-05-01T10:{n % 60:02d}:12.{rng.randrange(10**7):07d}+00:00",
        "loggedByService": "Core Directory",
        "operationType": operation,
        "initiatedBy": {
            "user": {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "displayName": None,
                "userPrincipalName": "admin@contoso.onmicrosoft.com",
                "ipAddress": "203.0.113.7",
            }
        },
        "targetResources": [
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "displayName": name,
                "type": target_type,
                "userPrincipalName": None,
                "groupType": None,
                "modifiedProperties": [
                    {"displayName": "AccountEnabled", "oldValue": "[true]", "newValue": "[false]"},
                    {"displayName": "AppPrincipalId", "oldValue": "[]", "newValue": json.dumps([app_id])},
                    {"displayName": "DisplayName", "oldValue": None, "newValue": json.dumps([name])},
                    {
                        "displayName": "Included Updated Properties",
                        "oldValue": None,
                        "newValue": '"AccountEnabled, AppPrincipalId, DisplayName"',
                    },
                ],
            }
        ],
        "additionalDetails": details,
    }


def build(total: int, mix: str = "webex-heavy") -> list[bytes]:
    rng = random.Random(20240501)
    pages = []
    for start in range(0, total, PAGE):
        value = [record(rng, n, mix) for n in range(start, min(total, start + PAGE))]
        page = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits",
            "value": value,
        }
        pages.append(json.dumps(page).encode())
    return pages


def _generic(blob: bytes) -> Any:
    return extract(parse_json(blob, limit=LIMIT))


def _lane(blob: bytes) -> Any:
    return extract_json(blob, limit=LIMIT)


def _time(blobs: list[bytes], read: Any, catalogue: Catalogue, total: int) -> tuple[float, int]:
    """CPU seconds to read and classify every record of ``blobs``, and how many were about Webex."""
    t0 = time.process_time()
    seen = webex = 0
    for blob in blobs:
        for _record, verdict in classify_extraction(read(blob), catalogue):
            seen += 1
            webex += verdict.app is not None
    elapsed = time.process_time() - t0
    if seen != total:
        print(f"warning: classified {seen} of {total} records")
    return elapsed, webex


def measure(blobs: list[bytes], total: int, runs: int) -> dict[str, float]:
    """Median seconds of ``json.loads`` alone, of the pipeline and of the generic path over ``blobs``."""
    catalogue = Catalogue()
    loads_times, pipe_times, generic_times = [], [], []
    webex = generic_webex = 0
    for read in (_lane, _generic):  # warm up: first-use imports are cold start, not throughput
        classify_extraction(read(blobs[0]), catalogue)
    for _ in range(runs):
        t0 = time.process_time()
        for blob in blobs:
            json.loads(blob)
        loads_times.append(time.process_time() - t0)
        elapsed, webex = _time(blobs, _lane, catalogue, total)
        pipe_times.append(elapsed)
        elapsed, generic_webex = _time(blobs, _generic, catalogue, total)
        generic_times.append(elapsed)
    if webex != generic_webex:
        print(f"warning: the lane found {webex} Webex records, the generic path {generic_webex}")
    loads_s, pipe_s = statistics.median(loads_times), statistics.median(pipe_times)
    generic_s = statistics.median(generic_times)
    return {
        "loads_records_per_s": round(total / loads_s),
        "records_per_s": round(total / pipe_s),
        "ratio": round(loads_s / pipe_s, 3),
        "generic_records_per_s": round(total / generic_s),
        "generic_ratio": round(loads_s / generic_s, 3),
        "webex_records": webex,
    }


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    figures: dict[str, Any] = {"bench": "classify", "records": total, "runs": runs}
    for mix in ("tenant", "webex-heavy"):
        blobs = build(total, mix)
        size = sum(len(b) for b in blobs)
        print(f"[{mix}] {total} records in {len(blobs)} pages, {size / 1e6:.1f} MB")
        got = measure(blobs, total, runs)
        del blobs
        print(f"  json.loads only        : {got['loads_records_per_s']:>10,} records/s")
        print(f"  extract_json+classify  : {got['records_per_s']:>10,} records/s  ({got['webex_records']} about Webex)")
        print(f"  ratio loads/pipeline   : {got['ratio']:.2f}  (median of {runs} runs)")
        generic = f"{got['generic_records_per_s']:>10,} records/s, ratio {got['generic_ratio']:.2f}"
        print(f"  generic path           : {generic}  (every other shape)")
        figures[mix] = got
    tenant = figures["tenant"]
    print(f"goal (tenant mix): >= 100,000 records/s: {tenant['records_per_s']:,}; ratio >= 0.5: {tenant['ratio']:.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
