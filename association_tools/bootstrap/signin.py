"""The administrator's tokens, one per tenant: from `--token-env`, or one interactive sign-in.

Interactive (a browser, or `--device-code`) with azure-identity, signed in once at the home
tenant (`--home-tenant`, a partner's for GDAP; default any) and then asked for a token per
customer tenant (`additionally_allowed_tenants=["*"]`: azure-identity redeems its cached sign-in
at that tenant's authority, and prompts again only when it cannot). One credential serves
Graph and Exchange Online. `--token-env VAR` takes one token for every tenant or a JSON object
of tenant ID to token (scripts that fetched their own, and the tests). No token is printed or
kept in a `repr`.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from association_tools.audit.graph import GraphError
from association_tools.audit.signin import Credential, SignedIn
from association_tools.cli import UsageError
from association_tools.safe_read import InputError, load_json

TokenSource = Callable[[str], str]


def sign_in(
    variable: str | None, flag: str, credential: Callable[[], Credential], scope: str
) -> TokenSource:
    """Tokens for `scope`, per tenant, from `variable` or `credential` (made on first use)."""
    if variable is not None:
        return from_environment(variable, flag)
    signed_in: list[SignedIn] = []
    lock = threading.Lock()

    def token(tenant: str) -> str:
        with lock:  # tenants run in parallel: one credential, one sign-in prompt
            if not signed_in:
                signed_in.append(SignedIn(credential(), scope))
        return signed_in[0](tenant)

    return token


def from_environment(variable: str, flag: str) -> TokenSource:
    """One token, or `{"<tenant ID>": "<token>", ...}`; UsageError when unusable."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise UsageError(f"{flag} {variable}: the environment variable is empty or unset")
    if not value.startswith("{"):
        if any(char.isspace() or not char.isprintable() for char in value):
            raise UsageError(f"{flag} {variable}: the token holds a space or a line break")
        return lambda tenant: value
    try:
        tokens: Any = load_json(value.encode(), f"{flag} {variable}", max_depth=2)
    except InputError as error:
        raise UsageError(str(error)) from None
    if not isinstance(tokens, dict) or not all(isinstance(t, str) for t in tokens.values()):
        raise UsageError(
            f"{flag} {variable}: give one token or a JSON object of tenant ID to token"
        )
    by_tenant: dict[str, str] = {str(t).lower(): str(token) for t, token in tokens.items()}

    def token(tenant: str) -> str:
        if tenant not in by_tenant:
            raise GraphError(f"{flag} {variable} holds no token for tenant {tenant}")
        return by_tenant[tenant]

    return token


def interactive(args: argparse.Namespace, authority: str | None) -> Callable[[], Credential]:
    """The administrator's sign-in, made once, on first use."""

    lock = threading.Lock()

    def credential() -> Credential:
        with lock:  # Graph's and Exchange's tokens, from several threads: one sign-in
            return made()

    @cache
    def made() -> Credential:
        if authority is None:
            raise UsageError(
                "no Entra ID authority signs in for this --graph-endpoint: pass --token-env VAR"
            )
        try:  # imported only here: a run with --token-env needs no azure-identity
            from azure.identity import (  # noqa: PLC0415
                DeviceCodeCredential,
                InteractiveBrowserCredential,
            )
        except ImportError:
            raise UsageError(
                "signing in needs azure-identity (`venv/bin/pip install -r requirements.txt`), "
                "or pass --token-env VAR"
            ) from None
        options: dict[str, Any] = {
            "authority": f"https://{authority}",
            "tenant_id": args.home_tenant or "organizations",
            "additionally_allowed_tenants": ["*"],
        }
        if args.client_id:
            options["client_id"] = args.client_id
        kind = DeviceCodeCredential if args.device_code else InteractiveBrowserCredential
        signed: Credential = kind(**options)
        return signed

    return credential
