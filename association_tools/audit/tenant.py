"""The live application and service principal, and the Exchange side, as typed values the
comparison reads.

Only what the audit compares or reports; a credential is described by its hint (keyId, name,
dates, thumbprint), since Graph never returns a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from association.problems import Notice


@dataclass(frozen=True)
class Credential:
    """A password or key credential as Graph describes it: never the secret, only its hint."""

    key_id: str
    display_name: str
    start: str
    end: str
    thumbprint: str | None = None
    """Key credentials: SHA-1 of the certificate Graph returns, upper-case hex."""
    claimed_thumbprint: str | None = None
    """Key credentials: what `customKeyIdentifier` says the thumbprint is (it can be set to
    anything when the credential is added)."""


@dataclass(frozen=True)
class FederatedCredential:
    name: str
    issuer: str
    subject: str


@dataclass(frozen=True)
class Permission:
    """One entry of requiredResourceAccess: an API's appId, a permission id and its type."""

    resource_app_id: str
    id: str
    type: str


@dataclass(frozen=True)
class Assignment:
    """An app role granted to the service principal (an application permission)."""

    id: str
    resource_id: str
    resource_name: str
    app_role_id: str


@dataclass(frozen=True)
class Grant:
    """A delegated permission grant (oauth2PermissionGrant) for the service principal."""

    id: str
    resource_id: str
    scope: str
    consent_type: str


@dataclass(frozen=True)
class Named:
    """A directory object the audit names in a finding: its ID, display name and kind."""

    id: str
    name: str
    kind: str = ""
    """`@odata.type` without its namespace (`directoryRole`, `group`), or what the list holds."""


@dataclass(frozen=True)
class Exposure:
    """How else than by a credential the app can be reached (each off in what `pulumi up`
    leaves; the provider's defaults, as the stack sets none of them)."""

    fallback_public_client: bool = False
    implicit_grant: tuple[str, ...] = ()
    """Token kinds the implicit grant issues: `access token`, `ID token`."""
    pre_authorized: tuple[str, ...] = ()
    """appIds of applications pre-authorized for this app's API (no consent asked)."""
    known_clients: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    """The delegated permissions (oauth2PermissionScopes) the app's API exposes."""
    app_roles: tuple[str, ...] = ()
    """`value` (or id) of each app role the app defines."""
    instance_lock: bool = True
    """servicePrincipalLockConfiguration locks the credentials of its service principals."""


@dataclass(frozen=True)
class LiveApplication:
    id: str
    app_id: str
    display_name: str
    sign_in_audience: str
    passwords: tuple[Credential, ...]
    keys: tuple[Credential, ...]
    federated: tuple[FederatedCredential, ...]
    permissions: tuple[Permission, ...]
    redirect_uris: tuple[tuple[str, str], ...]
    """(platform, URI): web, spa or publicClient."""
    identifier_uris: tuple[str, ...]
    owners: tuple[str, ...]
    exposure: Exposure = Exposure()


@dataclass(frozen=True)
class LiveServicePrincipal:
    id: str
    app_id: str
    account_enabled: bool
    passwords: tuple[Credential, ...]
    keys: tuple[Credential, ...]
    assignments: tuple[Assignment, ...]
    grants: tuple[Grant, ...]
    owners: tuple[str, ...]
    display_name: str = ""
    reply_urls: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    assignment_required: bool = False
    member_of: tuple[Named, ...] = ()
    """Directory roles and groups it is a direct member of."""
    role_assignments: tuple[Named, ...] = ()
    """Directory role assignments: `id` the assignment, `name` the role definition ID, `kind`
    the directory scope (`/` for the whole tenant)."""


@dataclass(frozen=True)
class LookAlike:
    """A service principal named like ours, and what it holds."""

    principal: Named
    app_id: str
    owner_tenant: str
    """appOwnerOrganizationId: the tenant that registered its app (another one: multi-tenant)."""
    mail_access: bool = False
    """Holds Exchange Online full_access_as_app in this tenant."""


@dataclass(frozen=True)
class LiveTenant:
    application: LiveApplication
    service_principal: LiveServicePrincipal
    exchange_id: str | None
    """Object ID of Exchange Online's service principal in the tenant."""
    namesakes: tuple[tuple[str, str], ...]
    """(object ID, appId) of every application with the stack's display name."""
    look_alikes: tuple[LookAlike, ...] = ()
    policies: tuple[Named, ...] = ()
    """Token lifetime, token issuance and claims-mapping policies that apply to the app or
    its service principal (`kind` says which)."""


@dataclass(frozen=True)
class ExchangePrincipal:
    """Exchange's pointer to an Entra service principal (Get-ServicePrincipal)."""

    app_id: str
    object_id: str
    identity: str


@dataclass(frozen=True)
class RoleAssignment:
    name: str
    role: str
    scope: str
    """CustomResourceScope, or what else narrows it (`RecipientWriteScope`), or ''."""
    enabled: bool


@dataclass(frozen=True)
class AccessPolicy:
    identity: str
    access_right: str
    scope: str


@dataclass(frozen=True)
class ScopeState:
    """The declared management scope: its live filter and the one the stack's group gives."""

    name: str
    group: str
    live_filter: str | None
    """None: no scope of that name."""
    wanted_filter: str | None
    """None: the group was not found, so there is nothing to compare with."""


@dataclass(frozen=True)
class RoleGroup:
    """A role group our app is a member of (Get-RoleGroup's `Members`), and its roles."""

    name: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class LiveExchange:
    ews_enabled: bool | None
    ews_allowed: tuple[str, ...]
    principals: tuple[ExchangePrincipal, ...]
    """Pointers naming our app (by appId or object ID)."""
    assignments: tuple[RoleAssignment, ...]
    """Management role assignments held by our app."""
    policies: tuple[AccessPolicy, ...]
    """Application access policies naming our app."""
    scope: ScopeState | None = None
    notes: tuple[Notice, ...] = ()
    role_groups: tuple[RoleGroup, ...] = ()
    """Role groups with our app among their members."""
