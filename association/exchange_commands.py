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


_ORG = "$org = Get-OrganizationConfig -RetrieveEwsOperationAccessPolicy"
"""The organization config with the allow list: without the switch it may read empty
(Set-OrganizationConfig reference, `-EwsAllowedAppIDs`)."""
_IDS = (
    "$ids = @((@($org.EwsAllowedAppIDs) -join ',') -split ',' | "
    "ForEach-Object { $_.Trim() } | Where-Object { $_ })"
)
"""The allow list as an array, whether Exchange returns one string or several."""
_OTHERS = "$others = @($ids | Where-Object { $_ -ne $appId })"


def exchange_commands(
    client_id: str,
    service_principal_object_id: str,
    display_name: str,
    stack: str,
    scope: MailboxScope | None,
) -> dict[str, str]:
    """Ready-to-paste Exchange Online PowerShell (Connect-ExchangeOnline first) for this app.

    Each does what the resources do (`exchange_online.ews_access`): the allow list changes
    nothing where adding this app changes EWS for other apps (EWS not restricted by app today,
    or off with other apps listed) unless `$changeOtherApps` is set, and retiring touches only
    a list that holds this app and never leaves EWS on with an empty list, which stops
    restricting."""
    app = f"$appId = {_ps(client_id)}"
    commands = {
        "ewsAllowList": "\n".join(
            [
                app,
                "$changeOtherApps = $false  # $true: go ahead where adding this app changes EWS "
                "for other apps",
                _ORG,
                _IDS,
                _OTHERS,
                "$restricts = $null -eq $org.EwsEnabled -or ($org.EwsEnabled -and $ids.Count "
                "-eq 0)",
                "$letsIn = $org.EwsEnabled -eq $false -and $others.Count -gt 0",
                "if (($restricts -or $letsIn) -and -not $changeOtherApps) { if ($restricts) { "
                "Write-Warning 'EWS is not restricted by app here: an allow list takes EWS from "
                "every app it does not list. Nothing was changed. Add the client IDs of the "
                "other apps that need EWS to $ids, or set $changeOtherApps = $true, and run "
                "these lines again.' } else { Write-Warning \"EWS is off: turning it on gives "
                "EWS back to $($others -join ', '). Nothing was changed. Remove those that "
                "should not use EWS from `$ids, or set `$changeOtherApps = `$true, and run these "
                'lines again." } } else {',
                "  if ($ids -notcontains $appId) { $ids += $appId }",
                "  Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs ($ids -join ',')",
                "}",
            ]
        ),
        "ewsCheck": "\n".join(
            [
                app,
                _ORG,
                "$org | Format-List EwsEnabled,EwsAllowedAppIDs",
                _IDS,
                '"This app allowed: $($org.EwsEnabled -eq $true -and $ids -contains $appId)  '
                '(changes take up to 24 hours)"',
                "Get-CASMailbox -ResultSize Unlimited -Filter 'EwsEnabled -eq $false' | "
                "Select-Object PrimarySmtpAddress,EwsEnabled",
            ]
        ),
        "retire": "\n".join(
            [
                app,
                _ORG,
                _IDS,
                _OTHERS,
                "if ($ids -notcontains $appId) { 'This app is not in EwsAllowedAppIDs: nothing "
                "to change.' } elseif ($others.Count) { Set-OrganizationConfig -EwsAllowedAppIDs "
                "($others -join ',') } elseif ($org.EwsEnabled -eq $true) { "
                "Set-OrganizationConfig -EwsEnabled $false -EwsAllowedAppIDs $null } else { "
                "Set-OrganizationConfig -EwsAllowedAppIDs $null }",
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
                # -App takes the service principal's ObjectId (New-ManagementRoleAssignment.md).
                f"New-ManagementRoleAssignment -App {_ps(service_principal_object_id)} "
                f"-Role 'Application EWS.AccessAsApp' -CustomResourceScope {name}",
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
