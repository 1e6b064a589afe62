"""Three rendered deployment profiles (defaults; every feature on; Azure Government): the app settings
and the role assignments each produces, from the templates themselves.

No Bicep compiler installs from a package registry, and pycep (checkov's Bicep parser) does not keep
a string literal apart from a name (``'x'`` and ``x`` both parse to ``"x"``), so it cannot evaluate.
This file carries a small, honest evaluator of the Bicep expression subset the templates use
(literals, interpolation, names, ``.``/``[]`` access, the operators, ternaries, arrays, objects,
lambdas, and the functions listed in ``FUNCTIONS``); anything outside it raises, so a template change
the evaluator does not understand fails loudly instead of being skipped. It renders:

  main.bicep parameters (+ the azd parameters file's defaults) -> module params and conditions ->
  api.bicep app settings; rbac.bicep / graph-permissions.bicep assignments.

Resource properties that only Azure knows (the storage account's endpoints, the App Insights
connection string, the identity's ids) come from ``CLOUDS`` below: a test cannot learn them offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.test_infra import INFRA, ROOT, strip_comments

# --------------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------------

Node = tuple[Any, ...]


class BicepError(Exception):
    pass


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+")
_OPS = ("??", "||", "&&", "==", "!=", "<=", ">=", "=>", "<", ">", "+", "-", "*", "/", "%", "!", "?", ":")


class Parser:
    """Recursive descent over the raw text (comments already stripped); newlines are whitespace."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text, self.pos = text, pos

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek(self, token: str) -> bool:
        self.ws()
        return self.text.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise BicepError(f"expected {token!r} at {self.text[self.pos : self.pos + 40]!r}")

    def ident(self) -> str:
        self.ws()
        m = _IDENT.match(self.text, self.pos)
        if not m:
            raise BicepError(f"expected a name at {self.text[self.pos : self.pos + 40]!r}")
        self.pos = m.end()
        return m.group(0)

    def expr(self) -> Node:
        cond = self.binary(0)
        if self.peek("?") and not self.peek("??"):
            self.take("?")
            yes = self.expr()
            self.expect(":")
            return ("if", cond, yes, self.expr())
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("??",),
        ("||",),
        ("&&",),
        ("==", "!="),
        ("<=", ">=", "<", ">"),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            op = next((o for o in self._LEVELS[level] if self.peek(o) and not self.peek("=>")), None)
            if op is None or (op == "?" and self.peek("??")):
                return left
            self.take(op)
            left = ("op", op, left, self.binary(level + 1))

    def unary(self) -> Node:
        if self.take("!"):
            return ("not", self.unary())
        if self.peek("-") and not self.peek("->"):
            self.take("-")
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.take(".?"):
                node = ("get", node, ("lit", self.ident()), True)
            elif self.take("."):
                name = self.ident()
                if self.peek("("):
                    node = ("call_member", node, name, self.args())
                else:
                    node = ("get", node, ("lit", name), False)
            elif self.take("[?"):
                node = ("get", node, self.expr(), True)
                self.expect("]")
            elif self.peek("[") and self.text[self.pos - 1] not in " \t\r\n":
                self.take("[")
                node = ("get", node, self.expr(), False)
                self.expect("]")
            else:
                return node

    def args(self) -> list[Node]:
        self.expect("(")
        out: list[Node] = []
        while not self.take(")"):
            out.append(self.expr())
            self.take(",")
        return out

    def primary(self) -> Node:
        self.ws()
        c = self.text[self.pos : self.pos + 1]
        if c == "'":
            return self.string()
        if c == "[":
            self.pos += 1
            if self.take("for "):
                return self.for_expression()
            items: list[Node] = []
            while not self.take("]"):
                items.append(self.expr())
                self.take(",")
            return ("array", items)
        if c == "{":
            self.pos += 1
            pairs: list[tuple[str, Node]] = []
            while not self.take("}"):
                self.ws()
                if re.match(r"resource\s+\w+\s+'", self.text[self.pos :]):
                    self.pos += len("resource")
                    pairs.append(("resource " + self.ident(), self.nested_resource()))
                    continue
                key = self.object_key() if self.text[self.pos] == "'" else self.ident()
                self.expect(":")
                pairs.append((key, self.expr()))
                self.take(",")
            return ("object", pairs)
        if c == "(":
            save = self.pos
            self.pos += 1
            names = []
            while _IDENT.match(self.text, self.pos) and not self.peek(")"):
                names.append(self.ident())
                if not self.take(","):
                    break
            if self.take(")") and self.take("=>"):
                return ("lambda", names, self.expr())
            self.pos = save + 1
            inner = self.expr()
            self.expect(")")
            return inner
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return ("lit", int(m.group(0)))
        name = self.ident()
        if name in ("true", "false"):
            return ("lit", name == "true")
        if name == "null":
            return ("lit", None)
        if self.peek("=>"):
            self.take("=>")
            return ("lambda", [name], self.expr())
        if self.peek("(") and self.text[self.pos] == "(":
            return ("call", name, self.args())
        return ("name", name)

    def for_expression(self) -> Node:
        """``[for x in items: body]`` / ``[for (x, i) in items: body]`` (the ``for`` already taken)."""
        names = [self.ident()] if not self.take("(") else []
        if not names:
            while not self.take(")"):
                names.append(self.ident())
                self.take(",")
        if self.ident() != "in":
            raise BicepError("expected 'in'")
        items = self.expr()
        self.expect(":")
        body = self.expr()
        self.expect("]")
        return ("for", names, items, body)

    def nested_resource(self) -> Node:
        """``resource name 'type' [existing] = {...}`` inside a resource body (``resource name`` taken)."""
        rtype = self.string_literal()
        existing = self.take("existing")
        self.expect("=")
        return ("resource", rtype, existing, self.expr())

    def object_key(self) -> str:
        """A quoted key; an interpolated one (``'${identityId}'``) is kept as ``${…}`` (not evaluated)."""
        node = self.string()
        return str(node[1]) if node[0] == "lit" else "${…}"

    def string_literal(self) -> str:
        node = self.string()
        if node[0] != "lit":
            raise BicepError("interpolated object key")
        return str(node[1])

    def string(self) -> Node:
        self.expect("'")
        parts: list[Any] = []
        buf = ""
        escapes = {"'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$"}
        while True:
            if self.pos >= len(self.text):
                raise BicepError("unterminated string")
            c = self.text[self.pos]
            if c == "\\":
                buf += escapes[self.text[self.pos + 1]]
                self.pos += 2
            elif c == "'":
                self.pos += 1
                break
            elif self.text.startswith("${", self.pos):
                self.pos += 2
                parts.append(buf)
                buf = ""
                parts.append(self.expr())
                self.expect("}")
            else:
                buf += c
                self.pos += 1
        if not parts:
            return ("lit", buf)
        parts.append(buf)
        return ("interp", parts)


def parse(text: str) -> Node:
    p = Parser(text)
    node = p.expr()
    p.ws()
    if p.pos != len(text):
        raise BicepError(f"trailing text {text[p.pos : p.pos + 40]!r}")
    return node


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, (str, list, dict)) and len(v) == 0)


def _union(*objs: Any) -> Any:
    out: dict[str, Any] = {}
    for o in objs:
        out.update(o)
    return out


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "empty": _empty,
    "trim": lambda s: s.strip(),
    "split": lambda s, sep: s.split(sep),
    "replace": lambda s, old, new: s.replace(old, new),
    "contains": lambda c, x: x in c,
    "union": _union,
    "toLower": lambda s: s.lower(),
    "join": lambda items, sep: sep.join(items),
    "length": len,
    "string": lambda v: v if isinstance(v, str) else json.dumps(v),
    "guid": lambda *parts: "guid(" + ",".join(map(str, parts)) + ")",
    "subscriptionResourceId": lambda rtype, name: f"/subscriptions/SUB/providers/{rtype}/{name}",
    "concat": lambda *arrays: [item for array in arrays for item in array],
}
LAMBDA_FUNCTIONS = {"filter", "map"}


def evaluate(node: Node, scope: Mapping[str, Any]) -> Any:
    """The value of one parsed expression; any node kind or function outside the subset raises."""
    handler = _HANDLERS.get(node[0])
    if handler is None:
        raise BicepError(f"cannot evaluate {node[0]}")
    return handler(node, scope)


def _name(node: Node, scope: Mapping[str, Any]) -> Any:
    if node[1] not in scope:
        raise BicepError(f"unknown name {node[1]}")
    value = scope[node[1]]
    return value() if callable(value) else value


def _get(node: Node, scope: Mapping[str, Any]) -> Any:
    target, key, safe = evaluate(node[1], scope), evaluate(node[2], scope), node[3]
    try:
        return target[key]
    except (KeyError, IndexError, TypeError):
        if safe:
            return None
        raise BicepError(f"no {key!r} in {str(target)[:80]}") from None


def _call(node: Node, scope: Mapping[str, Any]) -> Any:
    name, args = node[1], node[2]
    if name in LAMBDA_FUNCTIONS:
        items, fn = evaluate(args[0], scope), args[1]
        if fn[0] != "lambda" or len(fn[1]) != 1:
            raise BicepError(f"{name} needs a one-argument lambda")
        results = [evaluate(fn[2], {**scope, fn[1][0]: item}) for item in items]
        return results if name == "map" else [i for i, keep in zip(items, results, strict=True) if keep]
    if name in scope and callable(scope[name]) and name not in FUNCTIONS:  # environment(), tenant()
        return scope[name]()
    if name not in FUNCTIONS:
        raise BicepError(f"function {name}() is outside the evaluator's subset")
    return FUNCTIONS[name](*(evaluate(a, scope) for a in args))


def _for(node: Node, scope: Mapping[str, Any]) -> Any:
    names, body = node[1], node[3]
    out = []
    for i, item in enumerate(evaluate(node[2], scope)):
        out.append(evaluate(body, {**scope, names[0]: item, **({names[1]: i} if len(names) > 1 else {})}))
    return out


def _member(node: Node, scope: Mapping[str, Any]) -> Any:
    raise BicepError(f"member function {node[2]}() is outside the evaluator's subset (listKeys needs Azure)")


_HANDLERS: dict[str, Callable[[Node, Mapping[str, Any]], Any]] = {
    "lit": lambda node, scope: node[1],
    "interp": lambda node, scope: "".join(p if isinstance(p, str) else _to_text(evaluate(p, scope)) for p in node[1]),
    "name": _name,
    "array": lambda node, scope: [evaluate(n, scope) for n in node[1]],
    "object": lambda node, scope: {k: evaluate(v, scope) for k, v in node[1]},
    "if": lambda node, scope: evaluate(node[2] if evaluate(node[1], scope) else node[3], scope),
    "not": lambda node, scope: not evaluate(node[1], scope),
    "neg": lambda node, scope: -evaluate(node[1], scope),
    "op": lambda node, scope: _binary(node[1], node[2], node[3], scope),
    "get": _get,
    "call": _call,
    "for": _for,
    "call_member": _member,
}


def _to_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v)


def _binary(op: str, left: Node, right: Node, scope: Mapping[str, Any]) -> Any:
    if op == "&&":
        return evaluate(left, scope) and evaluate(right, scope)
    if op == "||":
        return evaluate(left, scope) or evaluate(right, scope)
    a = evaluate(left, scope)
    if op == "??":
        return a if a is not None else evaluate(right, scope)
    b = evaluate(right, scope)
    table: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
        "+": lambda x, y: x + y,
        "-": lambda x, y: x - y,
        "*": lambda x, y: x * y,
        "/": lambda x, y: x // y,
        "%": lambda x, y: x % y,
    }
    return table[op](a, b)


# --------------------------------------------------------------------------------------------------
# Templates as declarations
# --------------------------------------------------------------------------------------------------


@dataclass
class Template:
    params: dict[str, Node | None] = field(default_factory=dict)
    allowed: dict[str, list[Any]] = field(default_factory=dict)
    variables: dict[str, Node] = field(default_factory=dict)
    blocks: dict[str, tuple[str, Node | None, Node]] = field(default_factory=dict)
    """module/resource symbolic name -> (type or path, condition or None, body object)."""
    resources: dict[str, tuple[str, Node | None, Node]] = field(default_factory=dict)
    """Every top-level resource, in file order: symbolic name -> (type@version, condition, body)."""
    outputs: dict[str, Node] = field(default_factory=dict)


def load_template(text: str) -> Template:
    text = strip_comments(text)
    t = Template()
    for m in re.finditer(r"^param\s+(\w+)\s+\w+(?:\s*=\s*)?", text, re.M):
        has_default = m.group(0).rstrip().endswith("=")
        t.params[m.group(1)] = Parser(text, m.end()).expr() if has_default else None
        allowed = re.search(r"@allowed\((\[[^\]]*\])\)\s*(?:@\w+\([^\n]*\)\s*)*$", text[: m.start()])
        if allowed:
            t.allowed[m.group(1)] = evaluate(parse(allowed.group(1)), {})
    for m in re.finditer(r"^var\s+(\w+)\s*=\s*", text, re.M):
        t.variables[m.group(1)] = Parser(text, m.end()).expr()
    for m in re.finditer(r"^(module|resource)\s+(\w+)\s+'([^']+)'\s*(?:existing\s*)?=\s*", text, re.M):
        p = Parser(text, m.end())
        cond = None
        if p.take("if"):
            p.expect("(")
            cond = p.expr()
            p.expect(")")
        p.ws()
        body = p.expr()
        if m.group(1) == "resource":
            t.resources[m.group(2)] = (m.group(3), cond, body)
        if (
            m.group(1) == "module"
            or m.group(3).startswith("Microsoft.Authorization/roleAssignments")
            or (m.group(3).startswith("Microsoft.Graph/appRoleAssignedTo"))
        ):
            t.blocks[m.group(2)] = (m.group(3), cond, body)
    for m in re.finditer(r"^output\s+(\w+)\s+\w+\s*=\s*", text, re.M):
        t.outputs[m.group(1)] = Parser(text, m.end()).expr()
    return t


def read(rel: str) -> Template:
    return load_template((INFRA / rel).read_text(encoding="utf-8"))


def scope_for(t: Template, given: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Names of one template: its parameters (given, else default) and its variables (lazily)."""
    scope: dict[str, Any] = dict(extra)
    for name, default in t.params.items():
        if name in given:
            scope[name] = given[name]
        elif default is not None:
            scope[name] = evaluate(default, scope)
        else:
            raise BicepError(f"parameter {name} has no value")
        if name in t.allowed and scope[name] not in t.allowed[name]:
            raise BicepError(f"{name}={scope[name]!r} is not in its @allowed list")
    for name, node in t.variables.items():
        if name not in extra:  # a variable the test supplies (uniqueString() output) is not re-derived
            scope[name] = _lazy(node, scope)
    return scope


def _lazy(node: Node, scope: dict[str, Any]) -> Callable[[], Any]:
    cache: list[Any] = []

    def value() -> Any:
        if not cache:
            cache.append(evaluate(node, scope))
        return cache[0]

    return value


# --------------------------------------------------------------------------------------------------
# Clouds and profiles
# --------------------------------------------------------------------------------------------------

TENANT = "11111111-2222-3333-4444-555555555555"
WORKSPACE = "66666666-7777-8888-9999-000000000000"
CLOUDS = {
    # environment() as ARM returns it (the fields the templates read), per cloud; storage suffixes as
    # the account's primaryEndpoints carry them.
    "AzureCloud": {"login": "https://login.microsoftonline.com/", "storage": "core.windows.net"},
    "AzureUSGovernment": {"login": "https://login.microsoftonline.us/", "storage": "core.usgovcloudapi.net"},
}


@dataclass
class Rendered:
    app_settings: dict[str, str]
    role_assignments: set[tuple[str, str, str]]
    """(scope symbol, role id, principal) of every Azure role assignment that is deployed."""
    graph_app_roles: set[str]
    modules: set[str]
    resources: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    """Storage (queues, tables) and provider-app resources deployed: symbol -> (type, evaluated body)."""
    module_params: dict[str, Any] = field(default_factory=dict)


def azd_defaults() -> dict[str, Any]:
    """What azd passes for a fresh environment: main.parameters.json with ``${VAR=default}`` resolved
    to its default (types as Bicep converts them: "true"/"false" -> bool)."""
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    out: dict[str, Any] = {}
    for name, entry in given.items():
        m = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", entry["value"])
        assert m, entry
        if m.group(2) is None:
            continue  # required: the profile gives it
        out[name] = {"true": True, "false": False}.get(m.group(2), m.group(2))
    return out


TOKEN = "tok"
PROVIDER_APP_ID = "0c0ffee0-1234-4abc-8def-0123456789ab"
"""Stands in for the provider app's appId, which only Graph assigns (a GUID, as the app checks)."""
"""Stands in for ``uniqueString(…)``, which only ARM computes."""

MODULE_OUTPUTS = {
    # Outputs of the modules main.bicep wires together: values only a deployment knows.
    "rg": {"name": "rg-webex"},
    "identity": {"outputs": {"principalId": "PRINCIPAL", "clientId": "CLIENT", "id": "/id"}},
    "monitoring": {"outputs": {"workspaceCustomerId": WORKSPACE, "workspaceId": "WORKSPACEID",
                               "appInsightsName": "APPINSIGHTSNAME", "workspaceName": "WORKSPACENAME",
                               "appInsightsId": "APPINSIGHTSID"}},
    "storage": {"outputs": {"name": f"st{TOKEN}", "deploymentContainerName": "deployment-package",
                            "incidentsTableName": "incidents", "deadLetterContainerName": "eventgrid-deadletter",
                            "poisonQueueName": "webex-verify-poison", "intakePoisonQueueName": "webex-intake-poison",
                            "queueEndpoint": "Q", "tableEndpoint": "T"}},
    "keyVault": {"outputs": {"name": f"kv-{TOKEN}", "uri": f"https://kv-{TOKEN}.vault.example/"}},
    "topic": {"outputs": {"name": "topic", "id": "/topic"}},
    "api": {"outputs": {"name": "func"}},
    "providerApp": {"outputs": {"appId": PROVIDER_APP_ID}},
}  # fmt: skip
STORAGE_RENDERED_OUTPUTS = ("sweepQueueName", "sweepPoisonQueueName", "tenantsTableName")
"""storage.bicep outputs that depend on its parameters: rendered from the template, not stubbed."""
GRAPH_IDS = {"providerApp": {"appId": PROVIDER_APP_ID, "id": "PROVIDER-APP-OBJECT-ID"}}
"""What only Graph knows about a created object (provider-app.bicep)."""


def render(overrides: Mapping[str, Any], cloud: str = "AzureCloud") -> Rendered:
    env = CLOUDS[cloud]
    builtins = {
        "environment": lambda: {"name": cloud, "authentication": {"loginEndpoint": env["login"]}},
        "tenant": lambda: {"tenantId": TENANT},
    }
    main = read("main.bicep")
    given = {**azd_defaults(), "environmentName": "webex", "location": "westeurope", "webexOrgId": "org-1",
             "principalId": "DEPLOYER"}  # fmt: skip
    given.update(overrides)
    storage = read("app/storage.bicep")

    def storage_module() -> dict[str, Any]:
        s_scope = scope_for(storage, evaluate(dict(main.blocks["storage"][2][1])["params"], scope), {})
        rendered = {name: evaluate(storage.outputs[name], s_scope) for name in STORAGE_RENDERED_OUTPUTS}
        return {"outputs": {**MODULE_OUTPUTS["storage"]["outputs"], **rendered}}

    scope = scope_for(main, given, {**builtins, **MODULE_OUTPUTS, "storage": storage_module, "resourceToken": TOKEN})
    deployed = {name for name, (_, cond, _) in main.blocks.items() if cond is None or evaluate(cond, scope)}
    module_params = {name: evaluate(dict(body[1])["params"], scope) for name, (_, _, body) in main.blocks.items()}
    resources = deployed_resources(storage, module_params["storage"], builtins)
    if "providerApp" in deployed:
        resources |= deployed_resources(read("app/provider-app.bicep"), module_params["providerApp"], builtins)

    api = read("app/api.bicep")
    endpoints = {s: f"https://st{TOKEN}.{s}.{env['storage']}/" for s in ("blob", "queue", "table")}
    api_scope = scope_for(api, module_params["api"], {
        **builtins,
        "storage": {"name": f"st{TOKEN}", "properties": {"primaryEndpoints": endpoints}},
        "appInsights": {"properties": {"ConnectionString": "APPINSIGHTS-CONNECTION-STRING"}},
        "functionApp": {"properties": {"defaultHostName": "func-tok.azurewebsites.net"}},
    })  # fmt: skip
    settings = evaluate(parse("union(platformSettings, appSettings, tuningSettings)"), api_scope)
    graph_roles = _graph_app_roles(module_params["graphPermissions"]) if "graphPermissions" in deployed else set()
    return Rendered(settings, _role_assignments(module_params["rbac"]), graph_roles, deployed, resources, module_params)


def deployed_resources(
    t: Template, params: Mapping[str, Any], builtins: Mapping[str, Any]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each resource of ``t`` whose condition holds with ``params``: symbol -> (type, body evaluated
    without ``parent`` and nested resources). A resource's symbol is in scope for the ones after it
    (its body plus what only Azure or Graph knows: ``GRAPH_IDS``, else ``id`` = the symbol)."""
    scope = scope_for(t, params, builtins)
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for symbol, (rtype, cond, body) in t.resources.items():
        if cond is not None and not evaluate(cond, scope):
            continue
        pairs = [(k, v) for k, v in body[1] if k != "parent" and not k.startswith("resource ")]
        evaluated = {k: evaluate(v, scope) for k, v in pairs} if rtype.split("@")[0] in RENDERED_TYPES else {}
        out[symbol] = (rtype.split("@")[0], evaluated)
        scope[symbol] = {**evaluated, "id": symbol, **GRAPH_IDS.get(symbol, {})}
    return out


RENDERED_TYPES = {
    "Microsoft.Storage/storageAccounts/queueServices/queues",
    "Microsoft.Storage/storageAccounts/tableServices/tables",
    "Microsoft.Graph/applications",
    "Microsoft.Graph/applications/federatedIdentityCredentials",
}
"""Types whose bodies are evaluated; others are only listed (their bodies reach outside the subset)."""


def _role_assignments(params: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """(scope symbol, role id, principal) of every role assignment rbac.bicep deploys with ``params``."""
    rbac = read("app/rbac.bicep")
    scopes = ("storage", "vault", "appInsights", "workspace", "topic", "rotatedSecret")
    rbac_scope = scope_for(rbac, params, {name: {"id": name} for name in scopes})
    assignments = set()
    for _, cond, body in rbac.blocks.values():
        if cond is not None and not evaluate(cond, rbac_scope):
            continue
        props = evaluate(dict(body[1])["properties"], rbac_scope)
        assignments.add((dict(body[1])["scope"][1], props["roleDefinitionId"].rsplit("/", 1)[1], props["principalId"]))
    return assignments


def _graph_app_roles(params: Mapping[str, Any]) -> set[str]:
    graph = read("app/graph-permissions.bicep")
    graph_scope = scope_for(graph, params, {"graph": {"id": "GRAPH"}})
    return {
        evaluate(dict(body[1])["appRoleId"], graph_scope)
        for _, cond, body in graph.blocks.values()
        if cond is None or evaluate(cond, graph_scope)
    }


ROLE = {  # built-in role ids (tests/test_infra_checks.py AZURE_ROLE_TABLE names their source)
    "blob_owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "queue_contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "table_contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "secrets_officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "secrets_user": "4633458b-17de-408a-b874-0445c86b69e6",
    "metrics_publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "la_reader": "73c42c96-874c-492b-b04d-ab87d138a893",
    "eg_sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
}
APP_ROLE = {
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "AuditLog.Read.All": "b0afded3-3588-46d8-8b3d-9842eff778da",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
}
IDENTITY_ROLES = {
    ("storage", ROLE["blob_owner"], "PRINCIPAL"),
    ("storage", ROLE["queue_contributor"], "PRINCIPAL"),
    ("storage", ROLE["table_contributor"], "PRINCIPAL"),
    ("vault", ROLE["secrets_user"], "PRINCIPAL"),
    ("appInsights", ROLE["metrics_publisher"], "PRINCIPAL"),
    ("workspace", ROLE["la_reader"], "PRINCIPAL"),
}
PUBLIC_PLATFORM = {
    "AzureWebJobsStorage__blobServiceUri": "https://sttok.blob.core.windows.net/",
    "AzureWebJobsStorage__queueServiceUri": "https://sttok.queue.core.windows.net/",
    "AzureWebJobsStorage__tableServiceUri": "https://sttok.table.core.windows.net/",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "CLIENT",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "APPINSIGHTS-CONNECTION-STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=CLIENT;Authorization=AAD",
    "PYTHON_ENABLE_OPENTELEMETRY": "true",
    "AZURE_CLIENT_ID": "CLIENT",
}
KV = "https://kv-tok.vault.example/"
TUNING_EMPTY = dict.fromkeys(
    ("VERIFY_DELAYS", "VERIFY_DEADLINE_HOURS", "REMINDER_HOURS", "ALERT_QUERY_PADDING_MINUTES",
     "AUDIT_POLL_OVERLAP_MINUTES", "AUDIT_CADENCE", "ALERT_QUERY", "MAX_PAYLOAD_BYTES", "WEBEX_SCIM_CANARY_USER_ID",
     "SDK_LOG_LEVEL"), "")  # fmt: skip


def test_profile_defaults() -> None:
    """A fresh `azd up` (first provision pass): static-token mode, no channel, public cloud."""
    r = render({})
    assert r.app_settings == {
        **PUBLIC_PLATFORM,
        "TENANT_ID": TENANT,
        "WEBEX_ORG_ID": "org-1",
        "WEBEX_IDENTITY_APP_ID": "",
        "WEBEX_IDENTITY_BASE": "https://identity-b-us.webex.com",
        "WEBEX_API_BASE": "https://webexapis.com/v1",
        "WEBEX_ACCESS_TOKEN": f"@Microsoft.KeyVault(SecretUri={KV}secrets/webex-access-token)",
        "WEBEX_CLIENT_ID": "",
        "WEBEX_KEY_VAULT_URL": KV,
        "WEBEX_REFRESH_TOKEN_SECRET": "webex-refresh-token",
        "WEBEX_CLIENT_SECRET_SECRET": "webex-client-secret",
        "WEBEX_BOT_TOKEN": "",
        "WEBEX_ROOM_ID": "",
        "TEAMS_WEBHOOK_URL": "",
        "NOTIFY_WEBHOOK_URL": "",
        "NOTIFY_WEBHOOK_SECRET": "",
        "ACTION_LINK_KEY": "",
        "ACTION_LINK_KEY_PREVIOUS": "",
        "PUBLIC_BASE_URL": "",
        "MAIL_SENDER": "",
        "MAIL_TO": "",
        "AUTO_RESTORE": "false",
        "PREVENTION_NOTES": "false",
        "HEALTH_SCHEDULE": "0 */1 * * * *",
        "INCIDENTS_TABLE": "incidents",
        "TENANCY_MODE": "single",
        "PROVIDER_APP_CLIENT_ID": "",
        "TENANTS_TABLE": "",
        "GRAPH_BASE_URL": "https://graph.microsoft.com/v1.0",
        "ENTRA_LOGIN_BASE": "https://login.microsoftonline.com/",
        "LOG_ANALYTICS_ENDPOINT": "https://api.loganalytics.io",
        "LOG_ANALYTICS_WORKSPACE_ID": WORKSPACE,
        **TUNING_EMPTY,
    }
    # AZURE_PRINCIPAL_ID comes from azd (the signed-in deployer): Secrets Officer to store the secrets.
    assert r.role_assignments == IDENTITY_ROLES | {
        ("vault", ROLE["secrets_officer"], "DEPLOYER"),
        ("topic", ROLE["eg_sender"], "DEPLOYER"),
    }
    assert "tenantDiagnostics" not in r.modules, "no tenant-scope deployment by default"
    assert {"eventSubscription", "auditAlert", "graphPermissions"}.isdisjoint(r.modules), "first pass: not wired"
    assert r.graph_app_roles == set()
    assert not TENANT_RESOURCES & set(r.resources), "single-tenant: no provider app, tenants table or sweep queue"


TENANT_RESOURCES = {"providerApp", "managedIdentityCredential", "sweepQueue", "sweepPoisonQueue", "tenantsTable"}
READ_ROLES = [{"id": APP_ROLE[name], "type": "Role"} for name in ("Application.Read.All", "AuditLog.Read.All",
                                                                    "Directory.Read.All")]  # fmt: skip


def test_profile_provider_mode() -> None:
    """TENANCY_MODE=provider (issue 17): the multi-tenant app with the identity as its federated
    credential, the tenants table, the sweep queue and its poison queue, and the three settings."""
    from shared.core.names import SWEEP_QUEUE
    from shared.core.settings import Settings

    r = render({"tenancyMode": "provider"})
    assert set(r.resources) >= TENANT_RESOURCES
    app_type, app = r.resources["providerApp"]
    assert app_type == "Microsoft.Graph/applications"
    assert app["signInAudience"] == "AzureADMultipleOrgs"
    assert app["displayName"] == "Webex sync remediator"
    assert app["uniqueName"] == f"webex-remediator-provider-{TOKEN}"
    # The customer's admin consents to exactly the read set (the single-tenant identity's, less Mail.Send).
    assert app["requiredResourceAccess"] == [
        {"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": READ_ROLES}
    ]
    fic_type, fic = r.resources["managedIdentityCredential"]
    assert fic_type == "Microsoft.Graph/applications/federatedIdentityCredentials"
    assert fic == {
        "name": f"webex-remediator-provider-{TOKEN}/deployment-managed-identity",
        "description": fic["description"],
        "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "subject": "PRINCIPAL",  # the user-assigned identity's principal (object) id
        "audiences": ["api://AzureADTokenExchange"],
    }
    assert r.resources["sweepQueue"][1]["name"] == SWEEP_QUEUE
    assert r.resources["sweepPoisonQueue"][1]["name"] == f"{SWEEP_QUEUE}-poison"
    assert r.resources["tenantsTable"][1]["name"] == Settings.model_fields["tenants_table"].default
    s = r.app_settings
    tenancy = ("TENANCY_MODE", "PROVIDER_APP_CLIENT_ID", "TENANTS_TABLE")
    assert tuple(s[k] for k in tenancy) == ("provider", PROVIDER_APP_ID, "tenants")
    assert "providerApp" in r.modules and "graphPermissions" not in r.modules, "created in the first pass"
    # Everything else is the single-tenant deployment's.
    single = render({})
    assert {k: v for k, v in s.items() if k not in tenancy} == {
        k: v for k, v in single.app_settings.items() if k not in tenancy
    }
    assert r.role_assignments == single.role_assignments


def test_provider_mode_asks_for_write_only_with_auto_restore_or_notes() -> None:
    for flags in ({"enableAutoRestore": True}, {"enablePreventionNotes": True}):
        app = render({"tenancyMode": "provider", **flags}).resources["providerApp"][1]
        access = app["requiredResourceAccess"][0]["resourceAccess"]
        assert access == [*READ_ROLES, {"id": APP_ROLE["Application.ReadWrite.All"], "type": "Role"}]
    mail = render({"tenancyMode": "provider", "enableEmail": True}).resources["providerApp"][1]
    assert mail["requiredResourceAccess"][0]["resourceAccess"] == READ_ROLES, "never Mail.Send in a customer tenant"


def test_provider_mode_in_azure_government() -> None:
    fic = render({"tenancyMode": "provider"}, cloud="AzureUSGovernment").resources["managedIdentityCredential"][1]
    assert fic["issuer"] == f"https://login.microsoftonline.us/{TENANT}/v2.0"
    assert fic["audiences"] == ["api://AzureADTokenExchangeUSGov"]


def test_provider_mode_is_refused_under_another_name() -> None:
    with pytest.raises(BicepError, match="not in its @allowed list"):
        render({"tenancyMode": "multi"})


def test_sweep_poison_queue_is_watched_only_in_provider_mode() -> None:
    alerts = read("app/alerts.bicep")
    for mode, watched in (("single", False), ("provider", True)):
        params = render({"tenancyMode": mode}).module_params["alerts"]
        query = evaluate(alerts.variables["poisonQuery"], scope_for(alerts, params, {}))
        assert ("/webex-tenant-sweep-poison/messages" in query) is watched, query
        assert "/webex-verify-poison/messages" in query and "/webex-intake-poison/messages" in query


def test_profile_every_feature_on_after_wiring() -> None:
    r = render({
        "wireTriggers": True, "principalId": "", "webexClientId": "svc-app", "enableWebexSpace": True,
        "webexRoomId": "room-1", "enableTeams": True, "enableWebhook": True,
        "notifyWebhookUrl": "https://itsm.example/hook", "enableEmail": True, "mailSender": "alerts@contoso.example",
        "mailTo": "a@contoso.example; b@contoso.example,", "enableAutoRestore": True, "enablePreventionNotes": True,
        "verifyDelays": "30,60", "alertQuery": "AuditLogs | take 1", "webexScimCanaryUserId": "canary-1",
        "enableTenantDiagnosticSetting": True, "enableActionLinks": True, "actionLinkKeyRotation": True,
        "statusAuthClientId": "status-app",
    })  # fmt: skip
    s = r.app_settings
    assert s["ACTION_LINK_KEY"] == f"@Microsoft.KeyVault(SecretUri={KV}secrets/action-link-key)"
    assert s["ACTION_LINK_KEY_PREVIOUS"] == f"@Microsoft.KeyVault(SecretUri={KV}secrets/action-link-key-previous)"
    assert s["PUBLIC_BASE_URL"] == "https://func-tok.azurewebsites.net", "links point at the app's own host"
    custom = render({"enableActionLinks": True, "publicBaseUrl": "https://remediator.contoso.example"}).app_settings
    assert custom["PUBLIC_BASE_URL"] == "https://remediator.contoso.example"
    assert custom["ACTION_LINK_KEY_PREVIOUS"] == "", "no previous-key reference outside a rotation"
    assert s["WEBEX_ACCESS_TOKEN"] == "", "service-app mode: no static-token reference"
    assert s["WEBEX_CLIENT_ID"] == "svc-app"
    assert s["WEBEX_BOT_TOKEN"] == f"@Microsoft.KeyVault(SecretUri={KV}secrets/webex-bot-token)"
    assert s["WEBEX_ROOM_ID"] == "room-1"
    assert s["TEAMS_WEBHOOK_URL"] == f"@Microsoft.KeyVault(SecretUri={KV}secrets/teams-webhook-url)"
    assert s["NOTIFY_WEBHOOK_URL"] == "https://itsm.example/hook"
    assert s["NOTIFY_WEBHOOK_SECRET"] == f"@Microsoft.KeyVault(SecretUri={KV}secrets/notify-webhook-secret)"
    assert (s["MAIL_SENDER"], s["MAIL_TO"]) == ("alerts@contoso.example", "a@contoso.example; b@contoso.example,")
    assert (s["AUTO_RESTORE"], s["PREVENTION_NOTES"]) == ("true", "true")
    assert (s["VERIFY_DELAYS"], s["ALERT_QUERY"], s["WEBEX_SCIM_CANARY_USER_ID"]) == (
        "30,60", "AuditLogs | take 1", "canary-1")  # fmt: skip
    # Secrets User on the vault; Secrets Officer only on the secret the app rotates; no deployer grants.
    assert r.role_assignments == IDENTITY_ROLES | {("rotatedSecret", ROLE["secrets_officer"], "PRINCIPAL")}
    assert {"eventSubscription", "auditAlert", "graphPermissions", "tenantDiagnostics"} <= r.modules
    assert r.graph_app_roles == set(APP_ROLE.values())


def test_profile_azure_government() -> None:
    """Azure Government: every host from the deployment (storage URIs from the account, Entra from
    environment(), Graph and Log Analytics from the per-cloud table), none from the public cloud.
    A Gov region is refused by the location allow-list (no source we could reach lists a Gov region
    for Flex Consumption; docs/deploy.md), so the cloud is rendered with a listed region name."""
    with pytest.raises(BicepError, match="not in its @allowed list"):
        render({"location": "usgovvirginia"}, cloud="AzureUSGovernment")
    r = render({}, cloud="AzureUSGovernment")
    s = r.app_settings
    assert s["AzureWebJobsStorage__queueServiceUri"] == "https://sttok.queue.core.usgovcloudapi.net/"
    assert s["AzureWebJobsStorage__tableServiceUri"] == "https://sttok.table.core.usgovcloudapi.net/"
    assert s["AzureWebJobsStorage__blobServiceUri"] == "https://sttok.blob.core.usgovcloudapi.net/"
    assert s["ENTRA_LOGIN_BASE"] == "https://login.microsoftonline.us/"
    assert s["GRAPH_BASE_URL"] == "https://graph.microsoft.us/v1.0"
    assert s["LOG_ANALYTICS_ENDPOINT"] == "https://api.loganalytics.us"
    public_hosts = ("core.windows.net", "microsoftonline.com", "graph.microsoft.com", "loganalytics.io")
    assert not [v for v in s.values() if any(h in v for h in public_hosts)]
    assert r.role_assignments == render({}).role_assignments
    # An explicit override still wins (DoD tenants use dod-graph.microsoft.us).
    dod = render({"graphBaseUrl": "https://dod-graph.microsoft.us/v1.0"}, cloud="AzureUSGovernment")
    assert dod.app_settings["GRAPH_BASE_URL"] == "https://dod-graph.microsoft.us/v1.0"


def test_the_app_reads_the_rendered_settings_of_every_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the template renders loads as the app's Settings (Key Vault references as unresolved)."""
    from shared.core.settings import load_settings, storage_config

    for r in (render({}), render({}, cloud="AzureUSGovernment"), render({"tenancyMode": "provider"})):
        env = dict(r.app_settings)
        env["TENANT_ID"] = TENANT
        settings = load_settings(env)
        assert settings.graph_base_url == r.app_settings["GRAPH_BASE_URL"]
        assert settings.tenancy_mode == r.app_settings["TENANCY_MODE"]
        assert settings.provider_app_client_id == (r.app_settings["PROVIDER_APP_CLIENT_ID"] or None)
        assert settings.tenants_table == "tenants", "single-tenant mode leaves it empty: the code's default"
        storage = storage_config(env)
        assert storage.queue_service_uri == r.app_settings["AzureWebJobsStorage__queueServiceUri"].rstrip("/")
        assert storage.table_service_uri == r.app_settings["AzureWebJobsStorage__tableServiceUri"].rstrip("/")


# --------------------------------------------------------------------------------------------------
# E-mail receivers: one rule on both sides
# --------------------------------------------------------------------------------------------------

ADDRESS_INPUTS = [
    "a@x.example",
    "a@x.example,b@y.example",
    "a@x.example;b@y.example",
    " a@x.example ; b@y.example , c@z.example ",
    "a@x.example,",
    "a@x.example;;",
    ",;a@x.example",
    "",
    "   ",
    ";",
    "a@x.example,,b@y.example",
    "a@x.example\t;\nb@y.example",
]


def bicep_ops_addresses(raw: str) -> list[str]:
    alerts = read("app/alerts.bicep")
    return list(evaluate(alerts.variables["opsAddresses"], {"opsEmails": raw}))


@pytest.mark.parametrize("raw", ADDRESS_INPUTS)
def test_alert_receivers_follow_the_apps_address_rule(raw: str) -> None:
    from shared.core.settings import split_addresses

    assert bicep_ops_addresses(raw) == list(split_addresses(raw))


def test_rendered_ops_group_uses_mail_to_when_ops_emails_is_empty() -> None:
    main = read("main.bicep")
    call = main.blocks["alerts"][2]
    ops = dict(call[1])["params"]
    expr = dict(ops[1])["opsEmails"]
    assert evaluate(expr, {"opsEmails": " ", "mailTo": "m@x.example;"}) == "m@x.example;"
    assert bicep_ops_addresses(evaluate(expr, {"opsEmails": " ", "mailTo": "m@x.example;"})) == ["m@x.example"]


def test_the_app_rejects_what_azure_monitor_would_reject() -> None:
    from shared.core.settings import split_addresses

    for bad in ("not-an-address", "a@x.example b@y.example", "<a@x.example>", "a@x.example\nb"):
        with pytest.raises(ValueError):
            split_addresses(bad)


def test_old_comma_only_split_fails_the_same_inputs() -> None:
    """Mutation: the previous template expression (split on ',' only, blanks removed) disagrees."""
    from shared.core.settings import split_addresses

    old = parse("empty(trim(opsEmails)) ? [] : split(replace(opsEmails, ' ', ''), ',')")
    mismatched = [raw for raw in ADDRESS_INPUTS if evaluate(old, {"opsEmails": raw}) != list(split_addresses(raw))]
    assert "a@x.example;b@y.example" in mismatched and "a@x.example," in mismatched


# --------------------------------------------------------------------------------------------------
# The evaluator itself
# --------------------------------------------------------------------------------------------------


def test_evaluator_subset() -> None:
    scope = {"x": "a;b", "flag": False, "obj": {"k": [1, 2]}}
    assert evaluate(parse("flag ? 'y' : 'n${x}!'"), scope) == "na;b!"
    assert evaluate(parse("obj.k[1] + 1"), scope) == 3
    assert evaluate(parse("obj[?'missing'] ?? 'd'"), scope) == "d"
    assert evaluate(parse("!empty(x) && contains(obj, 'k')"), scope) is True
    assert evaluate(parse("filter(map(split(x, ';'), s => toLower(s)), s => s != 'a')"), scope) == ["b"]
    assert evaluate(parse("{\n  'a-b': 1\n  c: [\n    'd'\n    'e'\n  ]\n}"), scope) == {"a-b": 1, "c": ["d", "e"]}
    for unsupported in ("uniqueString(x)", "reduce(obj.k, 0, (a, b) => a)"):
        with pytest.raises(BicepError):
            evaluate(parse(unsupported), scope)
    with pytest.raises(BicepError):
        evaluate(parse("unknownName"), scope)


def test_profiles_see_a_broken_template(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: a copy of infra/ with a setting's condition inverted renders differently."""
    import shutil
    import sys

    me = sys.modules[__name__]
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    api = copy / "app" / "api.bicep"
    text = api.read_text(encoding="utf-8")
    api.write_text(text.replace("WEBEX_BOT_TOKEN: enableWebexSpace ?", "WEBEX_BOT_TOKEN: !enableWebexSpace ?"))
    monkeypatch.setattr(me, "INFRA", copy)
    with pytest.raises(AssertionError):
        test_profile_defaults()
    assert ROOT.exists()


@pytest.mark.parametrize(
    "mutation",
    [
        ("app/provider-app.bicep", "subject: identityPrincipalId", "subject: uniqueName", "test_profile_provider_mode"),
        ("app/provider-app.bicep", "'AzureADMultipleOrgs'", "'AzureADMyOrg'", "test_profile_provider_mode"),
        ("main.bicep", "enableTenants: providerMode", "enableTenants: false", "test_profile_provider_mode"),
        ("app/storage.bicep", "= if (enableTenants) {\n  parent: tableService", "= {\n  parent: tableService",
         "test_profile_defaults"),
        ("main.bicep", "module providerApp 'app/provider-app.bicep' = if (providerMode) {",
         "module providerApp 'app/provider-app.bicep' = {", "test_profile_defaults"),
    ],
)  # fmt: skip
def test_provider_profile_sees_a_broken_template(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, mutation: tuple[str, str, str, str]
) -> None:
    """Mutations of the provider-mode templates: the FIC trusting something else, a single-tenant app,
    the storage of provider mode off, or on in single-tenant mode."""
    import shutil

    rel, old, new, test = mutation
    import sys

    me = sys.modules[__name__]
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    target = copy / rel
    text = target.read_text(encoding="utf-8")
    assert old in text
    target.write_text(text.replace(old, new), encoding="utf-8")
    monkeypatch.setattr(me, "INFRA", copy)
    with pytest.raises(AssertionError):
        getattr(me, test)()


def test_provider_mode_round_trips_through_azd() -> None:
    """`azd env set TENANCY_MODE provider` / `PROVIDER_APP_DISPLAY_NAME …` reach the template (docs/deploy.md
    rows), with the same defaults on both sides."""
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["tenancyMode"]["value"] == "${TENANCY_MODE=single}"
    assert given["providerAppDisplayName"]["value"] == "${PROVIDER_APP_DISPLAY_NAME=Webex sync remediator}"
    main = read("main.bicep")
    assert {k: evaluate(main.params[k], {}) for k in ("tenancyMode", "providerAppDisplayName")} == {
        k: azd_defaults()[k] for k in ("tenancyMode", "providerAppDisplayName")
    }
    r = render({"tenancyMode": "provider", "providerAppDisplayName": "Contoso MSP – Webex sync monitor"})
    assert r.resources["providerApp"][1]["displayName"] == "Contoso MSP – Webex sync monitor"
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "| `TENANCY_MODE` | `tenancyMode` | `single` |" in doc
    assert "| `PROVIDER_APP_DISPLAY_NAME` | `providerAppDisplayName` | `Webex sync remediator` |" in doc
