"""The audit against servers that break, stall, throttle forever or flood (issue 17).

Two stacks, contoso and fabrikam, each in its own tenant; contoso's answers are sabotaged,
fabrikam's are not. Whatever contoso's server does, the run ends within contoso's deadline
as contoso's error, fabrikam is audited and every report is written. A SIGALRM guard turns a
hang into a failure (the hostile-input suite's `hang_guard`); it is a bound, not a timing
measurement.
"""

from __future__ import annotations

import json
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from certfactory import der, make_certificate, pem
from fakegraph import TOKEN, deployed_tenant
from test_audit import APP, OWNER, Setup, audit, setup  # noqa: F401 - `setup` is a fixture
from test_hostile_input import hang_guard  # noqa: F401 - an autouse fixture

from association_tools.audit import cli, signin, transport
from association_tools.audit.graph import GraphClient, Request, Response
from association_tools.audit.transport import Endpoint, GraphError, check_endpoint
from association_tools.cli import UsageError
from association_tools.safe_read import InputError, load_json

FABRIKAM = {
    "tenantId": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
    "applicationObjectId": "6f7a8b9c-0d1e-4f2a-b3c4-d5e6f7a8b9c0",
    "clientId": "7a8b9c0d-1e2f-4a3b-c4d5-e6f7a8b9c0d1",
    "servicePrincipalObjectId": "8b9c0d1e-2f3a-4b4c-d5e6-f7a8b9c0d1e2",
}


@dataclass
class Fleet:
    setup: Setup
    argv: list[str]
    markdown: Path
    summary: Path


@pytest.fixture
def fleet(setup: Setup, tmp_path: Path) -> Fleet:  # noqa: F811 - the imported fixture
    """contoso (the `setup` stack) and fabrikam, a clean tenant of its own."""
    cert = make_certificate("Mimecast Fabrikam", serial=21)
    (setup.project / "certs" / "fabrikam.pem").write_bytes(pem(cert))
    (setup.project / "Pulumi.fabrikam.yaml").write_text(
        "config:\n"
        f"  azuread:tenantId: {FABRIKAM['tenantId']}\n"
        "  mimecast-association:certificates: [certs/fabrikam.pem]\n"
        f"  mimecast-association:owners: [{OWNER}]\n",
        encoding="utf-8",
    )
    outputs = tmp_path / "fabrikam.json"
    outputs.write_text(json.dumps(FABRIKAM), encoding="utf-8")
    setup.graph.add(
        deployed_tenant(
            FABRIKAM["applicationObjectId"],
            FABRIKAM["clientId"],
            FABRIKAM["servicePrincipalObjectId"],
            OWNER,
            der(cert),
            "Mimecast Cloud Synchronization",
        )
    )
    markdown, summary = tmp_path / "audit.md", tmp_path / "audit.json"
    argv = [
        f"--outputs=fabrikam={outputs}",
        "--tenant-timeout=2",
        f"--markdown={markdown}",
        f"--json={summary}",
    ]
    return Fleet(setup, argv, markdown, summary)


@pytest.mark.parametrize(
    ("sabotage", "error"),
    [
        ("trickle", "no complete answer from Graph within the tenant's 2 s (--tenant-timeout)"),
        ("chunked", "cannot reach http://127.0.0.1:{port}: the answer broke off before its end"),
        ("status", "cannot reach http://127.0.0.1:{port}: the answer is not HTTP (BadStatusLine)"),
        ("throttle", "throttled out: Graph still answered 429/503 after 2 attempts"),
        ("deep", "Graph's answer nests arrays or objects more than 64 deep"),
        ("quotes", "Graph's batch answer has no list of responses"),  # a 1 MiB string: parsed
    ],
)
def test_a_broken_server_is_one_tenants_error_and_every_report_is_written(
    fleet: Fleet, capsys: pytest.CaptureFixture[str], sabotage: str, error: str
) -> None:
    fleet.setup.graph.sabotage = {APP: sabotage}
    fleet.setup.graph.retry_after = "1"
    port = fleet.setup.endpoint.rsplit(":", 1)[1]
    argv = [
        f"--outputs=contoso={fleet.setup.outputs}",
        f"--project-dir={fleet.setup.project}",
        f"--graph-endpoint={fleet.setup.endpoint}",
        "--token-env=T",
        *fleet.argv,
        "contoso",
        "fabrikam",
    ]

    code = cli.main(argv, sleep=time.sleep)  # real waits: the deadline is what ends them
    out, err = capsys.readouterr()

    contoso, fabrikam = out.splitlines()[:2]
    assert contoso.startswith("contoso: error - " + error.format(port=port)), contoso
    assert fabrikam == "fabrikam: clean - nothing undeclared [1 Graph request]"
    assert (code, err) == (1, "")
    stacks = json.loads(fleet.summary.read_text(encoding="utf-8"))["stacks"]
    assert [stack["status"] for stack in stacks] == ["error", "clean"]
    assert "| `fabrikam` |" in fleet.markdown.read_text(encoding="utf-8")


def test_throttling_across_pages_shares_one_budget(
    setup: Setup,  # noqa: F811 - the imported fixture
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each page throttled three times: the budget of 120 s of waiting is the tenant's, not
    each batch's, so the tenant stops after about 120 s of requested waits."""
    setup.graph.page_size = 1
    owners = [f"{index:08x}-0000-4000-8000-000000000000" for index in range(40)]
    stored = setup.graph.tenants[APP]
    stored.service_principal_owners[:] = owners
    setup.graph.throttle_each_batch = 3

    code, out, _, waits = audit(setup, capsys)

    assert code == 1
    assert "throttled out" in out.splitlines()[0]
    assert sum(waits) <= 120
    assert len(waits) < 20  # not 40 pages of 3 retries each


def test_answers_past_the_tenants_byte_budget_are_refused(
    setup: Setup,  # noqa: F811 - the imported fixture
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "MAX_TENANT_BYTES", 4000)

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert "Graph's answers for this tenant came to more than 4000 bytes" in out


@pytest.mark.parametrize(
    "data",
    [b'"' + b'\\"' * (2**19 - 1) + b'"', b'"' + b'\\"' * 2**19, b"[" * 2**20, b'{"a":' * 200_000],
    ids=["nested-quotes", "nested-quotes-unterminated", "deep-arrays", "deep-objects"],
)
def test_a_mebibyte_of_hostile_json_is_parsed_or_refused_at_once(data: bytes) -> None:
    """Bounded by the guard (a linear reader takes milliseconds; the quadratic one, days)."""
    outcome: object
    try:
        outcome = load_json(data, "answer")
    except InputError as error:
        outcome = str(error)
    assert isinstance(outcome, str)
    assert outcome.startswith("answer ") or set(outcome) == {'"'}


@pytest.mark.parametrize(
    ("url", "endpoint", "authority"),
    [
        ("https://graph.microsoft.com", "https://graph.microsoft.com", "login.microsoftonline.com"),
        (
            "https://Graph.Microsoft.com:443/",
            "https://graph.microsoft.com",
            "login.microsoftonline.com",
        ),
        ("https://graph.microsoft.us", "https://graph.microsoft.us", "login.microsoftonline.us"),
        (
            "https://dod-graph.microsoft.us",
            "https://dod-graph.microsoft.us",
            "login.microsoftonline.us",
        ),
        (
            "https://microsoftgraph.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
            "login.chinacloudapi.cn",
        ),
        ("https://graph.example:8443", "https://graph.example:8443", None),
        ("http://[::1]:8080", "http://[::1]:8080", None),
    ],
)
def test_endpoints_by_scheme_host_and_port(url: str, endpoint: str, authority: str | None) -> None:
    parsed = check_endpoint(url)
    assert (parsed.url, parsed.authority) == (endpoint, authority)
    assert parsed.owns(f"{endpoint}/v1.0/x")


@pytest.mark.parametrize(
    "link",
    [
        "https://graph.microsoft.com.evil.example/v1.0/x",
        "http://graph.microsoft.com/v1.0/x",
        "https://graph.microsoft.com:8443/v1.0/x",
        "https://user@evil.example/v1.0/x",
        "//graph.microsoft.com/v1.0/x",
        "not a url",
    ],
)
def test_a_link_elsewhere_is_not_the_endpoints(link: str) -> None:
    assert not Endpoint("https", "graph.microsoft.com", 443).owns(link)
    assert Endpoint("https", "graph.microsoft.com", 443).owns(
        "https://GRAPH.microsoft.com:443/v1.0/x"
    )


def test_no_repr_holds_the_token() -> None:
    client = GraphClient(check_endpoint("https://graph.microsoft.com"), lambda: TOKEN)
    tokens = signin.SignedIn(_Credential(), "https://graph.microsoft.com/.default", lambda: 1000)
    tokens.take_all(["t1"], 1)
    assert TOKEN not in repr(client)
    assert "secret-t1" not in repr(tokens)
    assert tokens("t1") == "secret-t1"


class _Token:
    def __init__(self, value: str, expires_on: float) -> None:
        self.token, self.expires_on = value, expires_on


class _Credential:
    """azure-identity's interface: a token per tenant, a failure for `broken`."""

    def __init__(self, lifetime: float = 3600) -> None:
        self.calls: list[str] = []
        self.lifetime = lifetime

    def get_token(self, *scopes: str, tenant_id: str | None = None) -> _Token:
        self.calls.append(str(tenant_id))
        if tenant_id == "broken":
            raise RuntimeError("AADSTS700016: application not found in the directory 'broken'")
        return _Token(f"secret-{tenant_id}", 1000 + self.lifetime)


def test_every_tenants_token_is_taken_up_front_and_refreshed_before_it_expires() -> None:
    credential = _Credential(lifetime=600)
    now = [1000.0]
    tokens = signin.SignedIn(credential, "scope", clock=lambda: now[0])

    tokens.take_all(["t2", "t1", "t2", "broken"], concurrency=4)

    assert sorted(credential.calls) == ["broken", "t1", "t2"]  # before any tenant is audited
    assert tokens("t1") == "secret-t1"
    assert len(credential.calls) == 3  # cached
    now[0] += 400  # 200 s left: less than the margin, so asked again
    assert tokens("t1") == "secret-t1"
    assert credential.calls[-1] == "t1"
    assert len(credential.calls) == 4
    with pytest.raises(GraphError, match="sign-in to tenant broken failed: AADSTS700016"):
        tokens("broken")


def test_the_authority_is_the_endpoints_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    fake = types.ModuleType("azure.identity")
    fake.DefaultAzureCredential = lambda **kwargs: made.append(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure", types.ModuleType("azure"))
    monkeypatch.setitem(sys.modules, "azure.identity", fake)

    signin.azure_identity(check_endpoint("https://graph.microsoft.us"))

    assert made[0]["authority"] == "https://login.microsoftonline.us"
    with pytest.raises(UsageError, match="no known Entra ID authority"):
        signin.azure_identity(check_endpoint("https://graph.example"))


def test_a_page_whose_value_is_not_a_list_adds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = iter(
        [
            {
                "a": Response(
                    200, {"value": [1], "@odata.nextLink": "https://graph.microsoft.com/v1.0/x?p=2"}
                )
            },
            {"a": Response(200, {"value": 5})},
        ]
    )
    monkeypatch.setattr(GraphClient, "_batch", lambda self, chunk: next(pages))
    client = GraphClient(check_endpoint("https://graph.microsoft.com"), lambda: TOKEN)

    assert client.get_all([Request("a", "/x")])["a"].body["value"] == [1]


def test_an_id_that_would_steer_the_next_batch_is_an_error(
    setup: Setup,  # noqa: F811 - the imported fixture
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup.graph.tenants[APP].policies["claimsMappingPolicies"] = [
        {"id": "../../users?$select=id", "displayName": "x", "appliesTo": []}
    ]

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert out.startswith(
        "contoso: error - Graph listed a policy whose id is not a GUID: '../../users?$select=id'"
    )
