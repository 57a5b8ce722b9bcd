"""Rule `exchange-full-access-only`: applications request full_access_as_app and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .allow_list import ALLOWED_PERMISSIONS_KEY, ALLOWED_PERMISSIONS_SCHEMA, allowed_permissions
from .identifiers import EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP, FULL_ACCESS_AS_APP_ROLE_ID
from .model import ResourceRule, RuleContext, Violation
from .permissions import FULL_ACCESS_PERMISSION, api_access, requested
from .resource_types import APPLICATION, APPLICATION_API_ACCESS

CODE: Final = "exchange-full-access-only"

HOW_TO_ALLOW: Final = (
    f"Remove it, or allow it in the policy pack's config (`{ALLOWED_PERMISSIONS_KEY}` of "
    f"policy {CODE})."
)


def check(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[Violation]:
    """Applications request Exchange Online's full_access_as_app (Role) and nothing else."""
    allowed = allowed_permissions(context.config)
    if resource_type == APPLICATION_API_ACCESS:
        return [
            Violation(
                CODE,
                "api-access-grant",
                f"ApplicationApiAccess grants {permission}, which is not {FULL_ACCESS_AS_APP}. "
                + HOW_TO_ALLOW,
                permission.facts(),
            )
            for permission in api_access(props)
            if permission != FULL_ACCESS_PERMISSION and permission not in allowed
        ]
    if resource_type != APPLICATION:
        return []
    found = requested(props)
    if found is None:
        return []
    violations = []
    # Requesting nothing at all is the other accepted shape (mailboxScope.enforce), which the
    # stack rule scoped-consent-shape checks against the stack's assignments.
    if found.permissions and FULL_ACCESS_PERMISSION not in found.permissions and not found.partial:
        violations.append(
            Violation(
                CODE,
                "full-access-not-requested",
                "The application does not request Office 365 Exchange Online "
                f"({EXCHANGE_ONLINE_APP_ID}) / {FULL_ACCESS_AS_APP} ({FULL_ACCESS_AS_APP_ROLE_ID}, "
                "type Role), the one permission Mimecast's server connection needs.",
            )
        )
    for permission in dict.fromkeys(found.permissions):
        if permission == FULL_ACCESS_PERMISSION or permission in allowed:
            continue
        if permission[:2] == FULL_ACCESS_PERMISSION[:2]:
            reason = "full-access-as-scope"
            what = f"{FULL_ACCESS_AS_APP} as a delegated Scope instead of an application Role"
        else:
            reason = "other-permission"
            what = "a permission other than Exchange Online's full_access_as_app"
        violations.append(
            Violation(
                CODE,
                reason,
                f"The application requests {permission}: {what}. {HOW_TO_ALLOW}",
                permission.facts(),
            )
        )
    return violations


RULE: Final = ResourceRule(
    CODE,
    "An application of this stack requests exactly Office 365 Exchange Online / "
    "full_access_as_app (application permission, type Role), plus only what the policy "
    "config's allowedPermissions lists; or nothing (see scoped-consent-shape).",
    check,
    ALLOWED_PERMISSIONS_SCHEMA,
)
