"""What one tenant costs at rest: log volume per health-timer tick, and the worker's peak memory.

``python -m devtools.services -- python bench/bench_tick_cost.py [ticks]`` (``make bench`` runs it).
Runs the registered ``health_check`` function ``ticks`` times (default 20) against the simulator and
Azurite, healthy tenant, with the root logger at INFO as the Functions worker sets it, and counts
every log record at INFO or above the way Application Insights would store one ``traces`` row per
record: lines and message bytes per tick, by logger. Then runs one whole incident lifecycle
(``devtools.demo``) in the same process and prints the peak RSS (``ru_maxrss``), the figure the Flex
Consumption instance memory size is chosen by (docs/deploy.md, "What it costs"). Ends with one JSON
line.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import re
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


STORAGE_PORTS: dict[str, str] = {}
"""Azurite port -> "blob"/"queue"/"table" (from the connection string), to name each request."""


def _storage_ports() -> None:
    conn = os.environ.get("AzureWebJobsStorage", "")
    for part in conn.split(";"):
        key, _, value = part.partition("=")
        if key.endswith("Endpoint") and ":" in value:
            STORAGE_PORTS[value.rstrip("/").rsplit(":", 1)[-1].split("/")[0]] = key.removesuffix("Endpoint").lower()


REQUEST_LOGGER = "azure.core.pipeline.policies.http_logging_policy"
"""The SDKs are quiet by default (shared/core/sdklogs.py). The bench runs with ``SDK_LOG_LEVEL=INFO`` to
count azure-core's request lines, and counts as *log lines* only what the default level lets through
(the app's own records, and SDK records at WARNING and above)."""


def _is_sdk(name: str) -> bool:
    from shared.core.sdklogs import SDK_LOGGERS

    return any(name == top or name.startswith(top + ".") for top in SDK_LOGGERS)


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.Counter[str] = collections.Counter()
        self.bytes: collections.Counter[str] = collections.Counter()
        self.requests: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == REQUEST_LOGGER:
            self.count_request(record.getMessage())
        if record.levelno < logging.WARNING and _is_sdk(record.name):
            return  # not logged at the default SDK_LOG_LEVEL
        self.lines[record.name] += 1
        self.bytes[record.name] += len(record.getMessage().encode("utf-8"))

    def count_request(self, message: str) -> None:
        # azure-core logs each request's method and URL: storage transactions the app makes per tick.
        # (shared.core.logsafety writes the line break of a logged value as a visible "\n": one record, one line)
        m = re.match(r"Request URL: '\w+://([^/]+)/.*?'(?:\n|\\n)Request method: '(\w+)'", message)
        if m:
            service = STORAGE_PORTS.get(m.group(1).rsplit(":", 1)[-1], "other (Log Analytics, Key Vault, token)")
            self.requests[f"{m.group(2)} {service}"] += 1


async def ticks(n: int, counter: Counter) -> None:
    from azure.functions.timer import TimerRequest

    import function_app

    health = {f.get_function_name(): f for f in function_app.app.get_functions()}["health_check"]
    fn = health.get_user_function()
    await fn(TimerRequest(past_due=False))  # first tick: cold imports, table creation (not counted)
    counter.lines.clear()
    counter.bytes.clear()
    for _ in range(n):
        await fn(TimerRequest(past_due=False))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    os.environ.setdefault("INCIDENTS_TABLE", "benchcost")
    os.environ.setdefault("MAIL_SENDER", "webex-alerts@contoso.example")
    os.environ.setdefault("MAIL_TO", "it-admins@contoso.example")
    _storage_ports()
    counter = Counter()
    root = logging.getLogger()
    root.setLevel(logging.INFO)  # what the Python worker does
    root.addHandler(counter)
    os.environ["SDK_LOG_LEVEL"] = "INFO"  # request lines counted; lines counted as at the default
    asyncio.run(ticks(n, counter))
    lines = sum(counter.lines.values())
    size = sum(counter.bytes.values())
    print(f"{n} ticks: {lines / n:.1f} log lines/tick, {size / n:.0f} message bytes/tick")
    for name, count in counter.lines.most_common():
        print(f"  {name}: {count / n:.1f} lines/tick, {counter.bytes[name] / n:.0f} bytes/tick")
    print("requests the app makes per tick (azure-core clients; httpx calls to Graph/Webex not included):")
    for name, count in counter.requests.most_common():
        print(f"  {name}: {count / n:.1f}")

    from devtools.demo import run_demo

    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    root.removeHandler(counter)
    with tempfile.TemporaryDirectory() as out, open(os.devnull, "w") as sink:
        code = run_demo(out=sink, err=sys.stderr, output_dir=out)
    assert code == 0, f"demo exit code {code}"
    print(f"peak RSS after the ticks: {before_mb:.0f} MB")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS after {n + 1} ticks and one demo lifecycle: {peak_mb:.0f} MB")
    print(json.dumps({"ticks": n, "lines_per_tick": lines / n, "bytes_per_tick": size / n, "peak_rss_mb": peak_mb,
                      "by_logger": dict(counter.lines),
                      "requests_per_tick": {k: v / n for k, v in counter.requests.items()}}))  # fmt: skip


if __name__ == "__main__":
    main()
