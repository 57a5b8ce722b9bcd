"""The security audit end to end over HTTP: `python -m association audit` against a fake Graph.

The fake (tests/fakegraph.py) runs on 127.0.0.1 and answers JSON batches with v1.0 shapes;
each test plants what an attacker or a hurried admin would add and checks the audit names it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from certfactory import der, make_certificate, pem
from fakegraph import (
    GRAPH_APP_ID,
    MAIL_READ,
    TOKEN,
    FakeGraph,
    FakeTenant,
    deployed_tenant,
    key_credential,
    serve,
)
from tenant import copy_program

from association_tools.audit import cli

REPO = Path(__file__).resolve().parents[1]
TENANT = "4f1a2b3c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
CLIENT = "e1a203c4-77d9-4b0e-a3f1-9c5d8e2f030a"
APP = "b6e4039a-1d2c-4f7e-8a95-0c3e7d2b03f6"
SP = "4d9c031e-6b3a-4e8f-b2c7-1f0a9d5e03c3"
GRAPH_SP = "7a2d8c41-3e5f-4b6a-9c8d-1e2f3a4b5c6d"
OWNER = "3f0e9b7c-52d4-4a8e-9d61-0c7a5be21f44"
INTRUDER = "8a1f6c2e-0b7d-4e39-a5c4-2f9d61e0b7aa"
NOW = datetime.now(UTC)
CERT = make_certificate("Mimecast Test", NOW - timedelta(days=30), NOW + timedelta(days=365))
OTHER_CERT = make_certificate(
    "Not Mimecast", NOW - timedelta(days=1), NOW + timedelta(days=90), serial=7
)


def clean_tenant() -> FakeTenant:
    """What `pulumi up` leaves in the contoso tenant, nothing more."""
    return deployed_tenant(APP, CLIENT, SP, OWNER, der(CERT), "Mimecast Cloud Synchronization")


def backdoored(tenant: FakeTenant) -> FakeTenant:
    """The tenant after Midnight Blizzard's playbook: every way in that the preview misses."""
    tenant = copy.deepcopy(tenant)
    tenant.application["passwordCredentials"].append(
        {
            "customKeyIdentifier": None,
            "displayName": "backdoor",
            "endDateTime": "2028-11-26T12:00:00Z",
            "hint": "Q~7",
            "keyId": "9a4f7e21-6c1d-4b7e-8f52-3d0c9e6a1b77",
            "secretText": None,
            "startDateTime": "2026-11-26T12:00:00Z",
        }
    )
    tenant.application["keyCredentials"].append(
        key_credential(der(OTHER_CERT), "5e0b9d1a-2c3f-4e5d-8a7b-6c9d0e1f2a3b")
    )
    tenant.federated.append(
        {
            "id": "2f3e4d5c-6b7a-4980-a1b2-c3d4e5f6a7b8",
            "name": "github-main",
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:evil/exfil:ref:refs/heads/main",
            "audiences": ["api://AzureADTokenExchange"],
            "description": None,
        }
    )
    tenant.assignments.append(
        {
            "id": "Xk3mP0b8QkaR2sT4uV6wYA",
            "appRoleId": MAIL_READ,
            "resourceDisplayName": "Microsoft Graph",
            "resourceId": GRAPH_SP,
        }
    )
    tenant.application_owners.append(INTRUDER)
    return tenant


@dataclass
class Setup:
    project: Path
    outputs: Path
    graph: FakeGraph
    endpoint: str


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    project = tmp_path / "project"
    project.mkdir()
    copy_program(project)
    (project / "certs").mkdir()
    (project / "certs" / "contoso.pem").write_bytes(pem(CERT))
    (project / "Pulumi.contoso.yaml").write_text(
        "config:\n"
        f"  azuread:tenantId: {TENANT}\n"
        "  mimecast-association:certificates:\n"
        "    - certs/contoso.pem\n"
        "  mimecast-association:owners:\n"
        f"    - {OWNER}\n",
        encoding="utf-8",
    )
    outputs = tmp_path / "out.json"
    outputs.write_text(
        json.dumps(
            {
                "applicationObjectId": APP,
                "clientId": CLIENT,
                "servicePrincipalObjectId": SP,
                "tenantDomain": "contoso.onmicrosoft.com",
                "tenantId": TENANT,
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("T", TOKEN)
    graph = FakeGraph()
    graph.add(clean_tenant())
    with serve(graph) as endpoint:
        yield Setup(project, outputs, graph, endpoint)


def audit(
    setup: Setup, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, str, list[float]]:
    """Run the command in-process with a sleeper that only records how long it would wait."""
    waits: list[float] = []
    argv = [
        f"--outputs=contoso={setup.outputs}",
        f"--project-dir={setup.project}",
        f"--graph-endpoint={setup.endpoint}",
        "--token-env=T",
        *extra,
        "contoso",
    ]
    code = cli.main(argv, sleep=waits.append)
    out, err = capsys.readouterr()
    return code, out, err, waits


def test_a_clean_tenant_exits_0_in_one_request(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err, waits = audit(setup, capsys)

    assert (code, err, waits) == (0, "", [])
    assert out == "contoso: clean - nothing undeclared [1 Graph request]\n1 stack: 1 clean\n"
    assert setup.graph.batches == 1


def test_every_planted_backdoor_is_named_as_a_command(setup: Setup) -> None:
    """The issue's acceptance: exit 3 naming each finding, then 0 once the tenant is clean."""
    setup.graph.add(backdoored(clean_tenant()))
    command = [
        sys.executable,
        "-m",
        "association",
        "audit",
        "--outputs",
        f"contoso={setup.outputs}",
        "--graph-endpoint",
        setup.endpoint,
        "--token-env",
        "T",
        "contoso",
    ]
    environment = {**os.environ, "T": TOKEN, "PYTHONPATH": str(REPO)}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            cwd=setup.project,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = run()

    assert (done.returncode, done.stderr) == (3, ""), done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "contoso: findings - 5 findings (5 high) [1 Graph request]"
    assert lines[1:6] == [
        "  high    application  password-credential: client secret keyId "
        "9a4f7e21-6c1d-4b7e-8f52-3d0c9e6a1b77 'backdoor', valid 2026-11-26T12:00:00Z to "
        "2028-11-26T12:00:00Z: the stack declares none",
        "  high    application  unknown-certificate: certificate keyId "
        "5e0b9d1a-2c3f-4e5d-8a7b-6c9d0e1f2a3b 'CN=Mimecast Test', valid 2026-10-27T12:00:00Z to "
        f"2027-11-26T12:00:00Z (thumbprint {hashlib.sha1(der(OTHER_CERT)).hexdigest().upper()}) "
        "is not among the stack's certificates",
        "  high    application  federated-credential: federated identity credential "
        "'github-main': issuer https://token.actions.githubusercontent.com, subject "
        "repo:evil/exfil:ref:refs/heads/main; whoever holds such a token signs in as the app",
        f"  high    application  owner: owner {INTRUDER} is not among the stack's owners",
        f"  high    service principal  app-role-assignment: holds app role {MAIL_READ} of "
        f"Microsoft Graph (resource {GRAPH_SP}, assignment Xk3mP0b8QkaR2sT4uV6wYA); the stack "
        "grants only Exchange Online full_access_as_app",
    ]
    assert "Q~7" not in done.stdout  # the secret's hint stays in Graph

    setup.graph.add(clean_tenant())
    assert run().returncode == 0


def test_reports_in_markdown_and_json(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    setup.graph.add(backdoored(clean_tenant()))
    markdown, summary = tmp_path / "audit.md", tmp_path / "audit.json"

    code, *_ = audit(setup, capsys, "--markdown", str(markdown), "--json", str(summary))

    assert code == 3
    lines = markdown.read_text(encoding="utf-8").splitlines()
    assert lines[4] == f"| `contoso` | `{TENANT}` | 🚨 findings | 5 findings (5 high) |"
    assert "| high | service principal | `app-role-assignment` |" in lines[-1]
    report = json.loads(summary.read_text(encoding="utf-8"))
    assert (report["schemaVersion"], report["status"], report["exitCode"]) == (1, "findings", 3)
    (stack,) = report["stacks"]
    assert (stack["stack"], stack["status"], stack["requests"], stack["error"]) == (
        "contoso",
        "findings",
        1,
        None,
    )
    assert [f["check"] for f in stack["findings"]] == [
        "password-credential",
        "unknown-certificate",
        "federated-credential",
        "owner",
        "app-role-assignment",
    ]


def test_lists_are_read_to_their_last_page(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = clean_tenant()
    tenant.service_principal_owners += [INTRUDER, GRAPH_SP]
    setup.graph.add(tenant)
    setup.graph.page_size = 1

    code, out, _, _ = audit(setup, capsys)

    assert code == 3
    assert f"owner {INTRUDER} is not among" in out
    assert f"owner {GRAPH_SP} is not among" in out  # on the third page
    assert "[3 Graph requests]" in out  # the first batch, then one batch per further page


def test_throttling_is_waited_out_as_graph_asks(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.graph.throttle_batches = 1
    setup.graph.throttle_requests = {"grants": 2}

    code, out, _, waits = audit(setup, capsys)

    assert (code, waits) == (0, [7.0, 7.0, 7.0])
    assert "[4 Graph requests]" in out


def test_throttled_out_is_an_error_after_bounded_retries(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.graph.throttle_requests = {"grants": 1000}

    code, out, _, waits = audit(setup, capsys)

    assert code == 1
    assert waits == [7.0] * 4  # five attempts
    assert out.startswith("contoso: error - throttled out: Graph still answered 429/503")


@pytest.mark.parametrize(
    ("token", "status", "permission"),
    [
        ("expired", None, "permissions Application.Read.All and Directory.Read.All"),
        (TOKEN, 403, "permission Directory.Read.All (read-only)"),
    ],
)
def test_refused_access_names_the_permission_to_grant(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    status: int | None,
    permission: str,
) -> None:
    monkeypatch.setenv("T", token)
    if status:
        setup.graph.statuses = {"grants": status}

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert f"The audit's identity needs the Microsoft Graph application {permission}" in out


def test_an_application_deleted_outside_pulumi_is_an_error(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.graph.statuses = {"application": 404}

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert f"contoso: error - the application {APP} named in the stack's outputs does not" in out


def test_other_findings(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = clean_tenant()
    tenant.application["signInAudience"] = "AzureADMultipleOrgs"
    tenant.application["web"]["redirectUris"] = ["https://evil.example/callback"]
    tenant.application["identifierUris"] = ["api://mimecast"]
    tenant.application["requiredResourceAccess"].append(
        {"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": MAIL_READ, "type": "Role"}]}
    )
    tenant.service_principal["accountEnabled"] = False
    tenant.service_principal["passwordCredentials"] = [
        {"keyId": "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d", "displayName": "sp secret"}
    ]
    tenant.grants.append(
        {
            "id": "grant1",
            "resourceId": GRAPH_SP,
            "scope": " Mail.Read offline_access",
            "consentType": "AllPrincipals",
        }
    )
    tenant.namesakes.append({"id": "c0ffee00-0000-4000-8000-000000000001", "appId": GRAPH_SP})
    tenant.application["keyCredentials"] = [
        # Someone else's certificate, its customKeyIdentifier set to the stack's thumbprint.
        key_credential(der(OTHER_CERT), "6f7e", claimed=hashlib.sha1(der(CERT)).digest())
    ]
    setup.graph.add(tenant)

    code, out, _, _ = audit(setup, capsys)

    assert code == 3
    checks = [line.split(":")[0].split()[-1] for line in out.splitlines()[1:-1]]
    assert checks == [
        "unknown-certificate",
        "certificate-missing",
        "requested-permission",
        "sign-in-audience",
        "redirect-uri",
        "identifier-uri",
        "found-twice",
        "password-credential",
        "oauth2-permission-grant",
        "account-disabled",
    ]


def test_hostile_values_from_the_tenant_are_escaped(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tenant = clean_tenant()
    tenant.federated.append(
        {"name": "x\x1b]0;pwned\x07\nfake: clean", "issuer": "<img src=x>", "subject": "[a](b)"}
    )
    setup.graph.add(tenant)
    markdown = tmp_path / "audit.md"

    _, out, _, _ = audit(setup, capsys, "--markdown", str(markdown))

    assert "\x1b" not in out
    assert "\x07" not in out
    assert out.splitlines()[1].startswith(
        "  high    application  federated-credential: federated identity credential "
        "'x\\x1b]0;pwned\\x07\\nfake: clean'"
    )
    row = markdown.read_text(encoding="utf-8").splitlines()[-1]
    assert "issuer \\<img src=x\\>, subject \\[a\\](b)" in row


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--graph-endpoint=http://graph.example"], "plain http only for localhost"),
        (["--outputs=contoso"], "--outputs 'contoso' is not STACK=FILE"),
        (["--concurrency=0"], "--concurrency must be at least 1"),
        (["--token-env=UNSET_VARIABLE"], "--token-env UNSET_VARIABLE: the environment variable"),
        (["fabrikam"], "no stack file for 'fabrikam'"),
    ],
)
def test_usage_errors(
    setup: Setup, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err, _ = audit(setup, capsys, *argv)

    assert (code, out) == (2, "")
    assert message in err


def test_outputs_that_are_not_ids_are_refused_before_any_request(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.outputs.write_text(json.dumps({"applicationObjectId": "../../users"}), encoding="utf-8")

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert "output clientId is missing or not a GUID" in out
    assert setup.graph.batches == 0


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "example:\n  pulumi stack output --json --stack contoso > contoso-outputs.json" in out


def test_sign_in_without_token_uses_azure_identity_lazily() -> None:
    """Importing the command loads no azure-identity; only signing in does."""
    code = "import sys, association_tools.audit.cli; print('azure' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout == "False\n"
