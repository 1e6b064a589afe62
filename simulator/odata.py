"""Just enough OData for the queries the project sends to Graph.

``$filter`` is parsed into a predicate over the JSON objects the simulator holds, so a filter the
simulator cannot read fails with 400 ``Request_UnsupportedQuery`` (as Graph does) instead of quietly
matching everything — a wrong filter in the app must show up in tests. Supported: ``eq ne gt ge lt
le``, ``in (...)``, ``and or not``, parentheses, ``startswith``/``endswith``/``contains``, and
``path/any(x: x/prop eq 'v')``. String comparisons are case-insensitive, as they are for the GUID and
name properties Graph filters on. A parsed filter also lists which operator it applies to which
property (:attr:`Filter.uses`), so a route can refuse what Graph does not document for its
collection (:func:`require_supported`), as ``auditLogs/directoryAudits`` does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator.timefmt import parse_time

Predicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
"""``predicate(item, lambda_bindings) -> bool``."""


class ODataError(ValueError):
    """A query option the simulator (and Graph) would reject."""


_TOKEN = re.compile(
    r"\s*(?:('(?:[^']|'')*')|(\()|(\))|(,)|"
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?(?![^\s(),]))|(:)|([^\s(),':]+))"
)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"startswith", "endswith", "contains"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # str, (, ), ",", :, word
    text: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODataError(f"Invalid filter clause near position {pos}")
        pos = m.end()
        if m.group(1) is not None:
            tokens.append(_Tok("str", m.group(1)[1:-1].replace("''", "'")))
        elif m.group(2):
            tokens.append(_Tok("(", "("))
        elif m.group(3):
            tokens.append(_Tok(")", ")"))
        elif m.group(4):
            tokens.append(_Tok(",", ","))
        elif m.group(5):
            tokens.append(_Tok("word", m.group(5)))  # a datetime literal (holds colons)
        elif m.group(6):
            tokens.append(_Tok(":", ":"))
        elif m.group(7):
            tokens.append(_Tok("word", m.group(7)))
    return tokens


Operand = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


def _lookup(obj: Any, key: str) -> Any:
    if not isinstance(obj, Mapping):
        return None
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == lowered:
            return v
    return None


def _path_operand(path: str) -> Operand:
    parts = path.split("/")

    def get(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
        if parts[0] in env:
            value: Any = env[parts[0]]
            rest = parts[1:]
        else:
            value = item
            rest = parts
        for part in rest:
            value = _lookup(value, part)
        return value

    return get


def _literal(tok: _Tok) -> Any:
    if tok.kind == "str":
        return tok.text
    word = tok.text
    low = word.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if _DATETIME.match(word):
        return parse_time(word)
    if _NUMBER.match(word):
        return float(word) if "." in word else int(word)
    return _Unquoted(word)


class _Unquoted(str):
    """A bare word: a property path when it is an operand, a GUID when compared to a property."""


def _norm(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(b, datetime) and isinstance(a, str):
        parsed = parse_time(a)
        return (parsed, b) if parsed else (a, None)
    if isinstance(a, datetime) and isinstance(b, str):
        parsed = parse_time(b)
        return (a, parsed) if parsed else (None, b)
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold(), b.casefold()
    return a, b


def _compare(op: str, a: Any, b: Any) -> bool:
    a, b = _norm(a, b)
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if a is None or b is None:
        return False
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda o, e: left(o, e) or right(o, e)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda o, e: left(o, e) and right(o, e)


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks = tokens
        self.i = 0
        self.paths: list[str] = []
        self.uses: list[tuple[str, str]] = []
        self.lambdas: dict[str, str] = {}  # lambda variable -> the collection path it ranges over

    def use(self, path: str, op: str) -> None:
        head, _, rest = path.partition("/")
        if head in self.lambdas:
            path = f"{self.lambdas[head]}/{rest}" if rest else self.lambdas[head]
        self.uses.append((path, op))

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self, kind: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or (kind is not None and tok.kind != kind):
            raise ODataError("Invalid filter clause: unexpected end or token")
        self.i += 1
        return tok

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.peek() is not None:
            raise ODataError(f"Invalid filter clause: unexpected '{self.peek().text}'")  # type: ignore[union-attr]
        return pred

    def expr(self) -> Predicate:
        left = self.and_expr()
        while self.keyword("or"):
            right = self.and_expr()
            left = _either(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while self.keyword("and"):
            right = self.unary()
            left = _both(left, right)
        return left

    def unary(self) -> Predicate:
        if self.keyword("not"):
            self.use("", "not")
            inner = self.unary()
            return lambda o, e: not inner(o, e)
        return self.primary()

    def operand(self) -> Operand:
        tok = self.take()
        if tok.kind == "str":
            value = tok.text
            return lambda o, e: value
        if tok.kind != "word":
            raise ODataError("Invalid filter clause: operand expected")
        lit = _literal(tok)
        if isinstance(lit, _Unquoted):
            self.paths.append(str(lit))
            return _path_operand(str(lit))
        return lambda o, e: lit

    def primary(self) -> Predicate:
        tok = self.peek()
        if tok is None:
            raise ODataError("Invalid filter clause: empty expression")
        if tok.kind == "(":
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        nxt = self.peek(1)
        if tok.kind == "word" and nxt is not None and nxt.kind == "(":
            name = tok.text
            if name.lower() in _FUNCTIONS:
                return self.function(name.lower())
            if name.lower().endswith("/any") or name.lower().endswith("/all"):
                return self.lambda_(name)
            raise ODataError(f"Unsupported query function '{name}'")
        left_tok = self.peek()
        left = self.operand()
        op_tok = self.take("word")
        op = op_tok.text.lower()
        if left_tok is not None and left_tok.kind == "word" and isinstance(_literal(left_tok), _Unquoted):
            self.use(left_tok.text, op)
        if op == "in":
            self.take("(")
            values: list[Any] = []
            while True:
                values.append(_literal(self.take()))
                if self.peek() is not None and self.peek().kind == ",":  # type: ignore[union-attr]
                    self.take(",")
                    continue
                break
            self.take(")")
            return lambda o, e: any(_compare("eq", left(o, e), v) for v in values)
        if op not in _COMPARISONS:
            raise ODataError(f"Unsupported operator '{op_tok.text}'")
        right = self.operand()
        return lambda o, e: _compare(op, left(o, e), right(o, e))

    def function(self, name: str) -> Predicate:
        self.take("word")
        self.take("(")
        first_tok = self.peek()
        first = self.operand()
        if first_tok is not None and first_tok.kind == "word":
            self.use(first_tok.text, name)
        self.take(",")
        second = self.operand()
        self.take(")")

        def check(o: Mapping[str, Any], e: Mapping[str, Any]) -> bool:
            a, b = first(o, e), second(o, e)
            if not isinstance(a, str) or not isinstance(b, str):
                return False
            a, b = a.casefold(), b.casefold()
            if name == "startswith":
                return a.startswith(b)
            if name == "endswith":
                return a.endswith(b)
            return b in a

        return check

    def lambda_(self, name: str) -> Predicate:
        self.take("word")
        collection_path, quantifier = name.rsplit("/", 1)
        self.paths.append(collection_path)
        collection = _path_operand(collection_path)
        self.take("(")
        var = self.take("word").text
        self.take(":")
        self.use(collection_path, quantifier.lower())
        self.lambdas[var] = collection_path
        body = self.expr()
        self.lambdas.pop(var, None)
        self.take(")")
        every = quantifier.lower() == "all"

        def check(o: Mapping[str, Any], e: Mapping[str, Any]) -> bool:
            items = collection(o, e)
            if not isinstance(items, list):
                return False
            results = (body(o, {**e, var: item}) for item in items)
            return all(results) if every else any(results)

        return check


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed ``$filter``; ``paths`` lists the properties it reads (for per-API allowlists) and
    ``uses`` each (property, operator) pair, lambda variables resolved to their collection
    (``targetResources/any(t: t/id eq 'x')`` → ``("targetResources", "any")``,
    ``("targetResources/id", "eq")``)."""

    predicate: Predicate
    paths: tuple[str, ...]
    uses: tuple[tuple[str, str], ...] = ()

    def __call__(self, item: Mapping[str, Any]) -> bool:
        return self.predicate(item, {})


def parse_filter(text: str | None) -> Filter | None:
    """Parse ``$filter``; ``None`` when absent. Raises :class:`ODataError` on what it cannot read."""
    if text is None or not text.strip():
        return None
    if len(text) > 4096:
        raise ODataError("Filter expression too long")
    parser = _Parser(_tokenize(text))
    predicate = parser.parse()
    return Filter(predicate, tuple(parser.paths), tuple(parser.uses))


def require_supported(flt: Filter | None, supported: Mapping[str, frozenset[str]]) -> None:
    """Refuse a filter that applies an operator to a property outside ``supported`` (property,
    lower-cased → operators), the way Graph answers 400 for what a collection does not support.
    ``and``/``or`` and parentheses are always allowed; ``not`` only where listed under ``""``."""
    if flt is None:
        return
    for path, op in flt.uses:
        if op not in supported.get(path.lower(), frozenset()):
            shown = f"'{op}' on '{path}'" if path else f"'{op}'"
            raise ODataError(f"Unsupported or invalid query filter clause specified: {shown}")


def parse_top(text: str | None, default: int, maximum: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ODataError(f"Invalid $top value '{text}'") from None
    if value < 1:
        raise ODataError("Invalid $top value: must be positive")
    return min(value, maximum)


def parse_select(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(p.strip() for p in text.split(",") if p.strip())


def select(item: Mapping[str, Any], props: tuple[str, ...]) -> dict[str, Any]:
    """Project ``item`` to ``props`` (plus ``id`` and ``@``-annotations, as Graph keeps them)."""
    if not props:
        return dict(item)
    wanted = {p.lower() for p in props} | {"id"}
    return {k: v for k, v in item.items() if k.lower() in wanted or k.startswith("@")}


def order_by(items: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """Apply ``$orderby prop [asc|desc]`` (one key)."""
    if not text:
        return items
    parts = text.strip().split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise ODataError(f"Invalid $orderby '{text}'")
    getter = _path_operand(parts[0])
    desc = len(parts) == 2 and parts[1].lower() == "desc"

    def key(item: dict[str, Any]) -> tuple[int, Any]:
        value = getter(item, {})
        if isinstance(value, str):
            parsed = parse_time(value)
            return (1, parsed.timestamp()) if parsed else (2, value.casefold())
        if value is None:
            return (0, 0)
        return (1, value)

    return sorted(items, key=key, reverse=desc)


def encode_token(data: Mapping[str, Any]) -> str:
    """An opaque-looking paging token (``$skiptoken`` / ``$deltatoken``) carrying ``data``."""
    raw = json.dumps(dict(data), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ODataError("Invalid or expired paging token") from None
    if not isinstance(value, dict):
        raise ODataError("Invalid or expired paging token")
    return value
