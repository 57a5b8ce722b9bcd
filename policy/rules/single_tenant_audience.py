"""Rule `single-tenant-audience`: applications are single tenant, set explicitly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .identifiers import SINGLE_TENANT_AUDIENCE
from .model import ResourceRule, RuleContext, Violation
from .resource_types import APPLICATION, APPLICATION_REGISTRATION
from .values import is_unknown

CODE: Final = "single-tenant-audience"


def check(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[Violation]:
    """Applications are single tenant (signInAudience AzureADMyOrg), set explicitly."""
    if resource_type not in (APPLICATION, APPLICATION_REGISTRATION):
        return []
    audience = props.get("signInAudience")
    if is_unknown(audience) or audience == SINGLE_TENANT_AUDIENCE:
        return []
    shown = "not set" if audience is None else repr(audience)
    return [
        Violation(
            CODE,
            "not-single-tenant",
            f"signInAudience is {shown}; it must be {SINGLE_TENANT_AUDIENCE!r} (this tenant "
            "only), set explicitly: Mimecast's application must not accept sign-ins from other "
            "tenants or personal Microsoft accounts.",
            {"signInAudience": audience},
        )
    ]


RULE: Final = ResourceRule(
    CODE,
    "An application of this stack is single tenant: signInAudience is AzureADMyOrg.",
    check,
)
