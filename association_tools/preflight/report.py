"""What preflight finds out about a stack, as data the renderers show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, Literal

from association.certificates import Certificate, rfc3339
from association.ews import EWS_CODES
from association.identifiers import NAMESPACE
from association.problems import Notice, Problem

Status = Literal["ok", "warnings", "errors"]
FLEET_WIDE_CODES: Final = frozenset({*EWS_CODES, "ews-allow-list-manual"})
"""Notices that say the same on every stack they reach: the dates of EWS's end
(`association.ews`) and the allow-list step of an unmanaged tenant
(`association.exchange_setting.exchange_notices`)."""
Basis = Literal["configuration", "replacementCertificates", "replacementTenant"]


def header(now: datetime) -> str:
    """The first line of every report: what this check is, and what it is not."""
    return (
        f"{NAMESPACE} preflight, offline: no network connection, no credentials, no Pulumi CLI. "
        f"Certificates judged at {rfc3339(now)}. Tenant lookups are not made: assumes you sign "
        "in to each stack's configured tenant."
    )


@dataclass(frozen=True)
class Marker:
    """Stands where a real value would be: unknown offline, or shortened. Never a made-up value."""

    text: str
    json: Mapping[str, str]

    def json_value(self) -> Mapping[str, str]:
        return self.json


@dataclass(frozen=True)
class CertificateReport:
    """One certificate as an administrator compares it with Mimecast's console."""

    source: str
    thumbprint: str
    custom_key_identifier: str
    key_id: str
    subject: str
    not_before: str
    not_after: str
    days_left: int
    managed: bool = True
    """False: a key credential made by hand (`adopt.keyIds`) that the stack leaves as it is."""

    @classmethod
    def of(
        cls, cert: Certificate, now: datetime, hand_made: str | None = None
    ) -> CertificateReport:
        """`hand_made`: the keyId the credential made by hand has, if it is one."""
        summary = cert.summary()
        return cls(
            cert.source,
            summary.thumbprint,
            summary.custom_key_identifier,
            hand_made or summary.key_id,
            summary.subject,
            summary.not_before,
            summary.not_after,
            cert.days_left(now),
            hand_made is None,
        )


@dataclass(frozen=True)
class PlannedResource:
    """A declared resource as the plan shows it: values preflight cannot know are markers."""

    type: str
    name: str
    urn: str
    parent: str
    protect: bool
    delete_before_replace: bool
    import_id: str | None
    """Adopted (`pulumi up` imports this existing object) rather than created."""
    retain_on_delete: bool
    """Kept in the tenant whenever the engine deletes it (protected or adopted objects)."""
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """What the program declares and exports; `basis` says under which configuration."""

    basis: Basis
    description: str
    resources: tuple[PlannedResource, ...]
    outputs: Mapping[str, Any]


@dataclass(frozen=True)
class StackReport:
    """Everything preflight found out about one stack."""

    JSON_PROPERTIES: ClassVar = ("status", "own_status")

    stack: str
    file: str
    tenant_id: str | None
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Notice, ...] = ()
    notes: tuple[Notice, ...] = ()
    """What a reader should know that is no warning (the stack's status is not changed)."""
    certificates: tuple[CertificateReport, ...] = ()
    plan: Plan | None = None
    exchange_online: Mapping[str, str] | None = None
    """The Exchange Online PowerShell the stack exports, placeholders where deploy decides."""

    @property
    def status(self) -> Status:
        """Every warning counts, the fleet-wide notices too: the JSON's `status` as it always
        was, so no consumer's filter changes meaning (`own_status` leaves them out)."""
        return "errors" if self.errors else "warnings" if self.warnings else "ok"

    @property
    def own_warnings(self) -> tuple[Notice, ...]:
        """The warnings that set this stack apart: all but the fleet-wide notices."""
        return tuple(notice for notice in self.warnings if notice.code not in FLEET_WIDE_CODES)

    @property
    def own_status(self) -> Status:
        """The status leaving out the fleet-wide notices: what a reader must act on."""
        return "errors" if self.errors else "warnings" if self.own_warnings else "ok"


RANK: Final[Mapping[Status, int]] = {"errors": 0, "warnings": 1, "ok": 2}
"""Stacks with errors first: they are what a reader must act on."""
