"""The `MimecastAssociation` component: the guide's portal steps as Pulumi resources.

Checks first (arguments, then the tenant it is signed in to), then declares: nothing is
registered, not even the component, unless every check passes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pulumi
import pulumi_azuread as azuread

from association.clock import current_time
from association.component_args import AssociationArgs
from association.identifiers import (
    APP_ROLE_TYPE,
    EXCHANGE_ONLINE_APP_ID,
    EXCHANGE_ONLINE_DISPLAY_NAME,
    FULL_ACCESS_AS_APP,
    FULL_ACCESS_AS_APP_ROLE_ID,
    KEY_CREDENTIAL_TYPE,
    SINGLE_TENANT_AUDIENCE,
)

COMPONENT_TYPE = "mimecast:index:Association"

PERMISSIONS = (
    f"{EXCHANGE_ONLINE_DISPLAY_NAME} / {FULL_ACCESS_AS_APP} (application permission, admin "
    "consent granted): Use Exchange Web Services with full access to all mailboxes",
)


def refusal(problems: Sequence[str]) -> pulumi.RunError:
    """One error listing every problem; Pulumi prints a RunError without a Python traceback."""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    lines = [
        f"mimecast-association: stack {pulumi.get_stack()!r} was not deployed; nothing was "
        f"created or changed in the tenant. Fix {count}:",
        *(f"  {number}. {problem}" for number, problem in enumerate(problems, start=1)),
    ]
    return pulumi.RunError("\n".join(lines))


@dataclass(frozen=True)
class Tenant:
    """What the program reads from the tenant before declaring anything."""

    deployer_object_id: str
    exchange_service_principal_id: str
    initial_domain: str


def inspect_tenant(tenant_id: str, opts: pulumi.InvokeOptions) -> Tenant:
    """Refuse the wrong tenant, and check Exchange Online is there with the role we grant."""
    try:
        client = azuread.get_client_config(opts=opts)
    except Exception as error:  # a failed invoke is a plain Exception with the provider's text
        raise refusal(
            [
                f"The deploying identity could not be read ({error}). Sign in to tenant "
                f"{tenant_id} (`az login --tenant {tenant_id}`, or the ARM_* variables of a "
                "pipeline identity) and run again."
            ]
        ) from None
    if client.tenant_id.lower() != tenant_id.lower():
        raise refusal(
            [
                f"The deploying identity is signed in to tenant {client.tenant_id}, but "
                f"azuread:tenantId is {tenant_id}. Sign in to the tenant this stack manages "
                "(e.g. `az login --tenant <tenantId>` or ARM_TENANT_ID) or select the stack of "
                "the tenant you are signed in to; a stack never writes into another tenant."
            ]
        )
    problems = []
    exchange_id = ""
    try:
        exchange = azuread.get_service_principal(client_id=EXCHANGE_ONLINE_APP_ID, opts=opts)
    except Exception as error:
        problems.append(
            f"The deploying identity may not read service principals in tenant {tenant_id} "
            f"({error}). Grant it Application.Read.All (or Directory.Read.All)."
            if _denied(error)
            else f"Tenant {tenant_id} has no service principal for {EXCHANGE_ONLINE_DISPLAY_NAME} "
            f"(appId {EXCHANGE_ONLINE_APP_ID}): {error}. Mimecast's server connection needs "
            "Exchange Online in this tenant; check the tenant has an Exchange Online licence."
        )
    else:
        exchange_id = exchange.object_id
        role_id = exchange.app_role_ids.get(FULL_ACCESS_AS_APP)
        if role_id != FULL_ACCESS_AS_APP_ROLE_ID:
            problems.append(
                f"{EXCHANGE_ONLINE_DISPLAY_NAME} in tenant {tenant_id} offers {FULL_ACCESS_AS_APP} "
                f"as app role {role_id!r}, not the documented {FULL_ACCESS_AS_APP_ROLE_ID}. "
                "Nothing is granted until this is understood: report it with the tenant's "
                "`az ad sp show --id 00000002-0000-0ff1-ce00-000000000000` output."
            )
    initial = []
    try:
        domains = azuread.get_domains(only_initial=True, opts=opts).domains
        initial = [domain.domain_name for domain in domains if domain.initial]
    except Exception as error:
        problems.append(
            f"The domains of tenant {tenant_id} could not be read ({error}). Grant the "
            "deploying identity Domain.Read.All (or Directory.Read.All)."
        )
    else:
        if not initial:
            problems.append(
                f"Tenant {tenant_id} reports no initial *.onmicrosoft.com domain, which "
                "Mimecast's form asks for; check the tenant's domains in the Entra admin center."
            )
    if problems:
        raise refusal(problems)
    return Tenant(client.object_id, exchange_id, initial[0])


def _denied(error: Exception) -> bool:
    """Graph's answer when the identity lacks a permission, as the provider passes it on."""
    return (
        re.search(r"Authorization_RequestDenied|Insufficient privileges|\b403\b", str(error))
        is not None
    )


def owner_warnings(owners: Sequence[str] | None, deployer_object_id: str) -> list[str]:
    """A deployer left out of the owners loses access when it only has Application.*.OwnedBy."""
    if not owners or deployer_object_id.lower() in (owner.lower() for owner in owners):
        return []
    return [
        f"The deploying identity {deployer_object_id} is not among mimecast-association:owners. "
        "If it deploys with Application.ReadWrite.OwnedBy it cannot update the application after "
        "this run; add it to owners unless it holds Application.ReadWrite.All."
    ]


def certificate_summaries(args: AssociationArgs) -> list[dict[str, str]]:
    """The certificate facts an administrator compares with Mimecast's console."""
    return [
        {
            "customKeyIdentifier": cert.custom_key_identifier,
            "thumbprint": cert.thumbprint,
            "keyId": cert.key_id,
            "notBefore": cert.start_date,
            "notAfter": cert.end_date,
            "subject": cert.subject,
        }
        for cert in args.certificates
    ]


class MimecastAssociation(pulumi.ComponentResource):
    """The Entra ID application, key credentials, service principal and consent for Mimecast.

    Use from any Pulumi program: `MimecastAssociation("mimecast", AssociationArgs(...))`.
    Pass `opts=ResourceOptions(provider=...)` to target an explicit azuread provider.
    """

    client_id: pulumi.Output[str]
    application_object_id: pulumi.Output[str]
    service_principal_object_id: pulumi.Output[str]
    tenant_id: str
    tenant_domain: str
    certificates: list[dict[str, str]]
    permissions: list[str]

    def __init__(
        self,
        name: str,
        args: AssociationArgs,
        opts: pulumi.ResourceOptions | None = None,
        now: datetime | None = None,
    ) -> None:
        now = now or current_time()
        problems = args.problems(now)
        if problems:
            raise refusal(problems)
        # Lookups go through the provider the component's resources will use.
        lookups = pulumi.InvokeOptions(
            parent=opts.parent if opts is not None else None,
            provider=opts.provider if opts is not None else None,
        )
        tenant = inspect_tenant(args.tenant_id, lookups)

        super().__init__(COMPONENT_TYPE, name, None, opts)
        for warning in args.warnings(now) + owner_warnings(args.owners, tenant.deployer_object_id):
            pulumi.log.warn(warning, resource=self)

        # Graph returns object IDs in lower case; anything else would show as a diff forever.
        owners = [owner.lower() for owner in args.owners or [tenant.deployer_object_id]]
        notes = (
            f"Managed by Pulumi project {pulumi.get_project()}, stack {pulumi.get_stack()}: "
            "Mimecast server connection (Office 365 association). Change it there, not here."
        )
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        application = azuread.Application(
            name,
            display_name=args.display_name,
            sign_in_audience=SINGLE_TENANT_AUDIENCE,
            owners=owners,
            prevent_duplicate_names=True,
            notes=notes,
            required_resource_accesses=[
                azuread.ApplicationRequiredResourceAccessArgs(
                    resource_app_id=EXCHANGE_ONLINE_APP_ID,
                    resource_accesses=[
                        azuread.ApplicationRequiredResourceAccessResourceAccessArgs(
                            id=FULL_ACCESS_AS_APP_ROLE_ID, type=APP_ROLE_TYPE
                        )
                    ],
                )
            ],
            opts=kept,
        )
        for cert in args.certificates:
            azuread.ApplicationCertificate(
                f"{name}-cert-{cert.thumbprint[:16].lower()}",
                application_id=application.id,
                type=KEY_CREDENTIAL_TYPE,
                encoding="pem",
                value=cert.pem,
                key_id=cert.key_id,
                start_date=cert.start_date,
                end_date=cert.end_date,
                # The keyId is fixed, so a replacement must remove the old credential first.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
            )
        service_principal = azuread.ServicePrincipal(
            name,
            client_id=application.client_id,
            owners=owners,
            notes=notes,
            opts=kept,
        )
        azuread.AppRoleAssignment(
            f"{name}-{FULL_ACCESS_AS_APP.replace('_', '-')}",
            app_role_id=FULL_ACCESS_AS_APP_ROLE_ID,
            principal_object_id=service_principal.object_id,
            resource_object_id=tenant.exchange_service_principal_id,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.client_id = application.client_id
        self.application_object_id = application.object_id
        self.service_principal_object_id = service_principal.object_id
        self.tenant_id = args.tenant_id
        self.tenant_domain = tenant.initial_domain
        self.certificates = certificate_summaries(args)
        self.permissions = list(PERMISSIONS)
        self.register_outputs(
            {
                "clientId": self.client_id,
                "tenantId": self.tenant_id,
                "tenantDomain": self.tenant_domain,
                "applicationObjectId": self.application_object_id,
                "servicePrincipalObjectId": self.service_principal_object_id,
                "certificates": self.certificates,
                "permissions": self.permissions,
            }
        )
