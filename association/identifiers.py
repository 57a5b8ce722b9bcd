"""Microsoft and Mimecast identifiers the association depends on.

Each value is documented in Microsoft's "Authenticate an EWS application by using
OAuth" and in Mimecast's guide; the program checks the tenant's own values against
these at run time instead of trusting either blindly.
"""

from __future__ import annotations

import uuid
from typing import Final

EXCHANGE_ONLINE_APP_ID: Final = "00000002-0000-0ff1-ce00-000000000000"
"""appId of Microsoft's "Office 365 Exchange Online" application, the same in every tenant."""

EXCHANGE_ONLINE_DISPLAY_NAME: Final = "Office 365 Exchange Online"

FULL_ACCESS_AS_APP: Final = "full_access_as_app"
"""Application permission "Use Exchange Web Services with full access to all mailboxes"."""

FULL_ACCESS_AS_APP_ROLE_ID: Final = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"

APP_ROLE_TYPE: Final = "Role"
"""`type` of an application permission in requiredResourceAccess (delegated ones are `Scope`)."""

SINGLE_TENANT_AUDIENCE: Final = "AzureADMyOrg"

KEY_CREDENTIAL_TYPE: Final = "AsymmetricX509Cert"

GUIDE_CERTIFICATE_THUMBPRINT: Final = "D4DF4464B05EA92F4990DC0BAF82505FD561ADD2"
"""SHA-1 thumbprint of the certificate in the guide's keyCredentials block."""

GUIDE_KEY_ID: Final = "a2d4c31d-cca7-4262-9418-e1a9c1ee0492"
"""keyId the guide's manifest gives that certificate; kept so a hand-made app and ours agree."""

KEY_ID_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mimecast-association:key-credential")
"""Namespace of the UUIDv5 key IDs derived from other certificates' thumbprints."""

DEFAULT_DISPLAY_NAME: Final = "Mimecast Cloud Synchronization"
"""Application name the guide suggests."""

NAMESPACE: Final = "mimecast-association"
"""The project's name in Pulumi.yaml, and so the namespace of its stack settings."""

TENANT_KEY: Final = "azuread:tenantId"
"""The provider's own setting that names the tenant a stack manages."""

ROOT_STACK_TYPE: Final = "pulumi:pulumi:Stack"
"""The type of the root resource Pulumi gives every stack: no part of a child's type chain."""

NIL_GUID: Final = "00000000-0000-0000-0000-000000000000"
"""The example stack's placeholder tenant: a GUID nobody can sign in to."""


def is_guid(value: str) -> bool:
    """Entra ID object and tenant IDs are GUIDs in 8-4-4-4-12 form, either case."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def setting_key(name: str) -> str:
    """`owners` -> `mimecast-association:owners`; a key with a namespace stays as it is."""
    return name if ":" in name else f"{NAMESPACE}:{name}"
