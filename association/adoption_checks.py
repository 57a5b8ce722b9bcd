"""What adopting a hand-made app still asks of a person, and what it refuses: removing the
consent without scoping; the hand-made certificates kept or to delete; the consent pending
removal; the owners a pipeline identity needs before its first deploy. Pure (no Pulumi).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from association.adoption import Adoption
from association.certificates import Certificate
from association.identifiers import setting_key
from association.problems import Notice, Problem

GRAPH: Final = "https://graph.microsoft.com/v1.0"
OWNERS_KEY: Final = setting_key("owners")


def adoption_problems(adopt: Adoption | None, enforce: bool, key: str) -> list[Problem]:
    """Removing the tenant-wide consent leaves Mimecast only what mailbox scoping grants."""
    if adopt is None or not adopt.remove_consent or enforce:
        return []
    name = f"{key}.removeConsent"
    return [
        Problem(
            "adopt-remove-consent-without-enforce",
            name,
            f"{name} is true, but mailboxScope.enforce is not: without the consent and without "
            "scoping Mimecast can read no mailbox. Set mailboxScope (group, enforce: true) first, "
            f"or remove {name}.",
        )
    ]


def adoption_notices(
    adopt: Adoption | None, certificates: Sequence[Certificate], enforce: bool, key: str
) -> list[Notice]:
    """What the hand-made objects still need from a person."""
    if adopt is None:
        return []
    configured = {cert.thumbprint: cert for cert in certificates}
    notices = []
    for thumbprint, key_id in adopt.key_ids.items():
        cert = configured.get(thumbprint)
        if cert is not None:
            notices.append(
                Notice(
                    "hand-made-credential-kept",
                    cert.key,
                    f"{cert.describe()} is on the application already, made by hand (keyId "
                    f"{key_id}, {key}.keyIds): the stack leaves that credential as it is and "
                    "declares no second copy. At Mimecast's next rotation the stack adds the "
                    "successor itself.",
                )
            )
        else:
            notices.append(
                Notice(
                    "hand-made-credential-retired",
                    f"{key}.keyIds",
                    f"The hand-made key credential {key_id} (thumbprint {thumbprint}) is no "
                    "certificate this stack lists. Once Mimecast's console shows the stack's "
                    "certificate in use, remove it: `az ad app credential delete --id "
                    f"{adopt.application_object_id} --key-id {key_id}`, then remove it from "
                    f"{key}.keyIds.",
                )
            )
    consent = f"{key}.appRoleAssignmentId"
    if enforce and not adopt.remove_consent:
        notices.append(
            Notice(
                "scope-enforce-pending",
                consent,
                "mailboxScope.enforce is true, but the hand-made tenant-wide consent "
                f"({adopt.app_role_assignment_id}) is adopted and still granted: the app still "
                f"reaches every mailbox. Once this deploy has imported it, set `pulumi config set "
                f"--path '{key}.removeConsent' true`; the next `pulumi up` deletes that consent "
                "(its preview shows the delete of mimecast-full-access-as-app).",
            )
        )
    elif adopt.remove_consent:
        delete = (
            "az rest --method DELETE --url https://graph.microsoft.com/v1.0/servicePrincipals/"
            f"{adopt.service_principal_object_id}/appRoleAssignments/"
            f"{adopt.app_role_assignment_id}"
        )
        notices.append(
            Notice(
                "consent-removal",
                f"{key}.removeConsent",
                f"{key}.removeConsent: the adopted consent {adopt.app_role_assignment_id} is "
                "deleted by the deploy after the one that imported it. If this stack never "
                "deployed with the consent adopted, the consent is still there, unseen by the "
                f"stack (the audit reports it): delete it by hand: `{delete}`.",
            )
        )
    return notices


def owner_step(adopt: Adoption, owners: Sequence[str]) -> list[str]:
    """The Azure CLI commands, for an admin of the tenant, that make each of `owners` an owner
    of the adopted application and of its service principal.

    `az ad app owner add` skips an owner already there (azure-cli role `custom.py`,
    `add_application_owner`: Graph's add "fails with: One or more added object references
    already exist"); the CLI has no command for a service principal's owners, so that one is
    Graph's servicePrincipal: Add owner, `POST /servicePrincipals/{id}/owners/$ref` with the
    directory object's URL (microsoft-graph-docs-contrib serviceprincipal-post-owners.md), which
    fails for an owner already there: skip the lines `az ad sp owner list --id <id>` shows.
    """
    commands = []
    for owner in owners:
        commands.append(
            f"az ad app owner add --id {adopt.application_object_id} --owner-object-id {owner}"
        )
        commands.append(
            "az rest --method POST --url "
            f"'{GRAPH}/servicePrincipals/{adopt.service_principal_object_id}/owners/$ref' "
            f'--body \'{{"@odata.id": "{GRAPH}/directoryObjects/{owner}"}}\''
        )
    return commands


def deployer_not_owner(
    adopt: Adoption, deployer: str, owners: Sequence[str], current: Sequence[str], key: str
) -> Problem:
    """A pipeline identity that does not own the application it adopts: the first `up`
    imports it, then fails to update it, under Application.ReadWrite.OwnedBy."""
    needed = _missing([deployer, *owners], current)
    steps = "; ".join(f"`{command}`" for command in owner_step(adopt, needed))
    return Problem(
        "adopt-deployer-not-owner",
        key,
        f"The identity running this program, {deployer}, signs in as its own service principal "
        "and is not "
        f"an owner of the adopted application {adopt.application_object_id} (its owners: "
        f"{', '.join(current) or 'none'}). After the import the first `pulumi up` updates the "
        "application and its service principal, and with Application.ReadWrite.OwnedBy Graph "
        "lets it change only what it owns, and not add an owner: it would fail halfway. Nothing "
        "was changed. As an admin of the tenant (Cloud Application Administrator), make it an "
        "owner of the application and of its service principal, and likewise each owner in "
        f"{OWNERS_KEY} that the application lacks, then deploy again: {steps}.",
    )


def adopted_owner_notices(
    adopt: Adoption | None, owners: Sequence[str], current: Sequence[str] | None
) -> list[Notice]:
    """Owners the first `up` of a pipeline identity adds to the adopted application: Graph's
    application: Add owner says OwnedBy "will not be sufficient to add another owner"."""
    missing = _missing(owners, current or ())
    if adopt is None or current is None or not missing:
        return []
    steps = "; ".join(f"`{command}`" for command in owner_step(adopt, missing))
    return [
        Notice(
            "adopt-owners-to-add",
            OWNERS_KEY,
            f"{OWNERS_KEY} lists {', '.join(missing)}, which the adopted application "
            f"{adopt.application_object_id} does not have as owners yet: this pulumi up adds "
            "them. With Application.ReadWrite.OwnedBy Graph refuses to add another owner "
            "(application: Add owner), so unless the deploying identity holds "
            f"Application.ReadWrite.All, an admin of the tenant runs first: {steps}.",
        )
    ]


def adoption_notes(
    adopt: Adoption | None, owners: Sequence[str], deployer: str | None, key: str
) -> list[Notice]:
    """What preflight, which cannot read the tenant, says about an adopted stack: the owner
    step before a pipeline identity's first deploy, and a consent declared without import."""
    if adopt is None:
        return []
    listed = _missing([*([deployer] if deployer else []), *owners], ())
    named = listed or ["<object ID of the identity that runs pulumi up>"]
    steps = "; ".join(f"`{command}`" for command in owner_step(adopt, named))
    notes = [
        Notice(
            "adopt-owner-step",
            f"{key}.applicationObjectId",
            "Before a pipeline identity (Application.ReadWrite.OwnedBy) first deploys this "
            "adopted application, an admin of the tenant makes it an owner of the application "
            f"and of its service principal, and likewise each owner in {OWNERS_KEY}: {steps}. "
            "The program reads the application's owners at deploy and refuses, changing "
            "nothing, while the pipeline identity is not among them.",
        )
    ]
    if adopt.consent_imported and not adopt.remove_consent:
        notes.append(
            Notice(
                "consent-imported",
                f"{key}.consentImported",
                f"{key}.consentImported: the adopted consent {adopt.app_role_assignment_id} is "
                "declared without import, as a deploy already imported it: deleted in the "
                "portal, it is created again by the next `pulumi up --refresh`. If no deploy "
                'has imported it yet, Graph refuses that create ("Permission being assigned '
                'already exists on the object"): remove consentImported, deploy, set it again.',
            )
        )
    return notes


def _missing(owners: Sequence[str], current: Sequence[str]) -> list[str]:
    """`owners` in order, once each, in lower case, without those in `current`."""
    have = {owner.lower() for owner in current}
    return [owner for owner in dict.fromkeys(o.lower() for o in owners) if owner not in have]
