"""The App Service client principal header (the status page's gate): parser and authorization."""

from __future__ import annotations

import base64
import json

import pytest

from shared.core.principal import MAX_HEADER_CHARS, PrincipalError, parse_principal, platform_auth_enabled
from shared.core.principal import authorize as _authorize


def encode(obj: object) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def authorize(header: str | None) -> tuple[int, object]:
    return _authorize(header, platform_auth=True)


def principal(*roles: str, role_typ: str = "roles") -> dict[str, object]:
    # The decoded shape documented for App Service (learn.microsoft.com/azure/app-service/
    # configure-authentication-user-identities, "Decoding the client principal header").
    return {
        "auth_typ": "aad",
        "claims": [
            {"typ": "name", "val": "Ada Admin"},
            {"typ": "preferred_username", "val": "ada@contoso.example"},
            *({"typ": role_typ, "val": r} for r in roles),
        ],
        "name_typ": "name",
        "role_typ": role_typ,
    }


def test_role_holder_is_let_in() -> None:
    code, who = authorize(encode(principal("Status.Read")))
    assert code == 200 and who is not None and who.name == "Ada Admin" and who.roles == {"Status.Read"}


def test_long_role_claim_type_is_read() -> None:
    uri = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    assert authorize(encode(principal("Status.Read", role_typ=uri)))[0] == 200


def test_signed_in_without_the_role_is_403() -> None:
    assert authorize(encode(principal()))[0] == 403
    assert authorize(encode(principal("status.read", "Status.Reader", "Admin")))[0] == 403, "exact role name"


def test_a_name_claim_is_not_a_role() -> None:
    p = principal()
    p["claims"] = [{"typ": "name", "val": "Status.Read"}]
    assert authorize(encode(p))[0] == 403


@pytest.mark.parametrize(
    "header",
    [
        None, "", "   ", "not base64!", base64.b64encode(b"not json").decode(), encode([1, 2]), encode({}),
        encode({"auth_typ": "aad", "claims": "roles"}), encode({"claims": []}),
        encode({"auth_typ": "aad", "claims": [{"typ": "roles"}]}),
        encode({"auth_typ": "aad", "claims": [{"typ": "roles", "val": ["Status.Read"]}]}),
        encode({"auth_typ": "aad", "claims": [["roles", "Status.Read"]]}),
        encode(principal("Status.Read"))[:-6],  # truncated
        base64.b64encode(b"\xff\xfe" * 10).decode(),
        base64.b64encode(b"[" * 5000).decode(),
    ],
)  # fmt: skip
def test_missing_or_malformed_header_is_401(header: str | None) -> None:
    assert authorize(header) == (401, None)


def test_oversized_header_is_refused_before_decoding() -> None:
    big = principal("Status.Read")
    big["claims"] = [{"typ": "groups", "val": "g" * 64}] * 400 + big["claims"]  # type: ignore[operator]
    header = encode(big)
    assert len(header) > MAX_HEADER_CHARS
    with pytest.raises(PrincipalError, match="too large"):
        parse_principal(header)
    too_many = principal("Status.Read")
    too_many["claims"] = [{"typ": "x", "val": ""}] * 501
    assert authorize(encode(too_many))[0] == 401


def test_header_is_no_proof_while_platform_auth_is_off() -> None:
    """Without App Service Authentication nobody strips a client's own header: refuse everything."""
    header = encode(principal("Status.Read"))
    assert _authorize(header, platform_auth=False) == (401, None)
    assert platform_auth_enabled({"WEBSITE_AUTH_ENABLED": "True"})
    assert not platform_auth_enabled({})
    assert not platform_auth_enabled({"WEBSITE_AUTH_ENABLED": "False"})
