"""What the association declares in Exchange Online, as data first, then as Pulumi resources.

`exchange_declarations` is pure: from the association's values it returns which resources to
declare, with their inputs and the order between them. `declare` registers them. The names of
the scope match the `exchangeOnline.scope` PowerShell output, so a tenant that ran it is
adopted rather than given a second scope.

The role assignment takes the scope's name and the pointer's object ID from those resources'
outputs (`From`), not as plain values: then the engine knows which of its inputs come from them
(property dependencies), and when the scope or the pointer is replaced old-first, it replaces
the assignment too and deletes it before them (pkg/resource/deploy/step_generator.go,
`calculateDependentReplacements`: a plain `dependsOn` edge is not enough). Exchange refuses to
remove a scope an assignment still uses (Remove-ManagementScope.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import pulumi

from association.ews import EWS_SHUTDOWN
from association.exchange_online.endpoint import DEFAULT_CLOUD, ExchangeCloud
from association.exchange_online.ews_access import EwsAccess
from association.exchange_online.provider_base import ExchangeResource
from association.exchange_online.rbac import (
    EWS_ROLE,
    ManagementScopeProvider,
    RoleAssignmentProvider,
    ServicePrincipalPointerProvider,
)
from association.mailbox_scope import MailboxScope

Kind = Literal["ews-access", "service-principal", "management-scope", "role-assignment"]


@dataclass(frozen=True)
class ExchangeTarget:
    """The association's values the Exchange side needs (Outputs where the app is new)."""

    tenant_id: str
    client_id: pulumi.Input[str]
    service_principal_object_id: pulumi.Input[str]
    display_name: str
    stack: str
    scope: MailboxScope | None = None
    cloud: ExchangeCloud = DEFAULT_CLOUD
    allow_after_ews_shutdown: bool = False
    """`allowAfterEwsShutdown`: Microsoft moved the date, so EWS access is still declared."""
    change_other_apps: bool = False
    """`exchange.changeOtherApps`: adding this app may change EWS for other apps."""


@dataclass(frozen=True)
class From:
    """An input that is another declaration's output of the same name: `key` of `name`."""

    name: str
    key: str


@dataclass(frozen=True)
class Declaration:
    """One resource to declare: its kind, Pulumi name, inputs and the names it comes after."""

    kind: Kind
    name: str
    inputs: Mapping[str, pulumi.Input[str] | bool | From]
    depends_on: tuple[str, ...] = ()


def scope_name(stack: str) -> str:
    """The management scope's name (at most 64 characters, Exchange's limit for names)."""
    return f"Mimecast association {stack}"[:64]


def exchange_declarations(target: ExchangeTarget, now: datetime) -> list[Declaration]:
    """EWS access until the shutdown; with a mailbox scope, the pointer, the scope and (until
    the shutdown: it is an EWS role) the scoped assignment after both."""
    connection = {
        "tenantId": target.tenant_id,
        "endpoint": target.cloud.endpoint,
        "authority": target.cloud.authority,
    }
    ews_lives = now < EWS_SHUTDOWN or target.allow_after_ews_shutdown
    declarations = []
    if ews_lives:
        declarations.append(
            Declaration(
                "ews-access",
                "exchange-ews-access",
                {
                    **connection,
                    "appId": target.client_id,
                    "changeOtherApps": target.change_other_apps,
                },
            )
        )
    if target.scope is None:
        return declarations
    principal = {"appId": target.client_id, "objectId": target.service_principal_object_id}
    pointer = Declaration(
        "service-principal",
        "exchange-service-principal",
        {**connection, **principal, "displayName": target.display_name},
    )
    scope = Declaration(
        "management-scope",
        "exchange-mailbox-scope",
        {**connection, "name": scope_name(target.stack), "group": target.scope.group},
    )
    declarations += [pointer, scope]
    if ews_lives:
        declarations.append(
            Declaration(
                "role-assignment",
                "exchange-ews-role-assignment",
                {
                    **connection,
                    "appId": target.client_id,
                    "objectId": From(pointer.name, "objectId"),
                    "name": f"{scope_name(target.stack)[:52]} EWS access",
                    "role": EWS_ROLE,
                    "scope": From(scope.name, "name"),
                },
                (pointer.name, scope.name),
            )
        )
    return declarations


class ServicePrincipalPointer(ExchangeResource, module="mimecast", name="ExchangeServicePrincipal"):
    PROVIDER = ServicePrincipalPointerProvider


class ManagementScope(ExchangeResource, module="mimecast", name="ExchangeManagementScope"):
    PROVIDER = ManagementScopeProvider
    OUTPUTS = ("groupDn", "filter")


class RoleAssignment(ExchangeResource, module="mimecast", name="ExchangeRoleAssignment"):
    PROVIDER = RoleAssignmentProvider
    OUTPUTS = ("exchangeName", "actualScope")


RESOURCE_TYPES: Final[Mapping[Kind, type[ExchangeResource]]] = {
    "ews-access": EwsAccess,
    "service-principal": ServicePrincipalPointer,
    "management-scope": ManagementScope,
    "role-assignment": RoleAssignment,
}


def declare(
    declarations: Sequence[Declaration], opts: pulumi.ResourceOptions | None = None
) -> dict[str, pulumi.CustomResource]:
    """Register the declarations in order, each after the ones it names; `opts` (parent,
    provider-free, `depends_on` the service principal) applies to all."""
    made: dict[str, pulumi.CustomResource] = {}
    for item in declarations:
        after = pulumi.ResourceOptions(depends_on=[made[name] for name in item.depends_on])
        options = pulumi.ResourceOptions.merge(opts, after)
        inputs = {
            key: getattr(made[value.name], value.key) if isinstance(value, From) else value
            for key, value in item.inputs.items()
        }
        made[item.name] = RESOURCE_TYPES[item.kind](item.name, inputs, options)
    return made
