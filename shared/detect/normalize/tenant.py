"""Every tenant marker a record carries, merged into one ``tenant_id`` (docs/security.md, point 10).

A record may name its tenant in several places: ``tenantId`` (diagnostic envelope and record),
``AADTenantId`` (Log Analytics; its ``TenantId`` column is the *workspace*, not a tenant),
``resourceId`` / ``ResourceId`` (``/tenants/{guid}/providers/Microsoft.aadiam``), the 2019 stream's
``TenantContextID``, and an Event Grid or CloudEvents envelope's ``source``/``subject``/``topic``
(``/tenants/{guid}/applications/{appId}``). The pipeline drops a record whose tenant is not ours;
with one field, a record that names another tenant only in ``resourceId`` would pass. So all
markers are collected: one value → that tenant; two different values → :data:`CONFLICT` plus
both, which equals no configured tenant, so the record is foreign.
"""

from __future__ import annotations

import re
from typing import Any

CONFLICT = "conflicting-tenants:"
_TENANTS = re.compile(r"(?i)(?:^|/)tenants/([^/?#\s]{1,256})")
_SCAN = 4096
"""Only the start of a path is searched (the tenant segment comes first; bounds hostile input)."""


def tenant_in_path(value: Any) -> str | None:
    """The ``{tenant}`` of ``…/tenants/{tenant}/…`` in a resource id, source or subject."""
    if not isinstance(value, str):
        return None
    match = _TENANTS.search(value[:_SCAN])
    return match.group(1) if match else None


def merged_tenant(*markers: Any) -> str | None:
    """One tenant from all ``markers`` (``None``/blank ignored, case-insensitive); disagreeing
    markers give a :data:`CONFLICT` value that matches no tenant."""
    found = sorted({m.strip().lower() for m in markers if isinstance(m, str) and m.strip()})
    if len(found) <= 1:
        return found[0] if found else None
    return (CONFLICT + ",".join(found))[:300]
