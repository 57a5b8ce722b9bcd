"""Rule `no-password-credentials`: no client secrets anywhere in the stack."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .model import ResourceRule, RuleContext, Violation
from .resource_types import APPLICATION, APPLICATION_PASSWORD, SERVICE_PRINCIPAL_PASSWORD

CODE: Final = "no-password-credentials"

_WHY: Final = "Mimecast authenticates with its certificate; a client secret is only a leak risk."


def check(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[Violation]:
    """No client secrets: Mimecast authenticates with its certificate only."""
    if resource_type == APPLICATION_PASSWORD:
        what = "ApplicationPassword creates a client secret on the application."
        return [Violation(CODE, "application-password", f"{what} {_WHY}")]
    if resource_type == SERVICE_PRINCIPAL_PASSWORD:
        what = "ServicePrincipalPassword creates a client secret on the service principal."
        return [Violation(CODE, "service-principal-password", f"{what} {_WHY}")]
    if resource_type == APPLICATION and props.get("password") not in (None, {}):
        what = "The application declares a `password` block, i.e. a client secret."
        return [Violation(CODE, "password-block", f"{what} {_WHY}")]
    return []


RULE: Final = ResourceRule(
    CODE,
    "No password credentials anywhere in the stack: no ApplicationPassword, no "
    "ServicePrincipalPassword, no password block on an application.",
    check,
)
