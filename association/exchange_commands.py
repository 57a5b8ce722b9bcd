"""Ready-to-paste Exchange Online PowerShell for this app: the EWS allow list and scoping.

What the stack exports as `exchangeOnline` and what preflight prints, for tenants whose
deploying identity may not hold Exchange rights. Every value is a single-quoted PowerShell
literal, so nothing in it is expanded.

Pure (no Pulumi).
"""

from __future__ import annotations

from association.mailbox_scope import MailboxScope


def _ps(text: str) -> str:
    """A PowerShell single-quoted string literal: nothing in it is expanded."""
    return "'" + text.replace("'", "''") + "'"


_IDS = (
    "$ids = @((@((Get-OrganizationConfig).EwsAllowedAppIDs) -join ',') -split ',' | "
    "ForEach-Object { $_.Trim() } | Where-Object { $_ })"
)
"""The allow list as an array, whether Exchange returns one string or several."""


def exchange_commands(
    client_id: str,
    service_principal_object_id: str,
    display_name: str,
    stack: str,
    scope: MailboxScope | None,
) -> dict[str, str]:
    """Ready-to-paste Exchange Online PowerShell (Connect-ExchangeOnline first) for this app."""
    app = f"$appId = {_ps(client_id)}"
    commands = {
        "ewsAllowList": "\n".join(
            [
                app,
                _IDS,
                "if ($ids.Count -eq 0) { Write-Warning 'EwsAllowedAppIDs was empty: once set, "
                "ONLY the listed apps reach EWS. Add the IDs of any other EWS app too.' }",
                "if ($ids -notcontains $appId) { $ids += $appId }",
                "Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs ($ids -join ',')",
            ]
        ),
        "ewsCheck": "\n".join(
            [
                app,
                "Get-OrganizationConfig | Format-List EwsEnabled,EwsAllowedAppIDs",
                _IDS,
                '"This app allowed: $($ids -contains $appId)  (changes take up to 24 hours)"',
                "Get-CASMailbox -ResultSize Unlimited -Filter 'EwsEnabled -eq $false' | "
                "Select-Object PrimarySmtpAddress,EwsEnabled",
            ]
        ),
        "retire": "\n".join(
            [
                app,
                _IDS,
                "$others = @($ids | Where-Object { $_ -ne $appId })",
                "if ($others.Count) { Set-OrganizationConfig -EwsAllowedAppIDs ($others -join ',') "
                "} else { Write-Warning 'This app was the only one in EwsAllowedAppIDs; clearing "
                "the list would let every app use EWS. If nothing else needs EWS: "
                "Set-OrganizationConfig -EwsEnabled $false' }",
            ]
        ),
    }
    if scope is not None:
        name = _ps(f"Mimecast association {stack}")
        commands["scope"] = "\n".join(
            [
                app,
                f"$group = Get-DistributionGroup -Identity {_ps(scope.group)}",
                # OPATH quotes the DN in single quotes: one inside it (O'Neil) is doubled.
                '$dn = $group.DistinguishedName -replace "\'", "\'\'"',
                f"New-ServicePrincipal -AppId $appId -ObjectId "
                f"{_ps(service_principal_object_id)} -DisplayName {_ps(display_name)}",
                f"New-ManagementScope -Name {name} -RecipientRestrictionFilter "
                "\"MemberOfGroup -eq '$dn'\"",
                "New-ManagementRoleAssignment -App $appId -Role 'Application EWS.AccessAsApp' "
                f"-CustomResourceScope {name}",
            ]
        )
        commands["scopeCheck"] = "\n".join(
            [
                app,
                f"$member = Get-DistributionGroupMember -Identity {_ps(scope.group)} -ResultSize 1",
                "Test-ServicePrincipalAuthorization -Identity $appId -Resource "
                "$member.PrimarySmtpAddress | Format-Table RoleName,InScope",
            ]
        )
    return commands
