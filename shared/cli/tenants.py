"""``python -m shared.cli tenants add|list|remove|onboard`` (docs/contracts.md, "Tenants").

The customer tenants a provider deployment watches are rows of ``TENANTS_TABLE``; these commands are
how a provider manages them. Exit codes: 0 done, 1 not done (already there, not found, access missing,
a row that fails its check), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from shared.app.runtime import Services
    from shared.app.tenant_checks import TenantCheck
    from shared.checks.report import CheckResult
    from shared.clients.tenants import TenantStore
    from shared.core.tenant import Tenant


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser("tenants", help="the customer tenants a provider deployment watches (TENANCY_MODE=provider)")
    ts = t.add_subparsers(dest="tenants_command", required=True)
    a = ts.add_parser("add", help="add a customer tenant (nothing changes if it is already there)")
    a.add_argument("tenant", help="the customer's tenant id (GUID)")
    a.add_argument("--name", default="", help="display name")
    a.add_argument("--webex-org", default=None, help="the customer's Webex organization id")
    a.add_argument("--contacts", default="", help="e-mail addresses, separated by , or ;")
    a.add_argument("--channels", default=None, help='JSON object, e.g. {"teams": "https://…"}')
    a.add_argument("--disabled", action="store_true", help="added but not watched")
    a.add_argument(
        "--webex-auth", choices=("partner", "service_app"), default="partner",
        help="how its Webex org is reached: the deployment's (partner administrator's) token, or the provider's "
        "service app authorized in the customer's org, refresh token in Key Vault as webex-refresh-token-<tenant>",
    )  # fmt: skip
    a.set_defaults(tenants_fn=_add)
    lst = ts.add_parser("list", help="the tenants, one row each")
    lst.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    lst.set_defaults(tenants_fn=_list)
    r = ts.add_parser("remove", help="stop watching a tenant (its row is deleted)")
    r.add_argument("tenant")
    r.set_defaults(tenants_fn=_remove)
    o = ts.add_parser("onboard", help="print the admin-consent URL for the tenant, then check access")
    o.add_argument("tenant")
    o.set_defaults(tenants_fn=_onboard)
    t.set_defaults(fn=cmd_tenants)


Command = Callable[["Services", argparse.Namespace, TextIO, TextIO], Awaitable[int]]


def cmd_tenants(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from shared.core.errors import ConfigError, TransientError
    from shared.core.tenant import TenantError

    try:
        from shared.app.runtime import Services
        from shared.core.settings import load_settings, storage_config

        svc = Services(load_settings(), storage_config())
    except ConfigError as exc:
        print(f"tenants: {exc}", file=err)
        return 2
    fn: Command = args.tenants_fn

    async def go() -> int:
        try:
            return await fn(svc, args, out, err)
        except (TenantError, ConfigError) as exc:
            print(f"tenants {args.tenants_command}: {exc}", file=err)
            return 2
        except TransientError as exc:
            print(f"tenants {args.tenants_command}: {exc}", file=err)
            return 1
        finally:
            await svc.aclose()

    import asyncio  # here, not at the top: the offline commands start faster without it

    return asyncio.run(go())


async def _store(svc: Services) -> TenantStore:
    store = svc.tenant_store()
    await store.ensure()
    return store


async def _add(svc: Services, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from shared.core.tenant import make_tenant

    tenant = make_tenant(
        args.tenant, display_name=args.name, webex_org_id=args.webex_org, contacts=args.contacts,
        channels=args.channels, enabled=not args.disabled, webex_auth=args.webex_auth,
    )  # fmt: skip
    store = await _store(svc)
    try:
        if not await store.add(tenant):
            print(f"tenants add: {tenant.tenant_id} is already there (remove it first to change it)", file=err)
            return 1
    finally:
        await store.close()
    out.write(f"added {tenant.tenant_id}; next: python -m shared.cli tenants onboard {tenant.tenant_id}\n")
    return 0


async def _list(svc: Services, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    store = await _store(svc)
    try:
        listing = await store.list()
    finally:
        await store.close()
    rows = [_row(t) for t in listing.tenants]
    if args.json:
        bad = [{"tenant": key, "problem": why} for key, why in listing.bad_rows]
        out.write(json.dumps({"tenants": rows, "bad_rows": bad}) + "\n")
    else:
        out.write(format_tenants(rows) + "\n")
        for key, why in listing.bad_rows:
            print(f"tenants list: row {key!r} skipped: {why}", file=err)
    return 1 if listing.bad_rows else 0


def _row(t: Tenant) -> dict[str, object]:
    from shared.core.clock import format_timestamp

    return {
        "tenant": t.tenant_id,
        "name": t.display_name,
        "webex_org": t.webex_org_id,
        "contacts": list(t.contacts),
        "channels": sorted(t.channels),
        "enabled": t.enabled,
        "onboarded_at": format_timestamp(t.onboarded_at) if t.onboarded_at else None,  # as every row and notice
        "webex_auth": t.webex_auth,
    }


def format_tenants(rows: list[dict[str, object]]) -> str:
    from shared.cli.main import format_grid

    headers = ["tenant", "name", "enabled", "onboarded", "contacts", "channels", "webex"]
    cells = [
        [str(r["tenant"]), str(r["name"]) or "-", "yes" if r["enabled"] else "no", str(r["onboarded_at"] or "no"),
         str(len(r["contacts"]) if isinstance(r["contacts"], list) else 0),
         ",".join(r["channels"]) if isinstance(r["channels"], list) and r["channels"] else "-",
         str(r.get("webex_auth") or "partner")]
        for r in rows
    ]  # fmt: skip
    return format_grid(headers, cells)


async def _remove(svc: Services, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from shared.core.tenant import tenant_guid

    key = tenant_guid(args.tenant)
    store = await _store(svc)
    try:
        removed = await store.remove(key)
    finally:
        await store.close()
    if not removed:
        print(f"tenants remove: {key} is not in the tenants table", file=err)
        return 1
    out.write(f"removed {key}\n")
    return 0


async def _onboard(svc: Services, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from shared.app.onboarding import onboard
    from shared.core.catalogue import admin_consent_url
    from shared.core.clock import clock
    from shared.core.errors import ConfigError
    from shared.core.tenant import tenant_guid

    key = tenant_guid(args.tenant)
    client_id = svc.settings.provider_app_client_id
    if client_id is None:
        raise ConfigError(["PROVIDER_APP_CLIENT_ID: required to onboard a customer tenant (TENANCY_MODE=provider)"])
    store = await _store(svc)
    try:
        tenant = await store.get(key)
        if tenant is None:
            print(f"tenants onboard: {key} is not in the tenants table: tenants add {key} first", file=err)
            return 2
        out.write("The customer's Global Administrator (or Privileged Role Administrator) opens:\n")
        out.write(admin_consent_url(client_id, key, svc.settings.entra_login_base) + "\n")
        access = await onboard(store, await svc.tenant_graph(key), tenant, clock.now())
    finally:
        await store.close()
    out.write(f"access: {'OK' if access.ok else 'MISSING'}: {access.detail}\n")
    return 0 if access.ok else 1


def cmd_check_tenants(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``check --tenant X`` / ``check --all``: a table of tenants × checks; exit 0 all healthy, 1 any
    tenant unhealthy (or a tenant row that fails its check), 2 configuration error."""
    from shared.core.errors import ConfigError
    from shared.core.tenant import TenantError

    try:
        from shared.app.runtime import Services
        from shared.core.settings import load_settings, storage_config

        svc = Services(load_settings(), storage_config())
        if svc.settings.provider_app_client_id is None:
            raise ConfigError(["PROVIDER_APP_CLIENT_ID: required to check customer tenants (TENANCY_MODE=provider)"])
    except ConfigError as exc:
        print(f"check: {exc}", file=err)
        return 2

    async def go() -> int:
        try:
            return await _check_tenants(svc, args, out, err)
        except (TenantError, ConfigError) as exc:
            print(f"check: {exc}", file=err)
            return 2
        finally:
            await svc.aclose()

    import asyncio  # here, not at the top: the offline commands start faster without it

    return asyncio.run(go())


async def _selected(svc: Services, args: argparse.Namespace, err: TextIO) -> tuple[list[Tenant], int] | None:
    """The tenants to check and the count of rows skipped as bad; ``None``: the named one is unknown."""
    from shared.core.tenant import tenant_guid

    store = await _store(svc)
    try:
        if args.tenant:
            tenant = await store.get(tenant_guid(args.tenant))
            if tenant is None:
                print(f"check: {tenant_guid(args.tenant)} is not in the tenants table", file=err)
                return None
            return [tenant], 0
        listing = await store.list()
    finally:
        await store.close()
    for key, why in listing.bad_rows:
        print(f"check: tenant row {key!r} skipped: {why}", file=err)
    return [t for t in listing.tenants if t.enabled], len(listing.bad_rows)


async def _check_tenants(svc: Services, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from shared.app.tenant_checks import check_tenants
    from shared.checks.config_report import config_check

    selected = await _selected(svc, args, err)
    if selected is None:
        return 2
    tenants, bad = selected
    checked = await check_tenants(tenants, svc.tenant_check_clients)
    config = config_check(svc.settings)
    healthy = config.ok and bad == 0 and all(c.healthy for c in checked)
    if args.json:
        doc = {
            "healthy": healthy,
            "config": _check_row(config),
            "tenants": [
                {"tenant": c.tenant.tenant_id, "name": c.tenant.display_name, "healthy": c.healthy,
                 "checks": [_check_row(r) for r in c.results]}
                for c in checked
            ],
            "bad_rows": bad,
        }  # fmt: skip
        out.write(json.dumps(doc) + "\n")
    else:
        out.write(format_tenant_checks(checked, config) + "\n")
        sick = sum(1 for c in checked if not c.healthy)
        out.write(f"overall: {'HEALTHY' if healthy else 'UNHEALTHY'} ({sick} of {len(checked)} tenants unhealthy)\n")
    return 0 if healthy else 1


def _check_row(r: CheckResult) -> dict[str, object]:
    return {"check": r.name, "verdict": r.verdict, "evidence": r.evidence, "ms": round(r.elapsed_ms, 1)}


def format_tenant_checks(checked: list[TenantCheck], config: CheckResult) -> str:
    from shared.cli.main import _one_line, format_grid

    def line(tenant: str, r: CheckResult) -> list[str]:
        return [tenant, r.name, r.verdict, _one_line(r.evidence, 90), str(round(r.elapsed_ms, 1))]

    cells = [line("(deployment)", config)]
    cells.extend(line(c.tenant.tenant_id, r) for c in checked for r in c.results)
    return format_grid(["tenant", "check", "verdict", "evidence", "ms"], cells)
