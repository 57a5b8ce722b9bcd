"""What the deploy identity needs in Exchange Online, per cmdlet: said in every refusal.

Sources: "App-only authentication in Exchange Online PowerShell" (MicrosoftDocs/
office-docs-powershell, app-only-auth-powershell-v2.md: Exchange.ManageAsApp, and custom role
groups for service principals in REST mode) and Microsoft365DSC's per-resource settings.json
(EXOOrganizationConfig: Organization Configuration; EXOManagementScope,
EXOManagementRoleAssignment, EXOServicePrincipal: Role Management).
"""

from __future__ import annotations

from typing import Final

MANAGE_AS_APP: Final = "Exchange.ManageAsApp"
"""Application permission of Office 365 Exchange Online that app-only tokens need."""
MANAGE_AS_APP_ROLE_ID: Final = "dc50a0fb-09a3-484d-be87-e023b12c6440"
ENTRA_ROLE: Final = "Exchange Administrator"
"""The Entra role that can run every cmdlet here (broader than the Exchange roles below)."""

ORGANIZATION_CONFIGURATION: Final = "Organization Configuration"
ROLE_MANAGEMENT: Final = "Role Management"
VIEW_ONLY_RECIPIENTS: Final = "View-Only Recipients"

ROLE_FOR_CMDLET: Final = {
    "Get-OrganizationConfig": ORGANIZATION_CONFIGURATION,
    "Set-OrganizationConfig": ORGANIZATION_CONFIGURATION,
    "Get-ServicePrincipal": ROLE_MANAGEMENT,
    "New-ServicePrincipal": ROLE_MANAGEMENT,
    "Remove-ServicePrincipal": ROLE_MANAGEMENT,
    "Get-ManagementScope": ROLE_MANAGEMENT,
    "New-ManagementScope": ROLE_MANAGEMENT,
    "Set-ManagementScope": ROLE_MANAGEMENT,
    "Remove-ManagementScope": ROLE_MANAGEMENT,
    "Get-ManagementRoleAssignment": ROLE_MANAGEMENT,
    "New-ManagementRoleAssignment": ROLE_MANAGEMENT,
    "Set-ManagementRoleAssignment": ROLE_MANAGEMENT,
    "Remove-ManagementRoleAssignment": ROLE_MANAGEMENT,
    "Get-DistributionGroup": VIEW_ONLY_RECIPIENTS,
}


def needed_for(cmdlet: str) -> str:
    """The rights to name when Exchange refuses `cmdlet`: permission, Exchange role, Entra role."""
    role = ROLE_FOR_CMDLET.get(cmdlet)
    exchange_role = f"the Exchange role {role!r} (in a role group), or " if role else ""
    return (
        f"the {MANAGE_AS_APP} application permission with admin consent (app-only sign-in) and "
        f"{exchange_role}the Entra role {ENTRA_ROLE}"
    )
