"""Rule `scoped-consent-shape`: an application that requests nothing comes with no consent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .identifiers import FULL_ACCESS_AS_APP
from .model import RuleContext, StackResource, StackRule, Violation
from .permissions import requested
from .resource_types import APP_ROLE_ASSIGNMENT, APPLICATION

CODE: Final = "scoped-consent-shape"


def check(resources: Sequence[StackResource], context: RuleContext) -> list[Violation]:
    """An application that requests nothing (mailbox scoping enforced) comes with no consent."""
    assignments = [r for r in resources if r.type == APP_ROLE_ASSIGNMENT]
    violations = []
    for app in (r for r in resources if r.type == APPLICATION):
        found = requested(app.props)
        if found is None or found.permissions or found.partial or not assignments:
            continue
        violations.append(
            Violation(
                CODE,
                "consent-without-request",
                "The application requests no permission (the shape of mailboxScope.enforce), "
                f"but the stack declares {len(assignments)} AppRoleAssignment(s): a tenant-wide "
                "consent nobody requested. Either request Office 365 Exchange Online / "
                f"{FULL_ACCESS_AS_APP} with its consent, or neither.",
                {"assignments": len(assignments)},
                app.urn,
            )
        )
    return violations


RULE: Final = StackRule(
    CODE,
    "An application requests either exactly Office 365 Exchange Online / full_access_as_app "
    "with its consent, or nothing and no consent (mailbox scoping enforced).",
    check,
)
