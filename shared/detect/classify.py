"""The rules table: what an audit record means for Webex directory sync, and what we do about it.

A record is about Webex only when one of its targets is a catalogue app — the Identity Integration
by its appId (never by name: a forged display name must not trigger anything), the per-tenant
Identity app by its configured appId or, if none is configured, its exact name. Failed operations
changed nothing and are ignored. The remaining records are looked up in :data:`RULES`, a plain
table matched on the lower-cased activity name, first match wins.

Design choice — a *disabled* Identity app (``AccountEnabled`` → false on "Cisco Webex Identity")
is reported as ``integration_disabled`` with ``app`` = the Identity app and ``notify_reenable``:
the kind names the symptom (sync is disabled, nothing was deleted) and the admin's fix is the same
"re-enable the enterprise app" steps. ``identity_app_deleted`` stays reserved for a deletion, whose
fix (re-run the Control Hub wizard) is different.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.core.catalogue import Catalogue, WebexApp
from shared.core.models import Action, AuditRecord, Extraction, Kind, TargetResource

INTEGRATION = "integration"
IDENTITY = "identity"
ANY = "any"

_TRUE_TEXT = frozenset({"true", "1", "yes"})
_FALSE_TEXT = frozenset({"false", "0", "no"})


def _as_bool(value: object) -> bool | None:
    """Entra's decoded AccountEnabled value: ``[False]``, ``False``, ``"False"``, ``["false"]``…"""
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().strip("[]\"' ").lower()
        if lowered in _TRUE_TEXT:
            return True
        if lowered in _FALSE_TEXT:
            return False
    return None


def account_enabled(target: TargetResource) -> bool | None:
    """The new ``AccountEnabled`` value of ``target``, or ``None`` when this update did not set it."""
    prop = target.property("AccountEnabled")
    return None if prop is None else _as_bool(prop.new)


def disabled(target: TargetResource) -> bool:
    return account_enabled(target) is False


def enabled(target: TargetResource) -> bool:
    """Re-enabled: the new value is true and the old one was not (a no-op update is not a fix)."""
    prop = target.property("AccountEnabled")
    return prop is not None and _as_bool(prop.new) is True and _as_bool(prop.old) is not True


_ACTIVITY_KEYS: dict[str, str] = {}


def activity_key(activity: str) -> str:
    """The form activities are matched in: lower-cased, runs of whitespace folded to one space.

    A log repeats a few dozen activity names, so the folded form is remembered (bounded).
    """
    key = _ACTIVITY_KEYS.get(activity)
    if key is None:
        key = " ".join(activity.lower().split())
        if len(activity) <= 200:  # real names are short; hostile ones are not worth keeping
            if len(_ACTIVITY_KEYS) >= 1024:
                _ACTIVITY_KEYS.clear()
            _ACTIVITY_KEYS[activity] = key
    return key


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rules table. ``activities`` are written as Entra writes them (the audit
    poll's server-side filter and the alert KQL are built from them); ``match`` is their
    :func:`activity_key` set, the form the classifier compares records' activities in."""

    name: str
    activities: tuple[str, ...]
    app: str  # INTEGRATION, IDENTITY or ANY (either catalogue app)
    kind: Kind
    action: Action
    condition: Callable[[TargetResource], bool] | None = None
    match: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "match", frozenset(activity_key(a) for a in self.activities))


_SOFT_DELETE = ("Delete service principal", "Remove service principal")
_HARD_DELETE = ("Hard delete service principal",)
_UPDATE = ("Update service principal",)
_REVOKE = ("Remove delegated permission grant", "Remove app role assignment from service principal")
_RESTORE = ("Consent to application", "Add service principal", "Restore service principal")

# fmt: off
RULES: tuple[Rule, ...] = (
    #     name                        activities    app          kind                            action                     condition
    Rule("integration-soft-deleted",  _SOFT_DELETE, INTEGRATION, Kind.INTEGRATION_DELETED,      Action.NOTIFY_CONSENT),
    Rule("integration-hard-deleted",  _HARD_DELETE, INTEGRATION, Kind.INTEGRATION_HARD_DELETED, Action.NOTIFY_CONSENT),
    Rule("identity-app-deleted",      _SOFT_DELETE + _HARD_DELETE,
                                                    IDENTITY,    Kind.IDENTITY_APP_DELETED,     Action.NOTIFY_REPROVISION),
    Rule("app-disabled",              _UPDATE,      ANY,         Kind.INTEGRATION_DISABLED,     Action.NOTIFY_REENABLE,    disabled),
    Rule("app-re-enabled",            _UPDATE,      ANY,         Kind.INTEGRATION_RESTORED,     Action.VERIFY,             enabled),
    Rule("integration-consent-revoked", _REVOKE,    INTEGRATION, Kind.CONSENT_REVOKED,          Action.NOTIFY_CONSENT),
    Rule("app-restored",              _RESTORE,     ANY,         Kind.INTEGRATION_RESTORED,     Action.VERIFY),
)
# fmt: on

RULE_ACTIVITIES: frozenset[str] = frozenset().union(*(rule.match for rule in RULES))
"""Every activity some rule reads (lower-cased, single-spaced). A record with any other activity is
``unrelated`` whatever its targets say, which lets normalization defer them (normalize/deferred.py)."""


WATCHED_ACTIVITIES: tuple[str, ...] = tuple(dict.fromkeys(a for rule in RULES for a in rule.activities))
"""Every activity some rule acts on, in table order, each once: the one list the audit poll's
``$filter``, the shipped alert KQL and the infra alert rule are checked against."""


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one record. ``rule`` names the table row (or the reason nothing matched)."""

    kind: Kind
    action: Action
    app: WebexApp | None
    target: TargetResource | None
    rule: str


def unrelated(rule: str, app: WebexApp | None = None, target: TargetResource | None = None) -> Classification:
    """The verdict "not about Webex sync": ignore; ``rule`` says why."""
    return Classification(Kind.UNRELATED, Action.IGNORE, app, target, rule)


_NOT_WEBEX = unrelated("not-a-webex-app")
NO_RULE = unrelated("no-rule-for-activity")
"""The verdict on every record whose activity is not in :data:`RULE_ACTIVITIES`."""


def webex_target(record: AuditRecord, catalogue: Catalogue) -> tuple[WebexApp, TargetResource] | None:
    """The first target that is a catalogue app, with the app."""
    for target in record.targets:
        app = catalogue.match(target.app_id, target.display_name)
        if app is not None:
            return app, target
    return None


def classify(record: AuditRecord, catalogue: Catalogue) -> Classification:
    """Classify one record with :data:`RULES`. Never raises.

    The activity is looked at first: it costs one set probe, and for the many records no rule reads
    it answers without touching (or, for deferred records, normalizing) the targets. Next, a record
    that kept its text is asked whether it could name a catalogue app at all, which answers the
    many changes to other apps' service principals without normalizing them either.
    """
    activity = activity_key(record.activity)
    if activity not in RULE_ACTIVITIES:
        return NO_RULE
    if not record.may_mention(catalogue.needles):
        return _NOT_WEBEX
    found = webex_target(record, catalogue)
    if found is None:
        return _NOT_WEBEX
    app, target = found
    if record.result is not None and record.result.lower() == "failure":
        return unrelated("failed-operation", app, target)
    for rule in RULES:
        if activity not in rule.match:
            continue
        if rule.app not in (ANY, app.key):
            continue
        if rule.condition is not None and not rule.condition(target):
            continue
        return Classification(rule.kind, rule.action, app, target, rule.name)
    return unrelated("no-rule-for-activity", app, target)


def classify_extraction(extraction: Extraction, catalogue: Catalogue) -> list[tuple[AuditRecord, Classification]]:
    """Every record of ``extraction`` with its classification, in payload order."""
    return [(record, classify(record, catalogue)) for record in extraction.records]
