#!/usr/bin/env python3
"""Onboard a tenant (its stack file) or retire one (the runbook), from the repository root.

  scripts/tenant.py onboard STACK --tenant-id GUID --owner GUID [--owner GUID ...]
      --certificate certs/FILE.pem [--certificate ...] [--app-id GUID ...] [--adopt]
  scripts/tenant.py retire STACK --mimecast-disconnected [--yes]

onboard writes Pulumi.<STACK>.yaml (azuread:tenantId, certificates, owners) and prints
what comes next: `pulumi stack init`, the admin-consent URL of each pipeline app for this
tenant and the preflight. Each certificate is read first: a private key, anything but one
X.509 certificate, or one that has expired is refused. With --adopt (the tenant already has
the app, made by hand from Mimecast's guide) the stack file also gets an `adopt` block with a
placeholder for each id, which preflight refuses until filled, and the Azure CLI commands that
find them are printed (the same recipe as docs/adoption.md).

retire runs the retire runbook for a stack: Mimecast's side first (you confirm it with
--mimecast-disconnected), `protect: false`, `pulumi up`, `pulumi destroy`, the Exchange
Online `retire` command (printed, to run in the tenant), `pulumi stack rm` (which also
removes the stack file), then the commit to make, with the `Retired-Stack:` line that
scripts/changed-stacks.py expects. `pulumi up` and `pulumi destroy` are each previewed first
and run only once you answer y at the terminal; without a terminal retire refuses unless
--yes (go ahead after each preview). The Pulumi CLI is looked for before anything runs.

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
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from certificate_file import (  # beside this file: Python puts the script's folder on sys.path
    MAX_CERTIFICATE_BYTES,
    CertificateFileError,
    certificate_not_after,
)
from onboarding import (
    adopt_text,
    onboard_text,
    stack_file_text,
)
from retire_steps import Pulumi, StepError

# Always used with fullmatch: `^...$` with match() lets a trailing newline through
# (`Pulumi.ok\n.yaml`).
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CERTIFICATE_PATH = re.compile(r"[\w./-]+")
KEY_LIKE = re.compile(r"PRIVATE KEY|PuTTY|\bkty\b", re.IGNORECASE)
SHORTER_THAN_ANY_KEY = 40
"""The shortest private key in any encoding is longer (Ed25519: 44 characters of base64 raw, 64
as PKCS#8), so an argument up to this long may be echoed unless it has a key's header."""
DEFAULT_CERTIFICATE = "certs/mimecast.pem"
"""What Pulumi.yaml's `certificates` default names: the guide's certificate, long expired."""
RESERVED = frozenset({"example"})
PROTECT = "mimecast-association:protect"
OWNER_HINT = (
    "your own object ID: `az ad signed-in-user show --query id -o tsv`; a pipeline identity's: "
    "`az ad sp show --id <its appId> --query id -o tsv`"
)


class TenantError(Exception):
    """Refused input or a failed step; the message says which and what to do."""


def shown(text: str) -> str:
    """An argument as a refusal echoes it: quoted and escaped (`repr`), unless it could be a
    private key. Stdlib only, so cruder than the program's `association.redaction`."""
    if KEY_LIKE.search(text) or len(text) > SHORTER_THAN_ANY_KEY:
        return f"<{len(text)} characters, not echoed in case they are key material>"
    return repr(text)


def stack_name(text: str) -> str:
    if not STACK_NAME.fullmatch(text) or text in RESERVED:
        raise TenantError(
            f"{shown(text)} is no stack name to use: letters, digits, '-', '_' and '.' only "
            "(and not the shipped 'example')"
        )
    return text


def guid(text: str, what: str) -> str:
    if not GUID.fullmatch(text) or set(text) <= set("0-"):
        raise TenantError(
            f"{what} {shown(text)} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx; the nil "
            "GUID is a placeholder)"
        )
    return text.lower()


def certificate_path(text: str, root: Path, now: datetime) -> str:
    """A certificate file inside the project that holds one valid public certificate."""
    path = PurePosixPath(text)
    if not CERTIFICATE_PATH.fullmatch(text):
        raise TenantError(
            f"certificate {shown(text)}: a path of letters, digits, '_', '-', '.' and '/', "
            "e.g. certs/x.pem"
        )
    name = shown(text)
    project = root.resolve()
    try:
        file = (project / path).resolve()  # symlinks followed, as the program reads it
        if path.is_absolute() or project not in file.parents:
            raise TenantError(
                f"certificate {name} resolves outside the project {project}: copy it into certs/"
            )
        if not file.exists():
            raise TenantError(
                f"certificate {name} does not exist (looked in {project}). Download Mimecast's "
                "current certificate from the Mimecast Administration Console and save it there"
            )
        if not file.is_file():
            raise TenantError(f"certificate {name} is not a regular file in {root}")
        with file.open("rb") as handle:
            data = handle.read(MAX_CERTIFICATE_BYTES + 1)
    except RuntimeError:  # Python 3.11 and 3.12 on a loop
        raise TenantError(f"certificate {name} is a symlink loop: copy it into certs/") from None
    except OSError as error:
        raise TenantError(f"certificate {name} cannot be read ({error.strerror})") from None
    try:
        not_after = certificate_not_after(data, text)  # a file in the project: its name is safe
    except CertificateFileError as error:
        raise TenantError(str(error)) from None
    if not_after <= now:
        raise TenantError(
            f"certificate {text!r} expired on {not_after:%Y-%m-%d}: Entra ID refuses it. Download "
            "Mimecast's current certificate from the Mimecast Administration Console into certs/"
        )
    return path.as_posix()


def onboard(args: argparse.Namespace) -> int:
    root: Path = args.root
    stack = stack_name(args.stack)
    tenant = guid(args.tenant_id, "--tenant-id")
    owners = list(dict.fromkeys(guid(owner, "--owner") for owner in args.owner))
    if not owners:
        raise TenantError(
            "give --owner OBJECT_ID at least once (the pipelines require owners; list the "
            f"pipeline identity's service principal in this tenant): {OWNER_HINT}"
        )
    app_ids = [guid(app_id, "--app-id") for app_id in args.app_id]
    now = datetime.now(UTC)
    certificates = [
        certificate_path(c, root, now) for c in args.certificate or [DEFAULT_CERTIFICATE]
    ]
    target = root / f"Pulumi.{stack}.yaml"
    if target.exists():
        raise TenantError(f"{target.name} exists already: this stack is onboarded")
    target.write_text(stack_file_text(tenant, certificates, owners, args.adopt), encoding="utf-8")
    print(onboard_text(stack, tenant, app_ids, args.adopt))
    if args.adopt:
        print("\n" + adopt_text(stack, tenant, owners))
    return 0


def retire_command(outputs_json: str) -> str | None:
    try:
        outputs = json.loads(outputs_json or "{}")
    except ValueError:
        return None
    exchange = outputs.get("exchangeOnline") if isinstance(outputs, dict) else None
    command = exchange.get("retire") if isinstance(exchange, dict) else None
    return command if isinstance(command, str) and command.strip() else None


ADOPTED = re.compile(
    r"^\s+[\"']?mimecast-association:adopt[\"']?:\s*(?:#.*)?\n\s+[\"']?applicationObjectId",
    re.MULTILINE,
)
"""The `adopt` map as a stack file holds it (scripts/tenant.py and `pulumi config set --path`
write it block-style, its first field next); `adopt: {}` adopts nothing."""


def adopted_application(stack_file: str, outputs_json: str) -> str | None:
    """The application object ID of an adopted stack (its `adopt` setting is set), which
    `pulumi destroy` leaves in the tenant; None for an application the stack created."""
    if not ADOPTED.search(stack_file):
        return None
    try:
        outputs = json.loads(outputs_json or "{}")
    except ValueError:
        return None
    value = outputs.get("applicationObjectId") if isinstance(outputs, dict) else None
    return value.lower() if isinstance(value, str) and GUID.fullmatch(value) else None


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
    pulumi = Pulumi.find(root, args.yes)
    if not args.yes and not sys.stdin.isatty():
        print(
            "tenant: retire asks before pulumi up and before pulumi destroy, and its input is "
            "no terminal: run it in a terminal, or add --yes to go ahead after each preview "
            "without asking. Nothing was run.",
            file=sys.stderr,
        )
        return 2
    org = os.environ.get("PULUMI_ORG")
    ref = f"{org}/{stack}" if org else stack
    outputs = pulumi.run(
        "read the outputs", ["stack", "output", "--json", "--stack", ref], capture=True
    )
    command = retire_command(outputs)
    before = target.read_bytes()
    pulumi.run("protect: false", ["config", "set", "--stack", ref, PROTECT, "false"])
    try:
        pulumi.run("preview of pulumi up (unprotect)", ["preview", "--stack", ref])
        if not pulumi.confirmed("Run this pulumi up (it only lifts the protection)?"):
            raise StepError("you answered no to pulumi up: nothing was changed in the tenant.")
    except BaseException:
        target.write_bytes(before)  # the tenant keeps its protection: the file says so again
        raise
    pulumi.run("pulumi up (unprotect)", ["up", "--yes", "--stack", ref])
    pulumi.run("preview of pulumi destroy", ["destroy", "--preview-only", "--stack", ref])
    if not pulumi.confirmed("Run this pulumi destroy (it deletes what the preview lists)?"):
        raise StepError(
            "you answered no to pulumi destroy: nothing was deleted, but the resources are no "
            "longer protected. Run retire again to delete them, or protect them again: "
            f"pulumi config set {PROTECT} true --stack {ref}, then pulumi up."
        )
    pulumi.run("pulumi destroy", ["destroy", "--yes", "--stack", ref])
    adopted = adopted_application(target.read_text(encoding="utf-8"), outputs)
    if adopted:
        print(
            "\nThe stack adopted its application, so pulumi destroy kept it in the tenant "
            "(retain_on_delete). Delete it on purpose, as an admin of the tenant:\n"
            f"  az ad app delete --id {adopted}"
        )
    print("\nIn the tenant's Exchange Online PowerShell, take the app off the EWS allow list:")
    print(
        command
        or "  (the stack had no exchangeOnline.retire output: remove its client ID from "
        "Set-OrganizationConfig -EwsAllowedAppIDs, keeping the other apps)"
    )
    pulumi.run("pulumi stack rm", ["stack", "rm", "--yes", "--stack", ref])
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
    on.add_argument("stack", help="the stack's name, e.g. contoso")
    on.add_argument("--tenant-id", required=True, help="the tenant's ID (a GUID)")
    on.add_argument(
        "--owner",
        action="append",
        default=[],
        metavar="OBJECT_ID",
        help="an owner of the app and its service principal (repeatable; required): " + OWNER_HINT,
    )
    on.add_argument(
        "--certificate",
        action="append",
        default=[],
        metavar="PATH",
        help="Mimecast's certificate in the project, e.g. certs/mimecast-2026.pem (repeatable)",
    )
    on.add_argument(
        "--app-id",
        action="append",
        default=[],
        metavar="CLIENT_ID",
        help="a pipeline app's client ID, for its admin-consent URL (repeatable)",
    )
    on.add_argument("--adopt", action="store_true", help="the tenant has the app by hand: adopt it")
    off = sub.add_parser("retire", help="run the retire runbook for a stack")
    off.add_argument("stack")
    off.add_argument("--mimecast-disconnected", action="store_true")
    off.add_argument(
        "--yes",
        action="store_true",
        help="go ahead after each preview without asking (needed when not run in a terminal)",
    )
    args = parser.parse_args(argv)
    try:
        return onboard(args) if args.command == "onboard" else retire(args)
    except (TenantError, StepError) as error:
        print(f"tenant: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tenant: interrupted (Ctrl-C); the steps above it are done", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
