"""The value types detection hands on are immutable and slotted.

Immutable: a verdict, rule or message is shared once built — ``classify`` returns the same
module-level ``unrelated`` verdict to every caller, rules are read by every record, a message is
enqueued as it was checked — so a caller that could assign a field would change it for everyone.
Slotted: they are built per record or per message on the 100k-records/s path, where a per-instance
``__dict__`` adds about a hundred bytes to each. ``Intake`` is a mutable tally, slotted only.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest

from shared.core.models import Action, Extraction, Kind
from shared.detect.audit_poll import AuditPage
from shared.detect.classify import Classification, Rule
from shared.detect.findings import Finding, Seen
from shared.detect.intake import Intake, IntakeMessage

FROZEN: list[object] = [
    Rule("r", ("Delete service principal",), "any", Kind.UNRELATED, Action.IGNORE),
    Classification(Kind.UNRELATED, Action.IGNORE, None, None, "r"),
    AuditPage(Extraction(), None),
    IntakeMessage("eventgrid", "ref"),
    Finding("integration", Seen.GONE),
]


@pytest.mark.parametrize("value", FROZEN, ids=lambda v: type(v).__name__)
def test_a_shared_value_cannot_be_changed(value: object) -> None:
    field = next(iter(type(value).__dataclass_fields__))  # type: ignore[attr-defined]
    with pytest.raises(FrozenInstanceError):
        setattr(value, field, "changed")


@pytest.mark.parametrize("value", [*FROZEN, Intake()], ids=lambda v: type(v).__name__)
def test_a_value_built_per_record_carries_no_instance_dict(value: object) -> None:
    assert not hasattr(value, "__dict__")
