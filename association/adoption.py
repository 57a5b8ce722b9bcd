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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from association.certificates import Certificate
from association.identifiers import is_guid
from association.problems import Problem
from association.text import quoted

_ASSIGNMENT: Final = re.compile(r"[A-Za-z0-9_-]{20,64}")
"""An app role assignment's id: Graph shows it as base64url text (43 characters), not a GUID."""
_THUMBPRINT: Final = re.compile(r"[0-9A-Fa-f]{40}")


def _object_id(prefix: str) -> Callable[[str], str | None]:
    """A GUID, or the provider's `/<prefix>/<GUID>`, in lower case: Graph writes object IDs in
    lower case, and an import ID in another case never matches state."""

    def parse(text: str) -> str | None:
        guid = text.removeprefix(prefix)
        return guid.lower() if is_guid(guid) else None

    return parse


def _assignment_id(text: str) -> str | None:
    return text if _ASSIGNMENT.fullmatch(text) else None


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


def parse_adoption(
    value: Mapping[str, Any], key: str, project_dir: Path
) -> tuple[Adoption | None, list[Problem]]:
    """The `adopt` setting as an `Adoption`, or every problem with it; `{}` adopts nothing."""
    if not value:
        return None, []
    problems = [
        Problem(
            "adopt-unknown-field",
            f"{key}.{name}",
            f"{key} has {quoted(str(name))}, which is not one of {', '.join(FIELDS)}. "
            "Fix the name or remove it.",
        )
        for name in value
        if name not in FIELDS
    ]
    ids = {
        name: _id(value, key, name, pattern, example, problems)
        for name, pattern, example in (
            (
                "applicationObjectId",
                _object_id("/applications/"),
                "the application's Object ID (a GUID)",
            ),
            (
                "servicePrincipalObjectId",
                _object_id("/servicePrincipals/"),
                "the Object ID of its enterprise application (a GUID)",
            ),
            (
                "appRoleAssignmentId",
                _assignment_id,
                "the id of its full_access_as_app assignment (43 letters, digits, - or _)",
            ),
        )
    }
    key_ids = _key_ids(value.get("keyIds", {}), f"{key}.keyIds", problems)
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
    adopt_key: str,
    name: str,
    parse: Callable[[str], str | None],
    example: str,
    problems: list[Problem],
) -> str:
    key = f"{adopt_key}.{name}"
    text = value.get(name)
    if not isinstance(text, str) or (parsed := parse(text)) is None:
        shown = "missing" if text is None else f"{quoted(str(text))}, not {example}"
        problems.append(
            Problem(
                "adopt-id-invalid",
                key,
                f"{key} is {shown}. Look it up in the tenant (README: Already set up by hand?) "
                f"and set it with `pulumi config set --path '{key}' <id>`.",
            )
        )
        return ""
    return parsed


def _key_ids(value: object, key: str, problems: list[Problem]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        problems.append(
            Problem(
                "adopt-key-ids-invalid",
                key,
                f"{key} must map certificate thumbprints to keyIds (a YAML map).",
            )
        )
        return {}
    key_ids: dict[str, str] = {}
    for thumbprint, key_id in value.items():
        entry = f"{key}.{quoted(str(thumbprint))}"
        if not isinstance(thumbprint, str) or not _THUMBPRINT.fullmatch(thumbprint):
            problems.append(
                Problem(
                    "adopt-key-ids-invalid",
                    key,
                    f"{entry} is not a SHA-1 thumbprint (40 hex digits, as the Entra admin "
                    "center shows under Certificates & secrets).",
                )
            )
        elif not isinstance(key_id, str) or not is_guid(key_id):
            problems.append(
                Problem(
                    "adopt-key-ids-invalid",
                    key,
                    f"{entry} is {quoted(str(key_id))}, not a keyId (a GUID, as the app's "
                    "manifest shows under keyCredentials).",
                )
            )
        else:
            key_ids[thumbprint.upper()] = key_id.lower()
    return key_ids


def key_id_problems(
    adopt: Adoption | None, certificates: Sequence[Certificate], key: str, certificates_key: str
) -> list[Problem]:
    """keyIds must name configured certificates: an adopted credential is one this stack lists."""
    if adopt is None:
        return []
    configured = {cert.thumbprint for cert in certificates}
    return [
        Problem(
            "adopt-key-id-unlisted",
            f"{key}.keyIds",
            f"{key}.keyIds names thumbprint {thumbprint}, which no entry of {certificates_key} "
            "has. List that certificate in certificates too, or remove it from keyIds (a key "
            "credential the stack does not list is left alone on the application).",
        )
        for thumbprint in adopt.key_ids
        if thumbprint not in configured
    ]
