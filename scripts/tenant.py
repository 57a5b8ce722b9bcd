#!/usr/bin/env python3
"""Onboard a tenant (its stack file) or retire one (the runbook), from the repository root.

  scripts/tenant.py onboard STACK --tenant-id GUID --owner GUID [--owner GUID ...]
      [--certificate certs/FILE.pem ...] [--app-id GUID ...]
  scripts/tenant.py retire STACK --mimecast-disconnected

onboard writes Pulumi.<STACK>.yaml (azuread:tenantId, certificates, owners) and prints
what comes next: `pulumi stack init`, the admin-consent URL of each pipeline app for this
tenant, the preflight, and, for a tenant that already has the app by hand, the Azure CLI
commands that find the `adopt` ids.

retire runs the retire runbook for a stack: Mimecast's side first (you confirm it with
--mimecast-disconnected), `protect: false`, `pulumi up`, `pulumi destroy`, the Exchange
Online `retire` command (printed, to run in the tenant), `pulumi stack rm` (which also
removes the stack file), then the commit to make, with the `Retired-Stack:` line that
scripts/changed-stacks.py expects.

Names and ids are checked before anything is written or run: stack names are letters,
digits, '-', '_' and '.' (what Pulumi accepts); ids are GUIDs. Nothing here handles a
secret. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

# Always used with fullmatch: `^...$` with match() lets a trailing newline through
# (`Pulumi.ok\n.yaml`).
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CERTIFICATE_PATH = re.compile(r"[\w./-]+")
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS_AS_APP_ROLE_ID = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
DEFAULT_DISPLAY_NAME = "Mimecast Cloud Synchronization"
RESERVED = frozenset({"example"})


class TenantError(Exception):
    """Refused input or a failed step; the message says which and what to do."""


def stack_name(text: str) -> str:
    if not STACK_NAME.fullmatch(text) or text in RESERVED:
        raise TenantError(
            f"{text!r} is no stack name to use: letters, digits, '-', '_' and '.' only "
            "(and not the shipped 'example')"
        )
    return text


def guid(text: str, what: str) -> str:
    if not GUID.fullmatch(text):
        raise TenantError(f"{what} {text!r} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return text.lower()


def certificate_path(text: str, root: Path) -> str:
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or not CERTIFICATE_PATH.fullmatch(text):
        raise TenantError(f"certificate {text!r}: give a path inside the project, e.g. certs/x.pem")
    if not (root / path).is_file():
        raise TenantError(f"certificate {text!r} is not a file in {root}")
    return path.as_posix()


def stack_file_text(tenant: str, certificates: Sequence[str], owners: Sequence[str]) -> str:
    """The stack file: only checked values, so plain YAML scalars are safe."""
    lines = ["config:", f"  azuread:tenantId: {tenant}"]
    if certificates:
        lines.append("  mimecast-association:certificates:")
        lines += [f"    - {certificate}" for certificate in certificates]
    lines.append("  mimecast-association:owners:")
    lines += [f"    - {owner}" for owner in owners]
    return "\n".join(lines) + "\n"


def onboard_text(stack: str, tenant: str, app_ids: Sequence[str]) -> str:
    q = shlex.quote
    ref = f"{os.environ['PULUMI_ORG']}/{stack}" if os.environ.get("PULUMI_ORG") else stack
    consent = [
        f"   https://login.microsoftonline.com/{tenant}/adminconsent?client_id={app_id}"
        for app_id in app_ids
    ] or [f"   https://login.microsoftonline.com/{tenant}/adminconsent?client_id=<appId>"]
    name = q(DEFAULT_DISPLAY_NAME)
    return "\n".join(
        [
            f"Wrote Pulumi.{stack}.yaml for tenant {tenant}. Next:",
            f"1. Create the stack once: pulumi stack init {q(ref)}",
            "2. A Global Administrator or Privileged Role Administrator of the tenant grants",
            "   admin consent to each pipeline app (deploy, read-only preview and audit) by",
            "   opening:",
            *consent,
            f"3. Check it offline: venv/bin/python -m association preflight {q(stack)}",
            "4. Commit the file; the deploy pipeline creates the app on merge.",
            "",
            "Does the tenant already have the app, made by hand from Mimecast's guide? Then",
            "adopt it instead of creating a second one (README, adopting a hand-made app):",
            "find its ids, as an admin of that tenant, and add them as the `adopt` setting:",
            f"   az login --tenant {tenant} --allow-no-subscriptions",
            f"   az ad app list --display-name {name}"
            " --query '[].{applicationObjectId:id, appId:appId}' -o table",
            "   az ad sp list --filter \"appId eq '<appId>'\" --query '[].id' -o tsv"
            "        # servicePrincipalObjectId",
            f"   az ad sp list --filter \"appId eq '{EXCHANGE_ONLINE_APP_ID}'\""
            " --query '[0].id' -o tsv        # Exchange Online's service principal",
            "   az rest --method GET --url "
            "'https://graph.microsoft.com/v1.0/servicePrincipals/"
            "<servicePrincipalObjectId>/appRoleAssignments'"
            f" --query \"value[?appRoleId=='{FULL_ACCESS_AS_APP_ROLE_ID}']"
            '.{appRoleAssignmentId:id, resourceId:resourceId}" -o table'
            "    # the full_access_as_app assignment (resourceId: Exchange Online's)",
        ]
    )


def onboard(args: argparse.Namespace) -> int:
    root: Path = args.root
    stack = stack_name(args.stack)
    tenant = guid(args.tenant_id, "--tenant-id")
    owners = list(dict.fromkeys(guid(owner, "--owner") for owner in args.owner))
    if not owners:
        raise TenantError(
            "give --owner OBJECT_ID at least once: the pipeline identity's service principal "
            "object ID in this tenant (the pipelines require owners)"
        )
    app_ids = [guid(app_id, "--app-id") for app_id in args.app_id]
    certificates = [certificate_path(c, root) for c in args.certificate]
    target = root / f"Pulumi.{stack}.yaml"
    if target.exists():
        raise TenantError(f"{target.name} exists already: this stack is onboarded")
    target.write_text(stack_file_text(tenant, certificates, owners), encoding="utf-8")
    print(onboard_text(stack, tenant, app_ids))
    return 0


def run_pulumi(step: str, args: Sequence[str], root: Path) -> subprocess.CompletedProcess[str]:
    pulumi = os.environ.get("PULUMI", "pulumi")
    print(f"== {step}: pulumi {' '.join(shlex.quote(a) for a in args)}", flush=True)
    result = subprocess.run(
        [pulumi, *args], cwd=root, text=True, stdout=subprocess.PIPE, check=False
    )
    if result.returncode:
        raise TenantError(
            f"{step} failed (pulumi exit {result.returncode}); nothing after it ran and the "
            "stack file is kept. Fix it and run retire again: the steps before it are done "
            "or harmless to repeat."
        )
    return result


def retire_command(outputs_json: str) -> str | None:
    try:
        outputs = json.loads(outputs_json or "{}")
    except ValueError:
        return None
    exchange = outputs.get("exchangeOnline") if isinstance(outputs, dict) else None
    command = exchange.get("retire") if isinstance(exchange, dict) else None
    return command if isinstance(command, str) and command.strip() else None


def retire(args: argparse.Namespace) -> int:
    root: Path = args.root
    stack = stack_name(args.stack)
    target = root / f"Pulumi.{stack}.yaml"
    if not target.is_file():
        raise TenantError(f"no {target.name} in {root}: nothing to retire")
    if not args.mimecast_disconnected:
        print(
            "Retiring a tenant starts on Mimecast's side: delete (or repoint) the Mimecast "
            "server connection that uses this app, so that nothing fails once it is gone. "
            "Then run again with --mimecast-disconnected.",
            file=sys.stderr,
        )
        return 2
    org = os.environ.get("PULUMI_ORG")
    ref = f"{org}/{stack}" if org else stack
    outputs = run_pulumi("read the outputs", ["stack", "output", "--json", "--stack", ref], root)
    command = retire_command(outputs.stdout)
    config = ["config", "set", "--stack", ref, "mimecast-association:protect", "false"]
    run_pulumi("protect: false", config, root)
    run_pulumi("pulumi up (unprotect)", ["up", "--yes", "--stack", ref], root)
    run_pulumi("pulumi destroy", ["destroy", "--yes", "--stack", ref], root)
    print("\nIn the tenant's Exchange Online PowerShell, take the app off the EWS allow list:")
    print(
        command
        or "  (the stack had no exchangeOnline.retire output: remove its client ID from "
        "Set-OrganizationConfig -EwsAllowedAppIDs, keeping the other apps)"
    )
    run_pulumi("pulumi stack rm", ["stack", "rm", "--yes", "--stack", ref], root)
    target.unlink(missing_ok=True)
    print(
        f"\nStack {stack} is retired. Commit the removal with the line that says so:\n"
        f"  git rm --cached --ignore-unmatch {shlex.quote(target.name)}\n"
        f"  git commit -m {shlex.quote(f'Retire {stack}')}"
        f" -m {shlex.quote(f'Retired-Stack: {stack}')}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(), help="the project directory")
    sub = parser.add_subparsers(dest="command", required=True)
    on = sub.add_parser("onboard", help="write a tenant's stack file and print what comes next")
    on.add_argument("stack")
    on.add_argument("--tenant-id", required=True)
    on.add_argument("--owner", action="append", default=[], metavar="OBJECT_ID")
    on.add_argument("--certificate", action="append", default=[], metavar="PATH")
    on.add_argument("--app-id", action="append", default=[], metavar="CLIENT_ID")
    off = sub.add_parser("retire", help="run the retire runbook for a stack")
    off.add_argument("stack")
    off.add_argument("--mimecast-disconnected", action="store_true")
    args = parser.parse_args(argv)
    try:
        return onboard(args) if args.command == "onboard" else retire(args)
    except TenantError as error:
        print(f"tenant: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
