"""What the audit asks Exchange Online about one tenant: read-only cmdlets, answers typed.

The product's admin client (`association.exchange_online.client`) runs each cmdlet over the
ExchangeOnlineManagement module's REST endpoint, within the tenant's deadline and byte
budget (`transport.Budget`). Five cmdlets a tenant, seven with `mailboxScope`:
Get-OrganizationConfig (the EWS switch and allow list, read as `pulumi up` reads them:
`ews_access.read_state`), Get-ServicePrincipal, Get-ManagementRoleAssignment (every
assignment: none of its filters selects a service principal's), Get-RoleGroup (whose
`Members` may hold our app: app-only identities get Exchange roles through role groups),
Get-ApplicationAccessPolicy, and for the scope Get-ManagementScope and Get-DistributionGroup
(the group's distinguished name the filter names). Exchange's answers are hostile input:
every field is type-checked, a missing one is empty, and only what names our app is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from association.exchange_online.client import ExchangeAdminClient
from association.exchange_online.errors import ExchangeError
from association.exchange_online.ews_access import read_state
from association.exchange_online.patience import Limits
from association.exchange_online.principals import assigned_to, names, our_names, pointers_to
from association.exchange_online.rbac import MAX_DN, member_filter
from association.exchange_online.rights import MANAGE_AS_APP
from association.problems import Notice
from association_tools.audit.tenant import (
    AccessPolicy,
    ExchangePrincipal,
    LiveExchange,
    RoleAssignment,
    RoleGroup,
    ScopeState,
)
from association_tools.audit.transport import Budget, Watchdog, Watched

POLICY_APP_KEYS: Final = ("AppId", "AppID")
"""Get-ApplicationAccessPolicy's app (Microsoft365DSC EXOApplicationAccessPolicy reads AppId)."""
AUDIT_ROLE_GROUP: Final = "View-Only Organization Management"
"""The least role group that runs every cmdlet here: its roles View-Only Configuration (the
organization config, RBAC objects, access policies) and View-Only Recipients
(Get-DistributionGroup). Microsoft365DSC's settings.json for EXOManagementRoleAssignment,
EXORoleGroup and EXOManagementRoleEntry names it, with View-Only Configuration, for reading."""


def audit_rights(cmdlet: str) -> str:
    """What the audit's identity needs for any of its cmdlets, said in a 401 or 403."""
    return (
        f"the {MANAGE_AS_APP} application permission with admin consent (app-only) and the "
        f"Exchange role group {AUDIT_ROLE_GROUP} (read-only) to run {cmdlet}"
    )


@dataclass(frozen=True)
class ExchangeTarget:
    """What the stack declares there: our app's IDs, the scope (name and group) with
    `mailboxScope`, and whether `pulumi up` makes it (`exchange.manage`)."""

    tenant_id: str
    client_id: str
    service_principal_id: str
    scope_name: str | None = None
    group: str | None = None
    manage: bool = False


class BudgetTokens:
    """The audit's token source as the Exchange client asks for one (tenant, scope)."""

    def __init__(self, tokens: Callable[[str], str]) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        return "BudgetTokens()"

    def token(self, tenant_id: str, scope: str) -> str:
        return self._tokens(tenant_id)


def exchange_client(
    endpoint: str,
    tenant_id: str,
    tokens: Callable[[str], str],
    budget: Budget,
    max_bytes: int,
    sleep: Callable[[float], None],
    watchdog: Watchdog,
) -> ExchangeAdminClient:
    """The product's client within the tenant's deadline, reading at most `max_bytes`, its
    connections watched by `watchdog` (which the caller fires at the deadline: the client's
    own checks run between reads, so a server trickling its headers would outlast them)."""
    limits = Limits(
        max_body=min(Limits.max_body, max_bytes),
        max_total=max_bytes,
        deadline=max(budget.remaining(), 0.0),
    )
    return ExchangeAdminClient(
        endpoint,
        tenant_id,
        BudgetTokens(tokens),
        limits,
        sleep=sleep,
        clock=budget.clock,
        rights=audit_rights,
        who="the audit's identity",
        handlers=[Watched(watchdog)],
    )


def read_exchange(client: ExchangeAdminClient, target: ExchangeTarget) -> LiveExchange:
    """Everything the findings need, the cmdlets run at once (each answer waits on Exchange,
    not on the others); ExchangeError (naming the tenant, the cmdlet and the rights) when
    Exchange refuses or breaks."""
    scoped = target.scope_name is not None and target.group is not None
    with ThreadPoolExecutor(max_workers=7 if scoped else 5) as pool:
        ews = pool.submit(read_state, client)
        listed = {
            cmdlet: pool.submit(client.invoke, cmdlet)
            for cmdlet in (
                "Get-ServicePrincipal",
                "Get-ManagementRoleAssignment",
                "Get-ApplicationAccessPolicy",
                "Get-RoleGroup",
                *(("Get-ManagementScope",) if scoped else ()),
            )
        }
        group = pool.submit(_group_dn, client, target.group) if scoped else None
        state = ews.result()  # in this order, so the first failure said is the same each run
        policy_answer = listed.pop("Get-ApplicationAccessPolicy")
        answers = {cmdlet: future.result() for cmdlet, future in listed.items()}
        policies, notes = _policies_or_note(policy_answer)
        dn = group.result() if group is not None else ""
    ours = {target.client_id.lower(), target.service_principal_id.lower()}
    listed_principals = answers["Get-ServicePrincipal"]
    principals = pointers_to(listed_principals, target.client_id, target.service_principal_id)
    ours_in_exchange = our_names(listed_principals, target.client_id, target.service_principal_id)
    return LiveExchange(
        state.enabled,
        state.ids,
        tuple(
            ExchangePrincipal(
                _text(p, "AppId"), _text(p, "ObjectId"), _text(p, "Identity") or _text(p, "Name")
            )
            for p in principals
        ),
        tuple(
            _assignment(item)
            for item in answers["Get-ManagementRoleAssignment"]
            if assigned_to(item, ours_in_exchange)
        ),
        tuple(
            AccessPolicy(
                _text(item, "Identity"), _text(item, "AccessRight"), _text(item, "ScopeIdentity")
            )
            for item in policies
            if names(item, POLICY_APP_KEYS) & ours
        ),
        _scope(answers, target, dn) if scoped else None,
        notes,
        tuple(
            RoleGroup(_text(item, "Name"), _strings(item.get("Roles")))
            for item in answers["Get-RoleGroup"]
            if {member.rpartition("/")[2] for member in names(item, ("Members",))}
            & ours_in_exchange
        ),
    )


def _policies_or_note(
    future: Future[list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], tuple[Notice, ...]]:
    """A cmdlet's objects; a 404 (a tenant where Get-ApplicationAccessPolicy is not
    available, as Microsoft365DSC's export notes) is an empty list and a note, any other
    failure raised."""
    try:
        return future.result(), ()
    except ExchangeError as error:
        if error.status != 404:
            raise
        return [], (Notice("application-access-policy-not-checked", None, f"not checked: {error}"),)


def _group_dn(client: ExchangeAdminClient, group: str | None) -> str:
    """The distinguished name of the group the scope filters on; '' when it is not found."""
    try:
        groups = client.invoke("Get-DistributionGroup", {"Identity": group})
    except ExchangeError as error:
        if error.status != 404:
            raise
        return ""
    return _text(groups[0], "DistinguishedName") if len(groups) == 1 else ""


def _scope(
    answers: Mapping[str, list[dict[str, Any]]], target: ExchangeTarget, dn: str
) -> ScopeState:
    name, group = str(target.scope_name), str(target.group)
    live = next(
        (item for item in answers["Get-ManagementScope"] if _text(item, "Name") == name),
        None,
    )
    live_filter = None if live is None else _text(live, "RecipientRestrictionFilter")
    wanted = member_filter(dn) if dn.strip() and len(dn) <= MAX_DN else None
    return ScopeState(name, group, live_filter, wanted)


def _assignment(item: Mapping[str, Any]) -> RoleAssignment:
    scope = _text(item, "CustomResourceScope") or _text(item, "CustomRecipientWriteScope")
    if not scope:
        written = _text(item, "RecipientWriteScope")
        scope = "" if written.lower() in ("", "organization") else written
    return RoleAssignment(
        _text(item, "Name"), _text(item, "Role"), scope, item.get("Enabled") is not False
    )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""
