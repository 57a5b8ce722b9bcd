"""Rule `app-role-assignment-full-access-only`: assignments grant full_access_as_app only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .identifiers import FULL_ACCESS_AS_APP, FULL_ACCESS_AS_APP_ROLE_ID
from .model import ResourceRule, RuleContext, Violation
from .resource_types import APP_ROLE_ASSIGNMENT
from .values import is_unknown, known_text

CODE: Final = "app-role-assignment-full-access-only"


def check(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[Violation]:
    """An AppRoleAssignment grants full_access_as_app and nothing else, not to itself."""
    if resource_type != APP_ROLE_ASSIGNMENT:
        return []
    violations = []
    role = props.get("appRoleId")
    if not is_unknown(role) and (
        not isinstance(role, str) or role.lower() != FULL_ACCESS_AS_APP_ROLE_ID
    ):
        violations.append(
            Violation(
                CODE,
                "other-app-role",
                f"The assignment grants app role {role!r}, not {FULL_ACCESS_AS_APP} "
                f"({FULL_ACCESS_AS_APP_ROLE_ID}); this stack grants nothing else.",
                {"appRoleId": role},
            )
        )
    principal = known_text(props.get("principalObjectId"))
    resource = known_text(props.get("resourceObjectId"))
    if principal is not None and principal.lower() == (resource or "").lower():
        violations.append(
            Violation(
                CODE,
                "assigned-to-itself",
                f"The assignment's principal and resource are the same object ({principal}); "
                "the resource must be Exchange Online's service principal.",
                {"principalObjectId": principal, "resourceObjectId": resource},
            )
        )
    return violations


RULE: Final = ResourceRule(
    CODE,
    "Every AppRoleAssignment grants full_access_as_app and no other app role.",
    check,
)
