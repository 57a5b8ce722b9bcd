"""What the program asks the tenant before declaring anything, and what it refuses.

Signed in to the wrong tenant, no Exchange Online, an unexpected role ID, an adopted application
a pipeline identity does not own, or a lookup the deploying identity may not make: each is a
`Problem` with its fix, all reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuread as azuread

from association.adoption import Adoption
from association.adoption_checks import deployer_not_owner
from association.component_args import settings_key
from association.identifiers import (
    EXCHANGE_ONLINE_APP_ID,
    EXCHANGE_ONLINE_DISPLAY_NAME,
    FULL_ACCESS_AS_APP,
    FULL_ACCESS_AS_APP_ROLE_ID,
    TENANT_KEY,
)
from association.problems import Notice, Problem
from association.refusal import Refusal


@dataclass(frozen=True)
class Tenant:
    """What the program reads from the tenant before declaring anything."""

    deployer_object_id: str
    exchange_service_principal_id: str
    initial_domain: str
    adopted_owners: tuple[str, ...] | None = None
    """The adopted application's owners (lower case), read when a pipeline identity deploys
    it; None when not read."""


def inspect_tenant(
    tenant_id: str,
    opts: pulumi.InvokeOptions,
    adopt: Adoption | None = None,
    owners: Sequence[str] = (),
) -> Tenant:
    """Refuse the wrong tenant, check Exchange Online is there with the role we grant, and that
    a pipeline identity owns the application it adopts (with `owners`: the owners it will
    have)."""
    try:
        client = azuread.get_client_config(opts=opts)
    except Exception as error:  # a failed invoke is a plain Exception with the provider's text
        raise Refusal(
            [
                Problem(
                    "deployer-unreadable",
                    None,
                    f"The deploying identity could not be read ({error}). Sign in to tenant "
                    f"{tenant_id} (`az login --tenant {tenant_id}`, or the ARM_* variables of a "
                    "pipeline identity) and run again.",
                )
            ]
        ) from None
    if client.tenant_id.lower() != tenant_id.lower():
        raise Refusal(
            [
                Problem(
                    "tenant-mismatch",
                    TENANT_KEY,
                    f"The deploying identity is signed in to tenant {client.tenant_id}, but "
                    f"azuread:tenantId is {tenant_id}. Sign in to the tenant this stack manages "
                    "(e.g. `az login --tenant <tenantId>` or ARM_TENANT_ID) or select the stack "
                    "of the tenant you are signed in to; a stack never writes into another tenant.",
                )
            ]
        )
    problems: list[Problem] = []
    exchange_id = ""
    try:
        exchange = azuread.get_service_principal(client_id=EXCHANGE_ONLINE_APP_ID, opts=opts)
    except Exception as error:
        problems.append(
            _service_principals_denied(tenant_id, error)
            if _denied(error)
            else Problem(
                "exchange-online-missing",
                None,
                f"Tenant {tenant_id} has no service principal for {EXCHANGE_ONLINE_DISPLAY_NAME} "
                f"(appId {EXCHANGE_ONLINE_APP_ID}): {error}. Mimecast's server connection needs "
                "Exchange Online in this tenant; check the tenant has an Exchange Online licence.",
            )
        )
    else:
        exchange_id = exchange.object_id
        role_id = exchange.app_role_ids.get(FULL_ACCESS_AS_APP)
        if role_id != FULL_ACCESS_AS_APP_ROLE_ID:
            problems.append(
                Problem(
                    "role-id-unexpected",
                    None,
                    f"{EXCHANGE_ONLINE_DISPLAY_NAME} in tenant {tenant_id} offers "
                    f"{FULL_ACCESS_AS_APP} as app role {role_id!r}, not the documented "
                    f"{FULL_ACCESS_AS_APP_ROLE_ID}. Nothing is granted until this is understood: "
                    "report it with the tenant's `az ad sp show --id "
                    f"{EXCHANGE_ONLINE_APP_ID}` output.",
                )
            )
    domain, problem = _initial_domain(tenant_id, opts)
    if problem is not None:
        problems.append(problem)
    adopted_owners = None
    # A preview changes nothing, and a pull request's or the nightly drift's runs as the
    # read-only identity, which owns nothing: only `pulumi up` checks.
    if adopt is not None and not pulumi.runtime.is_dry_run():
        adopted_owners, found = _adopted_owners(client, adopt, owners, tenant_id, opts)
        codes = {p.code for p in problems}
        problems += [p for p in found if p.code not in codes]  # one denial of the same lookup
    if problems:
        raise Refusal(problems)
    assert domain is not None  # a missing domain is a problem above
    return Tenant(client.object_id, exchange_id, domain, adopted_owners)


def _adopted_owners(
    client: azuread.GetClientConfigResult,
    adopt: Adoption,
    owners: Sequence[str],
    tenant_id: str,
    opts: pulumi.InvokeOptions,
) -> tuple[tuple[str, ...] | None, list[Problem]]:
    """The adopted application's owners when a pipeline identity deploys it; a problem when it
    is not one of them.

    After the import, the first `up` updates the application (notes, owners) and its service
    principal, and Application.ReadWrite.OwnedBy lets a caller change only the applications
    and service principals it owns (Graph permissions reference; application: Add owner:
    OwnedBy "will not be sufficient to add another owner"). A pipeline signs in as its own
    service principal: the one of its client ID has its object ID. A person signed in with
    `az login` is reported with the Azure CLI's client ID (terraform-provider-azuread
    internal/clients/builder.go, `Build`), whose service principal is another object, and
    their admin role may update any application: nothing to read.
    """
    try:
        own = azuread.get_service_principal(client_id=client.client_id, opts=opts)
    except Exception as error:
        if _denied(error):
            return None, [_service_principals_denied(tenant_id, error)]
        if _not_found(error):
            return None, []  # no service principal of that client ID: no app-only sign-in
        return None, [_owners_unreadable(adopt, error)]
    if own.object_id.lower() != client.object_id.lower():
        return None, []
    key = f"{settings_key('adopt')}.applicationObjectId"
    try:
        application = azuread.get_application(object_id=adopt.application_object_id, opts=opts)
    except Exception as error:
        if _denied(error):
            problem = Problem(
                "permission-applications",
                None,
                f"The deploying identity may not read applications in tenant {tenant_id} "
                f"({error}). Grant it Application.Read.All (or Directory.Read.All).",
            )
        elif _not_found(error):
            problem = Problem(
                "adopt-application-missing",
                key,
                f"{key} is {adopt.application_object_id}, but tenant {tenant_id} has no "
                "application with that object ID. If it was deleted, restore it from Entra ID's "
                "deleted applications within 30 days (`az rest --method POST --url "
                "https://graph.microsoft.com/v1.0/directory/deletedItems/"
                f"{adopt.application_object_id}/restore`); otherwise look the ID up again "
                "(docs/adoption.md#find-the-ids).",
            )
        else:
            problem = _owners_unreadable(adopt, error)
        return None, [problem]
    current = tuple(owner.lower() for owner in application.owners)
    deployer = client.object_id.lower()
    if deployer in current:
        return current, []
    return current, [deployer_not_owner(adopt, deployer, owners, current, key)]


def _service_principals_denied(tenant_id: str, error: Exception) -> Problem:
    return Problem(
        "permission-service-principals",
        None,
        f"The deploying identity may not read service principals in tenant {tenant_id} "
        f"({error}). Grant it Application.Read.All (or Directory.Read.All).",
    )


def _owners_unreadable(adopt: Adoption, error: Exception) -> Problem:
    return Problem(
        "adopt-owners-unreadable",
        None,
        "Whether the deploying identity owns the adopted application "
        f"{adopt.application_object_id} could not be read ({error}); nothing was changed. "
        "Run again; the owners it needs are in docs/adoption.md#make-the-pipeline-an-owner.",
    )


NO_DOMAINS = "no domains found"
"""What the provider raises, instead of answering an empty list, when no domain matches
(terraform-provider-azuread, domains data source)."""


def _initial_domain(
    tenant_id: str, opts: pulumi.InvokeOptions
) -> tuple[str | None, Problem | None]:
    """The tenant's *.onmicrosoft.com domain, or the problem that stands in its way."""
    try:
        domains = azuread.get_domains(only_initial=True, opts=opts).domains
    except Exception as error:
        if NO_DOMAINS not in str(error):
            return None, Problem(
                "permission-domains",
                None,
                f"The domains of tenant {tenant_id} could not be read ({error}). Grant the "
                "deploying identity Domain.Read.All (or Directory.Read.All).",
            )
        domains = []
    initial = [domain.domain_name for domain in domains if domain.initial]
    if not initial:
        return None, Problem(
            "initial-domain-missing",
            None,
            f"Tenant {tenant_id} reports no initial *.onmicrosoft.com domain, which Mimecast's "
            "form asks for; check the tenant's domains in the Entra admin center.",
        )
    return initial[0], None


def _not_found(error: Exception) -> bool:
    """The provider's data sources on a 404 or an empty search ("... was not found", "Service
    principal not found": terraform-provider-azuread application_data_source.go,
    service_principal_data_source.go)."""
    return re.search(r"not found|Request_ResourceNotFound", str(error)) is not None


def _denied(error: Exception) -> bool:
    """Graph's answer when the identity lacks a permission, as the provider passes it on."""
    return (
        re.search(r"Authorization_RequestDenied|Insufficient privileges|\b403\b", str(error))
        is not None
    )


def owner_notices(owners: Sequence[str] | None, deployer_object_id: str) -> list[Notice]:
    """A deployer left out of the owners loses access when it only has Application.*.OwnedBy."""
    if not owners or deployer_object_id.lower() in (owner.lower() for owner in owners):
        return []
    key = settings_key("owners")
    return [
        Notice(
            "deployer-not-owner",
            key,
            f"The deploying identity {deployer_object_id} is not among {key}. If it deploys "
            "with Application.ReadWrite.OwnedBy it cannot update the application after this run; "
            "add it to owners unless it holds Application.ReadWrite.All.",
        )
    ]
