"""Rule `owners-required`: the application and its service principal have an owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .model import ResourceRule, RuleContext, Violation
from .resource_types import APPLICATION, SERVICE_PRINCIPAL
from .values import is_unknown, items, known_text

CODE: Final = "owners-required"

_KINDS: Final = {APPLICATION: "application", SERVICE_PRINCIPAL: "service principal"}


def check(resource_type: str, props: Mapping[str, Any], context: RuleContext) -> list[Violation]:
    """Applications and service principals have at least one owner."""
    if resource_type not in _KINDS:
        return []
    owners = items(props.get("owners"))
    if owners is None:
        return []
    if any(is_unknown(owner) or known_text(owner) for owner in owners):
        return []
    return [
        Violation(
            CODE,
            "no-owners",
            f"The {_KINDS[resource_type]} has no owners. Set owners (the `owners` stack setting, "
            "or leave it unset for the deploying identity): without an owner only directory "
            "administrators can manage it, and an identity with Application.ReadWrite.OwnedBy "
            "loses access.",
        )
    ]


RULE: Final = ResourceRule(
    CODE,
    "The application and its service principal have at least one owner.",
    check,
)
