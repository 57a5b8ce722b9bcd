"""Rule `app-role-assignment-targets`: grants go to this stack's principal, on Exchange's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from .identifiers import EXCHANGE_ONLINE_APP_ID
from .model import RuleContext, StackResource, StackRule, Violation
from .resource_types import APP_ROLE_ASSIGNMENT, SERVICE_PRINCIPAL
from .values import known_text

CODE: Final = "app-role-assignment-targets"


class _OwnPrincipals(NamedTuple):
    """This stack's service principals: their URNs and the object IDs known so far."""

    urns: frozenset[str]
    object_ids: tuple[str, ...]
    """Known object IDs, lower case, sorted."""
    all_known: bool
    """False while some service principal's object ID is unknown (a first preview)."""

    @classmethod
    def of(cls, principals: Sequence[StackResource]) -> _OwnPrincipals:
        ids = [known_text(sp.props.get("objectId")) for sp in principals]
        known = sorted({object_id.lower() for object_id in ids if object_id is not None})
        return cls(frozenset(sp.urn for sp in principals), tuple(known), None not in ids)


def _managed_exchange(principals: Sequence[StackResource]) -> list[Violation]:
    return [
        Violation(
            CODE,
            "exchange-service-principal-managed",
            "The stack manages a service principal for Office 365 Exchange Online "
            f"({EXCHANGE_ONLINE_APP_ID}). Look it up (get_service_principal) instead: a managed "
            "one is deleted from the tenant on `pulumi destroy`.",
            {"clientId": sp.props.get("clientId")},
            sp.urn,
        )
        for sp in principals
        if (known_text(sp.props.get("clientId")) or "").lower() == EXCHANGE_ONLINE_APP_ID
    ]


def _principal(assignment: StackResource, own: _OwnPrincipals) -> list[Violation]:
    """The assignment's principal is one of this stack's service principals."""
    principal = known_text(assignment.props.get("principalObjectId"))
    sources = sorted(assignment.property_dependencies.get("principalObjectId", ()))
    if principal is not None:
        # Judged only once every service principal's object ID is known (not in a first preview).
        if principal.lower() in own.object_ids or not own.all_known:
            return []
        return [
            Violation(
                CODE,
                "principal-not-in-stack",
                f"The assignment grants to principal {principal}, which is not this project's "
                "service principal"
                + (f" ({', '.join(own.object_ids)})." if own.object_ids else " (none).")
                + " Grant full_access_as_app to the service principal of this stack only.",
                {"principalObjectId": principal, "servicePrincipals": own.object_ids},
                assignment.urn,
            )
        ]
    if sources and not own.urns.intersection(sources):
        return [
            Violation(
                CODE,
                "principal-from-other-resource",
                f"The assignment's principalObjectId comes from {', '.join(sources)}, not from "
                "this project's service principal.",
                {"principalSources": tuple(sources)},
                assignment.urn,
            )
        ]
    return []


def _resource(
    assignment: StackResource, own: _OwnPrincipals, stack_urns: frozenset[str]
) -> list[Violation]:
    """The assignment's resource is not a service principal of this stack."""
    resource = known_text(assignment.props.get("resourceObjectId"))
    sources = sorted(
        stack_urns.intersection(assignment.property_dependencies.get("resourceObjectId", ()))
    )
    in_stack = resource.lower() in own.object_ids if resource is not None else bool(sources)
    if not in_stack:
        return []
    return [
        Violation(
            CODE,
            "resource-in-stack",
            "The assignment's resource is a service principal of this stack "
            f"({resource or ', '.join(sources)}); it must be Office 365 Exchange Online's "
            f"existing service principal, looked up by appId {EXCHANGE_ONLINE_APP_ID}.",
            {"resourceObjectId": resource, "resourceSources": tuple(sources)},
            assignment.urn,
        )
    ]


def check(resources: Sequence[StackResource], context: RuleContext) -> list[Violation]:
    """Assignments go to this stack's service principal, on Exchange Online's (looked up)."""
    principals = [r for r in resources if r.type == SERVICE_PRINCIPAL]
    own = _OwnPrincipals.of(principals)
    stack_urns = frozenset(r.urn for r in resources)
    violations = _managed_exchange(principals)
    for assignment in (r for r in resources if r.type == APP_ROLE_ASSIGNMENT):
        violations.extend(_principal(assignment, own))
        violations.extend(_resource(assignment, own, stack_urns))
    return violations


RULE: Final = StackRule(
    CODE,
    "Every AppRoleAssignment grants to this project's service principal, on Office 365 "
    "Exchange Online's service principal (looked up, never managed by the stack).",
    check,
)
