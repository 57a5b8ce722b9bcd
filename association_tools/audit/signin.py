"""Bearer tokens for Graph and Exchange Online, one per tenant and service: from
`--token-env` / `--exchange-token-env`, or signed in by azure-identity.

A pipeline signs in with a federated token that lives 5-10 minutes (GitHub's OIDC token,
Azure DevOps' id token): a tenant reached after it expired would fail with AADSTS700024. So
every tenant's token is taken up front, in parallel, before the first tenant is audited; a
token about to expire (`REFRESH_MARGIN`) is asked for again, which azure-identity answers from
its cache or a refresh. The authority is the endpoint's cloud (`Endpoint.authority` for
Graph, the product's `endpoint.CLOUDS` for Exchange): azure-identity signs in at
login.microsoftonline.com unless told. No token is ever printed or
kept in a `repr`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from association.exchange_online.endpoint import CLOUDS, cloud_of
from association_tools.audit.transport import Endpoint, GraphError
from association_tools.cli import UsageError
from association_tools.project import one_line

REFRESH_MARGIN: Final = 300.0
"""Seconds before expiry at which a token is asked for again."""

TokenSource = Callable[[str], str]
"""Tenant ID -> bearer token for Microsoft Graph in that tenant; GraphError if none."""


class Credential(Protocol):
    """What the audit needs of an azure-identity credential."""

    def get_token(self, *scopes: str, tenant_id: str | None = None) -> Any: ...


def from_environment(variable: str, flag: str = "--token-env") -> TokenSource:
    """The bearer token in `variable`, for every tenant; UsageError if it is empty."""
    token = os.environ.get(variable, "").strip()
    if not token:
        raise UsageError(f"{flag} {variable}: the environment variable is empty or unset")
    return lambda tenant: token


def token_source(
    variable: str | None,
    flag: str,
    credential: Callable[[], Credential],
    resource: str,
    tenants: Iterable[str],
    concurrency: int,
) -> TokenSource:
    """The token in `variable` (`flag` names it in an error), or `credential`'s for every
    tenant, for `resource`, taken now."""
    if variable is not None:
        return from_environment(variable, flag)
    tokens = SignedIn(credential(), f"{resource}/.default")
    tokens.take_all(tenants, concurrency)
    return tokens


def azure_identity(endpoint: Endpoint) -> Credential:
    """azure-identity's default chain, signing in at the Graph endpoint's cloud; UsageError
    when it is not installed or the endpoint is no cloud it knows."""
    if endpoint.authority is None:
        raise UsageError(
            f"--graph-endpoint {endpoint.url}: no known Entra ID authority signs in for it "
            "(graph.microsoft.com, graph.microsoft.us, dod-graph.microsoft.us, "
            "microsoftgraph.chinacloudapi.cn); pass --token-env VAR with a bearer token"
        )
    return credential_at(endpoint.authority)


def exchange_identity(endpoint: str) -> Credential:
    """The same chain, signing in at the authority of the Exchange endpoint's cloud (the
    product's `endpoint.CLOUDS`); UsageError for an endpoint of no cloud it knows."""
    cloud = cloud_of(endpoint)
    if cloud is None:
        known = ", ".join(cloud.endpoint for cloud in CLOUDS.values())
        raise UsageError(
            f"--exchange-endpoint {endpoint}: no known Entra ID authority signs in for it "
            f"({known}); pass --exchange-token-env VAR with a bearer token"
        )
    return credential_at(cloud.authority)


def credential_at(authority: str) -> Credential:
    """azure-identity's default chain at `authority`; UsageError when it is not installed."""
    try:  # imported only here: a run with --token-env needs no azure-identity installed
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415
    except ImportError:
        raise UsageError(
            "signing in needs azure-identity: `pip install -r requirements-audit.txt`, or "
            "pass --token-env VAR with a bearer token"
        ) from None
    # Azure CLI, workload identity (a federated token file), environment variables; never a
    # browser prompt from an unattended run. Any tenant: one token per stack's tenant.
    credential: Credential = DefaultAzureCredential(
        authority=f"https://{authority}",
        exclude_interactive_browser_credential=True,
        additionally_allowed_tenants=["*"],
    )
    return credential


@dataclass
class SignedIn:
    """Tokens per tenant from `credential`, taken up front and refreshed before they expire."""

    credential: Credential = field(repr=False)
    scope: str
    clock: Callable[[], float] = time.time
    _tokens: dict[str, Any] = field(default_factory=dict, repr=False)
    _errors: dict[str, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_all(self, tenants: Iterable[str], concurrency: int) -> None:
        """Sign in to every tenant now, in parallel: a failure is kept as that tenant's."""
        wanted = sorted(set(tenants))
        if wanted:
            with ThreadPoolExecutor(max_workers=min(concurrency, len(wanted))) as pool:
                list(pool.map(self._sign_in, wanted))

    def __call__(self, tenant: str) -> str:
        with self._lock:
            token = self._tokens.get(tenant)
        if token is None or token.expires_on - self.clock() < REFRESH_MARGIN:
            token = self._sign_in(tenant) or token  # a refresh that fails keeps a live token
        if token is None or token.expires_on <= self.clock():
            with self._lock:
                raise GraphError(self._errors.get(tenant, f"no token for tenant {tenant}"))
        return str(token.token)

    def _sign_in(self, tenant: str) -> Any:
        """A new token, or None with the reason kept as the tenant's error."""
        try:
            token = self.credential.get_token(self.scope, tenant_id=tenant)
        except Exception as error:  # any failure is that tenant's, not the whole run's
            message = f"sign-in to tenant {tenant} failed: {one_line(error)}"
            with self._lock:
                self._errors[tenant] = message
            return None
        with self._lock:
            self._tokens[tenant] = token
        return token
