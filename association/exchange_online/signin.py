"""Sign in to Exchange Online as the azuread provider does in the same run, at operation time.

The dynamic provider is pickled into the stack's state, so it holds no credential: each
operation builds one from the environment the Pulumi CLI hands its plugins. The same
variables pulumi-azuread reads (pulumi/pulumi-azuread provider/resources.go): `ARM_USE_OIDC`
with `ARM_CLIENT_ID` and one of `ARM_OIDC_TOKEN`, `ARM_OIDC_TOKEN_FILE_PATH`,
`ARM_OIDC_REQUEST_TOKEN`/`_URL` (GitHub: `ACTIONS_ID_TOKEN_REQUEST_*`); otherwise the Azure
CLI (`az login`). Secrets, certificates and managed identities are refused rather than
guessed at: the project's pipelines sign in with OIDC only.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from association.exchange_online.endpoint import NoRedirects
from association.exchange_online.errors import ExchangeError
from association.text import visible

FEDERATION_AUDIENCE: Final = "api://AzureADTokenExchange"
MAX_ID_TOKEN: Final = 64 * 1024
UNSUPPORTED: Final = (
    "ARM_CLIENT_SECRET",
    "ARM_CLIENT_CERTIFICATE_PATH",
    "ARM_USE_MSI",
)


def _request_id_token(url: str, bearer: str) -> str:
    """GitHub's OIDC token for Entra's federation audience (the request URL's own host only)."""
    if urlsplit(url).scheme != "https":
        raise ExchangeError("ARM_OIDC_REQUEST_URL must be an https URL")
    separator = "&" if "?" in url else "?"
    request = urllib.request.Request(
        f"{url}{separator}audience={FEDERATION_AUDIENCE}",
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(NoRedirects())
    try:
        with opener.open(request, timeout=30) as answer:
            document = json.loads(answer.read(MAX_ID_TOKEN + 1)[:MAX_ID_TOKEN])
    except (OSError, ValueError) as error:
        raise ExchangeError(
            f"cannot get the pipeline's OIDC token: {visible(str(error))}"
        ) from None
    value = document.get("value") if isinstance(document, dict) else None
    if not isinstance(value, str) or not value:
        raise ExchangeError("the pipeline's OIDC token request answered without a token")
    return value


def assertion_source(env: Mapping[str, str]) -> Callable[[], str] | None:
    """Where the pipeline's federated token comes from, read anew at each sign-in (GitHub's
    and Azure DevOps' tokens live minutes); None when the run does not use OIDC."""
    if env.get("ARM_USE_OIDC", "").lower() != "true":
        return None
    token = env.get("ARM_OIDC_TOKEN", "")
    path = env.get("ARM_OIDC_TOKEN_FILE_PATH", "")
    url = env.get("ARM_OIDC_REQUEST_URL") or env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
    bearer = env.get("ARM_OIDC_REQUEST_TOKEN") or env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
    if token:
        return lambda: token
    if path:

        def from_file() -> str:  # read at each sign-in: the runner rewrites the file
            return Path(path).read_text(encoding="utf-8")[:MAX_ID_TOKEN].strip()

        return from_file
    if url and bearer:
        return lambda: _request_id_token(url, bearer)
    raise ExchangeError(
        "ARM_USE_OIDC is true but no OIDC token is available: set ARM_OIDC_TOKEN, "
        "ARM_OIDC_TOKEN_FILE_PATH, or ARM_OIDC_REQUEST_TOKEN and ARM_OIDC_REQUEST_URL"
    )


class AzureTokens:
    """One token per tenant from the run's own identity, signed in when first asked for."""

    def __init__(self, authority: str, env: Mapping[str, str] | None = None) -> None:
        self.authority = authority
        self._env = env
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AzureTokens(authority={self.authority!r})"

    def token(self, tenant_id: str, scope: str) -> str:
        with self._lock:
            if tenant_id not in self._cache:
                self._cache[tenant_id] = self._sign_in(tenant_id, scope)
            return self._cache[tenant_id]

    def _sign_in(self, tenant_id: str, scope: str) -> str:
        env = os.environ if self._env is None else self._env
        found = [name for name in UNSUPPORTED if env.get(name)]
        if found:
            raise ExchangeError(
                f"{', '.join(found)} is set: the Exchange Online side signs in only with OIDC "
                "(ARM_USE_OIDC=true) or the Azure CLI (`az login`), as the project's pipelines do"
            )
        try:  # imported here: `pulumi up` without `exchange.manage` never needs it
            from azure.core.exceptions import ClientAuthenticationError  # noqa: PLC0415
            from azure.identity import AzureCliCredential, ClientAssertionCredential  # noqa: PLC0415
        except ImportError:
            raise ExchangeError(
                "signing in to Exchange Online needs azure-identity: `venv/bin/pip install -r "
                "requirements.txt`"
            ) from None
        assertion = assertion_source(env)
        credential: Any
        if assertion is not None:
            client_id = env.get("ARM_CLIENT_ID", "")
            if not client_id:
                raise ExchangeError("ARM_USE_OIDC is true but ARM_CLIENT_ID is empty")
            credential = ClientAssertionCredential(
                tenant_id, client_id, assertion, authority=self.authority
            )
        else:
            credential = AzureCliCredential(tenant_id=tenant_id)
        try:
            return str(credential.get_token(scope, tenant_id=tenant_id).token)
        except ClientAuthenticationError as error:
            message = visible(" ".join(str(error).split()))[:400]
            raise ExchangeError(f"sign-in to tenant {tenant_id} failed: {message}") from None


_SHARED: dict[str, AzureTokens] = {}
_SHARED_LOCK = threading.Lock()


def shared_tokens(authority: str) -> AzureTokens:
    """The dynamic provider host's one `AzureTokens` per authority: one sign-in per tenant for
    all the run's Exchange resources, never pickled (module state, not provider state)."""
    with _SHARED_LOCK:
        return _SHARED.setdefault(authority, AzureTokens(authority))
