"""The deploy and preview apps' Exchange rights, where a stack manages the Exchange side.

Through the admin endpoint `pulumi up` uses (`association.exchange_online.client`), with the
administrator's delegated token, as "App-only authentication in Exchange Online PowerShell"
(MicrosoftDocs/office-docs-powershell `app-only-auth-powershell-v2.md`, "Assign custom role
groups to the application using service principals") does it by hand: a service principal
pointer (`New-ServicePrincipal -AppId -ObjectId`), a role group with the least roles
(`needs.ROLE_GROUPS`: Organization Configuration to write the EWS allow list, View-Only
Configuration to read it), the pointer its member (`Add-RoleGroupMember`). Each is read first
and made only when missing; Exchange's "already" answer counts as done. A group of that name
with other roles is refused, never joined: it could hold far more than the app needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.exchange_online.principals import names, our_names, pointers_to
from association_tools.bootstrap.needs import ROLE_GROUPS, Role


def ensure_role_groups(
    client: ExchangeAdminClient,
    apps: Mapping[Role, str],
    principals: Mapping[Role, str],
    dry_run: bool,
) -> list[str]:
    """What was (or, with `dry_run`, would be) done; ExchangeError when Exchange refuses."""
    changes: list[str] = []
    for role, (group, roles) in ROLE_GROUPS.items():
        if role not in apps or role not in principals:
            continue
        app_id, object_id = apps[role], principals[role]
        pointers = client.invoke("Get-ServicePrincipal")
        if not pointers_to(pointers, app_id, object_id):
            changes.append(f"Exchange: a service principal for the {role} app")
            if not dry_run:
                client.invoke(
                    "New-ServicePrincipal",
                    {"AppId": app_id, "ObjectId": object_id, "DisplayName": group},
                )
        found = _role_group(client, group)
        if found is None:
            changes.append(f"Exchange: role group {group!r} ({', '.join(roles)})")
            if not dry_run:
                client.invoke("New-RoleGroup", {"Name": group, "Roles": list(roles)})
        elif {r.lower() for r in names(found, ("Roles",))} != {r.lower() for r in roles}:
            raw = found.get("Roles")
            held = (
                ", ".join(str(r) for r in raw if isinstance(r, str))[:300]
                if isinstance(raw, list)
                else "?"
            )
            raise ExchangeError(
                f"Exchange Online, tenant {client.tenant_id}: role group {group!r} holds the roles "
                f"{held}, not only {', '.join(roles)}: the {role} app was not added to it. Give "
                "the group exactly those roles (or remove it: the bootstrap makes it again)"
            )
        ours = our_names(pointers, app_id, object_id)
        members = {member.rpartition("/")[2] for member in names(found or {}, ("Members",))}
        if not members & ours:
            changes.append(f"Exchange: the {role} app a member of {group!r}")
            if not dry_run:
                _add_member(client, group, object_id)
    return changes


def _role_group(client: ExchangeAdminClient, group: str) -> dict[str, Any] | None:
    try:
        found = client.invoke("Get-RoleGroup", {"Identity": group})
    except ExchangeError as error:
        if error.status == 404:
            return None
        raise
    return found[0] if found else None


def _add_member(client: ExchangeAdminClient, group: str, object_id: str) -> None:
    try:
        client.invoke("Add-RoleGroupMember", {"Identity": group, "Member": object_id})
    except ExchangeError as error:
        if "already a member" not in str(error):
            raise
