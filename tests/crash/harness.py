"""The platform, played for a worker that is killed at its k-th durable step (issue 19).

The harness plays the Functions host and the platform around one worker process
(:mod:`tests.crash.worker`): it takes queue messages off the real Azurite queues with a visibility
timeout and hands them over with their dequeue count, moves a message to ``<queue>-poison`` after
``maxDequeueCount`` failed attempts, redelivers an Event Grid event until an invocation succeeds,
retries an alert the action group got no 2xx for, and fires the timer every minute.

Crash points do not depend on the code's layout: the k-th *durable call* the worker makes, counted
by the storage proxy in front of Azurite (table inserts, updates, deletes; queue sends, updates,
deletes) or by the simulator (a notice on a channel, a restore), is held — **before** it reaches the
service, or **after** the service applied it and before the answer leaves — and the worker is sent
``SIGKILL`` meanwhile; then a fresh worker is started. ``ack`` points kill the instance after an
invocation returned and before the host acknowledged it (the queue message is not deleted, the
event or alert gets no answer).

Time is virtual: each round moves it one minute (the timer's period), on the worker's clock (sent
with every invocation) and on the simulator's — or, when nothing can happen before, straight to the
first message due or lease expiry (:meth:`Platform.next_round`). Azurite keeps visibility timeouts in
real time, so the harness makes a delayed or abandoned message visible when *virtual* time reaches
its due time, through the SDK (``update_message(visibility_timeout=0)``, with the pop receipt the
send's or the receive's answer carried): nothing waits for real.

Every run owes its notices on four channels, all received by the simulator: e-mail, Webex, Teams
and the signed webhook (:func:`channel_settings`). :class:`Lanes` runs several runs at once, each
lane on its own Azurite and simulator, all forking workers from one zygote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.core.names import INTAKE_QUEUE, MAX_DEQUEUE_COUNT, VERIFY_QUEUE
from simulator.faults import Fault
from simulator.storage_proxy import StorageFaultProxy
from tests.notice_helpers import CHANNEL_PATHS, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]
PATHS = ("eventgrid", "alert", "timer")
QUEUES = (INTAKE_QUEUE, VERIFY_QUEUE)


def _host_visibility() -> float:
    """host.json ``extensions.queues.visibilityTimeout`` (``hh:mm:ss``), in seconds."""
    text = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]["visibilityTimeout"]
    hours, minutes, seconds = (float(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


HOST_VISIBILITY = _host_visibility()
"""A failed (or killed) invocation's message is visible again after this, as the queue extension does."""
TICK = 60.0
"""One round of the platform: the timer's period (``HEALTH_SCHEDULE`` every minute), in virtual seconds."""
MAX_ROUNDS = 40
INVOCATION_TIMEOUT = 60.0

STORAGE_WRITES = "POST|PUT|PATCH|MERGE|DELETE"
STORAGE_DURABLE = r"^/[^/]+/(?:[^/(]+\(.*\)|[^/()]+/messages(?:/.*)?|(?!Tables$)[A-Za-z0-9]+)$"
"""A row written (insert, update, delete) or a queue message sent, updated or deleted; not a table or
queue being created (setup every fresh worker repeats)."""
CHANNELS = dict(CHANNEL_PATHS)
"""Every notice channel, pointed at the simulator: e-mail (Graph sendMail), Webex, Teams (a Workflows
webhook) and the signed generic webhook."""
RESTORE = r"/directory/deletedItems/[^/]+/restore$"
HTTP_TARGETS = {**CHANNELS, "restore": RESTORE}
"""Each outside effect an HTTP crash point can aim at: a channel's notice, or the restore."""
HTTP_DURABLE = "|".join(f"(?:{p})" for p in HTTP_TARGETS.values())
"""Calls that change something outside: a notice on a channel, a restore from the recycle bin."""

SETTINGS = {
    "AUTO_RESTORE": "true",
    "VERIFY_DELAYS": "60,120,300",
    "MAIL_SENDER": "webex-alerts@contoso.example",
    "MAIL_TO": "it-admins@contoso.example",
    "SDK_LOG_LEVEL": "ERROR",
}


@dataclass(frozen=True, slots=True)
class CrashPoint:
    """Kill the worker at its ``k``-th durable call of kind ``where`` (``storage``, ``http``), held
    ``when`` (``before`` the service acts, ``after``); or (``ack``) after its ``k``-th invocation
    returned, before the host acknowledged it. An ``http`` point may aim at one ``target`` of
    :data:`HTTP_TARGETS` (a channel, the restore): then ``k`` counts that target's calls only."""

    where: str
    k: int
    when: str = "after"
    again: bool = False
    """Second crash of a plan: the fresh worker dies when it makes the call that killed the last one."""
    target: str = ""

    @property
    def label(self) -> str:
        if self.again:
            return f"the same call {self.when}"
        if self.where == "ack":
            return f"ack {self.k}"
        return f"{self.target or self.where} {self.k} {self.when}"


@dataclass(slots=True)
class Kill:
    point: CrashPoint
    call: str
    in_window: list[tuple[str, str]]
    """(channel, notice) a channel accepted that no durable write followed before the kill."""


@dataclass(slots=True)
class RunResult:
    path: str
    plan: tuple[CrashPoint, ...]
    kills: list[Kill] = field(default_factory=list)
    incidents: list[tuple[str, ...]] = field(default_factory=list)
    incident_ids: set[str] = field(default_factory=set)
    notices: dict[tuple[str, str], int] = field(default_factory=dict)
    held_claims: list[str] = field(default_factory=list)
    poison: dict[str, int] = field(default_factory=dict)
    storage_calls: int = 0
    http_calls: int = 0
    http_targets: dict[str, int] = field(default_factory=dict)
    """Durable HTTP calls per target of :data:`HTTP_TARGETS` (the crash-free run's give the points)."""
    http_sequence: list[tuple[str, int]] = field(default_factory=list)
    """Each durable HTTP call in order: its target, and how many durable storage writes were
    answered before it (the crash-free run's place the steps next to an outside effect)."""
    webhook: list[WebhookPost] = field(default_factory=list)
    invocations: int = 0
    rounds: int = 0
    left_in_queues: int = 0

    @property
    def in_window(self) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for kill in self.kills:
            for key in kill.in_window:
                out[key] = out.get(key, 0) + 1
        return out


@dataclass(frozen=True, slots=True)
class WebhookPost:
    """One signed-webhook notice the receiver accepted: which notice, its delivery id, and whether its
    signature checks out (HMAC of its own timestamp, delivery id and body, with the rig's secret)."""

    notice: str
    delivery: str
    signed: bool


NOTICE_TAGS = {"[Action required]": "opened", "[Restored]": "restored", "[Resolved]": "resolved",
               "[Reminder]": "reminder", "[Escalated]": "escalated"}  # fmt: skip
WEBEX_LEADS = (
    ("Resolved", "resolved"),
    ("Restored automatically", "restored"),
    ("Webex directory sync is broken", "opened"),
    ("Reminder", "reminder"),
    ("Escalation", "escalated"),
)


def notice_of(channel: str, request: dict[str, Any]) -> str:
    """Which notice a delivered request was (``opened``, ``restored``, ``resolved`` …): the e-mail
    subject's tag, the webhook document's ``notice``, the lead of the Webex message or of the Teams
    card's first text block; anything else by its first words."""
    from tests.notice_helpers import notice_text

    body = request.get("json")
    if channel == "webhook":
        return str(body.get("notice")) if isinstance(body, dict) else "?"
    if channel == "teams":
        try:
            text = str(body["attachments"][0]["content"]["body"][0]["text"])  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            text = "?"
    else:
        text = notice_text(channel, request)
    if channel == "email":
        subject = re.search(r"^Subject: (\[[^\]]+\])", text, re.MULTILINE)
        tag = subject.group(1) if subject else "?"
        return NOTICE_TAGS.get(tag, tag)
    first = text.strip().splitlines()[0] if text.strip() else ""
    lead = re.match(r"\*\*([^*:]+)", first) or re.match(r"(.*)", first)
    words = lead.group(1).strip() if lead else ""
    return next((kind for prefix, kind in WEBEX_LEADS if words.startswith(prefix)), words[:40])


class Zygote:
    """The process that forks fresh workers (:mod:`tests.crash.worker`)."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.socket_path = str(workdir / "w.sock")
        self.stderr_path = workdir / "workers.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.server: asyncio.AbstractServer | None = None
        self._arrivals: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._stderr: Any = None
        self._forking = asyncio.Lock()  # the lanes share the zygote: one fork (pid line, arrival) at a time

    async def start(self) -> Zygote:
        await self.spawn()
        return await self.ready()

    async def spawn(self) -> Zygote:
        """Start the process; it imports while the caller does other things (:meth:`ready` waits).
        Its workers get every setting, the simulator's CA included, when they are forked."""

        async def arrived(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._arrivals.put((reader, writer))

        self.server = await asyncio.start_unix_server(arrived, path=self.socket_path)
        self._stderr = self.stderr_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.crash.worker", self.socket_path,
            cwd=ROOT, env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._stderr,
        )  # fmt: skip
        return self

    async def ready(self) -> Zygote:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=120)
        if line.strip() != b"ready":
            raise RuntimeError(f"crash worker zygote did not start: {line!r}; see {self.stderr_path}")
        return self

    async def fork(self, env: dict[str, str]) -> Worker:
        async with self._forking:
            return await self._fork(env)

    async def _fork(self, env: dict[str, str]) -> Worker:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"env": env}).encode() + b"\n")
        await self.proc.stdin.drain()
        pid = int(await asyncio.wait_for(self.proc.stdout.readline(), timeout=30))
        reader, writer = await asyncio.wait_for(self._arrivals.get(), timeout=30)
        hello = json.loads(await reader.readline())
        assert hello["pid"] == pid, (hello, pid)
        return Worker(pid, reader, writer)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.server is not None:
            self.server.close()
        if self._stderr is not None:
            self._stderr.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)


@dataclass(slots=True)
class Worker:
    pid: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    invocations: int = 0

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.reader.read(), timeout=10)  # EOF: the process is gone
        self.writer.close()

    async def stop(self) -> None:
        self.writer.close()  # the worker leaves on EOF
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.reader.read(), timeout=5)


class Killed(Exception):
    """The worker was killed during the invocation (or, for an ack point, right after it)."""


@dataclass(slots=True)
class Pending:
    queue: str
    pop_receipt: str
    due: float


class Platform:
    """Everything around the worker for one run (see the module docstring)."""

    def __init__(self, rig: Rig, path: str, plan: tuple[CrashPoint, ...]) -> None:
        self.rig = rig
        self.sim = rig.sim
        self.path = path
        self.plan = list(plan)
        self.result = RunResult(path, plan)
        self.now = 0.0
        self.table = "crash" + uuid.uuid4().hex[:12]
        self.worker: Worker | None = None
        self.armed: CrashPoint | None = None
        self.pending: dict[str, Pending] = {}
        self.seen_entries = 0
        self.sent_cursor = 0
        self.sim_seq_at_fault = 0
        self.event: dict[str, Any] | None = None
        self.alert: str | None = None
        self.invocations = 0
        self.consented = False
        self.leases: list[float] = []
        """Expiries (virtual seconds) of the leases still held at the last look."""
        self.mail_read: set[int] = set()
        """The simulator's sequence numbers of the e-mails the admin has read already."""

    # ------------------------------------------------------------------ workers and crash points
    async def _worker(self) -> Worker:
        if self.worker is None:
            env = {**self.rig.settings, "INCIDENTS_TABLE": self.table, "AzureWebJobsStorage": self.rig.proxied}
            self.worker = await self.rig.zygote.fork(env)
            await self._arm()
        return self.worker

    async def _arm(self) -> None:
        """Arm the next crash point of the plan for the worker just started (counted from its start)."""
        self.armed = self.plan.pop(0) if self.plan else None
        point = self.armed
        if point is None or point.where == "ack":
            return
        method, path, skip = (STORAGE_WRITES if point.where == "storage" else "POST"), None, point.k - 1
        if point.again and self.result.kills:
            method, _, exact = self.result.kills[-1].call.partition(" ")
            path, skip = f"^{re.escape(exact)}$", 0
        if point.where == "storage":
            self.rig.faults.append(Fault(path=path or STORAGE_DURABLE, method=method, skip=skip, hold=point.when))
        else:
            aim = HTTP_TARGETS[point.target] if point.target else HTTP_DURABLE
            await self.sim.add_fault(path or aim, method=method, skip=skip, hold=point.when, times=1)

    async def _held(self) -> str | None:
        point = self.armed
        if point is None or point.where == "ack":
            return None
        if point.where == "storage":
            if not (self.rig.table_proxy.holding.is_set() or self.rig.queue_proxy.holding.is_set()):
                return None
            for entry in self.rig.requests[self.seen_entries :]:
                if entry.get("held"):
                    return f"{entry['method']} {entry['path']}"
            return None
        if await self.sim.faults():
            return None  # not reached yet (a cheap look: the recordings carry every notice's body)
        for entry in await self.sim.requests(path=HTTP_DURABLE, method="POST"):
            if entry.get("held"):
                return f"POST {entry['path']}"
        return None

    async def _kill(self, call: str) -> None:
        assert self.worker is not None and self.armed is not None
        worker, point = self.worker, self.armed
        await worker.kill()
        killed_at = time.monotonic()
        self.result.kills.append(Kill(point, call, await self._window(killed_at)))
        self.rig.faults.clear()
        self.rig.table_proxy.release()
        self.rig.queue_proxy.release()
        await self.sim.clear_faults()  # releases a held call (its connection is cut)
        self.worker, self.armed = None, None

    async def _window(self, killed_at: float) -> list[tuple[str, str]]:
        """Notices a channel accepted after the worker's last durable storage write: the documented
        duplicate window (sent, not yet recorded)."""
        writes = [
            e["answered_at"]
            for e in self.rig.requests
            if e["method"] != "GET" and isinstance(e.get("answered_at"), float) and e["answered_at"] < killed_at
        ]
        last = max(writes, default=0.0)
        out = []
        for channel, entry in await self._posts():
            at = entry.get("answered_at")
            if channel in CHANNELS and _accepted(entry) and isinstance(at, float) and last < at < killed_at:
                out.append((channel, notice_of(channel, entry)))
        return out

    async def _posts(self) -> list[tuple[str, dict[str, Any]]]:
        """Every durable HTTP call the simulator recorded, in order, with its target (one round trip)."""
        targets = [(name, re.compile(path)) for name, path in HTTP_TARGETS.items()]
        out = []
        for entry in await self.sim.requests(path=HTTP_DURABLE, method="POST"):
            name = next((name for name, path in targets if path.search(entry["path"])), None)
            if name is not None:
                out.append((name, entry))
        return out

    async def invoke(self, fn: str, arg: dict[str, Any]) -> dict[str, Any]:
        """One invocation; raises :class:`Killed` when the worker died at an armed crash point."""
        worker = await self._worker()
        self.invocations += 1
        self.result.invocations += 1
        worker.writer.write(json.dumps({"fn": fn, "arg": arg, "clock": self.now}).encode() + b"\n")
        await worker.writer.drain()
        reading = asyncio.ensure_future(worker.reader.readline())
        deadline = time.monotonic() + INVOCATION_TIMEOUT
        holding = [asyncio.ensure_future(p.holding.wait()) for p in (self.rig.table_proxy, self.rig.queue_proxy)]
        poll = 0.05 if self.armed is not None and self.armed.where == "http" else 1.0
        try:
            while True:
                done, _ = await asyncio.wait({reading, *holding}, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
                if reading in done:
                    break
                call = await self._held()
                if call is not None:
                    reading.cancel()
                    await self._kill(call)
                    raise Killed(call)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{fn} did not answer in {INVOCATION_TIMEOUT} s")
        finally:
            self.seen_entries = len(self.rig.requests)
            for waiter in holding:
                waiter.cancel()
        line = reading.result()
        if not line:
            raise RuntimeError(f"worker {worker.pid} died unasked during {fn}; see {self.rig.zygote.stderr_path}")
        reply: dict[str, Any] = json.loads(line)
        self._track_sends()
        if self.armed is not None and self.armed.where == "ack":
            worker.invocations += 1
            if worker.invocations == self.armed.k:
                await self._kill(f"ack of {fn}")
                raise Killed(f"ack of {fn}")
        return reply

    def _track_sends(self) -> None:
        """Delayed messages the worker sent: made visible when virtual time reaches their due time."""
        for entry in self.rig.requests[self.sent_cursor :]:
            match = re.match(r"^/[^/]+/([^/]+)/messages$", entry["path"])
            answer = entry.get("answer") or ""
            if entry["method"] == "POST" and match and "<MessageId>" in answer:
                delay = float((re.search(r"visibilitytimeout=(\d+)", entry["query"]) or [0, 0])[1])
                msg_id = re.search(r"<MessageId>([^<]+)</MessageId>", answer)
                receipt = re.search(r"<PopReceipt>([^<]+)</PopReceipt>", answer)
                if delay > 0 and msg_id and receipt:
                    self.pending[msg_id.group(1)] = Pending(match.group(1), receipt.group(1), self.now + delay)
        self.sent_cursor = len(self.rig.requests)

    # ------------------------------------------------------------------ the platform's deliveries
    async def push_round(self) -> None:
        """Event Grid redelivers the event and the action group the alert until one is accepted."""
        if self.event is not None:
            with contextlib.suppress(Killed):
                if (await self.invoke("eventgrid_audit", self.event))["ok"]:
                    self.event = None
        if self.alert is not None:
            with contextlib.suppress(Killed):
                reply = await self.invoke("monitor_alert", {"body": self.alert})
                if reply.get("status") == 400:
                    raise AssertionError(f"the alert was refused: {reply}")
                if reply["ok"]:
                    self.alert = None
        if self.path == "timer":
            with contextlib.suppress(Killed):
                await self.invoke("health_check", {"past_due": False})

    async def drain_queues(self) -> None:
        """As the queue extension: take visible messages, run them, delete on success, abandon on
        failure (visible again after ``HOST_VISIBILITY``), poison after ``MAX_DEQUEUE_COUNT``."""
        while True:
            busy = False
            for queue in QUEUES:
                for message in await self.rig.receive(queue):
                    busy = True
                    await self._deliver(queue, message)
            if not busy:
                return

    async def _deliver(self, queue: str, message: Any) -> None:
        client = self.rig.queues[queue]
        if message.dequeue_count > MAX_DEQUEUE_COUNT:
            await self.rig.queues[f"{queue}-poison"].send_message(message.content)
            await client.delete_message(message)
            return
        fn = "intake_process" if queue == INTAKE_QUEUE else "verify_incident"
        arg = {
            "id": message.id,
            "body": message.content,
            "dequeue_count": message.dequeue_count,
            "pop_receipt": message.pop_receipt,
        }
        try:
            reply = await self.invoke(fn, arg)
        except Killed:
            reply = {"ok": False}
        if reply["ok"]:
            await client.delete_message(message)
            return
        self.pending[message.id] = Pending(queue, message.pop_receipt, self.now + HOST_VISIBILITY)

    @staticmethod
    def _offset(stamp: object) -> float:
        """A row's timestamp as virtual seconds, as :func:`_virtual_iso` maps them (``-inf``: none)."""
        from shared.core.clock import parse_timestamp

        at = parse_timestamp(stamp) if isinstance(stamp, str) else None
        return -math.inf if at is None else (at - datetime.now(UTC)).total_seconds()

    def next_round(self) -> float:
        """How far to move virtual time: one tick, or as many as pass with nothing to do — no event or
        alert to redeliver, no message due, and (timer path) every tick in between would find a dead
        tick's lease held and return at once — up to the first message due or lease expiry."""
        if self.event is not None or self.alert is not None:
            return TICK
        if self.path == "timer" and not self.leases:
            return TICK  # a tick that takes the lease does real work every minute
        due = min([p.due for p in self.pending.values()] + self.leases, default=self.now + TICK)
        return max(1, math.ceil((due - self.now) / TICK)) * TICK

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        await self.sim.advance_clock(seconds)
        from azure.core.exceptions import ResourceNotFoundError

        for msg_id, p in list(self.pending.items()):
            if p.due <= self.now:
                with contextlib.suppress(ResourceNotFoundError):
                    await self.rig.queues[p.queue].update_message(msg_id, p.pop_receipt, visibility_timeout=0)
                del self.pending[msg_id]

    async def admin(self, rows: list[dict[str, Any]]) -> None:
        """An admin who reads the consent notice grants consent (the product's fix when a restore
        was not done); the verification that follows resolves the incident. No consent notice goes
        out once the restore is recorded (no need to read the mail then)."""
        if self.consented or any(r.get("state") and r.get("restore_outcome") == "restored" for r in rows):
            return
        for entry in await self.sim.requests(path=CHANNELS["email"], method="POST"):
            if entry["seq"] in self.mail_read or not _accepted(entry):
                continue
            self.mail_read.add(entry["seq"])
            if notice_of("email", entry) == "opened":
                await self.sim.consent(actor="admin@contoso.example")
                self.consented = True
                return

    async def settled(self, rows: list[dict[str, Any]]) -> bool:
        self.leases = [lease for r in rows if (lease := self._offset(r.get("expires_at"))) > self.now]
        if self.event is not None or self.alert is not None or self.pending:
            return False
        for queue in QUEUES:
            if (await self.rig.queues[queue].get_queue_properties()).approximate_message_count:
                return False
        if self.leases:
            return False  # a dead tick's lease: the platform keeps ticking until it expired and was taken over
        if self.path != "timer":
            return True
        return any(r.get("state") for r in rows) and not any(str(r["RowKey"]).startswith("open-") for r in rows)

    # ------------------------------------------------------------------ one run
    async def start(self) -> None:
        records = await self.sim.delete("integration", actor="mallory@contoso.example")
        if self.path == "eventgrid":
            record = records[0]
            self.event = {
                "id": str(uuid.uuid4()),
                "data": record,
                "topic": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/audit",
                "subject": "auditLogs/directoryAudits",
                "event_type": "Webex.AuditRecord",
                "event_time": datetime.now(UTC).isoformat(),
            }
        elif self.path == "alert":
            from tests.test_detection_paths import alert_body

            now = datetime.now(UTC)
            self.alert = alert_body("Fired", start=now - timedelta(minutes=5), end=now).decode()

    async def run(self) -> RunResult:
        await self.start()
        try:
            for _ in range(MAX_ROUNDS):
                self.result.rounds += 1
                await self.push_round()
                await self.drain_queues()
                rows = await self.rig.rows(self.table)
                await self.admin(rows)
                if await self.settled(rows):
                    break
                await self.advance(self.next_round())
        finally:
            if self.worker is not None:
                await self.worker.stop()
                self.worker = None
            self.rig.faults.clear()
            await self.sim.clear_faults()
        await self.collect()
        return self.result

    async def collect(self) -> None:
        r = self.result
        rows = await self.rig.rows(self.table)
        r.incident_ids = {str(row["incident_id"]) for row in rows if row.get("incident_id")}
        for row in rows:
            for name, value in row.items():
                if (isinstance(value, str) and '"claimed"' in value) or value == "claimed":
                    r.held_claims.append(f"{row['RowKey']}.{name}")
            expires = row.get("expires_at")
            if isinstance(expires, str) and expires > _virtual_iso(self.now):
                r.held_claims.append(f"{row['RowKey']}.expires_at")
            if row.get("state"):
                key = str(row["RowKey"])
                for iid in r.incident_ids:
                    key = key.replace(iid, "<id>")
                r.incidents.append((key, str(row["state"]), str(row.get("kind")), str(row.get("restore_outcome"))))
        r.incidents.sort()
        durable = re.compile(STORAGE_DURABLE)
        writing = STORAGE_WRITES.split("|")
        recorded = [e for e in self.rig.requests if e["method"] in writing and durable.search(e["path"])]
        r.storage_calls = len(recorded)
        writes = [e["answered_at"] for e in recorded if isinstance(e.get("answered_at"), float)]
        posts = await self._posts()
        r.http_calls = len(posts)
        for target, entry in posts:
            r.http_targets[target] = r.http_targets.get(target, 0) + 1
            at = entry.get("answered_at")
            r.http_sequence.append((target, sum(1 for w in writes if isinstance(at, float) and w < at)))
            if target not in CHANNELS or not _accepted(entry):
                continue
            notice = (target, notice_of(target, entry))
            r.notices[notice] = r.notices.get(notice, 0) + 1
            if target == "webhook":
                r.webhook.append(_webhook_post(notice[1], entry))
        for queue in QUEUES:
            props = await self.rig.queues[f"{queue}-poison"].get_queue_properties()
            if props.approximate_message_count:
                r.poison[queue] = props.approximate_message_count
            r.left_in_queues += (await self.rig.queues[queue].get_queue_properties()).approximate_message_count


def _accepted(entry: dict[str, Any]) -> bool:
    """The far end accepted the call (2xx), whether or not its answer ever reached the worker."""
    status = entry.get("acted", entry.get("status"))
    return isinstance(status, int) and 200 <= status < 300


def _webhook_post(notice: str, entry: dict[str, Any]) -> WebhookPost:
    from shared.notify.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook

    headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
    delivery = headers.get(DELIVERY_HEADER.lower(), "")
    timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    signed = (
        timestamp.isascii()
        and timestamp.isdigit()
        and verify_webhook(
            str(entry.get("text", "")).encode(),
            WEBHOOK_SECRET.encode(),
            headers.get(SIGNATURE_HEADER.lower()),
            timestamp,
            delivery_id=delivery,
            now=float(timestamp),
        )
    )
    return WebhookPost(notice, delivery, signed)


def _virtual_iso(offset: float) -> str:
    from shared.core.clock import format_timestamp

    return format_timestamp(datetime.now(UTC) + timedelta(seconds=offset))


class Rig:
    """What every run of one lane shares: its Azurite and simulator, the storage proxies, the
    harness's own clients (straight to Azurite, so the host's receives and deletes are not the
    worker's durable calls), and the worker zygote (its own, or one shared by the lanes)."""

    def __init__(self, sim: Any, env: dict[str, str], workdir: Path, zygote: Zygote | None = None) -> None:
        self.sim = sim
        self.env = env
        self.conn = env["AzureWebJobsStorage"]
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.table_proxy = StorageFaultProxy(_endpoint(self.conn, "Table"), faults=self.faults, requests=self.requests)
        self.queue_proxy = StorageFaultProxy(_endpoint(self.conn, "Queue"), faults=self.faults, requests=self.requests)
        self.owns_zygote = zygote is None
        self.zygote = zygote or Zygote(env, workdir)
        self.queues: dict[str, Any] = {}
        self.proxied = ""
        self.clean = False
        self.tables: Any = None
        self.settings = {**env, **SETTINGS, **channel_settings(env["SIMULATOR_URL"])}
        """A worker's settings: the lane's services, the rig's own, and all four channels."""

    async def start(self) -> Rig:
        from azure.data.tables.aio import TableServiceClient
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
        from azure.storage.queue.aio import QueueClient

        self.tables = TableServiceClient.from_connection_string(self.conn)
        await self.table_proxy.start()
        await self.queue_proxy.start()
        proxied = re.sub(r"TableEndpoint=http://[^/]+/", f"TableEndpoint={self.table_proxy.base_url}/", self.conn)
        self.proxied = re.sub(r"QueueEndpoint=http://[^/]+/", f"QueueEndpoint={self.queue_proxy.base_url}/", proxied)
        for name in (*QUEUES, *(f"{q}-poison" for q in QUEUES)):
            client = QueueClient.from_connection_string(
                self.conn, name,
                message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=TextBase64DecodePolicy(),
            )  # fmt: skip
            with contextlib.suppress(Exception):  # exists already
                await client.create_queue()
            self.queues[name] = client
        if self.owns_zygote:
            await self.zygote.start()
        return self

    async def stop(self) -> None:
        if self.owns_zygote:
            await self.zygote.stop()
        for client in self.queues.values():
            await client.close()
        if self.tables is not None:
            await self.tables.close()
        await self.table_proxy.stop()
        await self.queue_proxy.stop()

    async def reset(self) -> None:
        """A fresh tenant and empty queues for the next run (a run that converged left them empty)."""
        await self.sim.reset()
        if not self.clean:
            for client in self.queues.values():
                await client.clear_messages()
        self.faults.clear()
        self.requests.clear()

    async def receive(self, queue: str) -> list[Any]:
        client = self.queues[queue]
        return [m async for m in client.receive_messages(messages_per_page=16, max_messages=16, visibility_timeout=600)]

    async def rows(self, table: str) -> list[dict[str, Any]]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return [dict(e) async for e in self.tables.get_table_client(table).list_entities()]
        except ResourceNotFoundError:
            return []

    async def run(self, path: str, plan: tuple[CrashPoint, ...] = ()) -> RunResult:
        await self.reset()
        self.clean = False
        platform = Platform(self, path, plan)
        try:
            result = await platform.run()
            self.clean = not (result.left_in_queues or result.poison)
            return result
        finally:  # hundreds of runs: Azurite keeps every table in memory
            await self.tables.delete_table(platform.table)


def channel_settings(base: str) -> dict[str, str]:
    """Teams and the signed webhook pointed at the simulator's receivers at ``base`` (e-mail and
    Webex are configured by its settings already): every run owes its notices on all four channels."""
    from simulator.receivers import teams_url, webhook_url

    return {
        "TEAMS_WEBHOOK_URL": teams_url(base),
        "NOTIFY_WEBHOOK_URL": webhook_url(base),
        "NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


class Lanes:
    """``count`` rigs that run plans at once (the matrix's runs are independent): the first on the
    given services, each other one on its own Azurite and simulator (whose CA the workers trust
    through one bundle), all forking their workers from one zygote."""

    def __init__(self, env: dict[str, str], workdir: Path, count: int, zygote: Zygote | None = None) -> None:
        self.env = env
        self.workdir = workdir
        self.count = max(1, count)
        self.rigs: list[Rig] = []
        self.spawned = zygote
        """A zygote spawned already (it imports while the services start), else one is started here."""
        self.zygote: Zygote | None = zygote
        self._threads: list[Any] = []
        self._azurites: list[Any] = []
        self._controls: list[Any] = []

    async def __aenter__(self) -> list[Rig]:
        try:
            return await self._start()
        except BaseException:
            await self.__aexit__()
            raise

    async def _start(self) -> list[Rig]:
        from simulator.client import SimulatorControl
        from simulator.server import SimulatorThread

        envs = [dict(self.env)]
        for _ in range(self.count - 1):
            thread = SimulatorThread().start()
            self._threads.append(thread)
            envs.append({**self.env, **thread.simulator.env()})
        bundle = self.workdir / "lanes-ca.pem"
        await asyncio.to_thread(_concatenate, [Path(e["SSL_CERT_FILE"]) for e in envs], bundle)
        self._azurites = await asyncio.gather(*(asyncio.to_thread(_start_azurite) for _ in envs[1:]))
        for env, azurite in zip(envs[1:], self._azurites, strict=True):
            env["AzureWebJobsStorage"] = azurite.connection_string
        self.zygote = zygote = self.spawned or Zygote({**self.env, "SSL_CERT_FILE": str(bundle)}, self.workdir)
        for env in envs:
            control = SimulatorControl(env["SIMULATOR_URL"], verify=env["SSL_CERT_FILE"])
            self._controls.append(control)
            rig = Rig(control, {**env, "SSL_CERT_FILE": str(bundle)}, self.workdir, zygote)
            self.rigs.append(rig)
        await asyncio.gather(zygote.ready() if self.spawned else zygote.start(), *(rig.start() for rig in self.rigs))
        return self.rigs

    async def __aexit__(self, *exc: object) -> None:
        for rig in self.rigs:
            await rig.stop()
        if self.zygote is not None:
            await self.zygote.stop()
        for control in self._controls:
            await control.aclose()
        for thread in self._threads:
            thread.stop()
        for azurite in self._azurites:
            azurite.stop()


def _concatenate(sources: list[Path], target: Path) -> None:
    target.write_bytes(b"".join(source.read_bytes() for source in sources))


def _start_azurite() -> Any:
    from devtools.azurite import start_azurite

    return start_azurite()


def _endpoint(conn: str, service: str) -> str:
    match = re.search(rf"{service}Endpoint=(http://[^;]+?)/devstoreaccount1", conn)
    assert match, conn
    return match.group(1)
