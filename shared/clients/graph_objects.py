"""Graph collection answers read as typed JSON (msgspec), not through msgspec-sdk's kiota models.

msgraph-sdk deserializes a ``servicePrincipal`` through ``directoryObject`` and ``entity``, whose
``get_field_deserializers`` imports about 1,200 model modules the first time it runs (≈1 s of CPU,
3–5 s on a loaded machine): that was most of ``python -m shared.cli check``'s 4.4 s and the longest
stall of a worker's first verification. The requests still go through msgraph-sdk (request builders,
middleware, authentication, error mapping); only the answers of the four collections the checks read
— service principals, deleted service principals, delegated grants, app-role assignments, an
SP's owners — are
decoded here, keeping the fields the project uses.

Rules (as for every reader in the project): the answer is size-checked before decoding; it must be a
JSON object whose ``value`` is a list of objects; unknown fields are ignored; a field of the wrong
type, bad UTF-8, truncated JSON or a non-object raise :class:`ValueError`, which the Graph client
maps to a transient error (an unreadable 2xx answer is retried, as with the paged readers). Strings
are kept as sent, as kiota kept them, except the two fields kiota typed ``UUID`` (an assignment's
``appRoleId`` and ``resourceId``), which :func:`guid_or_text` lower-cases as ``str(UUID)`` did.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar, cast

import msgspec

MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""Largest collection answer read (a filtered list of service principals is a few KB)."""


class _ServicePrincipal(msgspec.Struct, rename="camel"):
    id: str | None = None
    app_id: str | None = None
    display_name: str | None = None
    account_enabled: bool | None = None
    notes: str | None = None
    deleted_date_time: str | None = None
    app_owner_organization_id: str | None = None


class _Owner(msgspec.Struct, rename="camel"):
    """An owner is a ``directoryObject``: a service principal carries ``appId``, a user does not."""

    id: str | None = None
    app_id: str | None = None


class _Grant(msgspec.Struct, rename="camel"):
    id: str | None = None
    consent_type: str | None = None
    scope: str | None = None
    resource_id: str | None = None


class _Assignment(msgspec.Struct, rename="camel"):
    id: str | None = None
    app_role_id: str | None = None
    resource_id: str | None = None
    resource_display_name: str | None = None


class ServicePrincipals(msgspec.Struct):
    value: list[_ServicePrincipal] = []


class Grants(msgspec.Struct):
    value: list[_Grant] = []


class Assignments(msgspec.Struct):
    value: list[_Assignment] = []


class Owners(msgspec.Struct):
    value: list[_Owner] = []


C = TypeVar("C", ServicePrincipals, Grants, Assignments, Owners)

_DECODERS: dict[type, msgspec.json.Decoder[object]] = {}


def read_collection(raw: bytes, kind: type[C]) -> C:
    """Decode one collection answer; :class:`ValueError` for anything unreadable."""
    if len(raw) > MAX_ANSWER_BYTES:
        raise ValueError(f"Graph answer over {MAX_ANSWER_BYTES} bytes")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    try:
        result = decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # ValidationError is a DecodeError
        raise ValueError(f"unreadable Graph answer: {str(error)[:200]}") from error
    return cast("C", result)


def guid_or_text(value: str | None) -> str | None:
    """A GUID lower-cased in its canonical form (as kiota's ``UUID`` gave it); anything else as sent."""
    from shared.core.catalogue import is_guid

    return value.lower() if value is not None and is_guid(value) else value


def deleted_at(value: str | None) -> datetime | None:
    from shared.core.clock import parse_timestamp

    return parse_timestamp(value)
