"""Graph's answers about one tenant as typed values (`tenant`).

Graph's answers are input like any other: every field is type-checked and a missing or
mistyped one is empty, never an exception. A key credential is described by what Graph
returns for it; its thumbprint is the SHA-1 of the certificate in `key`, never the
`customKeyIdentifier` whoever added it chose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from association_tools.audit.graph import Response
from association_tools.audit.tenant import (
    Assignment,
    Credential,
    Exposure,
    FederatedCredential,
    Grant,
    LiveApplication,
    LiveServicePrincipal,
    LookAlike,
    Named,
    Permission,
)

CONFUSABLES: Final = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "$": "s"})
"""Characters that pass for others in a display name, mapped to one of each kind."""
NEAR: Final = 2
"""Edits (insert, delete, replace) within which two names' skeletons count as look-alikes."""


def application(answers: Mapping[str, Response]) -> LiveApplication:
    app = answers["application"].body
    uris = [
        (platform, uri)
        for platform in ("web", "spa", "publicClient")
        for uri in strings(mapping(app, platform), "redirectUris")
    ]
    return LiveApplication(
        id=text(app, "id"),
        app_id=text(app, "appId"),
        display_name=text(app, "displayName"),
        sign_in_audience=text(app, "signInAudience"),
        passwords=tuple(_credential(item) for item in objects(app, "passwordCredentials")),
        keys=tuple(_credential(item) for item in objects(app, "keyCredentials")),
        federated=tuple(
            FederatedCredential(text(item, "name"), text(item, "issuer"), text(item, "subject"))
            for item in values(answers["federated"])
        ),
        permissions=tuple(
            Permission(text(resource, "resourceAppId"), text(access, "id"), text(access, "type"))
            for resource in objects(app, "requiredResourceAccess")
            for access in objects(resource, "resourceAccess")
        ),
        redirect_uris=tuple(uris),
        identifier_uris=strings(app, "identifierUris"),
        owners=_owners(answers["applicationOwners"]),
        exposure=_exposure(app),
    )


def _exposure(app: Mapping[str, Any]) -> Exposure:
    implicit = mapping(mapping(app, "web"), "implicitGrantSettings")
    api = mapping(app, "api")
    lock = mapping(app, "servicePrincipalLockConfiguration")
    return Exposure(
        fallback_public_client=app.get("isFallbackPublicClient") is True,
        implicit_grant=tuple(
            kind
            for key, kind in (
                ("enableAccessTokenIssuance", "access token"),
                ("enableIdTokenIssuance", "ID token"),
            )
            if implicit.get(key) is True
        ),
        pre_authorized=tuple(
            text(item, "appId") or "(no appId)"
            for item in objects(api, "preAuthorizedApplications")
        ),
        known_clients=strings(api, "knownClientApplications"),
        scopes=tuple(
            text(item, "value") or text(item, "id")
            for item in objects(api, "oauth2PermissionScopes")
        ),
        app_roles=tuple(
            text(item, "value") or text(item, "id") for item in objects(app, "appRoles")
        ),
        instance_lock=lock.get("isEnabled") is True
        and (lock.get("allProperties") is True or lock.get("credentialsWithUsageVerify") is True),
    )


def service_principal(answers: Mapping[str, Response]) -> LiveServicePrincipal:
    sp = answers["servicePrincipal"].body
    return LiveServicePrincipal(
        id=text(sp, "id"),
        app_id=text(sp, "appId"),
        account_enabled=sp.get("accountEnabled") is not False,
        passwords=tuple(_credential(item) for item in objects(sp, "passwordCredentials")),
        keys=tuple(_credential(item) for item in objects(sp, "keyCredentials")),
        assignments=tuple(
            Assignment(
                text(item, "id"),
                text(item, "resourceId").lower(),
                text(item, "resourceDisplayName"),
                text(item, "appRoleId").lower(),
            )
            for item in values(answers["assignments"])
        ),
        grants=tuple(
            Grant(
                text(item, "id"),
                text(item, "resourceId"),
                text(item, "scope"),
                text(item, "consentType"),
            )
            for item in values(answers["grants"])
        ),
        owners=_owners(answers["servicePrincipalOwners"]),
        display_name=text(sp, "displayName"),
        reply_urls=strings(sp, "replyUrls"),
        tags=strings(sp, "tags"),
        assignment_required=sp.get("appRoleAssignmentRequired") is True,
        member_of=named(answers["memberOf"]),
        role_assignments=tuple(
            Named(text(item, "id"), text(item, "roleDefinitionId"), text(item, "directoryScopeId"))
            for item in values(answers["roleAssignments"])
        ),
    )


def named(response: Response, kind: str = "") -> tuple[Named, ...]:
    """A list's objects by ID and display name; `kind` from `@odata.type` unless given."""
    return tuple(
        Named(
            text(item, "id"),
            text(item, "displayName"),
            kind or text(item, "@odata.type").rpartition(".")[2],
        )
        for item in values(response)
    )


def look_alikes(response: Response, ours: str, display_name: str) -> tuple[LookAlike, ...]:
    """The service principals other than ours whose names pass for `display_name`: the same
    after NFKC, case folding, dropping punctuation and spaces and mapping confusable
    characters, or within `NEAR` edits of it."""
    wanted = skeleton(display_name)
    return tuple(
        LookAlike(
            Named(text(item, "id"), text(item, "displayName"), "servicePrincipal"),
            text(item, "appId"),
            text(item, "appOwnerOrganizationId"),
        )
        for item in values(response)
        if text(item, "id").lower() != ours.lower()
        and _distance(skeleton(text(item, "displayName")), wanted, NEAR) <= NEAR
    )


def skeleton(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold().translate(CONFUSABLES)
    return "".join(char for char in folded if char.isalnum())


def _distance(left: str, right: str, bound: int) -> int:
    """Levenshtein distance, or `bound + 1` once it must exceed `bound`; only the band of
    cells within `bound` of the diagonal is computed, so a name costs O(len * bound)."""
    if abs(len(left) - len(right)) > bound:
        return bound + 1
    far = bound + 1
    previous = {column: column for column in range(min(len(right), bound) + 1)}
    for row in range(1, len(left) + 1):
        current = {row - bound - 1: far} if row - bound - 1 >= 0 else {}
        if row <= bound:
            current[0] = row
        for column in range(max(1, row - bound), min(len(right), row + bound) + 1):
            current[column] = min(
                previous.get(column, far) + 1,
                current.get(column - 1, far) + 1,
                previous.get(column - 1, far) + (left[row - 1] != right[column - 1]),
            )
        if min(current.values()) > bound:
            return far
        previous = current
    return min(previous.get(len(right), far), far)


def _credential(item: Mapping[str, Any]) -> Credential:
    return Credential(
        key_id=text(item, "keyId"),
        display_name=text(item, "displayName"),
        start=text(item, "startDateTime"),
        end=text(item, "endDateTime"),
        thumbprint=_sha1(text(item, "key")),
        claimed_thumbprint=_claimed(text(item, "customKeyIdentifier")),
    )


def _sha1(key: str) -> str | None:
    """The certificate's thumbprint, from the DER that Graph returns base64-encoded in `key`."""
    if not key:
        return None
    try:
        return hashlib.sha1(base64.b64decode(key, validate=True)).hexdigest().upper()
    except (binascii.Error, ValueError):
        return None


def _claimed(identifier: str) -> str | None:
    """`customKeyIdentifier` is Edm.Binary, so JSON carries it base64-encoded: by default the
    20 bytes of the SHA-1 thumbprint (the guide's `1N9EZLBeqS9JkNwLr4JQX9VhrdI=`). Some tools
    store the hex thumbprint as text instead, so 40 hex characters are read as that."""
    try:
        raw = base64.b64decode(identifier, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) == 20:
        return raw.hex().upper()
    text_form = raw.decode("ascii", "replace")
    if len(text_form) == 40 and all(char in "0123456789abcdefABCDEF" for char in text_form):
        return text_form.upper()
    return None


def _owners(response: Response) -> tuple[str, ...]:
    return tuple(text(item, "id").lower() for item in values(response))


def values(response: Response) -> list[Mapping[str, Any]]:
    return objects(response.body, "value")


def mapping(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def objects(item: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = item.get(key)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def strings(item: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = item.get(key)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""
