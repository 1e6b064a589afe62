"""Classification throughput from raw JSON bytes: ``python bench/bench_classify.py [records] [runs]``.

Builds Graph ``directoryAudits`` pages (500 records each, ids ``Directory_<guid>_<code>_<n>``,
7-digit fractions, JSON-encoded ``modifiedProperties``, appId only in ``additionalDetails`` for some)
in two mixes, then times plain ``json.loads`` of the same bytes against each way records are read
from raw JSON, each followed by ``classify``:

* the audit poll's reader (``extract_page(..., repeated_keys="last")``): Graph's own pages through
  the typed lane (shared/detect/normalize/graph_pages.py), a repeated key keeping its last value as in
  Graph's SDKs — this is where Graph pages arrive in production;
* the reader of pushed bytes (``extract_json``: HTTP bodies, queue messages, ``classify FILE``):
  the same lane, plus the check that refuses a repeated key anywhere;
* the generic path every other shape takes (``parse_json`` → ``extract``), for comparison.

The mixes:

* ``tenant`` — what a real tenant's audit log looks like, and the mix the goal is judged on: about
  85 % user, group, device and policy changes, 15 % application/service-principal changes (mostly
  "Update service principal" on Microsoft's own apps), 1 record in 2,000 about Webex;
* ``webex-heavy`` — the worst case: every record an application/service-principal activity,
  1 record in 5 about the Webex integration (every record fully normalized).

Prints records/s for each and the ratio loads/reader (1.0 would mean reading and classifying is as
fast as parsing alone; goal: ≥ 100k records/s and ≥ 0.5 on the tenant mix); medians of several runs, and
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

from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.detect.classify import classify_extraction
from shared.detect.normalize import extract, extract_json, extract_page
from shared.detect.payload import parse_json

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


def _poll(blob: bytes) -> Any:
    return extract_page(blob, limit=LIMIT, repeated_keys="last")[0]


def _pushed(blob: bytes) -> Any:
    return extract_json(blob, limit=LIMIT)


def _generic(blob: bytes) -> Any:
    return extract(parse_json(blob, limit=LIMIT))


READERS = {
    "poll": ("audit poll (extract_page)", _poll, "a page Graph sent: a repeated key keeps its last value"),
    "pushed": ("pushed bytes (extract_json)", _pushed, "HTTP, queue, files: a repeated key is refused"),
    "generic": ("generic path", _generic, "every shape but a Graph page"),
}


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


def measure(blobs: list[bytes], total: int, runs: int) -> dict[str, Any]:
    """Median seconds of ``json.loads`` alone and of each reader + ``classify`` over ``blobs``."""
    catalogue = Catalogue()
    loads_times: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in READERS}
    webex: dict[str, int] = {}
    for _label, read, _what in READERS.values():  # warm up: first-use imports are cold start
        classify_extraction(read(blobs[0]), catalogue)
    for _ in range(runs):
        t0 = time.process_time()
        for blob in blobs:
            json.loads(blob)
        loads_times.append(time.process_time() - t0)
        for name, (_label, read, _what) in READERS.items():
            elapsed, webex[name] = _time(blobs, read, catalogue, total)
            times[name].append(elapsed)
    if len(set(webex.values())) != 1:
        print(f"warning: the readers found different numbers of Webex records: {webex}")
    loads_s = statistics.median(loads_times)
    got: dict[str, Any] = {"loads_records_per_s": round(total / loads_s), "webex_records": webex["generic"]}
    for name, spent in times.items():
        median = statistics.median(spent)
        got[name] = {"records_per_s": round(total / median), "ratio": round(loads_s / median, 3)}
    return got


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    figures: dict[str, Any] = {"bench": "classify", "records": total, "runs": runs}
    for mix in ("tenant", "webex-heavy"):
        blobs = build(total, mix)
        size = sum(len(b) for b in blobs)
        print(f"[{mix}] {total} records in {len(blobs)} pages, {size / 1e6:.1f} MB, {runs} runs (medians)")
        got = measure(blobs, total, runs)
        del blobs
        print(f"  {'json.loads only':<28}: {got['loads_records_per_s']:>8,} records/s")
        for name, (label, _read, what) in READERS.items():
            fig = got[name]
            print(f"  {label:<28}: {fig['records_per_s']:>8,} records/s, ratio {fig['ratio']:.2f}  ({what})")
        print(f"  {got['webex_records']} records about Webex")
        figures[mix] = got
    for name in ("poll", "pushed"):
        fig = figures["tenant"][name]
        label = READERS[name][0]
        goal = f">= 100,000 records/s: {fig['records_per_s']:,}; ratio >= 0.5: {fig['ratio']:.2f}"
        print(f"goal (tenant mix, {label}): {goal}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
