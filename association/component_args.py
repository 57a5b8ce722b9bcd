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

from association.certificates import (
    Certificate,
    duplicate_problems,
    expiry_warning,
    validity_problems,
)
from association.identifiers import DEFAULT_DISPLAY_NAME, TENANT_KEY, setting_key
from association.problems import Notice, Problem, quoted

CERTIFICATES_KEY: Final = setting_key("certificates")
OWNERS_KEY: Final = setting_key("owners")


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

    def problems(self, now: datetime) -> list[Problem]:
        """Everything that must be fixed before anything is declared, each with its fix."""
        problems = []
        if not is_guid(self.tenant_id):
            problems.append(
                Problem(
                    TENANT_KEY,
                    f"azuread:tenantId is {quoted(self.tenant_id)}, not a tenant ID. Set it with "
                    "`pulumi config set azuread:tenantId <GUID>` (Entra admin center > Overview > "
                    "Tenant ID)."
                    if self.tenant_id
                    else "azuread:tenantId is not set. Set it with `pulumi config set "
                    "azuread:tenantId <GUID>` (Entra admin center > Overview > Tenant ID).",
                )
            )
        if not self.display_name.strip():
            problems.append(
                Problem(
                    setting_key("displayName"),
                    "mimecast-association:displayName is empty. Remove it to use "
                    f"{DEFAULT_DISPLAY_NAME!r} or give a name.",
                )
            )
        problems.extend(
            Problem(
                f"{OWNERS_KEY}[{index}]",
                f"{OWNERS_KEY}[{index}] is {quoted(owner)}, not an object ID (GUID). List the "
                "owners' object IDs (Entra admin center > Users or Enterprise applications).",
            )
            for index, owner in enumerate(self.owners or ())
            if not is_guid(owner)
        )
        lowered = [owner.lower() for owner in self.owners or ()]
        problems.extend(
            Problem(
                f"{OWNERS_KEY}[{index}]",
                f"{OWNERS_KEY}[{index}] lists {owner} again. List each owner once.",
            )
            for index, owner in enumerate(self.owners or ())
            if is_guid(owner) and lowered.index(owner.lower()) < index
        )
        if self.expiry_warning_days < 0:
            key = setting_key("expiryWarningDays")
            problems.append(
                Problem(key, f"{key} is {self.expiry_warning_days}; it must be 0 or more.")
            )
        if not self.certificates:
            problems.append(
                Problem(
                    CERTIFICATES_KEY,
                    f"{CERTIFICATES_KEY} lists no certificate. Add the path of Mimecast's "
                    "current certificate (for example certs/mimecast.pem) or paste it as "
                    "inline PEM.",
                )
            )
        for cert in self.certificates:
            problems.extend(validity_problems(cert, now))
        problems.extend(duplicate_problems(list(self.certificates)))
        return problems

    def warnings(self, now: datetime) -> list[Notice]:
        """Certificates close to expiry: worth a warning, not a refusal."""
        return [
            warning
            for cert in self.certificates
            if (warning := expiry_warning(cert, now, self.expiry_warning_days)) is not None
        ]
