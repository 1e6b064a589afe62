"""shared/detect/classify.py, fast: the verdicts that answer before any rule row — a failed
operation, a record whose kept text names no catalogue app — and a whole extraction in order."""

from __future__ import annotations

import pytest

from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.core.models import Action, AuditRecord, Extraction, Kind, Source, TargetResource
from shared.detect.classify import Classification, classify, classify_extraction, unrelated
from shared.detect.normalize.deferred import DeferredRecord, Rest

CAT = Catalogue()
WEBEX = TargetResource("sp-1", "Cisco Webex Identity Integration", "ServicePrincipal", INTEGRATION_APP_ID)
SOFT_DELETE = Classification(
    Kind.INTEGRATION_DELETED, Action.NOTIFY_CONSENT, CAT.integration, WEBEX, "integration-soft-deleted"
)


def deleted(result: str | None, record_id: str = "r1") -> AuditRecord:
    return AuditRecord(record_id, "Delete service principal", Source.GRAPH, result=result, targets=(WEBEX,))


@pytest.mark.parametrize("result", ["failure", "FAILURE", "Failure"])
def test_a_failed_operation_changed_nothing(result: str) -> None:
    assert classify(deleted(result), CAT) == unrelated("failed-operation", CAT.integration, WEBEX)


@pytest.mark.parametrize("result", ["success", None, ""])
def test_anything_but_failure_is_read_by_the_rules(result: str | None) -> None:
    assert classify(deleted(result), CAT).rule == "integration-soft-deleted"


def _never() -> Rest:
    raise AssertionError("the targets were normalized")


def test_a_record_whose_kept_text_names_no_webex_app_is_answered_without_normalizing_it() -> None:
    text = b'{"activitydisplayname":"delete service principal","targetresources":[{"displayname":"sharepoint"}]}'
    record = DeferredRecord.create("r2", "Delete service principal", Source.GRAPH, _never, text)
    assert classify(record, CAT) == unrelated("not-a-webex-app")


def test_an_extraction_is_classified_record_by_record_in_order() -> None:
    other = AuditRecord("r3", "Add member to group", Source.GRAPH)
    records = [deleted("success", "r1"), other, deleted("failure", "r2")]
    assert classify_extraction(Extraction(records=records), CAT) == [
        (records[0], SOFT_DELETE),
        (other, unrelated("no-rule-for-activity")),
        (records[2], unrelated("failed-operation", CAT.integration, WEBEX)),
    ]
    assert classify_extraction(Extraction(), CAT) == []
