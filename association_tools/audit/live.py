"""What the audit asks Graph about one tenant, and the answers as typed values.

Nine GETs, all in one `$batch` (so one HTTP request per tenant while nothing is paged or
throttled). Each names the least-privileged application permission Graph's reference gives
for it, so a 401/403 says exactly what to grant. Graph's answers are input like any other:
every field is type-checked and a missing one is empty, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from association.identifiers import EXCHANGE_ONLINE_APP_ID
from association_tools.audit.graph import GraphClient, GraphError, Request, Response, error_code
from association_tools.audit.tenant import (
    Assignment,
    Credential,
    FederatedCredential,
    Grant,
    LiveApplication,
    LiveServicePrincipal,
    LiveTenant,
    Permission,
)

APPLICATION_READ: Final = "Application.Read.All"
DIRECTORY_READ: Final = "Directory.Read.All"
"""Graph's least-privileged application permission to list a service principal's delegated
permission grants; no Application.* permission covers them."""

READ_PERMISSIONS: Final = (APPLICATION_READ, DIRECTORY_READ)


def requests_for(
    application_id: str, service_principal_id: str, display_name: str
) -> list[tuple[Request, str]]:
    """The GETs for one tenant, each with the permission it needs."""
    app = f"/applications/{application_id}"
    sp = f"/servicePrincipals/{service_principal_id}"
    name = quote(display_name.replace("'", "''"), safe="")
    return [
        (
            Request(
                "application",
                f"{app}?$select=id,appId,displayName,signInAudience,identifierUris,web,spa,"
                "publicClient,requiredResourceAccess,keyCredentials,passwordCredentials",
            ),
            APPLICATION_READ,
        ),
        (Request("applicationOwners", f"{app}/owners?$select=id"), APPLICATION_READ),
        (
            Request("federated", f"{app}/federatedIdentityCredentials?$select=name,issuer,subject"),
            APPLICATION_READ,
        ),
        (
            Request(
                "servicePrincipal",
                f"{sp}?$select=id,appId,accountEnabled,keyCredentials,passwordCredentials",
            ),
            APPLICATION_READ,
        ),
        (Request("servicePrincipalOwners", f"{sp}/owners?$select=id"), APPLICATION_READ),
        (
            Request(
                "assignments",
                f"{sp}/appRoleAssignments?$select=id,appRoleId,resourceId,resourceDisplayName",
            ),
            APPLICATION_READ,
        ),
        (
            Request(
                "grants", f"{sp}/oauth2PermissionGrants?$select=id,resourceId,scope,consentType"
            ),
            DIRECTORY_READ,
        ),
        (
            Request("exchange", f"/servicePrincipals(appId='{EXCHANGE_ONLINE_APP_ID}')?$select=id"),
            APPLICATION_READ,
        ),
        (
            Request(
                "namesakes", f"/applications?$filter=displayName%20eq%20'{name}'&$select=id,appId"
            ),
            APPLICATION_READ,
        ),
    ]


class NotFound(GraphError):
    """The application or service principal the stack's outputs name does not exist."""


def read_tenant(
    client: GraphClient, application_id: str, service_principal_id: str, display_name: str
) -> LiveTenant:
    """Read the live app and service principal; GraphError naming the permission on 401/403."""
    asked = requests_for(application_id, service_principal_id, display_name)
    try:
        answers = client.get_all([request for request, _ in asked])
    except GraphError as error:
        if error.status in (401, 403):
            raise GraphError(f"{error}. {_grant_hint(READ_PERMISSIONS)}", error.status) from None
        raise
    for request, permission in asked:
        answer = answers[request.id]
        if answer.status in (401, 403):
            code = error_code(answer.body) or "Forbidden"
            raise GraphError(
                f"Graph refused {request.url.split('?')[0]} ({answer.status} {code}). "
                + _grant_hint((permission,)),
                answer.status,
            )
    for key, what, object_id in (
        ("application", "application", application_id),
        ("servicePrincipal", "service principal", service_principal_id),
    ):
        if answers[key].status == 404:
            raise NotFound(
                f"the {what} {object_id} named in the stack's outputs does not exist in the "
                "tenant (deleted outside Pulumi, or the outputs are another stack's)",
                404,
            )
    for key, response in answers.items():
        if response.status != 200 and key != "exchange":
            raise GraphError(
                f"Graph answered {response.status} to {key}: {error_code(response.body)}"
            )
    return LiveTenant(
        _application(answers),
        _service_principal(answers),
        _text(answers["exchange"].body, "id").lower() or None,
        tuple((_text(item, "id"), _text(item, "appId")) for item in _values(answers["namesakes"])),
    )


def _grant_hint(permissions: Sequence[str]) -> str:
    plural = "s" if len(permissions) > 1 else ""
    return (
        f"The audit's identity needs the Microsoft Graph application permission{plural} "
        f"{' and '.join(permissions)} (read-only) with admin consent in this tenant"
    )


def _application(answers: Mapping[str, Response]) -> LiveApplication:
    app = answers["application"].body
    uris = [
        (platform, uri)
        for platform in ("web", "spa", "publicClient")
        for uri in _strings(_object(app, platform), "redirectUris")
    ]
    return LiveApplication(
        id=_text(app, "id"),
        app_id=_text(app, "appId"),
        display_name=_text(app, "displayName"),
        sign_in_audience=_text(app, "signInAudience"),
        passwords=tuple(_credential(item) for item in _list(app, "passwordCredentials")),
        keys=tuple(_credential(item) for item in _list(app, "keyCredentials")),
        federated=tuple(
            FederatedCredential(_text(item, "name"), _text(item, "issuer"), _text(item, "subject"))
            for item in _values(answers["federated"])
        ),
        permissions=tuple(
            Permission(_text(resource, "resourceAppId"), _text(access, "id"), _text(access, "type"))
            for resource in _list(app, "requiredResourceAccess")
            for access in _list(resource, "resourceAccess")
        ),
        redirect_uris=tuple(uris),
        identifier_uris=_strings(app, "identifierUris"),
        owners=_owners(answers["applicationOwners"]),
    )


def _service_principal(answers: Mapping[str, Response]) -> LiveServicePrincipal:
    sp = answers["servicePrincipal"].body
    return LiveServicePrincipal(
        id=_text(sp, "id"),
        app_id=_text(sp, "appId"),
        account_enabled=sp.get("accountEnabled") is not False,
        passwords=tuple(_credential(item) for item in _list(sp, "passwordCredentials")),
        keys=tuple(_credential(item) for item in _list(sp, "keyCredentials")),
        assignments=tuple(
            Assignment(
                _text(item, "id"),
                _text(item, "resourceId").lower(),
                _text(item, "resourceDisplayName"),
                _text(item, "appRoleId").lower(),
            )
            for item in _values(answers["assignments"])
        ),
        grants=tuple(
            Grant(
                _text(item, "id"),
                _text(item, "resourceId"),
                _text(item, "scope"),
                _text(item, "consentType"),
            )
            for item in _values(answers["grants"])
        ),
        owners=_owners(answers["servicePrincipalOwners"]),
    )


def _credential(item: Mapping[str, Any]) -> Credential:
    return Credential(
        key_id=_text(item, "keyId"),
        display_name=_text(item, "displayName"),
        start=_text(item, "startDateTime"),
        end=_text(item, "endDateTime"),
        thumbprint=_sha1(_text(item, "key")),
        claimed_thumbprint=_claimed(_text(item, "customKeyIdentifier")),
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
    text = raw.decode("ascii", "replace")
    if len(text) == 40 and all(char in "0123456789abcdefABCDEF" for char in text):
        return text.upper()
    return None


def _owners(response: Response) -> tuple[str, ...]:
    return tuple(_text(item, "id").lower() for item in _values(response))


def _values(response: Response) -> list[Mapping[str, Any]]:
    return _list(response.body, "value")


def _object(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = item.get(key)
    return value if isinstance(value, dict) else {}


def _list(item: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = item.get(key)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _strings(item: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = item.get(key)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""
