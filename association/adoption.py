"""Adopting the application a tenant already made by hand from Mimecast's guide.

Mimecast's server connection points at that application's client ID, so a second application
is no fix: the stack takes over the existing application, service principal and consent with
Pulumi's `import` resource option, in the provider's own ID formats (terraform-provider-azuread
importers): `/applications/<id>`, `/servicePrincipals/<id>` and
`/servicePrincipals/<Exchange Online's SP>/appRoleAssignedTo/<id>`.

Key credentials are never imported: Graph never returns a certificate's body, so an imported
`ApplicationCertificate` has no `value` and fails the provider's Check on every run (see
docs/adoption.md). The credentials made by hand are named in `keyIds` instead:
the stack leaves them on the application as they are, declares no second copy of the same
certificate, and says when each can be removed.

Pure (no Pulumi): the stack setting `adopt` is parsed and checked here, every problem named.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from association.certificates import Certificate
from association.identifiers import is_guid
from association.problems import Problem
from association.text import quoted, visible

_ASSIGNMENT: Final = re.compile(r"[A-Za-z0-9_-]{43}")
"""Graph's app role assignment id: 32 bytes in base64url without padding (43 characters), the
first 16 of them the assigned principal's object ID (Microsoft Graph, "Grant an
appRoleAssignment for a service principal": id `-WmtM5na7Uus0D8kI1yylpU9Mdo0Pb9OoBJvd3T5eKc`
decodes to principalId 33ad69f9-da99-4bed-acd0-3f24235cb296)."""
_HEX_THUMBPRINT: Final = re.compile(r"[0-9A-Fa-f]{40}")
_BASE64_THUMBPRINT: Final = re.compile(r"[A-Za-z0-9+/]{27}=")
"""A customKeyIdentifier as Entra shows it: the 20-byte SHA-1 thumbprint in base64."""

FIELDS: Final = (
    "applicationObjectId",
    "servicePrincipalObjectId",
    "appRoleAssignmentId",
    "keyIds",
    "removeConsent",
    "consentImported",
)
FIX: Final = "Look it up in the tenant (docs/adoption.md#find-the-ids)"


@dataclass(frozen=True)
class Adoption:
    """The hand-made objects this stack takes over, by their IDs in the tenant."""

    application_object_id: str
    service_principal_object_id: str
    app_role_assignment_id: str
    """The hand-made tenant-wide consent (its full_access_as_app assignment)."""
    key_ids: Mapping[str, str] = field(default_factory=dict)
    """The key credentials made by hand: SHA-1 thumbprint (upper-case hex) -> their keyId."""
    remove_consent: bool = False
    """The second step of scoping an adopted app: the consent, imported by an earlier deploy,
    is no longer declared, so the engine deletes it (`mailboxScope.enforce` only)."""
    consent_imported: bool = False
    """An earlier deploy imported the consent: it is declared without `import`, so one deleted
    in the portal is created again by `pulumi up --refresh` instead of failing the import of an
    object that no longer exists every run (pulumi/pulumi step.go, ImportStep.Apply: "resource
    '...' does not exist"). The application's and service principal's imports stay: there that
    failure is what stops a silent new client ID."""

    def application_import(self) -> str:
        return f"/applications/{self.application_object_id}"

    def service_principal_import(self) -> str:
        return f"/servicePrincipals/{self.service_principal_object_id}"

    def assignment_import(self, exchange_service_principal_id: str) -> str | None:
        """The consent lives under Exchange Online's service principal, not ours; None once it
        is in state (`consentImported`) or being removed."""
        if self.remove_consent or self.consent_imported:
            return None
        return (
            f"/servicePrincipals/{exchange_service_principal_id}/appRoleAssignedTo/"
            f"{self.app_role_assignment_id}"
        )

    def hand_made(self, certificate: Certificate) -> str | None:
        """The keyId of the credential made by hand with this certificate, if there is one."""
        return self.key_ids.get(certificate.thumbprint)


def parse_adoption(
    value: Mapping[str, Any], key: str, project_dir: Path
) -> tuple[Adoption | None, list[Problem]]:
    """The `adopt` setting as an `Adoption`, or every problem with it; `{}` adopts nothing."""
    if not value:
        return None, []
    problems = [
        Problem(
            "adopt-unknown-field",
            f"{key}.{visible(str(name))}",
            f"{key} has {quoted(str(name))}, which is not one of {', '.join(FIELDS)}. "
            "Fix the name or remove it.",
        )
        for name in value
        if name not in FIELDS
    ]
    application = _object_id(value, key, "applicationObjectId", "/applications/", problems)
    principal = _object_id(value, key, "servicePrincipalObjectId", "/servicePrincipals/", problems)
    assignment = _assignment_id(value.get("appRoleAssignmentId"), principal, key, problems)
    key_ids = _key_ids(value.get("keyIds", {}), f"{key}.keyIds", problems)
    remove = _flag(value, key, "removeConsent", "adopt-remove-consent-type", problems)
    imported = _flag(value, key, "consentImported", "adopt-consent-imported-type", problems)
    if problems or assignment is None:
        return None, problems
    return Adoption(application, principal, assignment, key_ids, remove, imported), []


def _flag(
    value: Mapping[str, Any], adopt_key: str, name: str, code: str, problems: list[Problem]
) -> bool:
    """A true/false field, false when absent."""
    flag = value.get(name, False)
    if isinstance(flag, bool):
        return flag
    key = f"{adopt_key}.{name}"
    problems.append(Problem(code, key, f"{key} must be true or false, not {quoted(str(flag))}."))
    return False


def _object_id(
    value: Mapping[str, Any], adopt_key: str, name: str, prefix: str, problems: list[Problem]
) -> str:
    """A GUID, or the provider's `/<kind>/<GUID>`, in lower case: Graph writes object IDs in
    lower case, and an import ID in another case never matches state."""
    key = f"{adopt_key}.{name}"
    text = value.get(name)
    guid = text.removeprefix(prefix) if isinstance(text, str) else ""
    if is_guid(guid):
        return guid.lower()
    what = (
        "the application's Object ID"
        if "applications" in prefix
        else ("the Object ID of its enterprise application (service principal)")
    )
    shown = "missing" if text is None else f"{quoted(str(text))}, not {what} (a GUID)"
    problems.append(
        Problem(
            "adopt-id-invalid",
            key,
            f"{key} is {shown}. {FIX} and set it with `pulumi config set --path '{key}' <id>`.",
        )
    )
    return ""


def _assignment_id(
    text: object, principal: str, adopt_key: str, problems: list[Problem]
) -> str | None:
    """Graph's id of the service principal's full_access_as_app assignment, checked to be one
    of this service principal's: its first 16 bytes are the assigned principal's object ID."""
    key = f"{adopt_key}.appRoleAssignmentId"
    if text is None:
        problems.append(
            Problem(
                "adopt-id-invalid",
                key,
                f"{key} is missing. {FIX} and set it with `pulumi config set --path '{key}' "
                "<id>`: without it the hand-made consent would stay, unseen by the stack, and "
                "the stack would grant full_access_as_app a second time.",
            )
        )
        return None
    shape = (
        "43 letters, digits, - or _ (Graph's base64url id of the full_access_as_app assignment "
        "of the enterprise application)"
    )
    if not isinstance(text, str) or not _ASSIGNMENT.fullmatch(text):
        problems.append(
            Problem("adopt-id-invalid", key, f"{key} is {quoted(str(text))}, not {shape}. {FIX}.")
        )
        return None
    assigned = str(uuid.UUID(bytes_le=base64.urlsafe_b64decode(text + "=")[:16]))
    if principal and assigned != principal:
        problems.append(
            Problem(
                "adopt-assignment-other-principal",
                key,
                f"{key} is an assignment to principal {assigned}, not to "
                f"{adopt_key}.servicePrincipalObjectId {principal}: it is another app's consent. "
                f"{FIX}: the assignment whose principalId is {principal}.",
            )
        )
        return None
    return text


def _key_ids(value: object, key: str, problems: list[Problem]) -> dict[str, str]:
    """Thumbprint (hex, or the base64 customKeyIdentifier Entra shows) -> keyId (a GUID)."""
    if not isinstance(value, Mapping):
        problems.append(
            Problem(
                "adopt-key-ids-invalid",
                key,
                f"{key} must map the hand-made credentials' thumbprints to their keyIds (a YAML "
                "map).",
            )
        )
        return {}
    key_ids: dict[str, str] = {}
    for thumbprint, key_id in value.items():
        entry = f"{key}.{quoted(str(thumbprint))}"
        hexadecimal = _thumbprint(thumbprint)
        if hexadecimal is None:
            problems.append(
                Problem(
                    "adopt-key-ids-invalid",
                    key,
                    f"{entry} is not a certificate thumbprint: give the SHA-1 thumbprint (40 hex "
                    "digits, as the Entra admin center shows under Certificates & secrets) or "
                    "the customKeyIdentifier (28 characters of base64, as `az ad app credential "
                    "list` prints it).",
                )
            )
        elif not isinstance(key_id, str) or not is_guid(key_id):
            problems.append(
                Problem(
                    "adopt-key-ids-invalid",
                    key,
                    f"{entry} is {quoted(str(key_id))}, not a keyId (a GUID, as `az ad app "
                    "credential list` prints it).",
                )
            )
        else:
            key_ids[hexadecimal] = key_id.lower()
    return key_ids


def _thumbprint(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    if _HEX_THUMBPRINT.fullmatch(text):
        return text.upper()
    if _BASE64_THUMBPRINT.fullmatch(text):
        try:
            return base64.b64decode(text, validate=True).hex().upper()
        except binascii.Error:
            return None
    return None
