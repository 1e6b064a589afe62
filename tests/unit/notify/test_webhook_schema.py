"""The webhook document's published JSON Schema (docs/examples/webhook-notice.schema.json) and its
provider-mode example (docs/examples/webhook-notice-provider.json) match what the renderer sends:
every field the code sends is in the schema, every document validates, the example is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from shared.core.settings import Settings
from shared.core.tenant import make_tenant, tenant_settings
from shared.incidents.notices import view_for
from shared.notify.render import render
from shared.notify.view import NoticeKind, NoticeTenant
from tests.unit.incidents.conftest import incident

DOCS = Path(__file__).resolve().parents[3] / "docs" / "examples"
SCHEMA = json.loads((DOCS / "webhook-notice.schema.json").read_text(encoding="utf-8"))
EXAMPLE = json.loads((DOCS / "webhook-notice-provider.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)


def _documents() -> list[dict[str, Any]]:
    single = Settings.model_validate({"TENANT_ID": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "WEBEX_ORG_ID": "org-1"})
    provider = Settings.model_validate({"TENANT_ID": "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b", "WEBEX_ORG_ID": "p",
                                        "TENANCY_MODE": "provider",
                                        "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01"})  # fmt: skip
    tenant = make_tenant("6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f", display_name="Fabrikam <x>", webex_org_id="org-f")
    scoped = tenant_settings(provider, tenant)
    named = NoticeTenant(tenant.tenant_id, tenant.display_name, tenant.webex_org_id)
    docs = []
    for kind in NoticeKind:
        docs.append(render(view_for(single, incident(tenant_id=single.tenant_id), kind), "webhook").payload or {})
        docs.append(
            render(view_for(scoped, incident(tenant_id=tenant.tenant_id), kind, named), "webhook").payload or {}
        )
    return docs


def test_the_schema_is_a_valid_schema_and_names_every_field_sent() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    for doc in _documents():
        assert set(doc) == set(SCHEMA["properties"]) == set(SCHEMA["required"])


@pytest.mark.parametrize("index", range(2 * len(NoticeKind)))
def test_every_document_sent_validates(index: int) -> None:
    VALIDATOR.validate(_documents()[index])


def test_the_provider_example_validates_and_is_current() -> None:
    VALIDATOR.validate(EXAMPLE)
    assert set(EXAMPLE) == set(_documents()[1])
    assert (
        EXAMPLE["tenant_id"] in EXAMPLE["consent_url"]
        and "?tenant=" + EXAMPLE["tenant_id"] in EXAMPLE["links"]["audit_log"]
    )
