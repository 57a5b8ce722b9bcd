"""The `MimecastAssociation` component: the guide's portal steps as Pulumi resources.

Checks first (arguments, then the tenant it is signed in to), then declares: nothing is
registered, not even the component, unless every check passes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import pulumi
import pulumi_azuread as azuread

from association.adoption import Adoption
from association.adoption_checks import adopted_owner_notices
from association.certificates import Certificate
from association.clock import current_time
from association.component_args import AssociationArgs
from association.exchange_commands import exchange_commands
from association.exchange_online.declare import ExchangeTarget, declare, exchange_declarations
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
    """The application's client (app) ID: Mimecast's "Client ID" [`clientId`]."""
    application_object_id: pulumi.Output[str]
    """Object ID of the application [`applicationObjectId`]."""
    service_principal_object_id: pulumi.Output[str]
    """Object ID of its service principal (enterprise app) [`servicePrincipalObjectId`]."""
    tenant_id: str
    """The tenant the association is in [`tenantId`]."""
    tenant_domain: str
    """The initial *.onmicrosoft.com domain: Mimecast's "Tenant Domain" [`tenantDomain`]."""
    certificates: list[dict[str, str | bool]]
    """Per certificate: customKeyIdentifier (the SHA-1 thumbprint in base64, as the manifest
    shows it), thumbprint (the same in hex, as the portal shows it), keyId, notBefore, notAfter,
    subject, to compare with Mimecast's console and the app's manifest, and `managed` (false: a
    credential made by hand that the stack leaves as it is) [`certificates`]."""
    owners: list[str]
    """Object IDs of the application's and service principal's owners: `owners`, or the
    deploying identity when it is unset; the audit compares the live owners with it
    [`owners`]."""
    permissions: list[str]
    """What the stack grants, in words [`permissions`]."""
    exchange_online: pulumi.Output[dict[str, str]]
    """Ready-to-paste Exchange Online PowerShell with the real client ID: ewsAllowList,
    ewsCheck, retire, and with mailbox scoping scope and scopeCheck; e.g. `pulumi stack output
    exchangeOnline --json | jq -r .ewsAllowList` [`exchangeOnline`]."""

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
        tenant = inspect_tenant(args.tenant_id, lookups, args.adopt, args.owners or ())

        super().__init__(COMPONENT_TYPE, name, None, opts)
        # Graph returns object IDs in lower case; anything else would show as a diff forever.
        owners = [owner.lower() for owner in args.owners or [tenant.deployer_object_id]]
        for notice in [
            *args.warnings(now),
            *owner_notices(args.owners, tenant.deployer_object_id),
            *adopted_owner_notices(args.adopt, owners, tenant.adopted_owners),
        ]:
            warn(notice, resource=self)

        notes = (
            f"Managed by Pulumi project {pulumi.get_project()}, stack {pulumi.get_stack()}: "
            "Mimecast server connection (Office 365 association). Change it there, not here."
        )
        adopt = args.adopt
        application = azuread.Application(
            name,
            display_name=args.display_name,
            sign_in_audience=SINGLE_TENANT_AUDIENCE,
            owners=owners,
            # The provider checks the name on create and again on every update (its
            # applicationResourceUpdate): an adopted application is never created, so the check
            # would only break every update once another app takes the same name.
            prevent_duplicate_names=adopt is None,
            notes=notes,
            # With scoping enforced the app requests nothing in Entra, so nobody can grant the
            # tenant-wide consent again with one click in the portal.
            required_resource_accesses=[EXCHANGE_FULL_ACCESS] if args.consent_declared else [],
            opts=self._options(args, adopt.application_import() if adopt else None),
        )
        for cert in args.certificates:
            if adopt is not None and adopt.hand_made(cert) is not None:
                continue  # on the application already, made by hand: left as it is
            azuread.ApplicationCertificate(
                f"{name}-cert-{cert.thumbprint[:16].lower()}",
                application_id=application.id,
                type=KEY_CREDENTIAL_TYPE,
                encoding="pem",
                value=cert.pem,
                key_id=cert.key_id,
                start_date=cert.start_date,
                end_date=cert.end_date,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    # The keyId is fixed, so a replacement must remove the old credential first.
                    delete_before_replace=True,
                ),
            )
        service_principal = azuread.ServicePrincipal(
            name,
            client_id=application.client_id,
            owners=owners,
            notes=notes,
            opts=self._options(args, adopt.service_principal_import() if adopt else None),
        )
        exchange = tenant.exchange_service_principal_id
        # With scoping enforced, an adopted consent is still declared until `adopt.removeConsent`:
        # never removed before it is in state, never said to be gone while it exists.
        if args.consent_declared:
            azuread.AppRoleAssignment(
                f"{name}-{FULL_ACCESS_AS_APP.replace('_', '-')}",
                app_role_id=FULL_ACCESS_AS_APP_ROLE_ID,
                principal_object_id=service_principal.object_id,
                resource_object_id=exchange,
                opts=pulumi.ResourceOptions(
                    parent=self, import_=adopt.assignment_import(exchange) if adopt else None
                ),
            )

        if args.exchange.manage:
            self._exchange(args, application, service_principal, now)

        self.client_id = application.client_id
        self.application_object_id = application.object_id
        self.service_principal_object_id = service_principal.object_id
        self.tenant_id = args.tenant_id
        self.tenant_domain = tenant.initial_domain
        self.certificates = [certificate_output(cert, adopt) for cert in args.certificates]
        self.owners = owners
        self.permissions = permissions(args)
        self.exchange_online = pulumi.Output.all(
            application.client_id, service_principal.object_id
        ).apply(
            lambda ids: exchange_commands(
                ids[0], ids[1], args.display_name, pulumi.get_stack(), args.mailbox_scope
            )
        )
        self.register_outputs(
            {
                "clientId": self.client_id,
                "tenantId": self.tenant_id,
                "tenantDomain": self.tenant_domain,
                "applicationObjectId": self.application_object_id,
                "servicePrincipalObjectId": self.service_principal_object_id,
                "certificates": self.certificates,
                "owners": self.owners,
                "permissions": self.permissions,
                "exchangeOnline": self.exchange_online,
            }
        )

    def _exchange(
        self,
        args: AssociationArgs,
        application: azuread.Application,
        service_principal: azuread.ServicePrincipal,
        now: datetime,
    ) -> None:
        """The Exchange Online side (`exchange.manage`), after the service principal it names.

        With `mailboxScope.enforce` the consent is no longer declared, and the engine deletes a
        resource that left the program only after the program ended and every registration of
        the run was applied, so the scope and its role assignment exist before the consent goes
        (pulumi/pulumi pkg/resource/deploy/deployment_executor.go: `Execute` calls
        `performPostSteps`, and so `GenerateDeletes`, once the source sent its last event; the
        program ends only when each RegisterResource has answered, source_eval.go).
        """
        target = ExchangeTarget(
            args.tenant_id,
            client_id=application.client_id,
            service_principal_object_id=service_principal.object_id,
            display_name=args.display_name,
            stack=pulumi.get_stack(),
            scope=args.mailbox_scope,
            cloud=args.exchange.cloud,
            allow_after_ews_shutdown=args.allow_after_ews_shutdown,
            change_other_apps=args.exchange.change_other_apps,
        )
        declare(
            exchange_declarations(target, now),
            pulumi.ResourceOptions(parent=self, depends_on=[service_principal]),
        )

    def _options(self, args: AssociationArgs, import_id: str | None) -> pulumi.ResourceOptions:
        """The application and service principal: protected, and imported when adopted.

        Kept in the tenant whenever the engine deletes them while protected, and always when
        adopted: setting or changing an `adopt` ID is an import replacement, whose delete step
        skips `protect` but honours `retain_on_delete` (pulumi/pulumi
        pkg/resource/deploy/step.go, DeleteStep.Apply) as the OLD state has it
        (step_generator.go, `isImport` and NewImportReplacementStep). A changed option alone is
        a same step whose new state the snapshot writes (pkg/backend/snapshot.go,
        sameSnapshotMutation.mustWrite: "because of RetainOnDelete"), so any `up` with this
        program records it before a later `adopt` change needs it.
        """
        return pulumi.ResourceOptions(
            parent=self,
            protect=args.protect,
            import_=import_id,
            retain_on_delete=True if args.protect or import_id else None,
        )


def certificate_output(cert: Certificate, adopt: Adoption | None) -> dict[str, str | bool]:
    """The stack output's entry: a hand-made credential with its own keyId, marked as such."""
    hand_made = adopt.hand_made(cert) if adopt else None
    summary = cert.summary().output()
    if hand_made is None:
        return {**summary, "managed": True}
    return {**summary, "keyId": hand_made, "managed": False}


def permissions(args: AssociationArgs) -> list[str]:
    """What the stack grants, in words, for the stack output `permissions`."""
    if args.tenant_wide_consent:
        return list(PERMISSIONS)
    assert args.mailbox_scope is not None
    made_by = "declared by this stack, exchange.manage" if args.exchange.manage else None
    scoped = (
        "Exchange Online's RBAC for Applications grants Application EWS.AccessAsApp on the "
        f"mailboxes of {args.mailbox_scope.group} ({made_by or 'exchangeOnline.scope'})."
    )
    if args.consent_declared:
        return [
            f"{PERMISSIONS[0]}: STILL GRANTED, adopted from the hand-made app; set "
            "adopt.removeConsent true and run pulumi up to delete it. Then: " + scoped
        ]
    removed = (
        " The adopted consent is deleted by this stack once imported (adopt.removeConsent)."
        if args.adopt is not None
        else ""
    )
    return [
        f"No permission granted in Entra ID by this stack (mailboxScope.enforce): {scoped}"
        + removed
    ]


EXCHANGE_FULL_ACCESS: Final = azuread.ApplicationRequiredResourceAccessArgs(
    resource_app_id=EXCHANGE_ONLINE_APP_ID,
    resource_accesses=[
        azuread.ApplicationRequiredResourceAccessResourceAccessArgs(
            id=FULL_ACCESS_AS_APP_ROLE_ID, type=APP_ROLE_TYPE
        )
    ],
)
"""Office 365 Exchange Online / full_access_as_app, as an application permission (a Role)."""
