"""The security audit end to end over HTTP: `python -m association audit` against a fake Graph.

The fake (tests/fakegraph.py) runs on 127.0.0.1 and answers JSON batches with v1.0 shapes;
each test plants what an attacker or a hurried admin would add and checks the audit names it.
In-process runs are judged at a fixed instant (`evaluated_at(NOW)`), so no result depends on
the day the tests run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from certfactory import NOW, der, make_certificate, pem
from fakegraph import (
    EXCHANGE_SP,
    FULL_ACCESS_AS_APP,
    GRAPH_APP_ID,
    MAIL_READ,
    TOKEN,
    FakeGraph,
    FakeTenant,
    deployed_tenant,
    key_credential,
    serve,
)
from tenant import DEPLOYER, TENANT_DIRECTORY, assignment_id, copy_program
from tenant import TENANT as PROGRAM_TENANT

from association.clock import evaluated_at
from association.ews import EWS_SHUTDOWN
from association_tools.audit import cli, graph, live
from association_tools.audit.exchange_side import NOT_READ
from association_tools.audit.graph import GraphClient, GraphError
from association_tools.audit.live import read_tenant
from association_tools.audit.transport import check_endpoint
from association_tools.offline import run_program

REPO = Path(__file__).resolve().parents[1]
TENANT = "4f1a2b3c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
CLIENT = "e1a203c4-77d9-4b0e-a3f1-9c5d8e2f030a"
APP = "b6e4039a-1d2c-4f7e-8a95-0c3e7d2b03f6"
SP = "4d9c031e-6b3a-4e8f-b2c7-1f0a9d5e03c3"
GRAPH_SP = "7a2d8c41-3e5f-4b6a-9c8d-1e2f3a4b5c6d"
OWNER = "3f0e9b7c-52d4-4a8e-9d61-0c7a5be21f44"
INTRUDER = "8a1f6c2e-0b7d-4e39-a5c4-2f9d61e0b7aa"
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
    write_stack_file(project)
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


def write_stack_file(
    project: Path,
    settings: str = "",
    tenant: str = TENANT,
    certificates: tuple[str, ...] = ("certs/contoso.pem",),
    owners: bool = True,
) -> None:
    """contoso's stack file: its tenant, certificates and owner, then `settings` (YAML lines)."""
    (project / "Pulumi.contoso.yaml").write_text(
        "config:\n"
        + (f"  azuread:tenantId: {tenant}\n" if tenant else "")
        + "  mimecast-association:certificates:\n"
        + "".join(f"    - {entry}\n" for entry in certificates)
        + (f"  mimecast-association:owners:\n    - {OWNER}\n" if owners else "")
        + settings,
        encoding="utf-8",
    )


def audit(
    setup: Setup, capsys: pytest.CaptureFixture[str], *extra: str, at: datetime = NOW
) -> tuple[int, str, str, list[float]]:
    """Run the command in-process, judged `at` an instant, with a sleeper that only records
    how long it would wait."""
    waits: list[float] = []
    argv = [
        f"--outputs=contoso={setup.outputs}",
        f"--project-dir={setup.project}",
        f"--graph-endpoint={setup.endpoint}",
        "--token-env=T",
        *extra,
        "contoso",
    ]
    with evaluated_at(at):
        code = cli.main(argv, sleep=waits.append)
    out, err = capsys.readouterr()
    to_stdout = any(flag == "-" or flag.endswith("=-") for flag in extra)  # no text report
    if not any(flag.startswith("--exchange-") for flag in extra) and code != 2 and not to_stdout:
        *lines, last = out.splitlines()  # said at the end of every run without Exchange
        assert last == f"note: {NOT_READ.message}", out
        out = "\n".join([*lines, ""])
    return code, out, err, waits


def audit_command(
    setup: Setup, flags: list[str], variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`python -m association audit --outputs contoso=... FLAGS contoso`, as a user runs it
    in the project directory, with `variables` added to the environment."""
    command = [sys.executable, "-m", "association", "audit"]
    command += ["--outputs", f"contoso={setup.outputs}", *flags, "contoso"]
    return subprocess.run(
        command,
        cwd=setup.project,
        env={**os.environ, **variables, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
    command = ["--graph-endpoint", setup.endpoint, "--token-env", "T"]

    def run() -> subprocess.CompletedProcess[str]:
        return audit_command(setup, command, {"T": TOKEN})

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
    assert (report["schemaVersion"], report["status"], report["exitCode"]) == (2, "findings", 3)
    (stack,) = report["stacks"]
    assert (stack["stack"], stack["status"], stack["requests"], stack["error"]) == (
        "contoso",
        "findings",
        1,
        None,
    )
    assert [f["code"] for f in stack["findings"]] == [
        "password-credential",
        "unknown-certificate",
        "federated-credential",
        "owner",
        "app-role-assignment",
    ]


def three_pages_of_owners(graph: FakeGraph) -> None:
    """The service principal's owners on three pages of one."""
    tenant = clean_tenant()
    tenant.service_principal_owners += [INTRUDER, GRAPH_SP]
    graph.add(tenant)
    graph.page_size = 1


def test_lists_are_read_to_their_last_page(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    three_pages_of_owners(setup.graph)

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
    ("token", "statuses", "message"),
    [
        (
            "expired",
            {},
            "contoso: error - Graph rejected the token (401 InvalidAuthenticationToken Access "
            "token validation failure.): it has expired, or is for another tenant or another "
            "cloud's Graph; sign in again",
        ),
        (
            TOKEN,
            {"grants": 401},
            f"contoso: error - Graph rejected the token for /servicePrincipals/{SP}/"
            "oauth2PermissionGrants (401 InvalidAuthenticationToken)",
        ),
        (
            TOKEN,
            {"grants": 403},
            f"contoso: error - Graph refused /servicePrincipals/{SP}/oauth2PermissionGrants "
            "(403 Authorization_RequestDenied). The audit's identity needs the Microsoft Graph "
            "application permission Directory.Read.All (read-only)",
        ),
        (
            TOKEN,
            {"tokenLifetimePolicies": 403},
            "contoso: error - Graph refused /policies/tokenLifetimePolicies (403 "
            "Authorization_RequestDenied). The audit's identity needs the Microsoft Graph "
            "application permission Policy.Read.All (read-only)",
        ),
    ],
)
def test_a_rejected_token_and_a_missing_permission_are_told_apart(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    statuses: dict[str, int],
    message: str,
) -> None:
    monkeypatch.setenv("T", token)
    setup.graph.statuses = statuses

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert out.startswith(message), out


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
    tenant.namesakes.append(
        {
            "id": "c0ffee00-0000-4000-8000-000000000001",
            "appId": GRAPH_SP,
            "displayName": "Mimecast Cloud Synchronization",
        }
    )
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
        "instance-lock-off",  # multi-tenant now, and nothing locks its credentials
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
        (["--concurrency=0"], "argument --concurrency: must be 1 or more, not 0"),
        (["--tenant-timeout=0"], "argument --tenant-timeout: must be more than 0 and at most"),
        (["--tenant-timeout=soon"], "argument --tenant-timeout: 'soon' is not a number"),
        (["--graph-endpoint=https://user:pw@graph.example"], "holds a user name or password"),
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


SCOPE = "  mimecast-association:mailboxScope:\n    group: mimecast-sync@contoso.com\n"


def without_consent(tenant: FakeTenant) -> FakeTenant:
    """The tenant as `pulumi up` leaves it with `mailboxScope.enforce`: nothing requested in
    Entra, no app role assignment."""
    tenant.application["requiredResourceAccess"] = []
    tenant.assignments.clear()
    return tenant


@pytest.mark.parametrize(
    ("enforce", "consent", "checks"),
    [
        ("true", False, []),
        ("true", True, ["requested-permission", "app-role-assignment"]),
        ("false", True, []),
        ("false", False, ["requested-permission-missing", "app-role-assignment-missing"]),
    ],
)
def test_an_enforced_mailbox_scope_expects_no_tenant_wide_consent(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    enforce: str,
    consent: bool,
    checks: list[str],
) -> None:
    write_stack_file(setup.project, f"{SCOPE}    enforce: {enforce}\n")
    setup.graph.add(clean_tenant() if consent else without_consent(clean_tenant()))

    code, out, _, _ = audit(setup, capsys)

    assert code == (3 if checks else 0), out
    assert [line.split(":")[0].split()[-1] for line in out.splitlines()[1:-1]] == checks


def test_full_access_left_behind_an_enforced_scope_is_named_high(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Enforcing the scope is pointless while the old tenant-wide consent is still there."""
    write_stack_file(setup.project, f"{SCOPE}    enforce: true\n")
    tenant = clean_tenant()
    tenant.application["requiredResourceAccess"] = []  # removed by `pulumi up`, grant left
    setup.graph.add(tenant)

    code, out, _, _ = audit(setup, capsys)

    assert code == 3
    assert out.splitlines()[:2] == [
        "contoso: findings - 1 finding (1 high) [1 Graph request]",
        "  high    service principal  app-role-assignment: holds Exchange Online "
        "full_access_as_app (resource 0f3b057d-2a9e-4c61-95d8-e7b1c4a0055e, assignment "
        "fDe2q0f9fUqvxB2Wcbp8EQ); tenant-wide consent exists although mailboxScope.enforce is "
        "set: the app reaches every mailbox",
    ]


EXPIRED = make_certificate(
    "Mimecast Expired", NOW - timedelta(days=400), NOW - timedelta(days=35), serial=11
)


@pytest.mark.parametrize(
    ("at", "notes"),
    [
        (NOW - timedelta(days=100), []),
        (NOW, ["expired on"]),
        (EWS_SHUTDOWN + timedelta(days=30), ["expired on", "was shut down on 2027-04-01"]),
    ],
)
def test_settings_that_would_not_deploy_are_audited_all_the_same(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    at: datetime,
    notes: list[str],
) -> None:
    """Whatever the day, the same findings: what the program would refuse is only a note."""
    (setup.project / "certs" / "contoso.pem").write_bytes(pem(EXPIRED))
    tenant = deployed_tenant(APP, CLIENT, SP, OWNER, der(EXPIRED), "Mimecast Cloud Synchronization")
    tenant.application_owners.append(INTRUDER)
    setup.graph.add(tenant)

    code, out, _, _ = audit(setup, capsys, at=at)

    assert code == 3
    lines = out.splitlines()
    assert lines[:2] == [
        "contoso: findings - 1 finding (1 high) [1 Graph request]",
        f"  high    application  owner: owner {INTRUDER} is not among the stack's owners",
    ]
    assert len(lines) == 3 + len(notes)
    for line, words in zip(lines[2:-1], notes, strict=True):
        assert line.startswith("  note    ")
        assert words in line


def test_notes_are_in_every_report_and_change_no_verdict(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An expired certificate that still matches, and one that does not load: exit 0."""
    (setup.project / "certs" / "contoso.pem").write_bytes(pem(EXPIRED))
    write_stack_file(setup.project, certificates=("certs/contoso.pem", "certs/missing.pem"))
    setup.graph.add(
        deployed_tenant(APP, CLIENT, SP, OWNER, der(EXPIRED), "Mimecast Cloud Synchronization")
    )
    markdown, summary = tmp_path / "audit.md", tmp_path / "audit.json"

    code, out, _, _ = audit(setup, capsys, "--markdown", str(markdown), "--json", str(summary))

    assert code == 0
    thumbprint = hashlib.sha1(der(EXPIRED)).hexdigest().upper()
    expired = (
        f"would not deploy: mimecast-association:certificates[0] file certs/contoso.pem "
        f"(thumbprint {thumbprint}, O=Mimecast Services Limited,CN=Mimecast Expired) expired on"
    )
    lines = out.splitlines()
    assert lines[0] == "contoso: clean - nothing undeclared [1 Graph request]"
    assert lines[1].startswith(
        "  note    would not deploy: mimecast-association:certificates[1] file "
        "certs/missing.pem does not exist"
    )
    assert lines[2].startswith(f"  note    {expired}")
    assert lines[3] == "1 stack: 1 clean"
    (stack,) = json.loads(summary.read_text(encoding="utf-8"))["stacks"]
    assert (stack["status"], len(stack["notes"])) == ("clean", 2)
    assert [note["code"] for note in stack["notes"]] == [
        "certificate-file-missing",
        "certificate-expired",
    ]
    assert expired in stack["notes"][1]["message"]
    report = markdown.read_text(encoding="utf-8")
    assert "### `contoso`: nothing undeclared\n\n- **Note:** would not deploy: " in report
    assert "- **Note:** " + expired.replace("[0]", "\\[0\\]") in report


def test_adopt_naming_other_objects_than_the_outputs_is_a_note(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    write_stack_file(
        setup.project,
        "  mimecast-association:adopt:\n"
        f"    applicationObjectId: {other}\n"
        f"    servicePrincipalObjectId: {SP}\n"
        f"    appRoleAssignmentId: {assignment_id(SP)}\n",
    )

    code, out, _, _ = audit(setup, capsys)

    assert code == 0
    assert out.splitlines()[1] == (
        f"  note    mimecast-association:adopt.applicationObjectId is {other}, but the outputs "
        f"name {APP}; the audit reads the object the outputs name"
    )


@pytest.mark.parametrize(
    ("tenant", "settings", "message"),
    [
        ("", "", "contoso.yaml cannot be audited: azuread:tenantId is not set."),
        (
            TENANT,
            "  mimecast-association:displayName:\n    secure: AAABAJq7Xy9uZ2xlR0Zk\n",
            "cannot be audited: Pulumi.contoso.yaml stores mimecast-association:displayName "
            "encrypted (secure:)",
        ),
    ],
)
def test_a_stack_with_nothing_to_compare_is_an_error_before_any_request(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    tenant: str,
    settings: str,
    message: str,
) -> None:
    write_stack_file(setup.project, settings, tenant=tenant)

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert message in out.splitlines()[0]
    assert setup.graph.batches == 0


@pytest.mark.parametrize(
    ("retry_after", "outcome"),
    [
        ("Wed, 25 Nov 2026 12:00:30 GMT", [30.0, 30.0]),
        ("Wed, 25 Nov 2026 11:59:00 GMT", [0.0, 0.0]),  # already past
        ("soon", [2.0, 4.0]),  # unusable: the policy's default, doubled
        ("Thu, 26 Nov 2026 12:00:00 GMT", "throttled out"),  # past the 120 s budget: no wait
    ],
)
def test_retry_after_as_an_http_date_is_waited_until(
    setup: Setup, retry_after: str, outcome: list[float] | str
) -> None:
    setup.graph.retry_after = retry_after
    setup.graph.throttle_batches = 1  # the header of the HTTP answer
    setup.graph.throttle_requests = {"grants": 1}  # the header inside the batch
    slept: list[float] = []
    client = GraphClient(
        check_endpoint(setup.endpoint),
        lambda: TOKEN,
        sleep=slept.append,
        now=lambda: datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
    )

    try:
        read_tenant(client, APP, SP, "Mimecast Cloud Synchronization")
        result: list[float] | str = slept
    except GraphError as error:
        result = str(error).split(":")[0] if not slept else f"{error} after {slept}"
    assert result == outcome


def test_a_next_link_back_to_a_read_page_stops_paging(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.graph.self_linked = {"applicationOwners"}

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert out.splitlines()[0] == (
        f"contoso: error - Graph's list /applications/{APP}/owners sent a nextLink to a page "
        "already read: stopped paging rather than loop forever [1 Graph request]"
    )


def test_a_list_that_never_ends_stops_at_the_page_limit(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph, "MAX_PAGES", 2)
    three_pages_of_owners(setup.graph)

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert out.splitlines()[0] == (
        f"contoso: error - Graph's list /servicePrincipals/{SP}/owners goes on past 2 pages: "
        "stopped paging [2 Graph requests]"
    )


# --- every way in (issue 17) ---------------------------------------------------------------

LOOK_ALIKE_SP = "5b1e0c7d-9a2f-4d3e-8b6a-7c0d1e2f3a4b"
ROLE_ID = "62e90394-69f5-4237-9190-012177145e10"
"""Global Administrator's role template ID."""


def plant_owner_takeover(setup: Setup, tenant: FakeTenant) -> None:
    """The deployer replaced as the sole owner, with `owners` unset."""
    write_stack_file(setup.project, owners=False)
    outputs = json.loads(setup.outputs.read_text(encoding="utf-8"))
    setup.outputs.write_text(json.dumps({**outputs, "owners": [OWNER]}), encoding="utf-8")
    tenant.application_owners[:] = [INTRUDER]
    tenant.service_principal_owners[:] = [INTRUDER]


def plant_look_alike(setup: Setup, tenant: FakeTenant, mail_access: bool = False) -> None:
    """A multi-tenant app named like ours, consented here: only its service principal shows."""
    tenant.service_principals.append(
        {
            "id": LOOK_ALIKE_SP,
            "appId": "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b",
            "displayName": "Mimecast Cloud Synchronisation",
            "appOwnerOrganizationId": "f00dfeed-0000-4000-8000-00000000beef",
        }
    )
    consent = {
        "id": "lookalike-consent",
        "appRoleId": FULL_ACCESS_AS_APP,
        "resourceId": EXCHANGE_SP,
    }
    tenant.other_assignments[LOOK_ALIKE_SP] = [consent] if mail_access else []


def plant_directory_role(setup: Setup, tenant: FakeTenant) -> None:
    tenant.member_of.append(
        {
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": "7d1f0e2c-3b4a-4c5d-8e6f-0a1b2c3d4e5f",
            "displayName": "Global Administrator",
            "roleTemplateId": ROLE_ID,
        }
    )
    tenant.role_assignments.append(
        {
            "id": "assignment1",
            "roleDefinitionId": ROLE_ID,
            "principalId": SP,
            "directoryScopeId": "/",
        }
    )


def plant_token_policy(setup: Setup, tenant: FakeTenant) -> None:
    tenant.policies["tokenLifetimePolicies"] = [
        {
            "id": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
            "displayName": "Day-long",
            "appliesTo": [APP],
        },
        {"id": "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a", "displayName": "Others", "appliesTo": []},
    ]


def change(path: str, value: object) -> Callable[[Setup, FakeTenant], None]:
    """Set a property of the app (`application.x.y`) or service principal (`sp.x`)."""

    def plant(setup: Setup, tenant: FakeTenant) -> None:
        first, *keys = path.split(".")
        target = tenant.application if first == "application" else tenant.service_principal
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return plant


Plant = Callable[[Setup, FakeTenant], None]

BACKDOORS: list[tuple[str, Plant, list[tuple[str, str, str]]]] = [
    (
        "sole-owner-replaced",
        plant_owner_takeover,
        [
            ("high", "application", "owner"),
            ("low", "application", "owner-missing"),
            ("high", "service principal", "owner"),
            ("low", "service principal", "owner-missing"),
        ],
    ),
    (
        "fallback-public-client",
        change("application.isFallbackPublicClient", True),
        [("medium", "application", "fallback-public-client")],
    ),
    (
        "pre-authorized-application",
        change(
            "application.api.preAuthorizedApplications",
            [{"appId": GRAPH_SP, "delegatedPermissionIds": ["x"]}],
        ),
        [("medium", "application", "pre-authorized-application")],
    ),
    (
        "known-client",
        change("application.api.knownClientApplications", [GRAPH_SP]),
        [("medium", "application", "known-client-application")],
    ),
    (
        "app-role",
        change("application.appRoles", [{"id": "r1", "value": "Mail.Export", "isEnabled": True}]),
        [("medium", "application", "app-role-defined")],
    ),
    (
        "implicit-grant",
        change("application.web.implicitGrantSettings.enableAccessTokenIssuance", True),
        [("medium", "application", "implicit-grant")],
    ),
    (
        "renamed",
        change("application.displayName", "Mimecast Cloud Synchronization (old)"),
        [("medium", "application", "renamed")],
    ),
    ("look-alike", plant_look_alike, [("medium", "service principal", "look-alike")]),
    (
        "look-alike-reading-mail",
        lambda setup, tenant: plant_look_alike(setup, tenant, mail_access=True),
        [("high", "service principal", "look-alike")],
    ),
    ("directory-role", plant_directory_role, [("high", "service principal", "directory-role")]),
    (
        "token-lifetime-policy",
        plant_token_policy,
        [("medium", "service principal", "token-policy")],
    ),
    (
        "hidden",
        change("sp.tags", ["HideApp", "WindowsAzureActiveDirectoryIntegratedApp"]),
        [("medium", "service principal", "hidden")],
    ),
    (
        "reply-url",
        change("sp.replyUrls", ["https://evil.example/callback"]),
        [("medium", "service principal", "reply-url")],
    ),
    (
        "assignment-required",
        change("sp.appRoleAssignmentRequired", True),
        [("medium", "service principal", "assignment-required")],
    ),
    (
        "certificate-without-key",
        lambda setup, tenant: tenant.application["keyCredentials"].append(
            {**key_credential(der(CERT), "7a8b"), "key": None}
        ),
        [("high", "application", "unverifiable-certificate")],
    ),
]


@pytest.mark.parametrize(
    ("plant", "expected"),
    [case[1:] for case in BACKDOORS],
    ids=[case[0] for case in BACKDOORS],
)
def test_each_way_in_is_named_and_exits_3(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    plant: Plant,
    expected: list[tuple[str, str, str]],
) -> None:
    tenant = clean_tenant()
    plant(setup, tenant)
    setup.graph.add(tenant)
    summary = tmp_path / "audit.json"

    code, out, _, _ = audit(setup, capsys, "--json", str(summary))

    assert code == 3, out
    (stack,) = json.loads(summary.read_text(encoding="utf-8"))["stacks"]
    found = [(f["severity"], f["target"], f["code"]) for f in stack["findings"]]
    assert found == expected, out


def test_the_findings_say_what_was_planted(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = clean_tenant()
    for plant, *_ in (case[1:] for case in BACKDOORS):
        plant(setup, tenant)
    setup.graph.add(tenant)

    code, out, _, _ = audit(setup, capsys)

    assert code == 3
    for line in (
        f"  high    application  owner: owner {INTRUDER} is not among the stack output "
        "`owners` (the deployer)",
        f"  low     application  owner-missing: {OWNER}, of the stack output `owners` (the "
        "deployer), is not an owner",
        "  medium  application  renamed: is named 'Mimecast Cloud Synchronization (old)', not "
        "'Mimecast Cloud Synchronization' as the stack declares",
        "  high    service principal  directory-role: holds the directory role 'Global "
        "Administrator' (7d1f0e2c-3b4a-4c5d-8e6f-0a1b2c3d4e5f): it can act on the directory "
        "with that role's rights",
        "  medium  service principal  token-policy: the token lifetime policy 'Day-long' "
        "(0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f) applies to it or its application: its tokens "
        "are shaped by a policy the stack does not declare",
        "  high    service principal  look-alike: another service principal is named 'Mimecast "
        f"Cloud Synchronisation' (object {LOOK_ALIKE_SP}, appId "
        "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b, registered in tenant "
        "f00dfeed-0000-4000-8000-00000000beef) and holds Exchange Online full_access_as_app: "
        "it can read every mailbox",
    ):
        assert line in out.splitlines(), out
    assert "'Others'" not in out  # a policy that applies to other apps is none of ours
    # A policy or look-alike costs one more batch; nothing else does.
    assert out.splitlines()[0].endswith("[2 Graph requests]")


def test_a_property_read_but_not_selected_is_not_seen(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake returns only what `$select` names, so the tests prove what is asked."""
    tenant = clean_tenant()
    tenant.application["isFallbackPublicClient"] = True
    setup.graph.add(tenant)
    monkeypatch.setattr(
        live,
        "APPLICATION_PROPERTIES",
        live.APPLICATION_PROPERTIES.replace(",isFallbackPublicClient", ""),
    )

    code, out, _, _ = audit(setup, capsys)

    assert (code, out.splitlines()[0]) == (
        0,
        "contoso: clean - nothing undeclared [1 Graph request]",
    )


def test_a_property_the_type_lacks_is_graphs_400(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """servicePrincipalLockConfiguration is the application's: on a service principal, Graph
    answers 400, and so does the fake."""
    monkeypatch.setattr(
        live,
        "SERVICE_PRINCIPAL_PROPERTIES",
        live.SERVICE_PRINCIPAL_PROPERTIES + ",servicePrincipalLockConfiguration",
    )

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert out.startswith("contoso: error - Graph answered 400 to servicePrincipal: BadRequest")


def test_a_look_alike_is_judged_on_its_name_not_its_prefix(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = clean_tenant()
    for index, name in enumerate(
        ["Mimecast Personal Portal", "Mimecast for Outlook", "MIMECAST cloud-synchronization"]
    ):
        tenant.service_principals.append(
            {
                "id": f"{index}b1e0c7d-9a2f-4d3e-8b6a-7c0d1e2f3a4b",
                "appId": CLIENT,
                "displayName": name,
            }
        )
    setup.graph.add(tenant)

    code, out, _, _ = audit(setup, capsys)

    assert code == 3
    assert [line.split("'")[1] for line in out.splitlines()[1:-1]] == [
        "MIMECAST cloud-synchronization"
    ]


def test_without_the_owners_output_a_sole_owner_is_a_note(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outputs saved before `owners` was exported: the old rule, and a note that says so."""
    write_stack_file(setup.project, owners=False)
    tenant = clean_tenant()
    tenant.application_owners[:] = [INTRUDER]
    setup.graph.add(tenant)

    code, out, _, _ = audit(setup, capsys)

    assert code == 0
    assert out.splitlines()[1] == (
        "  note    mimecast-association:owners is unset and the outputs have no owners "
        "(deployed before it was exported): a sole owner replaced by someone else cannot be "
        "told from the deployer until `pulumi up` exports owners"
    )


def test_an_owners_output_that_is_not_ids_is_refused(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = json.loads(setup.outputs.read_text(encoding="utf-8"))
    setup.outputs.write_text(json.dumps({**outputs, "owners": ["../../x"]}), encoding="utf-8")

    code, out, _, _ = audit(setup, capsys)

    assert code == 1
    assert "output owners is not a list of object IDs (GUIDs)" in out
    assert setup.graph.batches == 0


def test_the_program_exports_the_deployer_as_owners(tmp_path: Path) -> None:
    """The stack output the audit compares with: the deployer, as Graph spells object IDs."""
    project = tmp_path / "project"
    project.mkdir()
    copy_program(project)
    (project / "certs").mkdir()
    (project / "certs" / "contoso.pem").write_bytes(pem(CERT))
    config = {
        "azuread:tenantId": PROGRAM_TENANT,
        "mimecast-association:certificates": '["certs/contoso.pem"]',
    }

    run = run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=NOW
    )

    assert run.outputs["owners"] == [DEPLOYER]


def test_a_hand_made_credential_named_in_adopt_is_a_removal_to_do_not_a_backdoor(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    old = make_certificate("Mimecast 2019", NOW - timedelta(days=900), NOW + timedelta(days=20))
    old_thumbprint = hashlib.sha1(der(old)).hexdigest().upper()
    hand_key_id = "6b1f0f3e-2b7a-4c7e-9a55-0c5b1f6d2e11"
    tenant = clean_tenant()
    tenant.application["keyCredentials"].append(key_credential(der(old), hand_key_id))
    setup.graph.add(tenant)
    write_stack_file(
        setup.project,
        "  mimecast-association:adopt:\n"
        f"    applicationObjectId: {APP}\n"
        f"    servicePrincipalObjectId: {SP}\n"
        f"    appRoleAssignmentId: {assignment_id(SP)}\n"
        "    keyIds:\n"
        f"      {old_thumbprint}: {hand_key_id}\n",
    )
    code, out, _, _ = audit(setup, capsys, "--json", "-")
    (stack,) = json.loads(out)["stacks"]
    assert [(f["severity"], f["code"]) for f in stack["findings"]] == [
        ("medium", "hand-made-credential")
    ]
    assert f"--key-id {hand_key_id}" in stack["findings"][0]["message"]
    assert code == 3
    # The same credential under another keyId than adopt names is not the hand-made one.
    tenant.application["keyCredentials"][-1]["keyId"] = "0f0f0f0f-0000-4000-8000-000000000000"
    setup.graph.add(tenant)
    _, out, _, _ = audit(setup, capsys, "--json", "-")
    (stack,) = json.loads(out)["stacks"]
    assert [f["code"] for f in stack["findings"]] == ["unknown-certificate"]
