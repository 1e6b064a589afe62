"""Classification throughput from raw JSON bytes: ``python bench/bench_classify.py [records] [runs]``.

Builds realistic Graph ``directoryAudits`` pages (500 records each, ids ``Directory_<guid>_<code>_<n>``,
7-digit fractions, JSON-encoded ``modifiedProperties``, appId only in ``additionalDetails`` for some,
about 1 record in 5 about the Webex integration), then times plain ``json.loads`` of the same bytes
against the whole pipeline (``parse_json`` → ``extract`` → ``classify``). Prints records/s for both
and the ratio loads/pipeline (1.0 would mean the pipeline is as fast as parsing alone); the median
of several runs. Prints figures only: machines differ, so there is nothing to assert.
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
from shared.normalize import extract
from shared.payload import parse_json

PAGE = 500
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


def record(rng: random.Random, n: int) -> dict[str, Any]:
    corr = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    activity, operation = ACTIVITIES[n % len(ACTIVITIES)]
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
                "type": "ServicePrincipal",
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


def build(total: int) -> list[bytes]:
    rng = random.Random(20240501)
    pages = []
    for start in range(0, total, PAGE):
        value = [record(rng, n) for n in range(start, min(total, start + PAGE))]
        page = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits",
            "value": value,
        }
        pages.append(json.dumps(page).encode())
    return pages


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    blobs = build(total)
    catalogue = Catalogue()
    size = sum(len(b) for b in blobs)
    print(f"{total} records in {len(blobs)} pages, {size / 1e6:.1f} MB")
    loads_times, pipe_times = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        for blob in blobs:
            json.loads(blob)
        loads_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        seen = 0
        for blob in blobs:
            seen += len(classify_extraction(extract(parse_json(blob, limit=10 * 1024 * 1024)), catalogue))
        pipe_times.append(time.perf_counter() - t0)
        if seen != total:
            print(f"warning: classified {seen} of {total} records")
    loads_s, pipe_s = statistics.median(loads_times), statistics.median(pipe_times)
    print(f"json.loads only          : {total / loads_s:>10,.0f} records/s  ({loads_s:.3f} s)")
    print(f"parse+extract+classify   : {total / pipe_s:>10,.0f} records/s  ({pipe_s:.3f} s)")
    print(f"ratio loads/pipeline     : {loads_s / pipe_s:.2f}  (median of {runs} runs)")


if __name__ == "__main__":
    main()
