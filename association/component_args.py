"""Typed arguments of the `MimecastAssociation` component and their checks.

Pure (no Pulumi), so what a caller passes can be checked before anything is declared,
by the stack program and by any other program that uses the component.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from association.adoption import ADOPT_KEY, Adoption
from association.certificates import (
    Certificate,
    duplicate_problems,
    expiry_warning,
    validity_problems,
)
from association.exchange import (
    MailboxScope,
    ews_notices,
    ews_problems,
    scope_notices,
    scope_problems,
)
from association.identifiers import DEFAULT_DISPLAY_NAME, TENANT_KEY, setting_key
from association.problems import Notice, Problem
from association.redaction import holds_key_material, quoted, visible

CERTIFICATES_KEY: Final = setting_key("certificates")
OWNERS_KEY: Final = setting_key("owners")
DISPLAY_NAME_KEY: Final = setting_key("displayName")

MAX_DISPLAY_NAME: Final = 256
"""Characters in an application's displayName (Microsoft Graph, application resource)."""
MAX_OWNERS: Final = 100
"""Owners of one application that Entra ID allows."""
MAX_CERTIFICATES: Final = 10
"""Key credentials this stack declares; rotating Mimecast's certificate needs two at a time."""
MAX_EXPIRY_WARNING_DAYS: Final = 3650
NIL_GUID: Final = "00000000-0000-0000-0000-000000000000"
"""The example stack's placeholder tenant: a GUID nobody can sign in to."""
TENANT_FIX: Final = (
    "Set it with `pulumi config set azuread:tenantId <GUID>` (Entra admin center > Overview > "
    "Tenant ID)."
)


def is_guid(value: str) -> bool:
    """Entra ID object and tenant IDs are GUIDs in 8-4-4-4-12 form."""
    try:
        return str(uuid.UUID(value)) == value.lower()  # 8-4-4-4-12, either case
    except ValueError:
        return False


@dataclass(frozen=True)
class AssociationArgs:
    """What the component needs; each field maps to a stack setting (in brackets)."""

    tenant_id: str
    """Tenant ID (GUID) the association is created in [`azuread:tenantId`]."""
    certificates: Sequence[Certificate]
    """Mimecast's public certificates, loaded with `association.certificates` [`certificates`]."""
    display_name: str = DEFAULT_DISPLAY_NAME
    """Application display name [`displayName`]."""
    owners: Sequence[str] | None = None
    """Owner object IDs; None or empty means the deploying identity [`owners`]."""
    expiry_warning_days: int = 30
    """Warn when a certificate expires within this many days [`expiryWarningDays`]."""
    protect: bool = True
    """Protect the application and service principal from deletion [`protect`]."""
    adopt: Adoption | None = None
    """Take over the application made by hand instead of creating one [`adopt`]."""
    allow_after_ews_shutdown: bool = False
    """Declare even after EWS is shut down (2027-04-01) [`allowAfterEwsShutdown`]."""
    mailbox_scope: MailboxScope | None = None
    """Limit Mimecast to one group's mailboxes (RBAC for Applications) [`mailboxScope`]."""

    @property
    def tenant_wide_consent(self) -> bool:
        """False once mailbox scoping is enforced: then Entra grants nothing tenant-wide."""
        return self.mailbox_scope is None or not self.mailbox_scope.enforce

    def problems(self, now: datetime) -> list[Problem]:
        """Everything that must be fixed before anything is declared, each with its fix."""
        problems = [
            *_tenant_problems(self.tenant_id),
            *_display_name_problems(self.display_name),
            *_owner_problems(self.owners or ()),
        ]
        if not 0 <= self.expiry_warning_days <= MAX_EXPIRY_WARNING_DAYS:
            key = setting_key("expiryWarningDays")
            problems.append(
                Problem(
                    key,
                    f"{key} is {self.expiry_warning_days}; it must be a number of days from 0 to "
                    f"{MAX_EXPIRY_WARNING_DAYS}.",
                )
            )
        problems.extend(_certificate_problems(self.certificates, now))
        problems.extend(_adoption_problems(self.adopt, self.certificates))
        problems.extend(scope_problems(self.mailbox_scope))
        problems.extend(ews_problems(now, self.allow_after_ews_shutdown))
        return problems

    def warnings(self, now: datetime) -> list[Notice]:
        """What deserves a warning, not a refusal: EWS's end, expiring certificates, scoping."""
        return [
            *ews_notices(now, self.allow_after_ews_shutdown),
            *(
                warning
                for cert in self.certificates
                if (warning := expiry_warning(cert, now, self.expiry_warning_days)) is not None
            ),
            *scope_notices(self.mailbox_scope),
        ]


def _tenant_problems(tenant_id: str) -> list[Problem]:
    if not tenant_id:
        return [Problem(TENANT_KEY, f"{TENANT_KEY} is not set. {TENANT_FIX}")]
    if not is_guid(tenant_id):
        return [
            Problem(
                TENANT_KEY, f"{TENANT_KEY} is {quoted(tenant_id)}, not a tenant ID. {TENANT_FIX}"
            )
        ]
    if tenant_id == NIL_GUID:
        return [
            Problem(
                TENANT_KEY,
                f"{TENANT_KEY} is the nil GUID {NIL_GUID}, a placeholder nobody can sign in to. "
                f"{TENANT_FIX}",
            )
        ]
    return []


def _display_name_problems(display_name: str) -> list[Problem]:
    key = DISPLAY_NAME_KEY
    if holds_key_material(display_name):
        return [Problem(key, f"{key} is {quoted(display_name)}.")]
    if not display_name.strip():
        return [
            Problem(
                key, f"{key} is empty. Remove it to use {DEFAULT_DISPLAY_NAME!r} or give a name."
            )
        ]
    problems = []
    if len(display_name) > MAX_DISPLAY_NAME:
        problems.append(
            Problem(
                key,
                f"{key} has {len(display_name)} characters; Entra ID allows at most "
                f"{MAX_DISPLAY_NAME}. Shorten it.",
            )
        )
    if visible(display_name) != display_name:
        problems.append(
            Problem(
                key,
                f"{key} holds control or line-break characters ({quoted(display_name)}). "
                "Give a name on one line of plain text.",
            )
        )
    return problems


def _owner_problems(owners: Sequence[str]) -> list[Problem]:
    if len(owners) > MAX_OWNERS:
        return [
            Problem(
                OWNERS_KEY,
                f"{OWNERS_KEY} lists {len(owners)} owners; Entra ID allows at most {MAX_OWNERS} "
                "per application. List the people and pipeline identities who must manage it.",
            )
        ]
    problems = [
        Problem(
            f"{OWNERS_KEY}[{index}]",
            f"{OWNERS_KEY}[{index}] is {quoted(owner)}, not an object ID (GUID). List the "
            "owners' object IDs (Entra admin center > Users or Enterprise applications).",
        )
        for index, owner in enumerate(owners)
        if not is_guid(owner)
    ]
    lowered = [owner.lower() for owner in owners]
    problems.extend(
        Problem(
            f"{OWNERS_KEY}[{index}]",
            f"{OWNERS_KEY}[{index}] lists {owner} again. List each owner once.",
        )
        for index, owner in enumerate(owners)
        if is_guid(owner) and lowered.index(owner.lower()) < index
    )
    return problems


def _certificate_problems(certificates: Sequence[Certificate], now: datetime) -> list[Problem]:
    if not certificates:
        return [
            Problem(
                CERTIFICATES_KEY,
                f"{CERTIFICATES_KEY} lists no certificate. Add the path of Mimecast's current "
                "certificate (for example certs/mimecast.pem) or paste it as inline PEM.",
            )
        ]
    if len(certificates) > MAX_CERTIFICATES:
        return [
            Problem(
                CERTIFICATES_KEY,
                f"{CERTIFICATES_KEY} lists {len(certificates)} certificates; this stack declares "
                f"at most {MAX_CERTIFICATES} (rotating Mimecast's certificate needs two at a "
                "time: the current one and its successor). Remove the ones Mimecast retired.",
            )
        ]
    problems = [problem for cert in certificates for problem in validity_problems(cert, now)]
    problems.extend(duplicate_problems(list(certificates)))
    return problems


def _adoption_problems(
    adopt: Adoption | None, certificates: Sequence[Certificate]
) -> list[Problem]:
    """keyIds must name configured certificates: an adopted credential is one this stack lists."""
    if adopt is None:
        return []
    configured = {cert.thumbprint for cert in certificates}
    key = f"{ADOPT_KEY}.keyIds"
    return [
        Problem(
            key,
            f"{key} names thumbprint {thumbprint}, which no entry of {CERTIFICATES_KEY} has. "
            "List that certificate in certificates too, or remove it from keyIds (a key "
            "credential the stack does not list is left alone on the application).",
        )
        for thumbprint in adopt.key_ids
        if thumbprint not in configured
    ]
