"""A run of the program turned into a plan: unknowns marked, certificate bodies cut to thumbprints.

Preflight invents no value. What only a deploy creates is `(created at deploy)`; what only
the tenant answers is `(looked up in the tenant at deploy: ...)`; when the only errors are
certificates, the plan "once they are replaced" is worked out with a throwaway stand-in and
every value derived from it is marked as coming from the replacement.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from association.certificates import Certificate, parse_certificate
from association.problems import Notice
from association_tools.offline import (
    KNOWN_AFTER_DEPLOY,
    DeclaredResource,
    Directory,
    DynamicProvider,
    ProgramRun,
)
from association_tools.preflight.report import Basis, Marker, Plan, PlannedResource

CREATED_AT_DEPLOY: Final = Marker("(created at deploy)", {"unknown": "createdAtDeploy"})
READ_AT_DEPLOY: Final = Marker(
    "(read from the adopted object at deploy, or created then)", {"unknown": "readAtDeploy"}
)
"""An adopted stack's unknowns: the import reads each adopted object (its IDs are shown);
what stays unknown offline is what only the tenant holds, or what the deploy creates."""


def looked_up(what: str) -> Marker:
    return Marker(
        f"(looked up in the tenant at deploy: {what})",
        {"unknown": "lookedUpAtDeploy", "what": what},
    )


def dynamic_provider(provider: DynamicProvider) -> Marker:
    """A dynamic resource's `__provider` (a pickle in state): named by its class, never shown."""
    return Marker(repr(provider), {"dynamicProvider": provider.path})


def pem_certificate(thumbprint: str) -> Marker:
    return Marker(f"(PEM certificate, thumbprint {thumbprint})", {"pemCertificate": thumbprint})


def from_replacement(entry: str, what: str) -> Marker:
    return Marker(
        f"(from the new {entry}: {what})",
        {
            "unknown": "replacementCertificate",
            "what": f"{what} of the certificate replacing {entry}",
        },
    )


DEPLOYER: Final = "<object ID of the identity that runs pulumi up>"
EXCHANGE: Final = "<object ID of Office 365 Exchange Online's service principal>"
DOMAIN: Final = "<the tenant's initial *.onmicrosoft.com domain>"
LOOKUPS: Final = {
    text.lower(): looked_up(text.strip("<>")) for text in (DEPLOYER, EXCHANGE, DOMAIN)
}
"""What the tenant lookups answer offline: placeholders that the plan turns into markers (in
lower case: the program lower-cases object IDs, as Graph returns them)."""


def offline_directory(tenant_id: str) -> Directory:
    """The tenant as preflight answers for it: the configured tenant, everything else unknown."""
    return Directory(tenant_id, DEPLOYER, EXCHANGE, DOMAIN)


Masks = Mapping[str, Marker | str]
"""Text of a stand-in certificate -> what to show instead (a marker for a whole value, a
name for a part of one, e.g. the thumbprint inside a resource name)."""


def plan_of(
    run: ProgramRun,
    basis: Basis,
    description: str,
    masks: Masks | None = None,
    unknown: Marker = CREATED_AT_DEPLOY,
) -> Plan:
    """The run's resources (parents first) and outputs, as a reader may see them."""
    present = partial(_present, masks=masks or {}, unknown=unknown)
    resources = [
        PlannedResource(
            resource.type,
            present(resource.name),
            present(resource.urn),
            present(resource.parent),
            resource.protect,
            resource.delete_before_replace,
            resource.import_id or None,
            resource.retain_on_delete,
            present(resource.inputs),
        )
        for resource in _tree_order(run.resources)
    ]
    outputs = {name: present(value) for name, value in run.outputs.items()}
    return Plan(basis, description, tuple(resources), outputs)


def deployer_unknown(notice: Notice) -> bool:
    """The owners notice fires offline only because the deployer is a placeholder."""
    return notice.code == "deployer-not-owner"


def _tree_order(resources: Sequence[DeclaredResource]) -> list[DeclaredResource]:
    """Parents before children, siblings by type and name: registration order is asynchronous,
    and a plan that reorders itself between runs would make reviewers hunt for changes."""
    urns = {resource.urn for resource in resources}
    ordered: list[DeclaredResource] = []

    def visit(parent: str | None) -> None:
        children = [r for r in resources if (r.parent if r.parent in urns else None) == parent]
        for child in sorted(children, key=lambda r: (r.type, r.name)):
            ordered.append(child)
            visit(child.urn)

    visit(None)
    return ordered


def _present(value: Any, masks: Masks, unknown: Marker) -> Any:
    """A value as preflight shows it: unknowns marked, certificate bodies cut to thumbprints."""
    if value is KNOWN_AFTER_DEPLOY:
        return unknown
    if isinstance(value, DynamicProvider):
        return dynamic_provider(value)
    if isinstance(value, dict):
        return {key: _present(value[key], masks, unknown) for key in sorted(value)}
    if isinstance(value, list):
        return [_present(item, masks, unknown) for item in value]
    if not isinstance(value, str):
        return value
    whole = masks.get(value) or LOOKUPS.get(value.lower())
    if isinstance(whole, Marker):
        return whole
    if "-----BEGIN CERTIFICATE-----" in value:
        return pem_certificate(parse_certificate(value.encode("ascii"), "an input").thumbprint)
    for part, name in masks.items():
        if isinstance(name, str):
            value = value.replace(part, name)
    return value


STAND_IN_TENANT: Final = str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:mimecast-association:tenant"))
"""Runs the program in place of the example's placeholder tenant; never shown as itself."""

TENANT_SET: Final = Marker(
    "(the tenant ID you set in azuread:tenantId)",
    {"unknown": "replacementTenant", "what": "the tenant ID set in azuread:tenantId"},
)


def stand_in_masks(
    stand_ins: Mapping[int, Certificate], tenant: bool = False
) -> dict[str, Marker | str]:
    """Every value a stand-in puts into a plan, and what to show instead."""
    masks: dict[str, Marker | str] = {STAND_IN_TENANT: TENANT_SET} if tenant else {}
    for index, cert in stand_ins.items():
        entry = f"certificates[{index}]"
        masks[cert.thumbprint[:16].lower()] = f"<{entry} replacement>"
        for what, value in {"PEM body": cert.pem, **cert.summary().output()}.items():
            masks[value] = from_replacement(entry, what)
    return masks


@cache
def _stand_in_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def stand_in(index: int, now: datetime) -> Certificate:
    """A throwaway certificate valid at `now`, only to let the program declare; always masked."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"replacement {index}")])
    key = _stand_in_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(index + 1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(datetime(9999, 12, 31, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return parse_certificate(cert.public_bytes(Encoding.PEM), f"replacement {index}")
