"""Offline checks of infra/ and azure.yaml that issue 12 asks CI to make without Azure, each shown to
fail on a deliberately broken copy, plus the behaviour of the deployment scripts (run with fake
``azd`` / ``az`` executables on PATH)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.test_infra import AZURE_ROLE_TABLE, GRAPH_APP_ROLE_TABLE, INFRA, ROOT, bicep_params, strip_comments
from tests.test_infra_profiles import evaluate, load_template, parse, render

# --------------------------------------------------------------------------------------------------
# Flex Consumption deny-list
# --------------------------------------------------------------------------------------------------

# Site properties and app settings the Flex Consumption plan lists as deprecated or not supported
# (learn.microsoft.com, "Flex Consumption plan hosting" > deprecated properties, and the app-settings
# reference's Flex Consumption notes; ftpsState: rejected by newer regional stamps, ARM error 51021).
FLEX_DENIED_PROPERTIES = frozenset(
    {
        "properties.siteConfig.ftpsState",
        "properties.siteConfig.alwaysOn",
        "properties.siteConfig.linuxFxVersion",
        "properties.siteConfig.windowsFxVersion",
        "properties.siteConfig.javaVersion",
        "properties.siteConfig.netFrameworkVersion",
        "properties.siteConfig.powerShellVersion",
        "properties.siteConfig.pythonVersion",
        "properties.siteConfig.nodeVersion",
        "properties.siteConfig.use32BitWorkerProcess",
        "properties.siteConfig.functionAppScaleLimit",
        "properties.siteConfig.minimumElasticInstanceCount",
        "properties.siteConfig.preWarmedInstanceCount",
        "properties.siteConfig.acrUseManagedIdentityCreds",
        "properties.siteConfig.acrUserManagedIdentityID",
        "properties.siteConfig.vnetRouteAllEnabled",
        "properties.siteConfig.appSettings",
        "properties.containerSize",
        "properties.dailyMemoryTimeQuota",
    }
)
FLEX_DENIED_SETTINGS = frozenset(
    {
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "ENABLE_ORYX_BUILD",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_CONTENTOVERVNET",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_VNET_ROUTE_ALL",
        "WEBSITE_DNS_SERVER",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "PYTHON_ISOLATE_WORKER_DEPENDENCIES",
        "AzureWebJobsStorage__accountName",
        "PYTHON_THREADPOOL_THREAD_COUNT",
    }
)
"""``AzureWebJobsStorage__accountName`` is not deprecated for Flex, but it resolves to the public
cloud's storage suffix only (issue 12, point 7): the template sets the account's service URIs."""


def _paths(node: Any, prefix: str = "") -> set[str]:
    if node[0] != "object":
        return set()
    out = set()
    for key, value in node[1]:
        if key.startswith("resource "):
            continue
        path = f"{prefix}.{key}" if prefix else key
        out.add(path)
        out |= _paths(value, path)
    return out


def flex_problems(root: Path = INFRA) -> list[str]:
    from tests.test_infra_schema import resources

    problems = []
    for r in resources(root):
        if r.type == "Microsoft.Web/sites" and not r.existing:
            problems += [
                f"{r.file}:{r.symbol}: {p} is deprecated on Flex" for p in _paths(r.body) & FLEX_DENIED_PROPERTIES
            ]
    api = root / "app" / "api.bicep"
    settings = set(re.findall(r"^\s+'?([A-Za-z_][A-Za-z0-9_]*)'?:", strip_comments(api.read_text()), re.M))
    problems += [f"api.bicep: app setting {s} is not for Flex Consumption" for s in settings & FLEX_DENIED_SETTINGS]
    return sorted(problems)


def _broken_copy(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    target = copy / rel
    text = target.read_text(encoding="utf-8")
    assert old in text, old
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


def test_no_flex_deprecated_property_or_setting() -> None:
    assert flex_problems() == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("      minTlsVersion: '1.2'", "      ftpsState: 'Disabled'\n      minTlsVersion: '1.2'", "ftpsState"),
        (
            "  AZURE_CLIENT_ID: identityClientId",
            "  AZURE_CLIENT_ID: identityClientId\n  FUNCTIONS_WORKER_RUNTIME: 'python'",
            "FUNCTIONS_WORKER_RUNTIME",
        ),
        (
            "  AzureWebJobsStorage__credential:",
            "  AzureWebJobsStorage__accountName: storage.name\n  AzureWebJobsStorage__credential:",
            "AzureWebJobsStorage__accountName",
        ),
    ],
)
def test_flex_deny_list_catches_a_broken_copy(tmp_path: Path, old: str, new: str, expected: str) -> None:
    copy = _broken_copy(tmp_path, "app/api.bicep", old, new)
    assert any(expected in p for p in flex_problems(copy))


# --------------------------------------------------------------------------------------------------
# Tenant-scope modules default off
# --------------------------------------------------------------------------------------------------


def tenant_scope_problems(root: Path = INFRA) -> list[str]:
    """Every ``scope: tenant()`` module is ``if (<bool param>)`` whose template default and azd
    default are both false (a subscription Owner cannot deploy at "/")."""
    main = load_template((root / "main.bicep").read_text(encoding="utf-8"))
    given = json.loads((root / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    problems = []
    tenant_modules = [
        (name, cond)
        for name, (_, cond, body) in main.blocks.items()
        if dict(body[1]).get("scope") == ("call", "tenant", [])
    ]
    if not tenant_modules and "tenant()" in strip_comments((root / "main.bicep").read_text(encoding="utf-8")):
        problems.append("a tenant() scope the check could not attribute to a module")
    for name, cond in tenant_modules:
        if cond is None or cond[0] != "name":
            problems.append(f"module {name}: scope tenant() without an if (<parameter>) condition")
            continue
        param = cond[1]
        default = main.params.get(param)
        if default is None or evaluate(default, {}) is not False:
            problems.append(f"module {name}: parameter {param} does not default to false")
        azd = given.get(param, {}).get("value", "")
        if azd and not re.fullmatch(r"\$\{\w+=false\}", azd):
            problems.append(f"module {name}: main.parameters.json feeds {param} with {azd!r}, not default false")
    return problems


def test_tenant_scope_modules_default_off() -> None:
    assert tenant_scope_problems() == []
    assert render({}).modules.isdisjoint({"tenantDiagnostics"})


@pytest.mark.parametrize(
    ("rel", "old", "new"),
    [
        (
            "main.bicep",
            "param enableTenantDiagnosticSetting bool = false",
            "param enableTenantDiagnosticSetting bool = true",
        ),
        (
            "main.parameters.json",
            "${ENABLE_TENANT_DIAGNOSTIC_SETTING=false}",
            "${ENABLE_TENANT_DIAGNOSTIC_SETTING=true}",
        ),
        (
            "main.bicep",
            "= if (enableTenantDiagnosticSetting) {\n  name: 'tenant-diagnostics",
            "= {\n  name: 'tenant-diagnostics",
        ),
    ],
)
def test_tenant_scope_check_catches_a_broken_copy(tmp_path: Path, rel: str, old: str, new: str) -> None:
    assert tenant_scope_problems(_broken_copy(tmp_path, rel, old, new))


# --------------------------------------------------------------------------------------------------
# Role-definition GUIDs and Graph app-role ids
# --------------------------------------------------------------------------------------------------

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def id_problems(root: Path = INFRA) -> list[str]:
    """Every GUID literal in the role and app-role tables must be the id its comment names, and every
    role id an assignment uses must come from such a table."""
    problems = []
    for rel, table in (
        ("app/rbac.bicep", AZURE_ROLE_TABLE),
        ("app/graph-permissions.bicep", GRAPH_APP_ROLE_TABLE),
        ("app/provider-app.bicep", GRAPH_APP_ROLE_TABLE),
    ):
        text = (root / rel).read_text(encoding="utf-8")
        entries = re.findall(rf"^\s*\w+:\s*'({_GUID})'\s*//\s*(.+?)\s*$", text, re.M)
        if not entries:
            problems.append(f"{rel}: no id table")
        for guid, name in entries:
            if table.get(name) != guid.lower():
                problems.append(f"{rel}: {name} is {table.get(name)}, not {guid}")
        stray = set(re.findall(_GUID, strip_comments(text))) - {g for g, _ in entries}
        stray -= {"00000003-0000-0000-c000-000000000000"}  # Microsoft Graph's appId (graph-permissions, provider-app)
        problems += [f"{rel}: GUID {g} outside the named table" for g in sorted(stray)]
    return problems


def test_role_and_app_role_ids_match_the_sourced_tables() -> None:
    assert id_problems() == []
    assert re.search(
        r"var graphAppId = '00000003-0000-0000-c000-000000000000'", (INFRA / "app/graph-permissions.bicep").read_text()
    )


@pytest.mark.parametrize(
    ("rel", "old", "new"),
    [
        (
            "app/rbac.bicep",
            "'4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User",
            "'4633458b-17de-408a-b874-0445c86b69e7' // Key Vault Secrets User",
        ),
        (
            "app/rbac.bicep",
            "'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer",
            "'4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets Officer",
        ),
        (
            "app/graph-permissions.bicep",
            "'b633e1c5-b582-4048-a93e-9f11b44c7e96' // Mail.Send",
            "'b633e1c5-b582-4048-a93e-9f11b44c7e97' // Mail.Send",
        ),
        (
            "app/provider-app.bicep",
            "'7ab1d382-f21e-4acd-a863-ba3e13f7da61' // Directory.Read.All",
            "'7ab1d382-f21e-4acd-a863-ba3e13f7da62' // Directory.Read.All",
        ),
    ],
)
def test_id_check_catches_a_broken_copy(tmp_path: Path, rel: str, old: str, new: str) -> None:
    assert id_problems(_broken_copy(tmp_path, rel, old, new))


# --------------------------------------------------------------------------------------------------
# azure.yaml against azd's schema; required azd version
# --------------------------------------------------------------------------------------------------

AZD_SCHEMA = ROOT / "tests" / "fixtures" / "azd" / "azure.yaml.schema.json"
MIN_AZD = (1, 17, 0)
"""azd 1.17.0 bundles Bicep 0.36.1 (azd CHANGELOG "Update Bicep CLI to v0.36.1", PR 5245), the first
Bicep the Microsoft Graph extension version in infra/bicepconfig.json works with."""


def azure_yaml_problems(text: str) -> list[str]:
    import jsonschema
    import yaml

    doc = yaml.safe_load(text)
    schema = json.loads(AZD_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    required = str((doc.get("requiredVersions") or {}).get("azd", ""))
    m = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)", required.strip())
    if not m or tuple(map(int, m.groups())) < MIN_AZD:
        problems.append(f"requiredVersions.azd is {required!r}; needs >= {'.'.join(map(str, MIN_AZD))}")
    hooks = re.findall(r"run: (\./infra/scripts/[\w.-]+)", text)
    problems.extend(f"hook {hook} does not exist" for hook in hooks if not (ROOT / hook).exists())
    return problems


def test_azure_yaml_matches_azd_schema_and_requires_azd_with_bicep_0_36_1() -> None:
    assert azure_yaml_problems((ROOT / "azure.yaml").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('  azd: ">= 1.17.0"', '  azd: ">= 1.16.1"'),
        ("requiredVersions:\n", "requiredVersion:\n"),
        ("      shell: sh\n", "      shell: bash\n"),
        ("    host: function\n", "    host: function\n    image: nginx\n"),
        ("name: webex-sync-remediator", "name: Webex_Sync"),
    ],
)
def test_azure_yaml_check_catches_a_broken_copy(old: str, new: str) -> None:
    text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert old in text, old
    assert azure_yaml_problems(text.replace(old, new, 1))


# --------------------------------------------------------------------------------------------------
# Location allow-list
# --------------------------------------------------------------------------------------------------

FLEX_REGIONS = frozenset(
    # Source: Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep @allowed list
    # (commit 0bb0f1062c51605e3fdeea59c4f669b550acf92e), without its canary region eastus2euap; the live
    # list is `az functionapp list-flexconsumption-locations`.
    {
        "australiaeast",
        "australiasoutheast",
        "brazilsouth",
        "canadacentral",
        "centralindia",
        "centralus",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "germanywestcentral",
        "italynorth",
        "japaneast",
        "koreacentral",
        "northcentralus",
        "northeurope",
        "norwayeast",
        "southafricanorth",
        "southcentralus",
        "southeastasia",
        "southindia",
        "spaincentral",
        "swedencentral",
        "uaenorth",
        "uksouth",
        "ukwest",
        "westcentralus",
        "westeurope",
        "westus",
        "westus2",
        "westus3",
    }
)


def location_problems(root: Path = INFRA) -> list[str]:
    main = load_template((root / "main.bicep").read_text(encoding="utf-8"))
    allowed = main.allowed.get("location")
    if not allowed:
        return ["param location has no @allowed list"]
    return [f"{r}: not a Flex Consumption region" for r in sorted(set(allowed) - FLEX_REGIONS)]


def test_location_offers_only_flex_consumption_regions() -> None:
    assert location_problems() == []
    assert load_template((INFRA / "main.bicep").read_text()).allowed["location"]


@pytest.mark.parametrize(
    ("old", "new"),
    [("  'westus3'\n])", "  'westus3'\n  'usgovvirginia'\n])"), ("  'westus3'\n])", "  'westus3'\n  'japanwest'\n])")],
)
def test_location_check_catches_a_broken_copy(tmp_path: Path, old: str, new: str) -> None:
    assert location_problems(_broken_copy(tmp_path, "main.bicep", old, new))


def test_location_check_fails_without_an_allow_list(tmp_path: Path) -> None:
    text = (INFRA / "main.bicep").read_text()
    start = text.index("@allowed([\n  'australiaeast'")
    end = text.index("])", start) + 3
    copy = _broken_copy(tmp_path, "main.bicep", text[start:end], "")
    assert location_problems(copy) == ["param location has no @allowed list"]


# --------------------------------------------------------------------------------------------------
# The alert webhook carries the alert function's own key
# --------------------------------------------------------------------------------------------------


def webhook_key_problems(root: Path = INFRA) -> list[str]:
    text = strip_comments((root / "app" / "audit-alert.bicep").read_text(encoding="utf-8"))
    problems = []
    if "functionKeys" in text or "sites/host@" in text or "masterKey" in text:
        problems.append("audit-alert.bicep reads a host-level key")
    m = re.search(
        r"resource (\w+) 'Microsoft\.Web/sites/functions@[^']+' existing = \{\s*parent: functionApp\s*"
        r"name: alertFunctionName\s*\}",
        text,
    )
    uri = re.search(r"serviceUri: '([^']*)'", text)
    if not m or not uri or f"?code=${{{m.group(1)}.listKeys().default}}" not in uri.group(1):
        problems.append("the webhook URL does not carry the alert function's own default key")
    main = bicep_params((root / "main.bicep").read_text(encoding="utf-8"))
    source = (ROOT / "functions" / "alerts.py").read_text(encoding="utf-8")
    name = re.search(r'function_name\("(\w+)"\)', source)
    if not name or main.get("alertFunctionName") != f"'{name.group(1)}'":
        problems.append("main.bicep alertFunctionName is not the alert function's name in functions/alerts.py")
    return problems


def test_alert_webhook_uses_the_alert_functions_key_only() -> None:
    assert webhook_key_problems() == []


def test_webhook_key_check_catches_the_host_key(tmp_path: Path) -> None:
    copy = _broken_copy(
        tmp_path,
        "app/audit-alert.bicep",
        "?code=${alertFunction.listKeys().default}",
        "?code=${functionHost.listKeys().functionKeys.default}",
    )
    assert webhook_key_problems(copy)
    copy2 = _broken_copy(
        tmp_path / "b",
        "main.bicep",
        "param alertFunctionName string = 'monitor_alert'",
        "param alertFunctionName string = 'alerts'",
    )
    assert webhook_key_problems(copy2)


# --------------------------------------------------------------------------------------------------
# Settings round-trip through azd (issue 12 point 8)
# --------------------------------------------------------------------------------------------------


def documented_settings() -> list[str]:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Settings") : doc.index("## OPTIONAL_SETTINGS")]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", section, re.M)


def round_trip_problems(root: Path = INFRA) -> list[str]:
    """Each documented setting: ``azd env set NAME x`` -> main.parameters.json ``${NAME=…}`` -> a
    main.bicep parameter -> app setting NAME == x, rendered."""
    import tests.test_infra_profiles as profiles

    given = json.loads((root / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    by_var = {}
    for param, entry in given.items():
        m = re.fullmatch(r"\$\{(\w+)(?:=.*)?\}", entry["value"])
        if m:
            by_var[m.group(1)] = param
    problems = []
    saved = profiles.INFRA
    profiles.INFRA = root
    try:
        for name in documented_settings():
            if name not in by_var:
                problems.append(f"{name}: no ${{{name}=…}} in main.parameters.json")
                continue
            sentinel = "https://sentinel.example/v1" if name.endswith(("_URL", "_BASE", "_ENDPOINT")) else "42"
            settings = render({by_var[name]: sentinel}).app_settings
            if settings.get(name) != sentinel:
                problems.append(f"{name}: azd value does not reach the app setting ({settings.get(name)!r})")
    finally:
        profiles.INFRA = saved
    return problems


def test_every_documented_setting_round_trips_through_azd() -> None:
    assert len(documented_settings()) >= 8
    assert round_trip_problems() == []


def test_round_trip_check_catches_a_broken_copy(tmp_path: Path) -> None:
    copy = _broken_copy(tmp_path, "main.bicep", "REMINDER_HOURS: reminderHours", "REMINDER_HOURS: ''")
    assert round_trip_problems(copy) == ["REMINDER_HOURS: azd value does not reach the app setting ('')"]


# --------------------------------------------------------------------------------------------------
# OpenTelemetry switch (issue 13 point 5)
# --------------------------------------------------------------------------------------------------

WORKER_OTEL_SETTING = "PYTHON_ENABLE_OPENTELEMETRY"
"""What the Python worker reads to report the OpenTelemetry capability to the host (so the host stops
forwarding the worker's logs itself): azure-functions-python-worker ``dispatcher.py``
``_handle__worker_init_request`` (Azure/azure-functions-python-worker, azure_functions_worker/
dispatcher.py at 004e12525bc2a831228f30845bb601b7b42936f9) and the library worker's
``worker_init_request`` (same name, plus ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY`` there only
makes the *worker* call ``configure_azure_monitor``, which this app does itself, with its managed
identity). docs/deploy.md, "OpenTelemetry switch"."""


def otel_problems(root: Path = INFRA) -> list[str]:
    """The rendered app settings turn on what the worker reads and what shared/core/telemetry.py reads."""
    import tests.test_infra_profiles as profiles
    from shared.core import telemetry

    saved = profiles.INFRA
    profiles.INFRA = root
    try:
        settings = render({}).app_settings
    finally:
        profiles.INFRA = saved
    problems = []
    if settings.get(WORKER_OTEL_SETTING) != "true":
        problems.append(f"{WORKER_OTEL_SETTING} is not 'true'")
    if "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" in settings:
        problems.append("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY set: the worker would configure a second exporter")
    if not telemetry.otel_enabled(settings):
        problems.append("shared/core/telemetry.py does not start its exporter under the deployed settings")
    return problems


def test_the_template_sets_what_the_worker_and_the_app_read() -> None:
    from shared.core import telemetry

    assert otel_problems() == []
    assert not telemetry.otel_enabled({**render({}).app_settings, WORKER_OTEL_SETTING: "false"})
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["telemetryMode"] == "OpenTelemetry"


def test_otel_check_catches_the_other_setting(tmp_path: Path) -> None:
    copy = _broken_copy(
        tmp_path,
        "app/api.bicep",
        "PYTHON_ENABLE_OPENTELEMETRY: 'true'",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'",
    )
    assert len(otel_problems(copy)) == 3


def test_no_second_exporter_when_the_worker_configured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Older workers configure the distro themselves under PYTHON_ENABLE_OPENTELEMETRY: then the app
    must not configure it again (every line would be exported twice)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from shared.core import telemetry

    monkeypatch.setattr(trace, "get_tracer_provider", TracerProvider)
    assert telemetry._sdk_already_configured()
    monkeypatch.setattr(trace, "get_tracer_provider", trace.NoOpTracerProvider)
    assert not telemetry._sdk_already_configured()


# --------------------------------------------------------------------------------------------------
# Storage in any cloud (issue 12 point 7, the code side)
# --------------------------------------------------------------------------------------------------


def test_storage_uris_come_from_the_deployment_not_a_public_suffix() -> None:
    from shared.core.errors import ConfigError
    from shared.core.settings import storage_config

    gov = {
        "AzureWebJobsStorage__queueServiceUri": "https://st1.queue.core.usgovcloudapi.net/",
        "AzureWebJobsStorage__tableServiceUri": "https://st1.table.core.usgovcloudapi.net/",
        "AzureWebJobsStorage__clientId": "cid",
    }
    cfg = storage_config(gov)
    assert (cfg.queue_service_uri, cfg.table_service_uri, cfg.client_id) == (
        "https://st1.queue.core.usgovcloudapi.net",
        "https://st1.table.core.usgovcloudapi.net",
        "cid",
    )
    with pytest.raises(ConfigError, match="__queueServiceUri"):
        storage_config({"AzureWebJobsStorage__accountName": "st1"})  # would have meant *.core.windows.net
    assert "core.windows.net" not in (ROOT / "shared" / "core" / "settings.py").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The "health timer stopped" alert against what the app logs
# --------------------------------------------------------------------------------------------------


def kql_where_event(query: str) -> tuple[str, str]:
    """The shipped health query, parsed: (table, event name). Only the shape the template uses."""
    m = re.fullmatch(
        r"(\w+)\n\| where tostring\(customDimensions\[\"event\"\]\) == \"(\w+)\"\n\| summarize Runs = count\(\)", query
    )
    if not m:
        raise AssertionError(f"unexpected health query shape:\n{query}")
    return m.group(1), m.group(2)


def health_query(root: Path = INFRA) -> str:
    alerts = load_template((root / "app" / "alerts.bicep").read_text(encoding="utf-8"))
    scope = {
        "healthTickEvent": evaluate(alerts.params["healthTickEvent"] or parse("''"), {}),
        "healthFunctionName": "health_check",
    }
    return str(
        evaluate(
            parse("join(healthQueryLines, '\\n')"),
            {**scope, "healthQueryLines": evaluate(alerts.variables["healthQueryLines"], scope)},
        )
    )


def runs_counted(query: str, records: list[Any]) -> int:
    """Rows the query counts among the app's log records, as the OpenTelemetry log exporter writes
    them to the ``traces`` table: each record's ``extra`` attributes become customDimensions."""
    table, event = kql_where_event(query)
    if table != "traces":
        return 0  # the app writes no other table itself (requests rows come from the host, if at all)
    return sum(1 for r in records if getattr(r, "event", None) == event and r.levelno >= 20)


async def test_health_alert_counts_every_tick_the_app_logs(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from azure.functions.timer import TimerRequest

    caplog.set_level(logging.INFO)
    health = app_functions["health_check"].get_user_function()
    for _ in range(3):
        await health(TimerRequest(past_due=False))
    query = health_query()
    assert runs_counted(query, caplog.records) == 3, "one structured event per tick"
    old = 'requests\n| where name == "health_check"\n| summarize Runs = count()'
    with pytest.raises(AssertionError):
        runs_counted(old, caplog.records)  # the old query: not the app's own signal


def test_health_event_name_matches_the_code() -> None:
    from functions.health import TICK_EVENT

    assert kql_where_event(health_query())[1] == TICK_EVENT


# --------------------------------------------------------------------------------------------------
# Deployment scripts, run with fake azd / az
# --------------------------------------------------------------------------------------------------


def _fake_bin(tmp_path: Path, name: str, script: str) -> None:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    path.chmod(0o755)


def _run(tmp_path: Path, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=ROOT, check=False, timeout=30)


def test_wiring_hook_retries_a_failed_provision_without_a_human(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    count = tmp_path / "count"
    # azd provision fails twice (Entra replication), then succeeds; `sleep` is recorded, not slept.
    _fake_bin(
        tmp_path,
        "azd",
        f'echo "azd $*" >> {log}\nif [ "$1" = provision ]; then\n'
        f"  n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}\n"
        '  [ "$n" -ge 3 ] || exit 1\nfi\n',
    )
    _fake_bin(tmp_path, "sleep", f'echo "sleep $*" >> {log}\n')
    result = _run(tmp_path, ["sh", "infra/scripts/wire-triggers.sh"], {"WIRE_TRIGGERS": "false"})
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls == [
        "azd env set WIRE_TRIGGERS true",
        "azd provision --no-prompt",
        "sleep 60",
        "azd provision --no-prompt",
        "sleep 60",
        "azd provision --no-prompt",
    ]


def test_wiring_hook_gives_up_after_three_attempts(tmp_path: Path) -> None:
    _fake_bin(tmp_path, "azd", '[ "$1" = provision ] && exit 1\nexit 0\n')
    _fake_bin(tmp_path, "sleep", "exit 0\n")
    result = _run(tmp_path, ["sh", "infra/scripts/wire-triggers.sh"], {"WIRE_TRIGGERS": "false"})
    assert result.returncode == 1 and "azd provision" in result.stderr


def test_tenant_diagnostic_setting_script_is_one_arm_call_without_tenant_deployment(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    workspace = "/subscriptions/s/resourceGroups/rg-webex/providers/Microsoft.OperationalInsights/workspaces/log-x"
    _fake_bin(
        tmp_path,
        "azd",
        f'case "$*" in\n  *LOG_ANALYTICS_WORKSPACE_RESOURCE_ID) echo "{workspace}";;\n'
        '  *TENANT_DIAGNOSTIC_SETTING_NAME) echo "webex-remediator-tok";;\n  *) exit 3;;\nesac\n',
    )
    _fake_bin(
        tmp_path,
        "az",
        f'echo "az $*" >> {log}\ncase "$*" in\n  *"cloud show"*) echo "https://management.usgovcloudapi.net/";;\nesac\n',
    )
    assert _run(tmp_path, ["sh", "infra/scripts/tenant-diagnostics.sh", "create"]).returncode == 0
    assert _run(tmp_path, ["sh", "infra/scripts/tenant-diagnostics.sh", "delete"]).returncode == 0
    calls = [c for c in log.read_text().splitlines() if c.startswith("az rest")]
    url = "https://management.usgovcloudapi.net/providers/microsoft.aadiam/diagnosticSettings/webex-remediator-tok"
    assert calls[0].startswith(f"az rest --method put --url {url}?api-version=2017-04-01 --body ")
    body = json.loads(calls[0].split(" --body ", 1)[1])
    assert body == {
        "properties": {
            "workspaceId": "/subscriptions/s/resourceGroups/rg-webex/providers/"
            "Microsoft.OperationalInsights/workspaces/log-x",
            "logs": [{"category": "AuditLogs", "enabled": True}],
        }
    }
    assert calls[1] == f"az rest --method delete --url {url}?api-version=2017-04-01"
    assert not any("deployment tenant" in c for c in log.read_text().splitlines())
