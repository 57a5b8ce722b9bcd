"""Adopting the application a tenant already made by hand from Mimecast's guide.

Mimecast's server connection points at that application's client ID, so a second application
is no fix: the stack takes over the existing objects with Pulumi's `import` resource option.
The import IDs are the provider's own formats (terraform-provider-azuread importers): the
application `/applications/<id>`, the service principal `/servicePrincipals/<id>`, the consent
`/servicePrincipals/<Exchange Online's SP>/appRoleAssignedTo/<id>` and a key credential
`<application object ID>/certificate/<keyId>`.

Pure (no Pulumi): the stack setting `adopt` is parsed and checked here, every problem named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from association.identifiers import setting_key
from association.problems import Problem
from association.redaction import quoted

ADOPT_KEY: Final = setting_key("adopt")

_GUID: Final = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_APPLICATION: Final = re.compile(rf"(?:/applications/)?({_GUID})")
_SERVICE_PRINCIPAL: Final = re.compile(rf"(?:/servicePrincipals/)?({_GUID})")
_ASSIGNMENT: Final = re.compile(r"[A-Za-z0-9_-]{20,64}")
"""An app role assignment's id: Graph shows it as base64url text (43 characters), not a GUID."""
_THUMBPRINT: Final = re.compile(r"[0-9A-Fa-f]{40}")
_KEY_ID: Final = re.compile(_GUID)

FIELDS: Final = (
    "applicationObjectId",
    "servicePrincipalObjectId",
    "appRoleAssignmentId",
    "keyIds",
)


@dataclass(frozen=True)
class Adoption:
    """The hand-made objects this stack takes over, by their IDs in the tenant."""

    application_object_id: str
    service_principal_object_id: str
    app_role_assignment_id: str
    key_ids: Mapping[str, str] = field(default_factory=dict)
    """Configured certificate's SHA-1 thumbprint (upper-case hex) -> the keyId it has on the app."""

    def application_import(self) -> str:
        return f"/applications/{self.application_object_id}"

    def service_principal_import(self) -> str:
        return f"/servicePrincipals/{self.service_principal_object_id}"

    def assignment_import(self, exchange_service_principal_id: str) -> str:
        """The consent lives under Exchange Online's service principal, not ours."""
        return (
            f"/servicePrincipals/{exchange_service_principal_id}/appRoleAssignedTo/"
            f"{self.app_role_assignment_id}"
        )

    def certificate_import(self, key_id: str) -> str:
        return f"{self.application_object_id}/certificate/{key_id}"


def parse_adoption(value: Mapping[str, Any]) -> tuple[Adoption | None, list[Problem]]:
    """The `adopt` setting as an `Adoption`, or every problem with it; `{}` adopts nothing."""
    if not value:
        return None, []
    problems = [
        Problem(
            f"{ADOPT_KEY}.{name}",
            f"{ADOPT_KEY} has {quoted(str(name))}, which is not one of {', '.join(FIELDS)}. "
            "Fix the name or remove it.",
        )
        for name in value
        if name not in FIELDS
    ]
    ids = {
        name: _id(value, name, pattern, example, problems)
        for name, pattern, example in (
            ("applicationObjectId", _APPLICATION, "the application's Object ID (a GUID)"),
            (
                "servicePrincipalObjectId",
                _SERVICE_PRINCIPAL,
                "the Object ID of its enterprise application (a GUID)",
            ),
            (
                "appRoleAssignmentId",
                _ASSIGNMENT,
                "the id of its full_access_as_app assignment (43 letters, digits, - or _)",
            ),
        )
    }
    key_ids = _key_ids(value.get("keyIds", {}), problems)
    if problems:
        return None, problems
    return (
        Adoption(
            ids["applicationObjectId"],
            ids["servicePrincipalObjectId"],
            ids["appRoleAssignmentId"],
            key_ids,
        ),
        [],
    )


def _id(
    value: Mapping[str, Any],
    name: str,
    pattern: re.Pattern[str],
    example: str,
    problems: list[Problem],
) -> str:
    key = f"{ADOPT_KEY}.{name}"
    text = value.get(name)
    if not isinstance(text, str) or not (match := pattern.fullmatch(text)):
        shown = "missing" if text is None else f"{quoted(str(text))}, not {example}"
        problems.append(
            Problem(
                key,
                f"{key} is {shown}. Look it up in the tenant (README: Already set up by hand?) "
                "and set it with `pulumi config set --path 'mimecast-association:adopt."
                f"{name}' <id>`.",
            )
        )
        return ""
    # Graph writes object IDs in lower case; an import ID in another case never matches state.
    return match.group(1).lower() if pattern.groups else text


def _key_ids(value: object, problems: list[Problem]) -> dict[str, str]:
    key = f"{ADOPT_KEY}.keyIds"
    if not isinstance(value, Mapping):
        problems.append(
            Problem(key, f"{key} must map certificate thumbprints to keyIds (a YAML map).")
        )
        return {}
    key_ids: dict[str, str] = {}
    for thumbprint, key_id in value.items():
        entry = f"{key}.{quoted(str(thumbprint))}"
        if not isinstance(thumbprint, str) or not _THUMBPRINT.fullmatch(thumbprint):
            problems.append(
                Problem(
                    key,
                    f"{entry} is not a SHA-1 thumbprint (40 hex digits, as the Entra admin "
                    "center shows under Certificates & secrets).",
                )
            )
        elif not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            problems.append(
                Problem(
                    key,
                    f"{entry} is {quoted(str(key_id))}, not a keyId (a GUID, as the app's "
                    "manifest shows under keyCredentials).",
                )
            )
        else:
            key_ids[thumbprint.upper()] = key_id.lower()
    return key_ids
