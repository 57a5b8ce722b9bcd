"""The tests' tenant: its identifiers, how it answers lookups, and a copy of the program.

The Microsoft identifiers are written out here rather than imported from `association`,
so a wrong constant in the package fails the tests instead of agreeing with them.
"""

from __future__ import annotations

import base64
import shutil
import uuid
from pathlib import Path

from certfactory import pem
from cryptography import x509

from association_tools.offline import Directory

PROJECT = Path(__file__).resolve().parent.parent
TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
DEPLOYER = "aaaaaaaa-0000-0000-0000-000000000001"
"""The pipeline identity's service principal, which deploys the tests' stacks (app-only)."""
PIPELINE_APP = "cccccccc-0000-4000-8000-000000000003"
"""Its application's client ID: what it signs in with."""
EXCHANGE_SP = "bbbbbbbb-0000-0000-0000-000000000002"
EXCHANGE_APP = "00000002-0000-0ff1-ce00-000000000000"
FULL_ACCESS = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
HAND_MADE_APP = "12345678-aaaa-4bbb-8ccc-000000000001"
"""The application an admin made by hand from Mimecast's guide, which the tests adopt."""
DOCUMENTED_APP = "3f2a6c1e-8b4d-4e21-9c57-0a1b2c3d4e5f"
"""The hand-made application of the docs' adoption example (README, docs/adoption.md)."""
EXCHANGE_TEST_APP = "12345678-1234-4234-8234-123456789012"
"""The hand-made application the Exchange tests adopt."""
TENANT_DIRECTORY = Directory(
    TENANT,
    DEPLOYER,
    EXCHANGE_SP,
    "contoso.onmicrosoft.com",
    deployer_client_id=PIPELINE_APP,
    app_only=True,
    # The adoption recipe's owner step ran: the pipeline identity owns each hand-made app.
    applications={app: (DEPLOYER,) for app in (HAND_MADE_APP, DOCUMENTED_APP, EXCHANGE_TEST_APP)},
)

APPLICATION = "azuread:index/application:Application"
CERTIFICATE = "azuread:index/applicationCertificate:ApplicationCertificate"
SERVICE_PRINCIPAL = "azuread:index/servicePrincipal:ServicePrincipal"
ASSIGNMENT = "azuread:index/appRoleAssignment:AppRoleAssignment"
COMPONENT = "mimecast:index:Association"


def copy_program(directory: Path) -> Path:
    """`__main__.py` and `Pulumi.yaml` in `directory`, as a user's clone has them."""
    shutil.copy(PROJECT / "__main__.py", directory)
    shutil.copy(PROJECT / "Pulumi.yaml", directory)
    return directory


def program_with_certificates(directory: Path, **certificates: x509.Certificate) -> Path:
    """A copy of the program with these certificates in its certs/, as `<name>.pem`."""
    copy_program(directory)
    (directory / "certs").mkdir()
    for name, certificate in certificates.items():
        (directory / "certs" / f"{name}.pem").write_bytes(pem(certificate))
    return directory


def assignment_id(principal: str, tail: bytes = bytes(range(16))) -> str:
    """An app role assignment id as Graph issues it: base64url of the assigned principal's
    object ID (16 bytes, little-endian as .NET writes a GUID) and 16 more bytes."""
    raw = uuid.UUID(principal).bytes_le + tail
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
