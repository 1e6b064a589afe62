"""``python -m shared.cli <command>``: classify, render, check, demo (README, "Local commands").

``classify`` and ``render`` are offline: no credentials, no network; the consent URL uses
``TENANT_ID`` when set, else ``common`` (which the tech note's URL uses too). ``check`` and ``demo``
read the same settings as the Functions app.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TextIO

CHANNELS = ("email", "teams", "webex", "webhook")


def _offline_tenant() -> str:
    from shared.core.catalogue import is_valid_tenant

    tenant = os.environ.get("TENANT_ID", "").strip()
    return tenant.lower() if is_valid_tenant(tenant) else "common"


def _offline_login_base(command: str, err: TextIO) -> str | None:
    from shared.core.catalogue import DEFAULT_LOGIN_BASE

    if not os.environ.get("ENTRA_LOGIN_BASE", "").strip():
        return DEFAULT_LOGIN_BASE  # without importing the settings (pydantic): a faster start
    from shared.core.errors import ConfigError
    from shared.core.settings import login_base_from

    try:
        return login_base_from(os.environ)
    except ConfigError as exc:
        print(f"{command}: {exc}", file=err)
        return None


def cmd_classify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from shared.cli.classify import run_classify

    login_base = _offline_login_base("classify", err)
    if login_base is None:
        return 2
    return run_classify(
        args.file,
        tenant_id=_offline_tenant(),
        login_base=login_base,
        identity_app_id=os.environ.get("WEBEX_IDENTITY_APP_ID") or None,
        out=out,
        err=err,
    )


def cmd_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from shared.core.catalogue import Catalogue
    from shared.core.clock import clock
    from shared.core.errors import PayloadError
    from shared.core.models import Action
    from shared.detect.classify import classify_extraction
    from shared.detect.normalize import extract_json
    from shared.notify.render import render_preview
    from shared.notify.view import NoticeKind, build_view

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()  # noqa: SIM115
        extraction = extract_json(data, limit=10 * 1024 * 1024)
    except (PayloadError, OSError) as exc:
        print(f"render: {args.file}: {exc}", file=err)
        return 2
    identity = os.environ.get("WEBEX_IDENTITY_APP_ID") or None
    login_base = _offline_login_base("render", err)
    if login_base is None:
        return 2
    try:
        catalogue = Catalogue(identity)
    except ValueError as exc:
        print(f"render: WEBEX_IDENTITY_APP_ID: {exc}", file=err)
        return 2
    for record, c in classify_extraction(extraction, catalogue):
        if c.action in (Action.IGNORE, Action.VERIFY) or c.app is None:
            continue
        view = build_view(
            incident_id="inc-preview",
            tenant_id=_offline_tenant(),
            notice=NoticeKind.OPENED,
            kind=c.kind,
            action=c.action,
            app=c.app,
            detected_at=clock.now(),
            login_base=login_base,
            record=record,
            detected_by=(str(record.source),),
        )
        out.write(render_preview(view, args.channel))
        if not render_preview(view, args.channel).endswith("\n"):
            out.write("\n")
        return 0
    print(f"render: {args.file}: no actionable record (nothing about a Webex app needs an admin)", file=err)
    return 1


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.tenant or args.all:  # provider mode: tenants × checks (shared/cli/tenants.py)
        from shared.cli.tenants import cmd_check_tenants

        return cmd_check_tenants(args, out, err)
    from shared.core.errors import ConfigError

    try:
        from shared.core.settings import load_settings, storage_config

        settings = load_settings()
        storage = storage_config()
    except ConfigError as exc:
        print(f"check: {exc}", file=err)
        return 2
    from shared.app.checking import CheckingDeps, check_and_notify
    from shared.app.runtime import Services
    from shared.checks.config_report import config_check

    async def go() -> int:
        from shared.core.errors import TransientError

        svc = Services(settings, storage)
        try:
            await svc.resolve_tenant()
        except (ConfigError, TransientError) as exc:
            await svc.aclose()
            print(f"check: {exc}", file=err)
            return 2
        try:  # a person looking: report, do not notify the admins
            deps = CheckingDeps(await svc.check_clients(), svc.operational_sender())
            report = await check_and_notify(deps, notify=False)
        finally:
            await svc.aclose()
        # A half-configured channel is a row, not exit 2: the checks above still ran (and the
        # channels that are configured still work), so it is "unhealthy" like any failed check.
        report.results.insert(0, config_check(settings))
        rows = [
            {"check": r.name, "verdict": r.verdict, "evidence": r.evidence, "ms": round(r.elapsed_ms, 1)}
            for r in report.results
        ]
        if args.json:
            out.write(json.dumps({"healthy": report.healthy, "checks": rows}) + "\n")
        else:
            out.write(format_table(rows) + f"\noverall: {'HEALTHY' if report.healthy else 'UNHEALTHY'}\n")
        return 0 if report.healthy else 1

    import asyncio  # here, not at the top: the offline commands start faster without it

    return asyncio.run(go())


def format_table(rows: list[dict[str, object]]) -> str:
    """A plain aligned table a person reads at a glance (evidence cut to keep rows on one line)."""
    headers = ["check", "verdict", "evidence", "ms"]
    cells = [[str(r["check"]), str(r["verdict"]), _one_line(str(r["evidence"]), 110), str(r["ms"])] for r in rows]
    return format_grid(headers, cells)


def format_grid(headers: list[str], cells: list[list[str]]) -> str:
    """Columns aligned under ``headers``, a dashed rule below them."""
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(lines)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from devtools.demo import run_demo

    code: int = run_demo(out=out, err=err, output_dir=args.output)
    return code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classify", help="classify every audit record in FILE (one JSON line each)")
    c.add_argument("file", help="payload file, or - for stdin")
    c.set_defaults(fn=cmd_classify)
    r = sub.add_parser("render", help="render the notice for the first actionable record in FILE")
    r.add_argument("file")
    r.add_argument("--channel", choices=CHANNELS, required=True)
    r.set_defaults(fn=cmd_render)
    k = sub.add_parser("check", help="run the health checks against the configured tenant")
    k.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    which = k.add_mutually_exclusive_group()
    which.add_argument("--tenant", help="provider mode: check this customer tenant (GUID) of TENANTS_TABLE")
    which.add_argument("--all", action="store_true", help="provider mode: check every enabled customer tenant")
    k.set_defaults(fn=cmd_check)
    d = sub.add_parser("demo", help="one incident lifecycle against the simulator and Azurite")
    d.add_argument("--output", default="demo-output", help="folder for the rendered notifications")
    d.set_defaults(fn=cmd_demo)
    from shared.cli.tenants import add_parser

    add_parser(sub)
    return p


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.fn(args, out or sys.stdout, err or sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
