"""What the pipeline apps need in each tenant, and what each bootstrap call needs: said once.

The application permissions are those of docs/pipelines.md's three apps (the deploy app
writes only what it owns; the read-only preview app reads; the audit app reads more) and of
the audit (docs/drift-and-audit.md). Their IDs are Microsoft Graph's (microsoftgraph/
microsoft-graph-docs-contrib `concepts/includes/permissions-ids.md`) and Exchange Online's
(MicrosoftDocs/office-docs-powershell `app-only-auth-powershell-v2.md`). `CALLS` lists each
request the bootstrap makes with its documentation page, the least delegated permission and
the least Entra role of the signed-in administrator; docs/bootstrap.md's table is written from
it (`table`) and a test keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from association.exchange_online.rights import MANAGE_AS_APP, MANAGE_AS_APP_ROLE_ID
from association.identifiers import EXCHANGE_ONLINE_APP_ID, EXCHANGE_ONLINE_DISPLAY_NAME

GRAPH_APP_ID: Final = "00000003-0000-0000-c000-000000000000"
GRAPH_DISPLAY_NAME: Final = "Microsoft Graph"

Role = Literal["deploy", "preview", "audit"]
ROLES: Final[tuple[Role, ...]] = ("deploy", "preview", "audit")


@dataclass(frozen=True)
class AppRole:
    """An application permission: its name, its app role ID and the API (appId) it belongs to."""

    name: str
    id: str
    resource: str

    @property
    def graph(self) -> bool:
        """Microsoft Graph's: only a Privileged Role Administrator (or Global Administrator)
        may grant it (Entra "Grant tenant-wide admin consent to an application")."""
        return self.resource == GRAPH_APP_ID

    @property
    def api(self) -> str:
        return GRAPH_DISPLAY_NAME if self.graph else EXCHANGE_ONLINE_DISPLAY_NAME


def _graph(name: str, role_id: str) -> AppRole:
    return AppRole(name, role_id, GRAPH_APP_ID)


APPLICATION_READ_WRITE_OWNED_BY: Final = _graph(
    "Application.ReadWrite.OwnedBy", "18a4783c-866b-4cc7-a460-3d5e5662c884"
)
APP_ROLE_ASSIGNMENT_READ_WRITE_ALL: Final = _graph(
    "AppRoleAssignment.ReadWrite.All", "06b708a9-e830-4db3-a914-8e69da51d44f"
)
APPLICATION_READ_ALL: Final = _graph("Application.Read.All", "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30")
DOMAIN_READ_ALL: Final = _graph("Domain.Read.All", "dbb9058a-0e50-45d7-ae91-66909b5d4664")
USER_READ_ALL: Final = _graph("User.Read.All", "df021288-bdef-4463-88db-98f22de89214")
"""The deploy app's, where `owners` lists people (docs/pipelines.md step 1)."""
DIRECTORY_READ_ALL: Final = _graph("Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61")
POLICY_READ_ALL: Final = _graph("Policy.Read.All", "246dd0d5-5bd0-4def-940b-0421030a5b68")
EXCHANGE_MANAGE_AS_APP: Final = AppRole(
    MANAGE_AS_APP, MANAGE_AS_APP_ROLE_ID, EXCHANGE_ONLINE_APP_ID
)

NEEDS: Final[Mapping[Role, tuple[AppRole, ...]]] = {
    "deploy": (
        APPLICATION_READ_WRITE_OWNED_BY,
        APP_ROLE_ASSIGNMENT_READ_WRITE_ALL,
        APPLICATION_READ_ALL,
        DOMAIN_READ_ALL,
    ),
    "preview": (APPLICATION_READ_ALL, DOMAIN_READ_ALL),
    "audit": (APPLICATION_READ_ALL, DIRECTORY_READ_ALL, POLICY_READ_ALL),
}
"""Each pipeline app's application permissions in every tenant (docs/pipelines.md, step 1)."""

EXCHANGE_NEEDS: Final[Mapping[Role, tuple[AppRole, ...]]] = {
    "deploy": (EXCHANGE_MANAGE_AS_APP,),
    "preview": (EXCHANGE_MANAGE_AS_APP,),
    "audit": (),
}
"""Added where the stack manages the Exchange side (`exchange.manage`): the deploy app writes
it, the preview app reads it in the nightly `preview --refresh` (docs/exchange.md)."""

ROLE_GROUPS: Final[Mapping[Role, tuple[str, tuple[str, ...]]]] = {
    "deploy": ("Mimecast association deploy", ("Organization Configuration",)),
    "preview": ("Mimecast association preview", ("View-Only Configuration",)),
}
"""The Exchange role group each app's Exchange service principal joins where `exchange.manage`:
the least roles for Get-/Set-OrganizationConfig and for reading it (docs/exchange.md, "What the
deploy identity needs"; mailbox scoping needs more, granted by hand)."""


@dataclass(frozen=True)
class Call:
    """One kind of request the bootstrap makes, and what it needs of the administrator."""

    step: str
    request: str
    page: str
    """Its documentation page."""
    permission: str
    """The least delegated permission of the sign-in."""
    role: str
    """The least Entra role of the signed-in administrator."""


GRAPH_DOCS: Final = "https://learn.microsoft.com/graph/api/"
CALLS: Final = (
    Call(
        "find the pipeline apps' and the APIs' service principals",
        "GET /servicePrincipals(appId='{appId}')",
        GRAPH_DOCS + "serviceprincipal-get",
        "Application.Read.All",
        "none (a member's default rights)",
    ),
    Call(
        "create a pipeline app's service principal",
        "POST /servicePrincipals",
        GRAPH_DOCS + "serviceprincipal-post-serviceprincipals",
        "Application.ReadWrite.All",
        "Cloud Application Administrator",
    ),
    Call(
        "read what a pipeline app holds",
        "GET /servicePrincipals/{id}/appRoleAssignments",
        GRAPH_DOCS + "serviceprincipal-list-approleassignments",
        "Application.Read.All",
        "none (a member's default rights)",
    ),
    Call(
        "grant an Exchange Online permission (admin consent)",
        "POST /servicePrincipals/{id}/appRoleAssignments",
        GRAPH_DOCS + "serviceprincipal-post-approleassignments",
        "AppRoleAssignment.ReadWrite.All, Application.Read.All",
        "Cloud Application Administrator",
    ),
    Call(
        "grant a Microsoft Graph permission (admin consent)",
        "POST /servicePrincipals/{id}/appRoleAssignments",
        GRAPH_DOCS + "serviceprincipal-post-approleassignments",
        "AppRoleAssignment.ReadWrite.All, Application.Read.All",
        "Privileged Role Administrator",
    ),
    Call(
        "find the apps that hold full_access_as_app",
        "GET /servicePrincipals/{Exchange Online}/appRoleAssignedTo",
        GRAPH_DOCS + "serviceprincipal-list-approleassignedto",
        "Application.Read.All",
        "none (a member's default rights)",
    ),
    Call(
        "read a candidate's application, key credentials and owners",
        "GET /applications(appId='{appId}'), GET .../owners",
        GRAPH_DOCS + "application-get",
        "Application.Read.All",
        "none (a member's default rights)",
    ),
    Call(
        "make the deploy app an owner of the adopted app and its service principal",
        "POST /applications/{id}/owners/$ref, POST /servicePrincipals/{id}/owners/$ref",
        GRAPH_DOCS + "application-post-owners",
        "Application.ReadWrite.All, Directory.Read.All",
        "Cloud Application Administrator",
    ),
    Call(
        "put the deploy and preview apps in their Exchange role groups",
        "InvokeCommand New-ServicePrincipal, New-RoleGroup, Add-RoleGroupMember",
        "https://learn.microsoft.com/powershell/exchange/app-only-auth-powershell-v2",
        f"{EXCHANGE_ONLINE_DISPLAY_NAME} / Exchange.Manage (delegated; what the "
        "ExchangeOnlineManagement module signs in with: not verified)",
        "Exchange Administrator",
    ),
)


def table() -> str:
    """`CALLS` as the Markdown table docs/bootstrap.md holds."""
    rows = [
        "| step | request | delegated permission | least Entra role |",
        "|---|---|---|---|",
        *(
            f"| {call.step} | [`{call.request}`]({call.page}) | {call.permission} | {call.role} |"
            for call in CALLS
        ),
    ]
    return "\n".join(rows)
