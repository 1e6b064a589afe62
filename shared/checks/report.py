"""What a check returns: a :class:`CheckResult` (verdict and evidence), gathered in a :class:`HealthReport`.

A check never notifies. When what it found is something the admins must hear about although no
incident opens (our Webex authorization expired, a look-alike Identity app appeared, a token lacks
a scope), its result carries a :class:`NoticeOwed`; the app layer (``shared.app.operational_notices``)
decides whether to send it — the health timer and the verification run do, ``check`` at a terminal
does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OK_VERDICTS = frozenset({"healthy", "not_configured"})
NON_BLOCKING: dict[str, frozenset[str]] = {
    # Graph (service principals present and enabled, admin-consent grants) and SCIM are the primary
    # evidence; Control Hub's status call is undocumented and only corroborates. An answer from it we
    # cannot read, or its refusal of a token SCIM accepts, says nothing about the tenant.
    "webex.sync_status": frozenset({"unknown", "token_not_accepted"}),
    # A token without the SCIM scope is a configuration problem (one operational notice), not Webex down.
    "webex.scim": frozenset({"misconfigured"}),
}
"""Verdicts that are not healthy yet never keep an incident open, per check."""


@dataclass(frozen=True, slots=True)
class NoticeOwed:
    """An operational notice a check's finding calls for, told once per ``once_key``.

    ``lines`` are the notice's sentences; ``evidence`` (upstream text) is appended as its last line.
    ``log_when_sent``: the problem is also logged as a warning, once, when the notice goes out."""

    kind: str
    title: str
    lines: tuple[str, ...]
    once_key: str
    evidence: str | None = None
    log_when_sent: bool = False


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    verdict: str
    evidence: str
    elapsed_ms: float
    app_key: str | None = None
    object_id: str | None = None
    soft_deleted: bool | None = None
    retry_after: float | None = None
    notes: str | None = None  # the service principal's notes, read in the same call (shared.checks.prevention)
    app_id: str | None = None  # the appId checked (the Identity app's may be found by name, not configured)
    owed: tuple[NoticeOwed, ...] = ()  # operational notices this finding calls for (sent by the app layer)

    def __post_init__(self) -> None:
        from shared.core.redaction import redact

        # Evidence quotes upstream answers (Graph, Webex): shown by ``check``, in notices and logs.
        object.__setattr__(self, "evidence", redact(self.evidence))

    @property
    def ok(self) -> bool:
        return self.verdict in OK_VERDICTS or self.verdict in NON_BLOCKING.get(self.name, ())


@dataclass(slots=True)
class HealthReport:
    results: list[CheckResult] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def owed(self) -> list[NoticeOwed]:
        """Every operational notice the results call for, in result order."""
        return [n for r in self.results for n in r.owed]

    def for_app(self, app_key: str) -> list[CheckResult]:
        return [r for r in self.results if r.app_key == app_key]

    def first(self, name: str, app_key: str | None = None) -> CheckResult | None:
        """The first result whose name is ``name`` or starts with it (``"graph.consent_grant."``
        finds the grant check of whatever app), for ``app_key`` when one is given."""
        return next(
            (r for r in self.results if r.name.startswith(name) and (app_key is None or r.app_key == app_key)), None
        )

    @property
    def longest_retry_after(self) -> float | None:
        hints = [r.retry_after for r in self.results if r.retry_after is not None]
        return max(hints) if hints else None
