"""What the Log Analytics query API checks in a KQL text before it runs it, and the limits it hits.

Not a KQL engine: the simulator still does not evaluate ``where`` (the app classifies every row it
gets). It does what the real service does with the parts the project depends on:

- **Table and column names are resolved.** A name that is neither a column of ``AuditLogs`` (the
  documented list, :data:`simulator.audit.AUDITLOGS_COLUMNS`, from
  learn.microsoft.com/azure/azure-monitor/reference/tables/auditlogs) nor a name the query defines
  itself (``extend X =``, ``project X =``, ``let X =``) is a 400 in the documented error shape
  (learn.microsoft.com/azure/azure-monitor/logs/api/errors: ``{"error": {"message", "code":
  "BadArgumentError", "innererror": {"code", "message"}}}``; an unresolved name is KQL's
  ``SemanticError``). Names are recognised as the project writes KQL: columns are PascalCase; functions,
  operators and keywords are lower case; ``x.y`` and ``x["y"]`` members and string literals are skipped.
- **``project`` shapes the result**: only the projected columns, in the projected order.
- **Partial results** (learn.microsoft.com/azure/azure-monitor/logs/api/response-format: a non-fatal
  error during execution is ``200 OK`` with the tables *and* an ``error`` object whose code is
  ``PartialError``, details in ``details``; azure-monitor-query then returns a ``LogsQueryPartialResult``):
  on demand, when a query's rows exceed a result limit (``POST /_sim/loganalytics/limits``), as the
  service's result-size limits do (learn.microsoft.com/azure/azure-monitor/service-limits: the query
  API returns at most 500,000 rows / ~64 MB; the simulator's limit is configurable so tests stay small).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_STRING = re.compile(r"""@?"(?:[^"\\]|\\.)*"|@?'(?:[^'\\]|\\.)*'""")
_NAME = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()")
_CALL = re.compile(r"(?<![\w.])([A-Z][A-Za-z0-9_]*)\s*\(")
_DEFINED = re.compile(r"(?:\b(?:extend|project|summarize|let)\s+|,\s*)([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=|~)")
MAX_QUERY = 64 * 1024


class KqlError(ValueError):
    """An unresolvable name or an unreadable query: what the service answers 400 for."""

    def __init__(self, inner_code: str, message: str) -> None:
        super().__init__(message)
        self.inner_code = inner_code


def error_body(exc: KqlError) -> dict[str, Any]:
    """The documented 400 body (logs/api/errors), with the unresolved name in ``innererror``."""
    return {
        "error": {
            "message": "The request had some invalid properties",
            "code": "BadArgumentError",
            "innererror": {"code": exc.inner_code, "message": str(exc)},
        }
    }


@dataclass(frozen=True, slots=True)
class Checked:
    table: str
    columns: tuple[str, ...]  # the result's columns, in order


def check(query: str, table: str, columns: tuple[str, ...]) -> Checked:
    """Resolve every name of ``query`` against ``table`` and its ``columns``; the result's columns
    (after the last ``project``). Raises :class:`KqlError` as the service would answer 400."""
    if len(query) > MAX_QUERY:
        raise KqlError("SyntaxError", "Query is too long")
    text = re.sub(r"//[^\n]*", "", _STRING.sub('""', query))  # literals, then comments, out of the way
    if text.count("(") != text.count(")") or text.count("[") != text.count("]"):
        raise KqlError("SyntaxError", "Syntax Error: unbalanced brackets")
    first = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", text)
    if first is None:
        raise KqlError("SyntaxError", "Syntax Error: the query does not start with a table")
    if first.group(1) != table:  # table names are case-sensitive in KQL
        name = first.group(1)
        raise KqlError("SemanticError", f"'{name}': Failed to resolve table or column expression named '{name}'")
    known = set(columns) | set(_DEFINED.findall(text)) | {table}
    for name in _CALL.findall(text):  # built-in functions are lower case; no stored function exists here
        raise KqlError("SemanticError", f"Failed to resolve function named '{name}'")
    for name in _NAME.findall(text[first.end() :]):
        if name[0].isupper() and name not in known:
            raise KqlError("SemanticError", f"Failed to resolve scalar expression named '{name}'")
    return Checked(table, _projected(text, columns))


def _projected(text: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    """Columns after the last ``| project`` (``project-away`` and friends are not ``project``)."""
    found = list(re.finditer(r"\|\s*project(?![-\w])", text))
    if not found:
        return columns
    rest = text[found[-1].end() :].split("|", 1)[0]
    out: list[str] = []
    for part in (p.strip() for p in rest.split(",")):
        if not part:
            raise KqlError("SyntaxError", "Syntax Error: empty project item")
        name = part.split("=", 1)[0].strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise KqlError("SyntaxError", f"Syntax Error near '{part[:40]}'")
        out.append(name)
    return tuple(out)


def partial_error(limit: int) -> dict[str, Any]:
    """The ``error`` object of a partial result (logs/api/response-format: code ``PartialError``, the
    cause in ``details``)."""
    return {
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": [
            {
                "code": "EngineError",
                "message": f"Query result set has exceeded the internal record count limit {limit} "
                "(E_QUERY_RESULT_SET_TOO_LARGE)",
            }
        ],
    }


@dataclass(slots=True)
class QueryLimits:
    """``max_rows``: a result longer than this is cut to it and sent as a partial result (``None``:
    no limit, the default)."""

    max_rows: int | None = None
