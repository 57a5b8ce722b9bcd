"""What scripts/tenant.py onboard writes and prints: the stack file, the next steps, and the
Azure CLI recipe that finds a hand-made app's `adopt` IDs and makes the owners owners of it
(docs/adoption.md gives the same; a test keeps the two equal). Stdlib only, like tenant.py.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS_AS_APP_ROLE_ID = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
DEFAULT_DISPLAY_NAME = "Mimecast Cloud Synchronization"
GRAPH = "https://graph.microsoft.com/v1.0"
"""Copies of the product's identifiers (tests/test_pinned_copies.py pins them)."""


def stack_file_text(
    tenant: str, certificates: Sequence[str], owners: Sequence[str], adopt: bool
) -> str:
    """The stack file: only checked values, so plain YAML scalars are safe."""
    lines = ["config:", f"  azuread:tenantId: {tenant}"]
    lines.append("  mimecast-association:certificates:")
    lines += [f"    - {certificate}" for certificate in certificates]
    lines.append("  mimecast-association:owners:")
    lines += [f"    - {owner}" for owner in owners]
    if adopt:
        lines += ADOPT_BLOCK
    return "\n".join(lines) + "\n"


ADOPT_BLOCK = [
    "  mimecast-association:adopt:",
    "    applicationObjectId: <1. applicationObjectId>",
    "    servicePrincipalObjectId: <2. servicePrincipalObjectId>",
    "    appRoleAssignmentId: <3. appRoleAssignmentId>",
    "    keyIds:",
    "      <4. customKeyIdentifier>: <4. keyId>",
]
"""The `adopt` setting with a placeholder for each id the recipe finds; preflight refuses every
placeholder, naming it, until it is replaced."""


def adopt_recipe(tenant: str, owners: Sequence[str]) -> list[str]:
    """The Azure CLI commands that find the `adopt` ids of a hand-made app, then make each of
    `owners` an owner of it and of its enterprise application; docs/adoption.md gives the same
    (a test keeps the two equal), and the program's own owner step is the same command
    (association.adoption_checks.owner_step; tests/test_pinned_copies.py pins the two)."""
    name = shlex.quote(DEFAULT_DISPLAY_NAME)
    return [
        f"az login --tenant {tenant} --allow-no-subscriptions",
        "# 1. the application: its object ID (applicationObjectId) and its appId",
        f"az ad app list --display-name {name} --query '[].{{applicationObjectId:id, appId:appId}}'"
        " -o table",
        "# 2. its enterprise application (servicePrincipalObjectId)",
        "az ad sp show --id <appId> --query id -o tsv",
        "# 3. its full_access_as_app consent (appRoleAssignmentId)",
        "az rest --method GET --url 'https://graph.microsoft.com/v1.0/servicePrincipals/"
        f"<servicePrincipalObjectId>/appRoleAssignments' --query \"value[?appRoleId=="
        f"'{FULL_ACCESS_AS_APP_ROLE_ID}'].id\" -o tsv",
        "# 4. the certificates on it, made by hand (keyIds: customKeyIdentifier -> keyId)",
        "az ad app credential list --id <appId> --cert --query "
        "'[].{customKeyIdentifier:customKeyIdentifier, keyId:keyId, endDateTime:endDateTime}' "
        "-o table",
        "# 5. before the first deploy: each owner (the pipeline identity's object ID among them)"
        " owns the app and its enterprise application",
        *(command for owner in owners for command in owner_step(owner)),
    ]


def owner_step(owner: str) -> list[str]:
    """Make `owner` an owner of the application and of its service principal (the Azure CLI
    has no `az ad sp owner add`, so the second is Graph's servicePrincipal: Add owner)."""
    body = f'{{"@odata.id": "{GRAPH}/directoryObjects/{owner}"}}'
    return [
        f"az ad app owner add --id <applicationObjectId> --owner-object-id {owner}",
        "az rest --method POST --url "
        f"{shlex.quote(f'{GRAPH}/servicePrincipals/<servicePrincipalObjectId>/owners/$ref')} "
        f"--body {shlex.quote(body)}",
    ]


def adopt_text(stack: str, tenant: str, owners: Sequence[str]) -> str:
    return "\n".join(
        [
            f"Pulumi.{stack}.yaml has an `adopt` block with a placeholder for each id. As an "
            "admin of the tenant, find them and replace the placeholders:",
            *(f"   {line}" for line in adopt_recipe(tenant, owners)),
            "List every hand-made certificate under keyIds; the stack leaves them as they are.",
            "Step 5 lets a pipeline identity with Application.ReadWrite.OwnedBy update the app "
            "it adopts; the program refuses, changing nothing, while it is no owner.",
        ]
    )


def onboard_text(stack: str, tenant: str, app_ids: Sequence[str], adopt: bool = False) -> str:
    """What comes next, in docs/pipelines.md's order: consent came first (the `--owner` object
    ID exists only after it), then the check, the stack and the first deploy."""
    q = shlex.quote
    ref = f"{os.environ['PULUMI_ORG']}/{stack}" if os.environ.get("PULUMI_ORG") else stack
    consent = [
        f"   https://login.microsoftonline.com/{tenant}/adminconsent?client_id={app_id}"
        for app_id in app_ids
    ] or [f"   https://login.microsoftonline.com/{tenant}/adminconsent?client_id=<appId>"]
    return "\n".join(
        [
            f"Wrote Pulumi.{stack}.yaml for tenant {tenant}. Next:",
            "1. If not done yet (the --owner of a pipeline app exists only after it): a Global",
            "   Administrator or Privileged Role Administrator of the tenant grants admin consent",
            "   to each pipeline app (deploy, read-only preview and audit) by opening:",
            *consent,
            f"2. Check it offline: venv/bin/python -m association preflight {q(stack)} "
            "--require-owners (with --deployer <its object ID> for a pipeline identity)",
            f"3. Create the stack once: pulumi stack init {q(ref)}",
            "4. Deploy: by hand, `pulumi up` signed in to the tenant (README step 4); or commit "
            "the file and the deploy pipeline "
            + ("adopts the app on merge." if adopt else "creates the app on merge."),
            *(
                []
                if adopt
                else [
                    "",
                    "Does the tenant already have the app, made by hand from Mimecast's guide?",
                    f"Then adopt it instead of creating a second one: delete Pulumi.{stack}.yaml",
                    "and run onboard again with --adopt.",
                ]
            ),
        ]
    )
