"""The Exchange Online side against what the stack declares: findings, each rated.

Pure. What a stack declares there is the same whether `pulumi up` makes it (`exchange.manage`)
or an admin pasted the `exchangeOnline` outputs: until EWS's shutdown, `EwsEnabled $true` with
our client ID in `EwsAllowedAppIDs` (Mimecast cannot sync otherwise); with `mailboxScope`, the
service-principal pointer, the scope `Mimecast association <stack>` filtering on the group's
members, and `Application EWS.AccessAsApp` on that scope, nothing else. Severities as `compare`
states them: any other management role assignment of our app can read mail or administer
Exchange (high), a widened scope filter too (high); an access policy changes which mailboxes
the app reaches outside the stack (medium); what is missing breaks Mimecast (low).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from association.ews import EWS_SHUTDOWN
from association.exchange_online.rbac import EWS_ROLE, same_filter
from association_tools.audit.exchange import ExchangeTarget
from association_tools.audit.exposure import Rated
from association_tools.audit.tenant import LiveExchange, RoleAssignment


def exchange_findings(
    declared: ExchangeTarget, live: LiveExchange, now: datetime
) -> Iterator[Rated]:
    """Every Exchange finding for one stack, in the order docs/drift-and-audit.md lists them."""
    fix = (
        "run `pulumi up` (exchange.manage is set)"
        if declared.manage
        else "paste the stack output exchangeOnline.ewsAllowList into Exchange Online PowerShell"
    )
    if now < EWS_SHUTDOWN:
        if live.ews_enabled is not True:
            shown = "unset" if live.ews_enabled is None else "$false"
            yield (
                "low",
                "ews-disabled",
                f"EwsEnabled is {shown}: Exchange Online lets no app use EWS, so Mimecast "
                f"cannot sync; {fix}",
            )
        if not any(entry.lower() == declared.client_id for entry in live.ews_allowed):
            yield (
                "low",
                "ews-not-allowed",
                f"the client ID {declared.client_id} is not in EwsAllowedAppIDs: Mimecast "
                f"cannot use EWS; {fix}",
            )
    yield from _principals(declared, live)
    found_declared = False
    for assignment in live.assignments:
        if _declared(assignment, declared.scope_name):
            found_declared = True
            continue
        yield "high", "exchange-role-assignment", _assignment_message(assignment)
    for group in live.role_groups:
        roles = ", ".join(group.roles) or "(roles not listed)"
        yield (
            "high",
            "exchange-role-group",
            f"is a member of the Exchange role group {group.name!r} ({roles}): it holds those "
            "roles; the stack declares no role group",
        )
    if declared.scope_name is not None and now < EWS_SHUTDOWN and not found_declared:
        yield (
            "low",
            "exchange-role-assignment-missing",
            f"the app does not hold {EWS_ROLE} on the scope {declared.scope_name!r}: with "
            "mailboxScope.enforce Mimecast reaches no mailbox",
        )
    yield from _scope(live)
    for policy in live.policies:
        yield (
            "medium",
            "application-access-policy",
            f"application access policy {policy.identity!r} ({policy.access_right or '?'} to "
            f"{policy.scope or '?'}) names the app: it changes which mailboxes the app reaches, "
            "outside the stack",
        )


def _principals(declared: ExchangeTarget, live: LiveExchange) -> Iterator[Rated]:
    ours = [p for p in live.principals if p.object_id.lower() == declared.service_principal_id]
    for pointer in live.principals:
        if pointer in ours and declared.scope_name is not None:
            continue
        why = (
            f"points at object {pointer.object_id or '(none)'}, not the stack's service "
            f"principal {declared.service_principal_id}"
            if pointer not in ours
            else "the stack declares none (no mailboxScope): roles can be assigned to it"
        )
        yield (
            "medium",
            "exchange-service-principal",
            f"Exchange service principal {pointer.identity or pointer.app_id!r} for the app {why}",
        )
    if declared.scope_name is not None and not ours:
        yield (
            "low",
            "exchange-service-principal-missing",
            "Exchange has no service principal for the app's service principal "
            f"{declared.service_principal_id}: the scoped role assignment cannot exist",
        )


def _scope(live: LiveExchange) -> Iterator[Rated]:
    scope = live.scope
    if scope is None:
        return
    if scope.live_filter is None:
        yield (
            "low",
            "exchange-scope-missing",
            f"the management scope {scope.name!r} is gone: the role assignment on it cannot work",
        )
    elif scope.wanted_filter is None:
        yield (
            "low",
            "exchange-scope-group-missing",
            f"the group {scope.group!r} (mailboxScope.group) is not found in Exchange, so the "
            f"filter of {scope.name!r} ({scope.live_filter!r}) cannot be checked",
        )
    elif not same_filter(scope.live_filter, scope.wanted_filter):
        yield (
            "high",
            "exchange-scope-filter",
            f"the management scope {scope.name!r} filters {scope.live_filter!r}, not "
            f"{scope.wanted_filter!r}: the app may reach other mailboxes than the group's",
        )


def _declared(assignment: RoleAssignment, scope_name: str | None) -> bool:
    return (
        scope_name is not None
        and assignment.role.lower() == EWS_ROLE.lower()
        and assignment.scope.lower() == scope_name.lower()
    )


def _assignment_message(assignment: RoleAssignment) -> str:
    where = f"on the scope {assignment.scope!r}" if assignment.scope else "organization-wide"
    state = "" if assignment.enabled else " (disabled: it can be enabled again)"
    return (
        f"holds the Exchange role {assignment.role!r} {where} (assignment "
        f"{assignment.name!r}){state}; the stack declares at most {EWS_ROLE} on its own "
        "mailbox scope"
    )
