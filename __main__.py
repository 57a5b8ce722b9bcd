"""Mimecast Office 365 association for one tenant: stack settings in, one component, outputs out."""

from pathlib import Path

import pulumi

from association import MimecastAssociation
from association.stack import load_stack_settings

association = MimecastAssociation("mimecast", load_stack_settings(Path(__file__).parent))

pulumi.export("clientId", association.client_id)
pulumi.export("tenantId", association.tenant_id)
pulumi.export("tenantDomain", association.tenant_domain)
pulumi.export("applicationObjectId", association.application_object_id)
pulumi.export("servicePrincipalObjectId", association.service_principal_object_id)
pulumi.export("certificates", association.certificates)
pulumi.export("owners", association.owners)
pulumi.export("permissions", association.permissions)
pulumi.export("exchangeOnline", association.exchange_online)
