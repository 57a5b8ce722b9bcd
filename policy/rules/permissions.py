"""The permissions an application requests, read from its properties (known parts only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from .identifiers import (
    APP_ROLE_TYPE,
    EXCHANGE_ONLINE_APP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
    SCOPE_TYPE,
)
from .values import items, known_text


class Permission(NamedTuple):
    """One requested permission: API appId, app role or scope id, `Role` or `Scope`."""

    resource_app_id: str
    id: str
    type: str

    @classmethod
    def of(cls, resource_app_id: str, id_: str, type_: str) -> Permission:
        return cls(resource_app_id.lower(), id_.lower(), type_)

    def __str__(self) -> str:
        return f"{self.resource_app_id} / {self.id} ({self.type})"

    def facts(self) -> dict[str, object]:
        """The permission as a violation's facts, keyed like the provider's properties."""
        return {"resourceAppId": self.resource_app_id, "id": self.id, "type": self.type}


FULL_ACCESS_PERMISSION: Final = Permission.of(
    EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID, APP_ROLE_TYPE
)


class Requested(NamedTuple):
    """An application's known requested permissions, and whether some are still unknown."""

    permissions: list[Permission]
    partial: bool


def requested(props: Mapping[str, Any]) -> Requested | None:
    """An Application's requested permissions; None when the whole list is unknown."""
    blocks = items(props.get("requiredResourceAccesses"))
    if blocks is None:
        return None
    parts = [part for block in blocks for part in _block(block)]
    return Requested([part for part in parts if part is not None], None in parts)


def _block(block: object) -> list[Permission | None]:
    """One requiredResourceAccess block's permissions, None for a part not known yet."""
    if not isinstance(block, Mapping):
        return [None]
    app_id = known_text(block.get("resourceAppId"))
    accesses = items(block.get("resourceAccesses"))
    if app_id is None or accesses is None:
        return [None]
    return [_access(app_id, access) for access in accesses]


def _access(app_id: str, access: object) -> Permission | None:
    if not isinstance(access, Mapping):
        return None
    role_or_scope = known_text(access.get("id"))
    kind = known_text(access.get("type"))
    if role_or_scope is None or kind is None:
        return None
    return Permission.of(app_id, role_or_scope, kind)


def api_access(props: Mapping[str, Any]) -> list[Permission]:
    """The permissions an ApplicationApiAccess resource adds to an application (known ones)."""
    api = known_text(props.get("apiClientId"))
    if api is None:
        return []
    granted = []
    for key, kind in (("roleIds", APP_ROLE_TYPE), ("scopeIds", SCOPE_TYPE)):
        for value in items(props.get(key)) or []:
            if (text := known_text(value)) is not None:
                granted.append(Permission.of(api, text, kind))
    return granted
