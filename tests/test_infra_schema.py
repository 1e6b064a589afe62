"""Every resource's ``type@apiVersion``, property paths and literal enum values against the Azure
SDK models from PyPI (``azure-mgmt-*``, requirements-dev.txt), offline.

Schema source: each ``azure-mgmt-*`` package's models name every property by its REST path — the
autorest ``_attribute_map`` (``'properties.siteConfig.ftpsState'``) or the TypeSpec ``rest_field``
names — and their enum classes list the known values. Where a package ships several api-version
modules (authorization, applicationinsights, msi) the Bicep ``apiVersion`` must be one of them and
that module is used; the single-version packages (web, storage, keyvault, eventgrid, monitor,
loganalytics) carry one newer api-version, so the Bicep ``apiVersion`` must not be newer than it and
its properties are checked against that newer model (a superset in practice). ``SCHEMA`` says which.

Bicep bodies are read with the evaluator's parser (tests/test_infra_profiles.py): pycep, checkov's
Bicep parser, turns ``'x'`` and ``x`` into the same ``"x"``, so it cannot tell a literal enum value
from an expression. Only literal values are enum-checked; computed values and keys under a model's
free-form ``additionalProperties`` are not.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.test_infra import INFRA, strip_comments
from tests.test_infra_profiles import Node, Parser

# type -> (package, api-version module or None for the package root, model class)
SCHEMA: dict[str, tuple[str, str | None, str]] = {
    "Microsoft.Web/serverfarms": ("azure.mgmt.web", None, "AppServicePlan"),
    "Microsoft.Web/sites": ("azure.mgmt.web", None, "Site"),
    "Microsoft.Web/sites/config": ("azure.mgmt.web", None, "StringDictionary"),
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": (
        "azure.mgmt.web",
        None,
        "CsmPublishingCredentialsPoliciesEntity",
    ),
    "Microsoft.Web/sites/functions": ("azure.mgmt.web", None, "FunctionEnvelope"),
    "Microsoft.Storage/storageAccounts": ("azure.mgmt.storage", None, "StorageAccountCreateParameters"),
    "Microsoft.Storage/storageAccounts/blobServices": ("azure.mgmt.storage", None, "BlobServiceProperties"),
    "Microsoft.Storage/storageAccounts/blobServices/containers": ("azure.mgmt.storage", None, "BlobContainer"),
    "Microsoft.Storage/storageAccounts/queueServices": ("azure.mgmt.storage", None, "QueueServiceProperties"),
    "Microsoft.Storage/storageAccounts/queueServices/queues": ("azure.mgmt.storage", None, "StorageQueue"),
    "Microsoft.Storage/storageAccounts/tableServices": ("azure.mgmt.storage", None, "TableServiceProperties"),
    "Microsoft.Storage/storageAccounts/tableServices/tables": ("azure.mgmt.storage", None, "Table"),
    "Microsoft.KeyVault/vaults": ("azure.mgmt.keyvault", None, "VaultCreateOrUpdateParameters"),
    "Microsoft.KeyVault/vaults/secrets": ("azure.mgmt.keyvault", None, "SecretCreateOrUpdateParameters"),
    "Microsoft.OperationalInsights/workspaces": ("azure.mgmt.loganalytics", None, "Workspace"),
    "Microsoft.Insights/components": ("azure.mgmt.applicationinsights", "v2020_02_02", "ApplicationInsightsComponent"),
    "Microsoft.Insights/workbooks": ("azure.mgmt.applicationinsights", "v2023_06_01", "Workbook"),
    "Microsoft.Insights/scheduledQueryRules": ("azure.mgmt.monitor", None, "ScheduledQueryRuleResource"),
    "Microsoft.Insights/actionGroups": ("azure.mgmt.monitor", None, "ActionGroupResource"),
    "Microsoft.Insights/metricAlerts": ("azure.mgmt.monitor", None, "MetricAlertResource"),
    "Microsoft.EventGrid/topics": ("azure.mgmt.eventgrid", None, "Topic"),
    "Microsoft.EventGrid/topics/eventSubscriptions": ("azure.mgmt.eventgrid", None, "EventSubscription"),
    "Microsoft.Authorization/roleAssignments": (
        "azure.mgmt.authorization",
        "v2022_04_01",
        "RoleAssignmentCreateParameters",
    ),
    "Microsoft.ManagedIdentity/userAssignedIdentities": ("azure.mgmt.msi", "v2024_11_30", "Identity"),
}
EXACT_VERSION_PACKAGES = {"azure.mgmt.authorization", "azure.mgmt.applicationinsights"}
"""Packages that ship the Bicep's own api-version module; the others carry a newer one (msi: the
newest of its modules, 2024-11-30, for the Bicep's 2023-01-31, which it does not ship)."""
MONITOR_OPERATIONS = {
    "ScheduledQueryRuleResource": "_scheduled_query_rules_operations",
    "ActionGroupResource": "_action_groups_operations",
    "MetricAlertResource": "_metric_alerts_operations",
}
"""azure-mgmt-monitor 7 pins an api-version per operation group, not per package."""
# No model on PyPI that we install for these (said in docs/deploy.md and the report): the resource
# group (azure-mgmt-resource), the diagnostic settings (not in azure-mgmt-monitor 7), the Entra
# tenant diagnostic setting (no SDK) and the Microsoft Graph extension's types (no SDK).
UNCHECKED = {
    "Microsoft.Resources/resourceGroups",
    "Microsoft.Insights/diagnosticSettings",
    "microsoft.aadiam/diagnosticSettings",
    "Microsoft.Graph/servicePrincipals",
    "Microsoft.Graph/appRoleAssignedTo",
    "Microsoft.Graph/applications",
    "Microsoft.Graph/applications/federatedIdentityCredentials",
}
BICEP_KEYS = {"name", "parent", "scope", "dependsOn"}
"""Bicep's own resource keys (not part of the REST body)."""


@dataclass(frozen=True)
class Resource:
    file: str
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: Node


def resources(root: Path = INFRA) -> list[Resource]:
    out: list[Resource] = []
    for path in sorted(root.rglob("*.bicep")):
        text = strip_comments(path.read_text(encoding="utf-8"))
        for m in re.finditer(r"^resource\s+(\w+)\s+'([^'@]+)@([^']+)'\s*(existing\s*)?=\s*", text, re.M):
            p = Parser(text, m.end())
            if p.take("if"):
                p.expect("(")
                p.expr()
                p.expect(")")
            body = p.expr()
            out.append(Resource(path.name, m.group(1), m.group(2), m.group(3), bool(m.group(4)), body))
            out.extend(_nested(path.name, m.group(2), m.group(3), body))
    return out


def _nested(file: str, parent_type: str, api: str, body: Node) -> list[Resource]:
    found = []
    for key, value in body[1] if body[0] == "object" else []:
        if key.startswith("resource ") and value[0] == "resource":
            rtype, _, version = value[1].partition("@")
            full = f"{parent_type}/{rtype}"
            found.append(Resource(file, key.split()[1], full, version or api, value[2], value[3]))
            found.extend(_nested(file, full, version or api, value[3]))
    return found


# --------------------------------------------------------------------------------------------------
# SDK models as a tree of REST names
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    model: type | None = None
    enum_values: frozenset[str] | None = None
    container: str = ""  # "", "list" or "dict"


def _models(package: str, version: str | None) -> Any:
    return importlib.import_module(f"{package}.{version}.models" if version else f"{package}.models")


def sdk_api_version(package: str, version: str | None, class_name: str) -> str:
    if version:
        return version[1:].replace("_", "-")
    module = f"{package}.operations.{MONITOR_OPERATIONS[class_name]}" if class_name in MONITOR_OPERATIONS else (
        f"{package}._configuration")  # fmt: skip
    source = Path(importlib.import_module(module).__file__ or "").read_text(encoding="utf-8")
    m = re.search(r'"api[-_]version",\s*(?:_params\.pop\("api-version",\s*)?"([^"]+)"', source)
    assert m, module
    return m.group(1)


def fields(cls: type, models: Any) -> dict[tuple[str, ...], Field]:
    """REST path (flattened autorest keys split on unescaped dots) -> field, for one model class."""
    if hasattr(cls, "_attribute_map"):
        return _autorest_fields(cls, models)
    return _typespec_fields(cls, models)


def _autorest_fields(cls: type, models: Any) -> dict[tuple[str, ...], Field]:
    doc = cls.__doc__ or ""
    out: dict[tuple[str, ...], Field] = {}
    for attr, entry in cls._attribute_map.items():
        key = tuple(k.replace("\\.", ".") for k in re.split(r"(?<!\\)\.", entry["key"]))
        t = entry["type"]
        container = "list" if t.startswith("[") else "dict" if t.startswith("{") else ""
        inner = t.strip("[]{}")
        model = getattr(models, inner, None)
        enum_name = re.search(rf":vartype {attr}: str or\s+~[\w.]+\.(\w+)", doc)
        enum_cls = getattr(models, enum_name.group(1), None) if enum_name else None
        is_enum = isinstance(enum_cls, type) and issubclass(enum_cls, enum.Enum)
        values = frozenset(e.value for e in enum_cls) if is_enum else None  # type: ignore[union-attr]
        out[key] = Field(model if isinstance(model, type) else None, values, container)
    return out


def _typespec_fields(cls: type, models: Any) -> dict[tuple[str, ...], Field]:
    out: dict[tuple[str, ...], Field] = {}
    for klass in reversed(cls.__mro__):
        annotations = inspect.get_annotations(klass)
        for attr, rf in klass.__dict__.items():
            if attr.startswith("_") or not hasattr(rf, "_rest_name_input"):
                continue
            ann = str(annotations.get(attr, ""))
            container = "list" if "list[" in ann or "List[" in ann else "dict" if "dict[str" in ann else ""
            model = enum_cls = None
            for name in re.findall(r"_models\.(\w+)", ann):
                target = getattr(models, name, None)
                if isinstance(target, type) and issubclass(target, enum.Enum):
                    enum_cls = target
                elif isinstance(target, type):
                    model = target
            values = frozenset(e.value for e in enum_cls) if enum_cls else None
            out[(rf._rest_name_input or attr,)] = Field(model, values, container)
    return out


def _subtype(model: type, body: Node) -> type:
    """Polymorphic models: the literal discriminator in the body picks the subclass."""
    subtypes = getattr(model, "_subtype_map", None) or {}
    literal = {k: v[1] for k, v in body[1] if v[0] == "lit"} if body[0] == "object" else {}
    module = importlib.import_module(model.__module__.rsplit(".", 1)[0])
    for attr, mapping in subtypes.items():
        rest = model._attribute_map[attr]["key"].replace("\\.", ".")  # type: ignore[attr-defined]
        chosen = mapping.get(literal.get(rest))
        if chosen:
            return typing.cast(type, getattr(module, chosen))
    return model


def check_body(model: type, body: Node, models: Any, where: str, *, top: bool = False) -> list[str]:
    """Problems in one object body against one model (recursing into nested object literals)."""
    if body[0] != "object":
        return []
    model = _subtype(model, body)
    table = fields(model, models)
    free_form = any(k == ("",) for k in table)  # autorest additional_properties: any key
    problems: list[str] = []
    for key, value in body[1]:
        if key.startswith("resource ") or (top and key in BICEP_KEYS):
            continue
        matches = {path: f for path, f in table.items() if path[0] == key}
        if not matches:
            if not free_form:
                problems.append(f"{where}.{key}: no such property in {model.__name__}")
            continue
        if (key,) in matches:
            problems.extend(_check_value(matches[(key,)], value, models, f"{where}.{key}"))
        elif value[0] == "object":  # a flattened autorest path: properties.x.y
            problems.extend(_check_flattened(model, value, matches, models, f"{where}.{key}"))
    return problems


def _check_flattened(
    model: type, value: Node, matches: dict[tuple[str, ...], Field], models: Any, where: str
) -> list[str]:
    problems: list[str] = []
    for sub, sub_value in value[1]:
        deeper = {p[1:]: f for p, f in matches.items() if len(p) > 1 and p[1] == sub}
        if not deeper:
            problems.append(f"{where}.{sub}: no such property in {model.__name__}")
        elif (sub,) in deeper:
            problems.extend(_check_value(deeper[(sub,)], sub_value, models, f"{where}.{sub}"))
        else:
            problems.extend(_check_flattened(model, sub_value, deeper, models, f"{where}.{sub}"))
    return problems


def _check_value(f: Field, value: Node, models: Any, where: str) -> list[str]:
    kind = value[0]
    if f.container == "list":
        items = value[1] if kind == "array" else [value[3]] if kind == "for" else []
        return [p for i, item in enumerate(items) for p in _check_value(Field(f.model, f.enum_values), item, models,
                                                                          f"{where}[{i}]")]  # fmt: skip
    if f.container == "dict":
        return []  # free-form keys (tags, app settings, user-assigned identities)
    # Azure compares enum values case-insensitively; the SDKs spell them one way.
    known = {v.lower() for v in f.enum_values or ()}
    if kind == "lit" and f.enum_values is not None and isinstance(value[1], str) and value[1].lower() not in known:
        return [f"{where}: {value[1]!r} is not one of {sorted(f.enum_values)}"]
    if kind == "object" and f.model is not None:
        return check_body(f.model, value, models, where)
    return []


def check_templates(root: Path = INFRA) -> list[str]:
    problems: list[str] = []
    for r in resources(root):
        where = f"{r.file}:{r.symbol}"
        if r.type in UNCHECKED:
            continue
        if r.type not in SCHEMA:
            problems.append(f"{where}: {r.type} has no schema source (add it to SCHEMA or UNCHECKED)")
            continue
        package, version, class_name = SCHEMA[r.type]
        sdk_version = sdk_api_version(package, version, class_name)
        if package in EXACT_VERSION_PACKAGES and r.api_version != sdk_version:
            problems.append(f"{where}: {r.type}@{r.api_version} but the schema module is {sdk_version}")
        if package not in EXACT_VERSION_PACKAGES and r.api_version > sdk_version:
            problems.append(f"{where}: {r.type}@{r.api_version} is newer than the schema ({sdk_version})")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", r.api_version):
            problems.append(f"{where}: malformed apiVersion {r.api_version}")
        if r.existing:
            continue
        models = _models(package, version)
        problems.extend(check_body(getattr(models, class_name), r.body, models, where, top=True))
    return problems


# --------------------------------------------------------------------------------------------------


def test_every_resource_matches_its_sdk_schema() -> None:
    found = {r.type for r in resources()}
    assert found - UNCHECKED, "no resources parsed"
    assert check_templates() == []


def test_every_declared_type_is_checked_or_named_unchecked() -> None:
    assert {r.type for r in resources()} <= set(SCHEMA) | UNCHECKED


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAcess: false", "allowSharedKeyAcess"),
        ("eventgrid-topic.bicep", "publicNetworkAccess: 'Enabled'", "publicNetworkAccess: 'Enable'", "'Enable'"),
        ("api.bicep", "minTlsVersion: '1.2'", "minTlsVersion: '1.2'\n      ftpState: 'Disabled'", "ftpState"),
        ("monitoring.bicep", "IngestionMode: 'LogAnalytics'", "IngestionMode: 'LogAnalytic'", "'LogAnalytic'"),
        (
            "alerts.bicep",
            "timeAggregation: 'Total'\n          metricMeasureColumn",
            "timeAggregation: 'Totals'\n          metricMeasureColumn",
            "'Totals'",
        ),
        ("rbac.bicep", "principalType: 'ServicePrincipal'", "principalType: 'ServicePrincipals'", "ServicePrincipals"),
        (
            "rbac.bicep",
            "'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
            "'Microsoft.Authorization/roleAssignments@2022-05-01' = {",
            "2022-05-01",
        ),
        (
            "keyvault.bicep",
            "'Microsoft.KeyVault/vaults@2023-07-01' = {",
            "'Microsoft.KeyVault/vaults@2099-01-01' = {",
            "newer than the schema",
        ),
        ("eventgrid-subscription.bicep", "maxDeliveryAttempts: 30", "maxDeliveryAttempt: 30", "maxDeliveryAttempt"),
    ],
)
def test_schema_check_catches_a_broken_copy(tmp_path: Path, file: str, old: str, new: str, expected: str) -> None:
    import shutil

    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    target = copy / "app" / file
    text = target.read_text(encoding="utf-8")
    assert old in text, old
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems = check_templates(copy)
    assert any(expected in p for p in problems), problems
