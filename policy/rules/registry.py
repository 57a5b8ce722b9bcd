"""Every rule of the pack, in the order the pack serves them (a rule's module is its code)."""

from __future__ import annotations

from typing import Final

from . import (
    app_role_assignment_full_access_only,
    app_role_assignment_targets,
    certificate_credentials_valid,
    exchange_full_access_only,
    no_password_credentials,
    owners_required,
    scoped_consent_shape,
    single_tenant_audience,
)
from .model import ResourceRule, StackRule

RESOURCE_RULES: Final[tuple[ResourceRule, ...]] = (
    exchange_full_access_only.RULE,
    single_tenant_audience.RULE,
    owners_required.RULE,
    no_password_credentials.RULE,
    certificate_credentials_valid.RULE,
    app_role_assignment_full_access_only.RULE,
)

STACK_RULES: Final[tuple[StackRule, ...]] = (
    app_role_assignment_targets.RULE,
    scoped_consent_shape.RULE,
)
