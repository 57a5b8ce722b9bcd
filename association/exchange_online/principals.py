"""Which of Exchange's objects name our app: a service principal pointer, a role assignment.

Pure. Exchange names a service principal by several identifiers (`Get-ServicePrincipal` shows
AppId, ObjectId, Identity, Name, Id, and ServiceId, the ObjectId's name until 2023:
New-ManagementRoleAssignment.md), and an assignment names its assignee by any of them
(`RoleAssignee`, `RoleAssigneeName`; Microsoft365DSC's EXOManagementRoleAssignment reads
`RoleAssignee` as the App). The resources and the audit match by the same rules here, so what
the audit calls ours is what `pulumi up` adopts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

PRINCIPAL_IDS: Final = ("AppId", "ObjectId", "ServiceId", "Identity", "Name", "Id")
ASSIGNEE_KEYS: Final = ("RoleAssignee", "RoleAssigneeName", "App", "User", "EffectiveUserName")


def names(item: Mapping[str, Any], keys: Iterable[str]) -> set[str]:
    """The lower-cased strings under `keys` (one string or a list of them)."""
    found: set[str] = set()
    for key in keys:
        value = item.get(key)
        values = value if isinstance(value, list) else [value]
        found |= {entry.lower() for entry in values if isinstance(entry, str) and entry}
    return found


def pointers_to(
    principals: Iterable[Mapping[str, Any]], app_id: str, object_id: str
) -> list[Mapping[str, Any]]:
    """The service principal pointers for our app (by AppId or ObjectId)."""
    ours = {app_id.lower(), object_id.lower()}
    return [p for p in principals if names(p, ("AppId", "ObjectId")) & ours]


def our_names(principals: Iterable[Mapping[str, Any]], app_id: str, object_id: str) -> set[str]:
    """Every identifier our app goes by in Exchange: its client and object IDs, and each
    identifier of a pointer to it."""
    found = {app_id.lower(), object_id.lower()}
    for pointer in pointers_to(principals, app_id, object_id):
        found |= names(pointer, PRINCIPAL_IDS)
    return found


def assigned_to(assignment: Mapping[str, Any], ours: set[str]) -> bool:
    """The assignment's assignee is one of `ours`."""
    return bool(names(assignment, ASSIGNEE_KEYS) & ours)
