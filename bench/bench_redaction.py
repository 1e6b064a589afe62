"""Redaction and log-value escaping (docs/security.md, points 8 and 9): worst inputs and the cost per
log call.

``python bench/bench_redaction.py``. Prints, for 1 MiB of each hostile shape (long token runs,
repeated ``client_secret=``, unclosed JSON members, control characters, plain words), the seconds
:func:`shared.core.redaction.redact` plus :func:`shared.core.redaction.escape_controls` take (goal: linear,
well under 1 s each); then the microseconds one ``log.info`` with three typical arguments costs
with the safe-record factory installed and without (goal: tens of µs at most; logs are per
event, not per byte), then one JSON line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.core.redaction import SafeLogRecords, escape_controls, redact

MIB = 1024 * 1024
SHAPES = {
    "token_run": "a1" * (MIB // 2),
    "repeated_form_key": "client_secret=" * (MIB // 14),
    "unclosed_json_members": '"token": "' * (MIB // 10),
    "control_characters": "\x00\r\n" * (MIB // 3),
    "words": "hello world " * (MIB // 12),
}


def per_log_call(n: int = 20_000) -> float:
    log = logging.getLogger("bench.redaction")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    log.setLevel(logging.INFO)
    started = time.perf_counter()
    for i in range(n):
        log.info("incident %s: %s (%d)", "inc-20261129T100000-abcdef", "Graph answered 404 Request_ResourceNotFound", i)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    figures: dict[str, float] = {}
    for name, text in SHAPES.items():
        started = time.perf_counter()
        escape_controls(redact(text))
        figures[f"{name}_s"] = round(time.perf_counter() - started, 3)
        print(f"{name:24s} 1 MiB  {figures[f'{name}_s']:.3f} s")
    plain = per_log_call()
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(SafeLogRecords(previous))
    try:
        safe = per_log_call()
    finally:
        logging.setLogRecordFactory(previous)
    figures["log_call_plain_us"], figures["log_call_safe_us"] = round(plain, 2), round(safe, 2)
    print(f"log.info with 3 arguments: {plain:.1f} µs plain, {safe:.1f} µs with the safe-record factory")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
