"""The deployment templates (infra/) against the code, offline and fast.

* Settings drift, both ways: every setting the code reads is set by the Bicep or documented as
  optional (the OPTIONAL_SETTINGS table in docs/deploy.md), and the Bicep sets nothing the code does
  not read (platform settings aside). The checker is a pure function, so a self-test proves it fails
  when a name changes on either side.
* Every resource issue 6 names is in the templates; no output carries a key, secret, password or
  connection string; secure parameters have no default and are never fed from the azd env file.
* Names the templates share with the code (queues, table, functions, route, KQL activities) agree.

No Bicep compiler here (none installs from a package registry without downloading binaries at run
time), so templates are read as text: comments stripped, objects brace-matched. checkov runs in
scripts/checkov.sh, not from pytest.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
CODE_DIRS = ("shared", "functions")
CODE_FILES = ("function_app.py",)

# Read by the Functions host, the App Insights agent or azure-identity, not by our code.
PLATFORM_SETTINGS = frozenset({"AZURE_CLIENT_ID", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME"})
PLATFORM_PREFIXES = ("AzureWebJobsStorage__", "APPLICATIONINSIGHTS_", "WEBSITE_", "AzureFunctionsJobHost__")

# Read only by local tooling (the demo against the loopback simulator); never set in Azure.
LOCAL_ONLY_SETTINGS = frozenset({"SIMULATOR_URL", "SSL_CERT_FILE"})

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BINDING_EXPR = re.compile(r"^%([A-Za-z_][A-Za-z0-9_]*)%$")


# --------------------------------------------------------------------------------------------------
# Bicep as text
# --------------------------------------------------------------------------------------------------


def strip_comments(text: str) -> str:
    """Drop ``//`` and ``/* */`` comments, keeping string literals (``'https://…'``) intact."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("'''", i):
            end = text.find("'''", i + 3)
            end = n if end < 0 else end + 3
            out.append(text[i:end])
            i = end
        elif text[i] == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _block(text: str, open_at: int) -> str:
    """The ``{…}`` block whose opening brace is at ``open_at`` (comments already stripped)."""
    depth = 0
    in_string = False
    for i in range(open_at, len(text)):
        c = text[i]
        if in_string:
            if c == "\\":
                continue
            if c == "'":
                in_string = False
        elif c == "'":
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[open_at : i + 1]
    raise ValueError("unbalanced braces")


def top_level_keys(block: str) -> list[str]:
    """Keys of the outermost object in ``block`` (``KEY: value`` or ``'KEY': value`` lines)."""
    keys: list[str] = []
    depth = 0
    for line in block.splitlines():
        stripped = line.strip()
        if depth == 1:
            m = re.match(r"^'?([A-Za-z_][A-Za-z0-9_]*)'?\s*:", stripped)
            if m:
                keys.append(m.group(1))
        depth += stripped.count("{") + stripped.count("[") - stripped.count("}") - stripped.count("]")
    return keys


def settings_objects(text: str) -> dict[str, list[str]]:
    """``var <name>Settings = { … }`` objects of one template: the app settings it composes."""
    text = strip_comments(text)
    found: dict[str, list[str]] = {}
    for m in re.finditer(r"^var\s+(\w*[Ss]ettings)\s*=\s*\{", text, re.M):
        found[m.group(1)] = top_level_keys(_block(text, m.end() - 1))
    return found


def bicep_texts() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in sorted(INFRA.rglob("*.bicep"))}


def bicep_app_settings(texts: Mapping[str, str]) -> set[str]:
    names: set[str] = set()
    for text in texts.values():
        for keys in settings_objects(text).values():
            names.update(keys)
    return names


@dataclass(frozen=True)
class Output:
    file: str
    name: str
    expression: str


def bicep_outputs(texts: Mapping[str, str]) -> list[Output]:
    return [
        Output(file, m.group(1), m.group(2).strip())
        for file, text in texts.items()
        for m in re.finditer(r"^output\s+(\w+)\s+\w+\s*=\s*(.+)$", strip_comments(text), re.M)
    ]


def bicep_params(text: str) -> dict[str, str | None]:
    """Parameter name -> default expression (None: no default) of one template."""
    params: dict[str, str | None] = {}
    for m in re.finditer(r"^param\s+(\w+)\s+\w+(?:\s*=\s*(.+))?$", strip_comments(text), re.M):
        params[m.group(1)] = m.group(2).strip() if m.group(2) else None
    return params


def secure_params(text: str) -> set[str]:
    return set(re.findall(r"@secure\(\)\s*(?:@description\([^\n]*\)\s*)*param\s+(\w+)", strip_comments(text)))


# --------------------------------------------------------------------------------------------------
# What the code reads
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeReads:
    settings: frozenset[str]
    connections: frozenset[str] = frozenset()
    """Binding ``connection=`` prefixes: satisfied by ``PREFIX`` or any ``PREFIX__*`` setting."""


def _python_files() -> list[Path]:
    files = [ROOT / f for f in CODE_FILES if (ROOT / f).exists()]
    for d in CODE_DIRS:
        files.extend(sorted((ROOT / d).rglob("*.py")))
    return files


def _string_constants(trees: Iterable[ast.Module]) -> dict[str, str]:
    """Module-level ``NAME = "text"`` constants, to resolve ``connection=STORAGE_CONNECTION``."""
    consts: dict[str, str] = {}
    for tree in trees:
        for node in tree.body:
            target = value = None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                consts[target.id] = value.value
    return consts


def _resolve(node: ast.expr, consts: Mapping[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.Attribute):
        return consts.get(node.attr)
    return None


def _is_environ(node: ast.expr) -> bool:
    """``os.environ``, ``environ`` or a mapping named ``env`` (how the code passes the environment)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in {"environ", "env"}


def scan_code(sources: Mapping[str, str]) -> CodeReads:
    """Setting names read by the code: ``os.environ[...]``/``.get(...)``/``os.getenv(...)`` string
    literals, ``%NAME%`` binding expressions and binding ``connection=`` names. (Names built at run
    time, like ``f"{prefix}__accountName"``, are invisible here; they belong to the platform.)"""
    trees = [ast.parse(src, filename=name) for name, src in sources.items()]
    consts = _string_constants(trees)
    settings: set[str] = set()
    connections: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            name: str | None = None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in {"get", "pop", "setdefault"}:
                    if _is_environ(func.value):
                        name = _resolve(node.args[0], consts)
                elif (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                    isinstance(func, ast.Name) and func.id == "getenv"
                ):
                    name = _resolve(node.args[0], consts)
            elif isinstance(node, ast.Subscript) and _is_environ(node.value):
                name = _resolve(node.slice, consts)
            elif isinstance(node, ast.keyword) and node.arg == "connection":
                conn = _resolve(node.value, consts)
                if conn:
                    connections.add(conn)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                m = _BINDING_EXPR.match(node.value)
                if m:
                    settings.add(m.group(1))
            if name and _SETTING_NAME.match(name):
                settings.add(name)
    return CodeReads(frozenset(settings), frozenset(connections))


def code_reads() -> CodeReads:
    from shared.core.settings import Settings

    sources = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in _python_files()}
    scanned = scan_code(sources)
    aliases = {f.alias for f in Settings.model_fields.values() if f.alias}
    return replace(scanned, settings=scanned.settings | aliases)


# --------------------------------------------------------------------------------------------------
# The OPTIONAL_SETTINGS table in docs/deploy.md
# --------------------------------------------------------------------------------------------------


def optional_settings(markdown: str) -> set[str]:
    """First-column names (in backticks) of the first table after the ``OPTIONAL_SETTINGS`` marker."""
    at = markdown.find("OPTIONAL_SETTINGS")
    if at < 0:
        raise AssertionError("docs/deploy.md has no OPTIONAL_SETTINGS section")
    names: set[str] = set()
    in_table = False
    for line in markdown[at:].splitlines()[1:]:
        if line.lstrip().startswith("|"):
            in_table = True
            cell = line.strip().strip("|").split("|")[0].strip()
            m = re.fullmatch(r"`([A-Za-z_][A-Za-z0-9_]*)`", cell)
            if m:
                names.add(m.group(1))
        elif in_table:
            break
    return names


# --------------------------------------------------------------------------------------------------
# The drift checker (pure)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftInputs:
    code: CodeReads
    bicep: frozenset[str]
    optional: frozenset[str]
    platform: frozenset[str] = PLATFORM_SETTINGS
    platform_prefixes: tuple[str, ...] = PLATFORM_PREFIXES
    local_only: frozenset[str] = LOCAL_ONLY_SETTINGS


def _is_platform(name: str, inputs: DriftInputs) -> bool:
    return name in inputs.platform or name.startswith(inputs.platform_prefixes)


def check_drift(inputs: DriftInputs) -> list[str]:
    """Problems, one line each; empty when templates, docs and code agree."""
    problems = [
        f"{name}: read by the code, but neither set in infra/ nor listed in OPTIONAL_SETTINGS"
        for name in sorted(inputs.code.settings)
        if name not in inputs.bicep | inputs.optional | inputs.local_only and not _is_platform(name, inputs)
    ]
    problems.extend(
        f"{conn}: binding connection with no {conn} or {conn}__* setting in infra/"
        for conn in sorted(inputs.code.connections)
        if conn not in inputs.bicep and not any(b.startswith(f"{conn}__") for b in inputs.bicep)
    )
    for name in sorted(inputs.bicep):
        read = name in inputs.code.settings or any(name.startswith(f"{c}__") for c in inputs.code.connections)
        if not read and not _is_platform(name, inputs):
            problems.append(f"{name}: set in infra/, but the code never reads it")
    problems.extend(
        f"{name}: local-only, must not be set in infra/" for name in sorted(inputs.bicep & inputs.local_only)
    )
    for name in sorted(inputs.optional):
        if name not in inputs.code.settings and not _is_platform(name, inputs):
            problems.append(f"{name}: listed in OPTIONAL_SETTINGS, but the code never reads it")
        if name in inputs.bicep:
            problems.append(f"{name}: listed in OPTIONAL_SETTINGS, but infra/ sets it")
    return problems


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return bicep_texts()


@pytest.fixture(scope="module")
def drift_inputs(texts: dict[str, str]) -> DriftInputs:
    return DriftInputs(
        code=code_reads(),
        bicep=frozenset(bicep_app_settings(texts)),
        optional=frozenset(optional_settings(DEPLOY_DOC.read_text(encoding="utf-8"))),
    )


def test_settings_do_not_drift(drift_inputs: DriftInputs) -> None:
    assert drift_inputs.bicep, "no app settings found in infra/ (var …Settings = { … })"
    assert check_drift(drift_inputs) == []


def test_drift_check_fails_when_code_renames_a_setting(drift_inputs: DriftInputs) -> None:
    renamed = (drift_inputs.code.settings - {"WEBEX_ORG_ID"}) | {"WEBEX_ORGANIZATION_ID"}
    problems = check_drift(replace(drift_inputs, code=replace(drift_inputs.code, settings=renamed)))
    assert any(p.startswith("WEBEX_ORGANIZATION_ID:") and "neither set" in p for p in problems)
    assert any(p.startswith("WEBEX_ORG_ID:") and "never reads" in p for p in problems)


def test_drift_check_fails_when_bicep_renames_a_setting(drift_inputs: DriftInputs) -> None:
    renamed = (drift_inputs.bicep - {"HEALTH_SCHEDULE"}) | {"HEALTH_CRON"}
    problems = check_drift(replace(drift_inputs, bicep=renamed))
    assert any(p.startswith("HEALTH_SCHEDULE:") for p in problems)
    assert any(p.startswith("HEALTH_CRON:") for p in problems)


def test_drift_check_fails_on_stale_optional_docs_and_lost_connection(drift_inputs: DriftInputs) -> None:
    stale = check_drift(replace(drift_inputs, optional=drift_inputs.optional | {"NO_SUCH_SETTING"}))
    assert any(p.startswith("NO_SUCH_SETTING:") for p in stale)
    no_storage = check_drift(
        replace(drift_inputs, bicep=frozenset(b for b in drift_inputs.bicep if not b.startswith("AzureWebJobsStorage")))
    )
    if drift_inputs.code.connections:
        assert any("binding connection" in p for p in no_storage)


def test_scanner_sees_every_way_the_code_reads_a_setting() -> None:
    src = (
        "import os\n"
        'CONN = "MyStorage"\n'
        'a = os.environ["ALPHA"]\n'
        'b = os.environ.get("BRAVO", "")\n'
        'c = os.getenv("CHARLIE")\n'
        'def f(env): return env.get("DELTA")\n'
        'd = {"x": 1}.get("NOT_A_SETTING")\n'
        '@app.timer_trigger(schedule="%ECHO%")\n'
        "def g(): ...\n"
        '@app.queue_trigger(queue_name="q", connection=CONN)\n'
        "def h(): ...\n"
    )
    reads = scan_code({"x.py": src})
    assert reads.settings == {"ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO"}
    assert reads.connections == {"MyStorage"}


def test_settings_parser_reads_quoted_and_nested_keys() -> None:
    text = (
        "var appSettings = {\n"
        "  // COMMENTED_OUT: 'x'\n"
        "  PLAIN: 'https://example.com/a//b'\n"
        "  'QUOTED': 1\n"
        "  NESTED: {\n"
        "    INNER: 2\n"
        "  }\n"
        "  AFTER: cond ? 'a' : 'b'\n"
        "}\n"
    )
    assert settings_objects(text) == {"appSettings": ["PLAIN", "QUOTED", "NESTED", "AFTER"]}


# --------------------------------------------------------------------------------------------------
# Resources, outputs, secrets
# --------------------------------------------------------------------------------------------------

REQUIRED_RESOURCE_TYPES = (
    "Microsoft.Resources/resourceGroups",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
    "Microsoft.OperationalInsights/workspaces",
    "Microsoft.Insights/components",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Storage/storageAccounts/blobServices/containers",
    "Microsoft.Storage/storageAccounts/queueServices/queues",
    "Microsoft.Storage/storageAccounts/tableServices/tables",
    "Microsoft.KeyVault/vaults",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Web/serverfarms",
    "Microsoft.Web/sites",
    "Microsoft.Graph/servicePrincipals@v1.0",
    "Microsoft.Graph/appRoleAssignedTo@v1.0",
    "Microsoft.Graph/applications@v1.0",
    "Microsoft.Graph/applications/federatedIdentityCredentials@v1.0",
    "microsoft.aadiam/diagnosticSettings",
    "Microsoft.Insights/scheduledQueryRules",
    "Microsoft.Insights/actionGroups",
    "Microsoft.EventGrid/topics",
    "Microsoft.EventGrid/topics/eventSubscriptions",
)


def _resource_types(texts: Mapping[str, str]) -> set[str]:
    types: set[str] = set()
    for text in texts.values():
        for m in re.finditer(r"^resource\s+\w+\s+'([^'@]+)@([^']+)'", strip_comments(text), re.M):
            types.add(m.group(1))
            types.add(f"{m.group(1)}@{m.group(2)}")
    return types


def _all(texts: Mapping[str, str]) -> str:
    return "\n".join(strip_comments(t) for t in texts.values())


def test_every_resource_the_issue_names_is_declared(texts: dict[str, str]) -> None:
    declared = _resource_types(texts)
    missing = [t for t in REQUIRED_RESOURCE_TYPES if t not in declared]
    assert missing == []


def test_resource_properties_the_issue_requires(texts: dict[str, str]) -> None:
    body = _all(texts)
    for needle in (
        "targetScope = 'subscription'",  # main.bicep
        "targetScope = 'tenant'",  # the tenant diagnostic setting
        "extension microsoftGraphV1",
        "tier: 'FlexConsumption'",
        "name: 'python'\n        version: '3.11'",
        "allowSharedKeyAccess: false",
        "allowBlobPublicAccess: false",
        "minimumTlsVersion: 'TLS1_2'",
        "DisableLocalAuth: true",
        "enableRbacAuthorization: true",
        "useCommonAlertSchema: true",
        "retryPolicy:",
        "deadLetterWithResourceIdentity:",
        "category: 'AuditLogs'",
        "AzureWebJobsStorage__credential: 'managedidentity'",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'",
        "keyVaultReferenceIdentity: identityId",
    ):
        assert needle in body, needle
    assert "alertFunction.listKeys().default" in strip_comments(texts["infra/app/audit-alert.bicep"]), (
        "the alert webhook carries the alert function's own key"
    )


def test_flex_consumption_settings_are_not_set(drift_inputs: DriftInputs) -> None:
    # Flex Consumption rejects these: the runtime and version come from functionAppConfig.
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"} & set(
        drift_inputs.bicep
    )


_FORBIDDEN_IN_OUTPUTS = re.compile(r"list\w*\(|key|secret|password|connectionstring|sas", re.I)


def test_no_output_carries_a_key_secret_password_or_connection_string(texts: dict[str, str]) -> None:
    outputs = bicep_outputs(texts)
    assert outputs
    offending = []
    for out in outputs:
        text = re.sub(r"key_?vault", "", f"{out.name} = {out.expression}", flags=re.I)
        if _FORBIDDEN_IN_OUTPUTS.search(text):
            offending.append(f"{out.file}: output {out.name} = {out.expression}")
    assert offending == []


def test_output_checker_catches_a_leak() -> None:
    leaky = {"x.bicep": "output hostKey string = functionHost.listKeys().functionKeys.default\n"}
    (out,) = bicep_outputs(leaky)
    assert _FORBIDDEN_IN_OUTPUTS.search(out.expression)


def test_secrets_are_secure_parameters_without_defaults_and_never_literals(texts: dict[str, str]) -> None:
    for file, text in texts.items():
        params = bicep_params(text)
        for name in secure_params(text):
            assert params[name] in (None, "''"), f"{file}: secure param {name} has a default"
    body = _all(texts)
    for pattern in (r"AccountKey=", r"SharedAccessSignature", r"[?&]sig=", r"InstrumentationKey=", r"code=[A-Za-z0-9]"):
        assert not re.search(pattern, body), pattern
    # Secrets reach the app only as Key Vault references.
    api = strip_comments(texts["infra/app/api.bicep"])
    for setting in ("WEBEX_ACCESS_TOKEN", "WEBEX_BOT_TOKEN", "TEAMS_WEBHOOK_URL", "NOTIFY_WEBHOOK_SECRET",
                    "ACTION_LINK_KEY", "ACTION_LINK_KEY_PREVIOUS"):  # fmt: skip
        line = next(ln for ln in api.splitlines() if ln.strip().startswith(f"{setting}:"))
        assert "secretRefs." in line, line
    assert api.count("@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/") == 6


# A Key Vault reference whose secret does not exist reaches the app as its literal text: each one is
# set only while the channel or mode that needs it (and whose docs ask for the secret) is on.
SECRET_REF_CONDITIONS = {
    "WEBEX_ACCESS_TOKEN": "empty(webexClientId)",  # static-token mode; a service app has no such secret
    "WEBEX_BOT_TOKEN": "enableWebexSpace",
    "TEAMS_WEBHOOK_URL": "enableTeams",
    "NOTIFY_WEBHOOK_SECRET": "enableWebhook",
    "ACTION_LINK_KEY": "enableActionLinks",
    "ACTION_LINK_KEY_PREVIOUS": "enableActionLinks && actionLinkKeyRotation",  # only while a rotation runs
}


def test_every_key_vault_reference_is_conditional_on_what_needs_it(texts: dict[str, str]) -> None:
    api = strip_comments(texts["infra/app/api.bicep"])
    for setting, condition in SECRET_REF_CONDITIONS.items():
        line = next(ln for ln in api.splitlines() if ln.strip().startswith(f"{setting}:"))
        value = line.split(":", 1)[1].strip()
        assert re.fullmatch(rf"{re.escape(condition)} \? secretRefs\.\w+ : ''", value), line


def test_parameters_file_matches_main_and_feeds_no_secret(texts: dict[str, str]) -> None:
    main = texts["infra/main.bicep"]
    declared = bicep_params(main)
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(given) <= set(declared), set(given) - set(declared)
    required = {name for name, default in declared.items() if default is None}
    assert required <= set(given), required - set(given)
    assert not secure_params(main) & set(given), "secrets must not come from the azd .env file"
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"
    for name in ("webexOrgId", "mailSender", "mailTo", "enableAutoRestore", "enableEmail"):
        assert name in declared
    assert declared["enableAutoRestore"] == "false"
    assert declared["enablePreventionNotes"] == "false", "self-healing features are off by default"
    assert declared["enableTenantDiagnosticSetting"] == "false", "tenant scope needs rights at '/': off"
    assert given["enableTenantDiagnosticSetting"]["value"] == "${ENABLE_TENANT_DIAGNOSTIC_SETTING=false}"
    assert "healthSchedule" in declared


# --------------------------------------------------------------------------------------------------
# Graph permissions and Azure roles
# --------------------------------------------------------------------------------------------------

AZURE_ROLE_TABLE = {
    # Source: learn.microsoft.com/azure/role-based-access-control/built-in-roles (the "ID" column;
    # built-in role ids are the same in every subscription and cloud).
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Log Analytics Reader": "73c42c96-874c-492b-b04d-ab87d138a893",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
}
GRAPH_APP_ROLE_TABLE = {
    # Source: learn.microsoft.com/graph/permissions-reference (application permission ids; the same in
    # every tenant).
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "AuditLog.Read.All": "b0afded3-3588-46d8-8b3d-9842eff778da",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
}
GRAPH_APP_ROLES = GRAPH_APP_ROLE_TABLE
AZURE_ROLES = AZURE_ROLE_TABLE


_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _commented_ids(text: str) -> dict[str, str]:
    """``key: '<guid>' // Name`` lines -> {key: 'guid Name'}."""
    return {
        m.group(1): f"{m.group(2)} {m.group(3).strip()}"
        for m in re.finditer(rf"^\s*(\w+):\s*'({_GUID})'\s*//\s*(.+)$", text, re.M)
    }


def test_graph_permissions_are_least_privilege(texts: dict[str, str]) -> None:
    raw = texts["infra/app/graph-permissions.bicep"]
    ids = _commented_ids(raw)
    by_key = {key: value.split(" ", 1) for key, value in ids.items()}
    assert {name: guid for guid, name in by_key.values()} == GRAPH_APP_ROLES
    text = strip_comments(raw)
    assert re.search(r"'Microsoft\.Graph/servicePrincipals@v1\.0' existing = \{\s*appId: graphAppId", text)
    assert "var graphAppId = '00000003-0000-0000-c000-000000000000'" in text
    conditions: dict[str, str | None] = {}
    for m in re.finditer(
        r"^resource\s+\w+\s+'Microsoft\.Graph/appRoleAssignedTo@v1\.0'\s*=\s*(if \((\w+)\)\s*)?\{", text, re.M
    ):
        block = _block(text, m.end() - 1)
        role_key = re.search(r"appRoleId:\s*graphRoles\.(\w+)", block)
        assert role_key, block
        conditions[by_key[role_key.group(1)][1]] = m.group(2)
    assert conditions == {
        "Application.Read.All": None,
        "AuditLog.Read.All": None,
        "Mail.Send": "enableEmail",
        "Application.ReadWrite.All": "enableApplicationWrite",
        "Directory.Read.All": None,
    }
    main = strip_comments(texts["infra/main.bicep"])
    assert re.search(r"enableApplicationWrite:\s*enableAutoRestore \|\| enablePreventionNotes\b", main), (
        "Application.ReadWrite.All is granted when auto-restore OR prevention notes is on"
    )


def test_role_ids_carry_their_names_and_assignments_are_idempotent(texts: dict[str, str]) -> None:
    raw = texts["infra/app/rbac.bicep"]
    ids: dict[str, str] = {}
    for value in _commented_ids(raw).values():
        guid, name = value.split(" ", 1)
        ids[guid] = name
    assert ids == {guid: name for name, guid in AZURE_ROLES.items()}
    text = strip_comments(raw)
    assignments = list(re.finditer(r"^resource\s+(\w+)\s+'Microsoft\.Authorization/roleAssignments@[^']+'", text, re.M))
    assert len(assignments) >= 6
    for m in assignments:
        block = _block(text, text.index("{", m.end()))
        guid_args = re.search(r"name:\s*guid\(([^)]*)\)", block)
        assert guid_args, f"{m.group(1)}: name must be guid(scope, principal, role)"
        assert len(guid_args.group(1).split(",")) == 3, f"{m.group(1)}: name must be guid(scope, principal, role)"
    # Every GUID in any template that looks like a role id is one we know.
    for file, body in texts.items():
        for guid in re.findall(rf"roleDefinitions',\s*'({_GUID})'", body):
            assert guid in AZURE_ROLES.values(), f"{file}: unknown role id {guid}"


# --------------------------------------------------------------------------------------------------
# Names shared with the code
# --------------------------------------------------------------------------------------------------


def test_queue_and_table_names_match_the_code(texts: dict[str, str]) -> None:
    from shared.core.names import SWEEP_QUEUE
    from shared.core.settings import INTAKE_QUEUE, VERIFY_QUEUE, Settings

    storage = strip_comments(texts["infra/app/storage.bicep"])
    assert f"var verifyQueueName = '{VERIFY_QUEUE}'" in storage
    assert "var poisonQueueName = '${verifyQueueName}-poison'" in storage  # the host's naming rule
    assert f"var intakeQueueName = '{INTAKE_QUEUE}'" in storage
    assert "var intakePoisonQueueName = '${intakeQueueName}-poison'" in storage
    for var in ("verifyQueueName", "poisonQueueName", "intakeQueueName", "intakePoisonQueueName"):
        assert re.search(rf"queues@[^']+' = \{{\s*parent: queueService\s*name: {var}\s*\}}", storage), var
    alerts = strip_comments(texts["infra/app/alerts.bicep"])
    assert f"param intakePoisonQueueName string = '{INTAKE_QUEUE}-poison'" in alerts
    default_table = Settings.model_fields["incidents_table"].default
    assert f"var incidentsTableName = '{default_table}'" in storage
    # Provider mode (issue 17): the sweep queue and the tenants table, only when enableTenants.
    assert f"var sweepQueueName = '{SWEEP_QUEUE}'" in storage
    assert "var sweepPoisonQueueName = '${sweepQueueName}-poison'" in storage
    assert f"var tenantsTableName = '{Settings.model_fields['tenants_table'].default}'" in storage
    only_if = r"' = if \(enableTenants\) \{\s*parent: "
    for var in ("sweepQueueName", "sweepPoisonQueueName"):
        assert re.search(rf"queues@[^']+{only_if}queueService\s*name: {var}\s*\}}", storage), var
    assert re.search(rf"tables@[^']+{only_if}tableService\s*name: tenantsTableName\s*\}}", storage)


def _function_names() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((ROOT / "functions").glob("*.py")):
        src = path.read_text(encoding="utf-8")
        for m in re.finditer(r'function_name\("(\w+)"\)', src):
            found[m.group(1)] = src
    return found


def test_function_names_and_route_match_the_code(texts: dict[str, str]) -> None:
    functions = _function_names()
    if not functions:
        pytest.skip("no functions/ yet")
    params = bicep_params(texts["infra/main.bicep"])
    event_grid = params["eventGridFunctionName"]
    health = params["healthFunctionName"]
    route = params["alertRoute"]
    assert event_grid and event_grid.strip("'") in functions
    assert "event_grid_trigger" in functions[event_grid.strip("'")]
    assert health and health.strip("'") in functions
    assert "timer_trigger" in functions[health.strip("'")]
    assert route and any(f'route="{route.strip(chr(39))}"' in src for src in functions.values())


def test_alert_kql_watches_the_same_activities_as_the_code(texts: dict[str, str]) -> None:
    kql = pytest.importorskip("shared.detect.kql")
    alerts = strip_comments(texts["infra/app/audit-alert.bicep"])
    block = re.search(r"var watchedActivities = \[(.*?)\]", alerts, re.S)
    assert block
    in_bicep = tuple(re.findall(r"'([^']+)'", block.group(1)))
    assert in_bicep == tuple(kql.WATCHED_ACTIVITIES)


def test_azure_yaml_declares_the_function_service() -> None:
    text = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    service = re.search(r"^services:\n  api:\n((?:    .*\n)+)", text, re.M)
    assert service, "service `api` missing"
    body = service.group(1)
    for line in ("project: .", "language: python", "host: function"):
        assert re.search(rf"^    {re.escape(line)}\s*$", body, re.M), line
    hook = re.search(r"run: (\./infra/scripts/[\w.-]+\.sh)", text)
    assert hook and (ROOT / hook.group(1)).exists()


def test_alerts_about_the_app_reach_someone_without_mail_to(texts: dict[str, str]) -> None:
    """The remediator's own alerts (poison queue, timer stopped, dead letters) go to opsEmails, else
    MAIL_TO, and to the generic webhook when it is on: an empty MAIL_TO no longer means nobody."""
    main = strip_comments(texts["infra/main.bicep"])
    alerts = strip_comments(texts["infra/app/alerts.bicep"])
    assert bicep_params(main)["opsEmails"] == "''"
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["opsEmails"]["value"] == "${OPS_EMAILS=}"
    call = _block(main, main.index("module alerts 'app/alerts.bicep'") + main[main.index("module alerts") :].index("{"))
    assert "opsEmails: empty(trim(opsEmails)) ? mailTo : opsEmails" in call
    assert "opsWebhookUrl: enableWebhook ? notifyWebhookUrl : ''" in call
    assert "param opsWebhookUrl string = ''" in alerts
    group = _block(alerts, alerts.index("resource opsGroup"))
    assert "if (notifyOps)" in alerts and "var notifyOps = !empty(opsAddresses) || !empty(opsWebhooks)" in alerts
    receivers = group[group.index("webhookReceivers: [") :]
    receiver = _block(
        receivers, receivers.index("for (uri, i) in opsWebhooks: {") + len("for (uri, i) in opsWebhooks: ")
    )
    assert "serviceUri: uri" in receiver and "useCommonAlertSchema: true" in receiver
    # every rule notifies the group whenever there is one (e-mail or webhook), never only with e-mail
    assert "empty(opsAddresses) ? [] : [opsGroup.id]" not in alerts
    assert alerts.count("notifyOps ? [opsGroup.id] : []") == 2
    assert re.search(r"actions: !notifyOps \? \[\] : \[\s*\{\s*actionGroupId: opsGroup\.id", alerts)


def test_tenants_doc_lists_what_the_provider_app_asks_for(texts: dict[str, str]) -> None:
    """docs/tenants.md tells the customer's admin what they grant: the provider app's read set, each
    by the name its id carries in provider-app.bicep (Application.ReadWrite.All only with the
    self-healing features, said in prose)."""
    ids = {key: value.split(" ", 1)[1] for key, value in _commented_ids(texts["infra/app/provider-app.bicep"]).items()}
    reads = strip_comments(texts["infra/app/provider-app.bicep"]).split("var readRoles = [", 1)[1].split("]", 1)[0]
    asked = {ids[key] for key in re.findall(r"graphRoles\.(\w+)", reads)}
    doc = (ROOT / "docs" / "tenants.md").read_text(encoding="utf-8")
    section = doc.split("## Onboard a customer tenant", 1)[1].split("\n## ", 1)[0]
    granted = set(re.findall(r"^\s*\| `([A-Za-z]+\.[A-Za-z.]+)` \|", section, re.M))
    assert asked == granted == {"Application.Read.All", "AuditLog.Read.All", "Directory.Read.All"}
    assert "Mail.Send" not in asked
