"""What the audit asks Graph about one tenant, and in which permission's name.

Fifteen GETs in one `$batch` (one HTTP request per tenant while nothing is paged, throttled
or found): the app, its service principal and what hangs off them, the service principals
named like ours, and the tenant's token and claims policies. Only when the tenant holds a
policy or a look-alike does a second batch follow, with each policy's `appliesTo` and each
look-alike's app role assignments. Assigned policies are read from the policy side because
`/applications/{id}/tokenLifetimePolicies` and the like need Application.ReadWrite.OwnedBy
(a write permission); `/policies/.../appliesTo` needs only Policy.Read.All and
Application.Read.All. Each GET names the least-privileged application permission Graph's
reference gives for it, so a 403 says exactly what to grant; a 401 says the token was
rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import quote

from association.identifiers import EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID, is_guid
from association_tools.audit.answers import (
    application,
    look_alikes,
    named,
    service_principal,
    text,
    values,
)
from association_tools.audit.graph import GraphClient, GraphError, Request, Response, error_code
from association_tools.audit.tenant import LiveTenant, LookAlike, Named

APPLICATION_READ: Final = ("Application.Read.All",)
DIRECTORY_READ: Final = ("Directory.Read.All",)
"""Graph's least-privileged application permission to list a service principal's delegated
permission grants (no Application.* permission covers them) and its role assignments."""
POLICY_READ: Final = ("Policy.Read.All",)
"""To list the tenant's token lifetime, token issuance and claims-mapping policies."""
APPLIES_TO_READ: Final = ("Policy.Read.All", "Application.Read.All")
"""To list the objects a policy applies to."""

READ_PERMISSIONS: Final = (*APPLICATION_READ, *DIRECTORY_READ, *POLICY_READ)

APPLICATION_PROPERTIES: Final = (
    "id,appId,displayName,signInAudience,identifierUris,web,spa,publicClient,"
    "requiredResourceAccess,keyCredentials,passwordCredentials,isFallbackPublicClient,api,"
    "appRoles,servicePrincipalLockConfiguration"
)
"""`servicePrincipalLockConfiguration` is the application's (Graph's application resource),
though it locks its service principals."""
SERVICE_PRINCIPAL_PROPERTIES: Final = (
    "id,appId,displayName,accountEnabled,keyCredentials,passwordCredentials,replyUrls,tags,"
    "appRoleAssignmentRequired"
)
POLICY_KINDS: Final = {
    "tokenLifetimePolicies": "token lifetime policy",
    "tokenIssuancePolicies": "token issuance policy",
    "claimsMappingPolicies": "claims-mapping policy",
}
LOOK_ALIKE_PREFIX: Final = 4
"""Characters of the display name Graph filters service principals by (`startswith`);
near-identical names are then judged here (`answers.look_alikes`)."""


def _odata_string(value: str) -> str:
    """A string literal for `$filter`: quotes doubled, then percent-encoded whole."""
    return quote(value.replace("'", "''"), safe="")


def requests_for(
    application_id: str, service_principal_id: str, display_name: str
) -> list[tuple[Request, tuple[str, ...]]]:
    """The first batch's GETs for one tenant, each with the permission it needs."""
    app = f"/applications/{application_id}"
    sp = f"/servicePrincipals/{service_principal_id}"
    name = _odata_string(display_name)
    prefix = _odata_string(display_name.strip()[:LOOK_ALIKE_PREFIX])
    requests: list[tuple[Request, tuple[str, ...]]] = [
        (Request("application", f"{app}?$select={APPLICATION_PROPERTIES}"), APPLICATION_READ),
        (Request("applicationOwners", f"{app}/owners?$select=id"), APPLICATION_READ),
        (
            Request("federated", f"{app}/federatedIdentityCredentials?$select=name,issuer,subject"),
            APPLICATION_READ,
        ),
        (
            Request("servicePrincipal", f"{sp}?$select={SERVICE_PRINCIPAL_PROPERTIES}"),
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
        (Request("memberOf", f"{sp}/memberOf?$select=id,displayName"), APPLICATION_READ),
        (
            Request(
                "roleAssignments",
                "/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20"
                f"'{service_principal_id}'&$select=id,roleDefinitionId,directoryScopeId",
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
        (
            Request(
                "lookAlikes",
                f"/servicePrincipals?$filter=startswith(displayName,'{prefix}')"
                "&$select=id,appId,displayName,appOwnerOrganizationId&$top=999",
            ),
            APPLICATION_READ,
        ),
    ]
    requests += [
        (Request(kind, f"/policies/{kind}?$select=id,displayName"), POLICY_READ)
        for kind in POLICY_KINDS
    ]
    return requests


class NotFound(GraphError):
    """The application or service principal the stack's outputs name does not exist."""


def read_tenant(
    client: GraphClient, application_id: str, service_principal_id: str, display_name: str
) -> LiveTenant:
    """Read the live app and service principal and what could reach them; GraphError saying
    the token was rejected (401) or naming the permission to grant (403)."""
    asked = requests_for(application_id, service_principal_id, display_name)
    answers = _get(client, asked)
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
    _check_statuses(answers, optional={"exchange"})
    exchange = text(answers["exchange"].body, "id").lower() or None
    found = look_alikes(answers["lookAlikes"], service_principal_id, display_name)
    policies = [(kind, policy) for kind in POLICY_KINDS for policy in named(answers[kind], kind)]
    for what, object_id in [("policy", p.id) for _, p in policies] + [
        ("service principal", other.principal.id) for other in found
    ]:
        if not is_guid(object_id):  # it goes into the next batch's URLs
            raise GraphError(f"Graph listed a {what} whose id is not a GUID: {object_id!r}")
    follow_up = [
        (
            Request(f"appliesTo{index}", f"/policies/{kind}/{policy.id}/appliesTo?$select=id"),
            APPLIES_TO_READ,
        )
        for index, (kind, policy) in enumerate(policies)
    ] + [
        (
            Request(
                f"lookAlike{index}",
                f"/servicePrincipals/{other.principal.id}/appRoleAssignments?$select=id,appRoleId,resourceId",
            ),
            APPLICATION_READ,
        )
        for index, other in enumerate(found)
    ]
    more = _get(client, follow_up) if follow_up else {}
    _check_statuses(more, optional=set())
    ours = {application_id.lower(), service_principal_id.lower()}
    applying = tuple(
        Named(policy.id, policy.name, POLICY_KINDS[kind])
        for index, (kind, policy) in enumerate(policies)
        if any(text(item, "id").lower() in ours for item in values(more[f"appliesTo{index}"]))
    )
    return LiveTenant(
        application(answers),
        service_principal(answers),
        exchange,
        tuple((text(item, "id"), text(item, "appId")) for item in values(answers["namesakes"])),
        tuple(
            _with_mail_access(other, more[f"lookAlike{index}"], exchange)
            for index, other in enumerate(found)
        ),
        applying,
    )


def _get(
    client: GraphClient, asked: Sequence[tuple[Request, tuple[str, ...]]]
) -> dict[str, Response]:
    """The answers, a 401 or 403 of the batch or of any request said as what to do."""
    try:
        answers = client.get_all([request for request, _ in asked])
    except GraphError as error:
        if error.status == 403:
            raise GraphError(f"{error}. {_grant_hint(READ_PERMISSIONS)}", 403) from None
        raise
    for request, permission in asked:
        answer = answers[request.id]
        code = error_code(answer.body)
        path = request.url.split("?")[0]
        if answer.status == 401:
            raise GraphError(
                f"Graph rejected the token for {path} (401 {code or 'Unauthorized'}): it has "
                "expired, or is for another tenant or cloud; sign in again",
                401,
            )
        if answer.status == 403:
            raise GraphError(
                f"Graph refused {path} (403 {code or 'Forbidden'}). " + _grant_hint(permission),
                403,
            )
    return answers


def _check_statuses(answers: Mapping[str, Response], optional: set[str]) -> None:
    for key, response in answers.items():
        if response.status != 200 and key not in optional:
            raise GraphError(
                f"Graph answered {response.status} to {key}: {error_code(response.body)}",
                response.status,
            )


def _with_mail_access(other: LookAlike, response: Response, exchange: str | None) -> LookAlike:
    holds = exchange is not None and any(
        text(item, "resourceId").lower() == exchange
        and text(item, "appRoleId").lower() == FULL_ACCESS_AS_APP_ROLE_ID
        for item in values(response)
    )
    return LookAlike(other.principal, other.app_id, other.owner_tenant, mail_access=holds)


def _grant_hint(permissions: Sequence[str]) -> str:
    plural = "s" if len(permissions) > 1 else ""
    return (
        f"The audit's identity needs the Microsoft Graph application permission{plural} "
        f"{' and '.join(permissions)} (read-only) with admin consent in this tenant"
    )
