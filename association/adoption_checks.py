"""What adopting a hand-made app still asks of a person, and what it refuses: removing the
consent without scoping; the hand-made certificates kept or to delete; the consent pending
removal. Pure (no Pulumi).
"""

from __future__ import annotations

from collections.abc import Sequence

from association.adoption import Adoption
from association.certificates import Certificate
from association.problems import Notice, Problem


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
