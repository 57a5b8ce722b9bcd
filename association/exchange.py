"""Exchange Online around the association: the EWS retirement, its allow list, mailbox scoping.

`full_access_as_app` is an Exchange Web Services permission. Since 2026-10-01 Exchange Online
lets an app use EWS only with `EwsEnabled $true` and the app's ID in `EwsAllowedAppIDs`; on
2027-04-01 EWS is shut down for good (Microsoft message center MC1227454; Set-OrganizationConfig
reference). RBAC for Applications can narrow the app to a group's mailboxes, but only once the
tenant-wide Entra consent is gone: its grants add to the consent, they never narrow it.

Pure (no Pulumi): the dates live here and only here, and the PowerShell this module writes is
what the stack exports as `exchangeOnline` and what preflight prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from association.identifiers import setting_key
from association.problems import Notice, Problem
from association.redaction import holds_key_material, quoted, visible

EWS_BLOCKED_BY_DEFAULT: Final = datetime(2026, 10, 1, tzinfo=UTC)
"""Tenants that never set EwsEnabled were switched to $false on this day."""
EWS_SHUTDOWN: Final = datetime(2027, 4, 1, tzinfo=UTC)
"""EWS in Exchange Online is shut down for good on this day."""

EWS_KINDS: Final = frozenset({"ews-retirement", "ews-shutdown"})
"""The kinds of `Notice` this module gives about EWS's end."""

ALLOW_AFTER_SHUTDOWN_KEY: Final = setting_key("allowAfterEwsShutdown")
SCOPE_KEY: Final = setting_key("mailboxScope")
MAX_GROUP: Final = 256


@dataclass(frozen=True)
class MailboxScope:
    """Limit the app to the mailboxes of one mail-enabled security group (RBAC for Applications)."""

    group: str
    """The group's identity as Exchange takes it, e.g. its address mimecast-sync@contoso.com."""
    enforce: bool = False
    """True: no tenant-wide consent (no AppRoleAssignment, no Exchange permission requested)."""


def ews_notices(now: datetime, allow_after_shutdown: bool) -> list[Notice]:
    """Before the shutdown, one warning with the date, the days left and what the tenant needs."""
    if now >= EWS_SHUTDOWN:
        if not allow_after_shutdown:
            return []
        return [
            Notice(
                "ews-shutdown",
                ALLOW_AFTER_SHUTDOWN_KEY,
                f"Exchange Web Services in Exchange Online was shut down on {_day(EWS_SHUTDOWN)}; "
                f"{ALLOW_AFTER_SHUTDOWN_KEY} is true, so the association is declared anyway. "
                "Mimecast cannot use it unless Microsoft has moved the date.",
            )
        ]
    days = (EWS_SHUTDOWN - now).days
    return [
        Notice(
            "ews-retirement",
            None,
            f"Exchange Web Services, which full_access_as_app grants, is shut down in Exchange "
            f"Online on {_day(EWS_SHUTDOWN)} ({days} days left). Until then Mimecast can use this "
            "app only if the tenant has EwsEnabled $true and the app's client ID in "
            "EwsAllowedAppIDs (stack output exchangeOnline.ewsAllowList adds it, keeping the "
            "other apps). Plan the move to Mimecast's own connector app before that date.",
        )
    ]


def ews_problems(now: datetime, allow_after_shutdown: bool) -> list[Problem]:
    """From the shutdown on, nothing is declared unless the stack says otherwise."""
    if now < EWS_SHUTDOWN or allow_after_shutdown:
        return []
    return [
        Problem(
            ALLOW_AFTER_SHUTDOWN_KEY,
            f"Exchange Web Services in Exchange Online was shut down on {_day(EWS_SHUTDOWN)}, so "
            "Mimecast can no longer use full_access_as_app: nothing is declared. Retire the "
            "association (README: Retire a tenant). Only if Microsoft has moved the date, set "
            f"`pulumi config set {ALLOW_AFTER_SHUTDOWN_KEY} true`.",
        )
    ]


def scope_problems(scope: MailboxScope | None) -> list[Problem]:
    if scope is None:
        return []
    key = f"{SCOPE_KEY}.group"
    group = scope.group
    if holds_key_material(group) or not group.strip() or len(group) > MAX_GROUP:
        return [
            Problem(
                key,
                f"{key} is {quoted(group)}; give the mail-enabled security group's address or "
                f"name (at most {MAX_GROUP} characters).",
            )
        ]
    if visible(group) != group:
        return [Problem(key, f"{key} holds control or line-break characters ({quoted(group)}).")]
    return []


def scope_notices(scope: MailboxScope | None) -> list[Notice]:
    if scope is None or scope.enforce:
        return []
    return [
        Notice(
            "scope-not-enforced",
            SCOPE_KEY,
            f"{SCOPE_KEY}.group is set but not enforced: while the tenant-wide consent to "
            "full_access_as_app exists, the app still reaches every mailbox (RBAC grants add to "
            "it). Run exchangeOnline.scope, check with exchangeOnline.scopeCheck, then set "
            f"`pulumi config set --path '{SCOPE_KEY}.enforce' true` and `pulumi up`.",
        )
    ]


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


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
                f"New-ServicePrincipal -AppId $appId -ObjectId "
                f"{_ps(service_principal_object_id)} -DisplayName {_ps(display_name)}",
                f"New-ManagementScope -Name {name} -RecipientRestrictionFilter "
                "\"MemberOfGroup -eq '$($group.DistinguishedName)'\"",
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


def parse_scope(value: Mapping[str, Any]) -> tuple[MailboxScope | None, list[Problem]]:
    """The `mailboxScope` setting: `{}` scopes nothing; else `group` and optional `enforce`."""
    if not value:
        return None, []
    problems = [
        Problem(
            f"{SCOPE_KEY}.{name}",
            f"{SCOPE_KEY} has {quoted(str(name))}, which is not `group` or `enforce`.",
        )
        for name in value
        if name not in ("group", "enforce")
    ]
    group, enforce = value.get("group"), value.get("enforce", False)
    if not isinstance(group, str):
        problems.append(
            Problem(
                f"{SCOPE_KEY}.group",
                f"{SCOPE_KEY}.group is missing: give the mail-enabled security group whose "
                f"mailboxes Mimecast may read (`pulumi config set --path '{SCOPE_KEY}.group' "
                "mimecast-sync@contoso.com`).",
            )
        )
    if not isinstance(enforce, bool):
        problems.append(
            Problem(f"{SCOPE_KEY}.enforce", f"{SCOPE_KEY}.enforce must be true or false.")
        )
    if problems or not isinstance(group, str) or not isinstance(enforce, bool):
        return None, problems
    scope = MailboxScope(group, enforce)
    return scope, scope_problems(scope)
