"""Sign-in for the Exchange side: the run's own identity, one token per tenant, nothing stored.

azure-identity's credential classes are replaced by recorders (no test may reach Entra ID);
what is checked is which credential the environment leads to, with which tenant, client and
authority, and that a refusal reads as one line naming the tenant.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import azure.identity
import pytest
from azure.core.exceptions import ClientAuthenticationError

from association.exchange_online.errors import ExchangeError
from association.exchange_online.signin import AzureTokens, assertion_source

TENANT = "7d9f3f2e-4b1a-4c5e-9a8b-1c2d3e4f5a6b"
OTHER_TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SCOPE = "https://outlook.office365.com/.default"
ROOT = Path(__file__).resolve().parents[1]


class Recorded:
    """Stands in for an azure-identity credential; remembers how it was built and used."""

    made: list[Recorded] = []  # noqa: RUF012 (shared on purpose: the tests read it)
    refuse = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.scopes = args, kwargs, []
        Recorded.made.append(self)

    def get_token(self, scope: str, tenant_id: str) -> Any:
        if Recorded.refuse:
            raise ClientAuthenticationError("AADSTS700016: Application\nnot found\x1b[2J")
        self.scopes.append((scope, tenant_id))
        return type("Token", (), {"token": f"token-for-{tenant_id}"})()


@pytest.fixture(autouse=True)
def recorded(monkeypatch: pytest.MonkeyPatch) -> type[Recorded]:
    Recorded.made, Recorded.refuse = [], False
    monkeypatch.setattr(azure.identity, "ClientAssertionCredential", Recorded)
    monkeypatch.setattr(azure.identity, "AzureCliCredential", Recorded)
    return Recorded


def test_the_pipelines_oidc_token_signs_in_as_its_client() -> None:
    env = {"ARM_USE_OIDC": "true", "ARM_CLIENT_ID": "pipeline-client", "ARM_OIDC_TOKEN": "id-tok"}
    tokens = AzureTokens("login.microsoftonline.us", env)
    assert tokens.token(TENANT, SCOPE) == f"token-for-{TENANT}"
    (credential,) = Recorded.made
    tenant, client, assertion = credential.args
    assert (tenant, client, assertion()) == (TENANT, "pipeline-client", "id-tok")
    assert credential.kwargs == {"authority": "login.microsoftonline.us"}
    assert credential.scopes == [(SCOPE, TENANT)]


def test_one_sign_in_per_tenant() -> None:
    tokens = AzureTokens("login.microsoftonline.com", {})
    tokens.token(TENANT, SCOPE)
    tokens.token(TENANT, SCOPE)
    tokens.token(OTHER_TENANT, SCOPE)
    assert [c.kwargs for c in Recorded.made] == [{"tenant_id": TENANT}, {"tenant_id": OTHER_TENANT}]


def test_without_oidc_the_azure_cli_signs_in() -> None:
    AzureTokens("login.microsoftonline.com", {"ARM_USE_OIDC": "false"}).token(TENANT, SCOPE)
    (credential,) = Recorded.made
    assert credential.kwargs == {"tenant_id": TENANT}


def test_a_token_file_is_read_at_each_sign_in(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    source = assertion_source({"ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN_FILE_PATH": str(path)})
    assert source is not None
    assert source() == "first"
    path.write_text("second\n")
    assert source() == "second"


@pytest.mark.parametrize("variable", ["ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH"])
def test_other_credentials_are_refused_not_guessed_at(variable: str) -> None:
    with pytest.raises(ExchangeError, match=f"{variable} is set.*OIDC"):
        AzureTokens("login.microsoftonline.com", {variable: "x"}).token(TENANT, SCOPE)
    assert Recorded.made == []


def test_oidc_without_a_token_says_which_variables() -> None:
    with pytest.raises(ExchangeError, match="ARM_OIDC_TOKEN_FILE_PATH"):
        assertion_source({"ARM_USE_OIDC": "true"})


def test_a_plain_http_token_request_url_is_refused() -> None:
    env = {
        "ARM_USE_OIDC": "true",
        "ARM_OIDC_REQUEST_URL": "http://x",
        "ARM_OIDC_REQUEST_TOKEN": "t",
    }
    source = assertion_source(env)
    assert source is not None
    with pytest.raises(ExchangeError, match="https"):
        source()


def test_a_refused_sign_in_is_one_escaped_line_naming_the_tenant() -> None:
    Recorded.refuse = True
    with pytest.raises(ExchangeError) as raised:
        AzureTokens("login.microsoftonline.com", {}).token(TENANT, SCOPE)
    message = str(raised.value)
    assert message.startswith(f"sign-in to tenant {TENANT} failed: AADSTS700016")
    assert "\n" not in message
    assert "\x1b" not in message


def test_the_exchange_side_never_imports_the_tools() -> None:
    """`pulumi up` loads this package; tests/test_layout.py checks only association/*.py."""
    for path in (ROOT / "association" / "exchange_online").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("association_tools"), path
