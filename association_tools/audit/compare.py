"""The live app and service principal against the stack's declaration: findings, each rated.

Pure. Severity says what someone could do with what was found:
- high: read mail or take over the app (a credential, a grant, an owner nobody declared; with
  `mailboxScope.enforce`, any permission requested or granted in Entra ID);
- medium: the app is reachable or discoverable in ways nobody declared (audience, URIs,
  requested permissions, a second app of the same name);
- low: something declared is missing, which breaks Mimecast rather than exposing mail.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from association.identifiers import (
    APP_ROLE_TYPE,
    EXCHANGE_ONLINE_APP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
    SINGLE_TENANT_AUDIENCE,
)
from association.problems import Notice
from association_tools.audit.exposure import (
    SEVERITIES,
    Severity,
    application_exposure,
    principal_exposure,
)
from association_tools.audit.inputs import Declared
from association_tools.audit.tenant import Credential, LiveTenant

__all__ = ["SEVERITIES", "Finding", "Severity", "StackAudit", "compare", "exit_code"]


@dataclass(frozen=True)
class Finding:
    """One difference between the tenant and the stack; `message` names the object by its
    IDs, names and dates, never a secret (Graph returns none)."""

    severity: Severity
    target: Literal["application", "service principal", "exchange"]
    code: str
    """A stable name for the kind of finding, for filters: e.g. `password-credential`."""
    message: str


def compare(declared: Declared, live: LiveTenant) -> tuple[Finding, ...]:
    """Every finding for one stack, application first, then its service principal."""
    return (
        *_application(declared, live),
        *(Finding(s, "application", c, m) for s, c, m in application_exposure(declared, live)),
        *_service_principal(declared, live),
        *(Finding(s, "service principal", c, m) for s, c, m in principal_exposure(declared, live)),
    )


def _application(declared: Declared, live: LiveTenant) -> Iterator[Finding]:
    app = live.application

    def finding(severity: Severity, code: str, message: str) -> Finding:
        return Finding(severity, "application", code, message)

    for password in app.passwords:
        yield finding(
            "high",
            "password-credential",
            f"client secret {_credential(password)}: the stack declares none",
        )
    declared_keys = set(declared.thumbprints)
    for key in app.keys:
        thumbprint = key.thumbprint
        if thumbprint is None:
            claim = f"claims thumbprint {key.claimed_thumbprint}" if key.claimed_thumbprint else ""
            yield finding(
                "high",
                "unverifiable-certificate",
                f"certificate {_credential(key)} cannot be verified: Graph returned no "
                f"certificate in its `key`{', though it ' + claim if claim else ''}; whoever "
                "holds its private key may sign in as the app",
            )
        elif thumbprint not in declared_keys and key.key_id == declared.hand_made.get(thumbprint):
            yield finding(
                "medium",
                "hand-made-credential",
                f"certificate {_credential(key)} (thumbprint {thumbprint}) was made by hand "
                "(adopt.keyIds) and is no certificate the stack lists: once Mimecast uses the "
                "stack's certificate, delete it: `az ad app credential delete --id "
                f"{declared.outputs.application_object_id} --key-id {key.key_id}`",
            )
        elif thumbprint not in declared_keys:
            yield finding(
                "high",
                "unknown-certificate",
                f"certificate {_credential(key)} (thumbprint {thumbprint}) is not "
                "among the stack's certificates",
            )
        elif key.claimed_thumbprint and key.thumbprint and key.claimed_thumbprint != key.thumbprint:
            yield finding(
                "high",
                "disguised-certificate",
                f"certificate {_credential(key)} claims thumbprint {key.claimed_thumbprint} "
                f"(customKeyIdentifier) but is {key.thumbprint}",
            )
    live_keys = {key.thumbprint for key in app.keys}
    for thumbprint in declared.thumbprints:
        if thumbprint not in live_keys:
            yield finding(
                "low",
                "certificate-missing",
                f"the stack's certificate {thumbprint} is not on the application: Mimecast "
                "cannot sign in with it",
            )
    for federated in app.federated:
        yield finding(
            "high",
            "federated-credential",
            f"federated identity credential {federated.name!r}: issuer {federated.issuer}, "
            f"subject {federated.subject}; whoever holds such a token signs in as the app",
        )
    wanted = (EXCHANGE_ONLINE_APP_ID, FULL_ACCESS_AS_APP_ROLE_ID, APP_ROLE_TYPE)
    seen = set()
    for permission in app.permissions:
        requested = (permission.resource_app_id.lower(), permission.id.lower(), permission.type)
        seen.add(requested)
        what = f"requests {permission.type} {permission.id} of API {permission.resource_app_id}"
        if not declared.tenant_wide_consent:
            yield finding(
                "high",
                "requested-permission",
                f"{what} although mailboxScope.enforce is set: one admin consent would let the "
                "app reach every mailbox",
            )
        elif requested != wanted:
            yield finding(
                "medium",
                "requested-permission",
                f"{what}; the stack requests only Exchange Online full_access_as_app (Role)",
            )
    if declared.tenant_wide_consent and wanted not in seen:
        yield finding(
            "low", "requested-permission-missing", "no longer requests full_access_as_app"
        )
    if app.sign_in_audience != SINGLE_TENANT_AUDIENCE:
        yield finding(
            "medium",
            "sign-in-audience",
            f"signInAudience is {app.sign_in_audience or '(unset)'}, not {SINGLE_TENANT_AUDIENCE}: "
            "accounts of other tenants can sign in to it",
        )
    for platform, uri in app.redirect_uris:
        yield finding(
            "medium", "redirect-uri", f"{platform} redirect URI {uri}: the stack sets none"
        )
    for uri in app.identifier_uris:
        yield finding("medium", "identifier-uri", f"identifier URI {uri}: the stack sets none")
    yield from (finding(*owner) for owner in _owners(app.owners, declared))
    others = [(object_id, app_id) for object_id, app_id in live.namesakes if object_id != app.id]
    for object_id, app_id in others:
        yield finding(
            "medium",
            "found-twice",
            f"another application is also named {declared.display_name!r} (object {object_id}, "
            f"appId {app_id}): a look-alike, or one set up by hand and never deleted",
        )


def _service_principal(declared: Declared, live: LiveTenant) -> Iterator[Finding]:
    sp = live.service_principal

    def finding(severity: Severity, code: str, message: str) -> Finding:
        return Finding(severity, "service principal", code, message)

    for password in sp.passwords:
        yield finding("high", "password-credential", f"client secret {_credential(password)}")
    for key in sp.keys:
        yield finding("high", "key-credential", f"certificate {_credential(key)}")
    declared_found = False
    for assignment in sp.assignments:
        full_access = (
            live.exchange_id is not None
            and assignment.resource_id == live.exchange_id.lower()
            and assignment.app_role_id == FULL_ACCESS_AS_APP_ROLE_ID
        )
        if full_access and declared.tenant_wide_consent:
            declared_found = True
            continue
        role = (
            "Exchange Online full_access_as_app"
            if full_access
            else f"app role {assignment.app_role_id} of {assignment.resource_name or '(unnamed)'}"
        )
        why = (
            "the stack grants only Exchange Online full_access_as_app"
            if declared.tenant_wide_consent
            else "tenant-wide consent exists although mailboxScope.enforce is set: the app "
            "reaches every mailbox"
        )
        yield finding(
            "high",
            "app-role-assignment",
            f"holds {role} (resource {assignment.resource_id}, assignment {assignment.id}); {why}",
        )
    if declared.tenant_wide_consent and not declared_found:
        yield finding(
            "low",
            "app-role-assignment-missing",
            "does not hold Exchange Online full_access_as_app: the consent was removed",
        )
    for grant in sp.grants:
        yield finding(
            "high",
            "oauth2-permission-grant",
            f"delegated grant {grant.id}: scopes {grant.scope.strip() or '(none)'} on resource "
            f"{grant.resource_id} ({grant.consent_type or 'unknown consent'})",
        )
    if not sp.account_enabled:
        yield finding(
            "low", "account-disabled", "is disabled (accountEnabled false): Mimecast cannot sign in"
        )
    yield from (finding(*owner) for owner in _owners(sp.owners, declared))


def _owners(live: Sequence[str], declared: Declared) -> Iterator[tuple[Severity, str, str]]:
    """Owners other than the declared ones: `owners`, or with it unset the deployer the stack
    output `owners` names; with neither (outputs of an older deploy), any beyond one."""
    expected, source = declared.owners, "the stack's owners"
    if expected is None and declared.deployed_owners is not None:
        expected, source = declared.deployed_owners, "the stack output `owners` (the deployer)"
    if expected is None:
        if len(live) > 1:
            yield (
                "high",
                "owner",
                f"has {len(live)} owners ({', '.join(live)}); with `owners` unset the stack "
                "expects only the identity that deployed it",
            )
        return
    for owner in live:
        if owner not in expected:
            yield "high", "owner", f"owner {owner} is not among {source}"
    for owner in expected:
        if owner not in live:
            yield "low", "owner-missing", f"{owner}, of {source}, is not an owner"


def _credential(credential: Credential) -> str:
    name = f" {credential.display_name!r}" if credential.display_name else ""
    return (
        f"keyId {credential.key_id or '(none)'}{name}, valid {credential.start or '?'} "
        f"to {credential.end or '?'}"
    )


Status = Literal["clean", "findings", "error"]


@dataclass(frozen=True)
class StackAudit:
    """The verdict for one stack: its findings, or why it could not be audited."""

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("status",)

    stack: str
    tenant_id: str | None = None
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    requests: int = 0
    """HTTP requests sent to Graph for this stack (batches, pages and retries)."""
    exchange_requests: int | None = None
    """HTTP requests sent to Exchange Online (cmdlets, pages, retries); None: not read."""
    notes: tuple[Notice, ...] = ()
    """Caveats about the stack's settings (`Declared.notes`); they never change the status."""

    @property
    def status(self) -> Status:
        return "error" if self.error else "findings" if self.findings else "clean"


def overall_status(results: Sequence[StackAudit]) -> Status:
    """An error wins over findings, findings over clean."""
    statuses = {result.status for result in results}
    return "error" if "error" in statuses else "findings" if "findings" in statuses else "clean"


def exit_code(results: Sequence[StackAudit]) -> int:
    """1 if any stack could not be audited, else 3 if any has findings, else 0."""
    return {"error": 1, "findings": 3, "clean": 0}[overall_status(results)]
