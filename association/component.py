"""The `MimecastAssociation` component: the guide's portal steps as Pulumi resources.

Checks first (arguments, then the tenant it is signed in to), then declares: nothing is
registered, not even the component, unless every check passes.
"""

from __future__ import annotations

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
from association.refusal import Refusal, warn
from association.tenant import inspect_tenant, owner_notices

COMPONENT_TYPE = "mimecast:index:Association"

PERMISSIONS = (
    f"{EXCHANGE_ONLINE_DISPLAY_NAME} / {FULL_ACCESS_AS_APP} (application permission, admin "
    "consent granted): Use Exchange Web Services with full access to all mailboxes",
)


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
            raise Refusal(problems)
        # Lookups go through the provider the component's resources will use.
        lookups = pulumi.InvokeOptions(
            parent=opts.parent if opts is not None else None,
            provider=opts.provider if opts is not None else None,
        )
        tenant = inspect_tenant(args.tenant_id, lookups)

        super().__init__(COMPONENT_TYPE, name, None, opts)
        for notice in args.warnings(now) + owner_notices(args.owners, tenant.deployer_object_id):
            warn(notice, resource=self)

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
        self.certificates = [cert.summary().output() for cert in args.certificates]
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
