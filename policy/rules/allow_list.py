"""The policy config of `exchange-full-access-only`: permissions allowed besides full access."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .identifiers import APP_ROLE_TYPE, SCOPE_TYPE
from .permissions import Permission

ALLOWED_PERMISSIONS_KEY: Final = "allowedPermissions"
"""Config key of policy `exchange-full-access-only`: extra permissions an app may request."""

ALLOWED_PERMISSIONS_SCHEMA: Final[Mapping[str, Mapping[str, Any]]] = {
    ALLOWED_PERMISSIONS_KEY: {
        "type": "array",
        "description": (
            "Permissions an application of this stack may request besides Office 365 Exchange "
            "Online / full_access_as_app: objects with resourceAppId (the API's appId), id (the "
            "app role or scope id) and type (Role or Scope)."
        ),
        "items": {
            "type": "object",
            "properties": {
                "resourceAppId": {"type": "string"},
                "id": {"type": "string"},
                "type": {"type": "string", "enum": [APP_ROLE_TYPE, SCOPE_TYPE]},
            },
            "required": ["resourceAppId", "id", "type"],
            "additionalProperties": False,
        },
        "default": [],
    }
}

_PERMISSION = ("resourceAppId", "id", "type")


class PolicyConfigError(ValueError):
    """The policy pack's configuration does not have the documented shape."""


def allowed_permissions(config: Mapping[str, Any]) -> frozenset[Permission]:
    """The permissions the policy config allows on top of full_access_as_app."""
    entries = config.get(ALLOWED_PERMISSIONS_KEY) or []
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        raise PolicyConfigError(f"{ALLOWED_PERMISSIONS_KEY} must be a list, not {entries!r}")
    allowed = set()
    for index, entry in enumerate(entries):
        values = [entry.get(key) for key in _PERMISSION] if isinstance(entry, Mapping) else []
        texts = [value for value in values if isinstance(value, str) and value]
        if len(texts) != len(_PERMISSION):
            raise PolicyConfigError(
                f"{ALLOWED_PERMISSIONS_KEY}[{index}] must be an object with string "
                f"resourceAppId, id and type, not {entry!r}"
            )
        app_id, role_or_scope, kind = texts
        if kind not in (APP_ROLE_TYPE, SCOPE_TYPE):
            raise PolicyConfigError(
                f"{ALLOWED_PERMISSIONS_KEY}[{index}].type must be Role or Scope, not {kind!r}"
            )
        allowed.add(Permission.of(app_id, role_or_scope, kind))
    return frozenset(allowed)
