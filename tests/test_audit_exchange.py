"""The audit's Exchange Online side, against the fake Graph and the fake Exchange on 127.0.0.1.

contoso is deployed as the Graph tests have it; its Exchange organization is what the stack
declares (EWS on, our client ID among three others; with `mailboxScope`, the pointer, the
scope on the group and the scoped `Application EWS.AccessAsApp`), then each backdoor is
planted and must be named, with exit 3; a broken Exchange is the stack's error, exit 1.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fake_exchange import TOKEN as EXCHANGE_TOKEN
from fake_exchange import FakeExchange, FakeOrganization, serve
from test_audit import (
    CLIENT,
    SP,
    TENANT,
    TOKEN,
    Setup,
    audit,
    audit_command,
    setup,  # noqa: F401 (the fixture)
    write_stack_file,
)

from association_tools.audit.exchange_side import NOT_READ

OTHERS = ["11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"]
GROUP = "mimecast-sync@contoso.com"
GROUP_DN = (
    "CN=mimecast-sync,OU=contoso.onmicrosoft.com,OU=Microsoft Exchange Hosted Organizations,"
    "DC=EURPR01A001,DC=prod,DC=outlook,DC=com"
)
SCOPE = "Mimecast association contoso"
POINTER = {"AppId": CLIENT, "ObjectId": SP, "DisplayName": "Mimecast", "Identity": SP, "Name": SP}
SERVICE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, f"exchange-service:{POINTER['ObjectId']}"))
"""A ServiceId unlike the ObjectId: an assignment may name the pointer by any identifier."""
SCOPED = "mailboxScope:\n    group: mimecast-sync@contoso.com\n"


@dataclass
class Both:
    graph: Setup
    exchange: FakeExchange
    endpoint: str

    @property
    def organization(self) -> FakeOrganization:
        return self.exchange.tenants[TENANT]


def declared_organization(scoped: bool = False) -> FakeOrganization:
    """The Exchange side as the stack declares it."""
    organization = FakeOrganization(ews_enabled=True, allowed=[OTHERS[0], CLIENT, OTHERS[1]])
    if scoped:
        organization.groups[GROUP] = GROUP_DN
        organization.service_principals.append({**POINTER, "ServiceId": SERVICE_ID})
        organization.scopes.append(
            {"Name": SCOPE, "RecipientRestrictionFilter": f"MemberOfGroup -eq '{GROUP_DN}'"}
        )
        organization.assignments.append(assignment("Application EWS.AccessAsApp", SCOPE))
    return organization


def assignment(role: str, scope: str = "", assignee: str = SERVICE_ID) -> dict[str, object]:
    return {
        "Name": f"{role} {scope or 'org'}"[:64],
        "Role": role,
        "RoleAssignee": assignee,
        "RoleAssigneeName": assignee,
        "RoleAssigneeType": "ServicePrincipal",
        "CustomResourceScope": scope or None,
        "RecipientWriteScope": "CustomRecipientScope" if scope else "Organization",
        "Enabled": True,
    }


@pytest.fixture
def both(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> Iterator[Both]:  # noqa: F811
    monkeypatch.setenv("T2", EXCHANGE_TOKEN)
    exchange = FakeExchange(tenants={TENANT: declared_organization()})
    with serve(exchange) as endpoint:
        yield Both(setup, exchange, endpoint)


def run(
    both: Both, capsys: pytest.CaptureFixture[str], *extra: str, at: datetime | None = None
) -> tuple[int, str]:
    flags = (f"--exchange-endpoint={both.endpoint}", "--exchange-token-env=T2", *extra)
    code, out, err, _ = audit(both.graph, capsys, *flags, **({"at": at} if at else {}))
    assert err == ""
    return code, out


def codes(out: str) -> list[str]:
    return [line.split(":")[0].split()[-1] for line in out.splitlines() if "  exchange  " in line]


def test_the_exchange_side_as_declared_exits_0(
    both: Both, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(both, capsys)

    assert (code, out) == (
        0,
        "contoso: clean - nothing undeclared [1 Graph request, 5 Exchange requests]\n"
        "1 stack: 1 clean\n",
    )
    assert {call.cmdlet for call in both.exchange.calls} == {
        "Get-OrganizationConfig",
        "Get-ServicePrincipal",
        "Get-ManagementRoleAssignment",
        "Get-RoleGroup",
        "Get-ApplicationAccessPolicy",
    }
    assert both.exchange.writes() == []
    assert {call.headers["authorization"] for call in both.exchange.calls} == {
        f"Bearer {EXCHANGE_TOKEN}"
    }
    # The fake shows the allow list only with the switch: without it this run would report
    # ews-not-allowed, as the audit did before it asked for it.
    (read,) = [c for c in both.exchange.calls if c.cmdlet == "Get-OrganizationConfig"]
    assert read.parameters == {"RetrieveEwsOperationAccessPolicy": True}


def test_a_declared_mailbox_scope_as_declared_exits_0(
    both: Both, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack_file(both.graph.project, "  mimecast-association:" + SCOPED)
    both.exchange.tenants[TENANT] = declared_organization(scoped=True)

    code, out = run(both, capsys)

    assert code == 0, out
    assert out.splitlines()[0] == (
        "contoso: clean - nothing undeclared [1 Graph request, 7 Exchange requests]"
    )
    assert [c.parameters for c in both.exchange.calls if c.cmdlet == "Get-DistributionGroup"] == [
        {"Identity": GROUP}
    ]
    assert both.exchange.writes() == []


def test_every_planted_exchange_backdoor_is_named_as_a_command(both: Both) -> None:
    """The issue's acceptance, as a user runs it: 3 naming each, then 0 once undone."""
    write_stack_file(both.graph.project, "  mimecast-association:" + SCOPED)
    organization = declared_organization(scoped=True)
    organization.ews_enabled = False
    organization.allowed.remove(CLIENT)
    organization.assignments.append(assignment("Application Mail.Read"))  # by its ServiceId
    organization.assignments.append(assignment("Organization Management", assignee=CLIENT))
    organization.scopes[0]["RecipientRestrictionFilter"] = "RecipientType -eq 'UserMailbox'"
    organization.access_policies.append(
        {
            "Identity": "contoso\\a1b2",
            "AppId": CLIENT,
            "ScopeIdentity": "Board",
            "AccessRight": "DenyAccess",
        }
    )
    both.exchange.tenants[TENANT] = organization
    flags = ["--graph-endpoint", both.graph.endpoint, "--token-env", "T"]
    flags += ["--exchange-endpoint", both.endpoint, "--exchange-token-env", "T2"]

    def once() -> subprocess.CompletedProcess[str]:
        return audit_command(both.graph, flags, {"T": TOKEN, "T2": EXCHANGE_TOKEN})

    done = once()

    assert (done.returncode, done.stderr) == (3, ""), done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "contoso: findings - 6 findings (3 high, 1 medium, 2 low) "
        "[1 Graph request, 7 Exchange requests]"
    )
    exchange = [line for line in lines if "  exchange  " in line]
    assert exchange == [
        "  low     exchange  ews-disabled: EwsEnabled is $false: Exchange Online lets no app use "
        "EWS, so Mimecast cannot sync; paste the stack output exchangeOnline.ewsAllowList into "
        "Exchange Online PowerShell",
        f"  low     exchange  ews-not-allowed: the client ID {CLIENT} is not in EwsAllowedAppIDs: "
        "Mimecast cannot use EWS; paste the stack output exchangeOnline.ewsAllowList into "
        "Exchange Online PowerShell",
        "  high    exchange  exchange-role-assignment: holds the Exchange role 'Application "
        "Mail.Read' organization-wide (assignment 'Application Mail.Read org'); the stack "
        "declares at most Application EWS.AccessAsApp on its own mailbox scope",
        "  high    exchange  exchange-role-assignment: holds the Exchange role 'Organization "
        "Management' organization-wide (assignment 'Organization Management org'); the stack "
        "declares at most Application EWS.AccessAsApp on its own mailbox scope",
        f"  high    exchange  exchange-scope-filter: the management scope '{SCOPE}' filters "
        f"\"RecipientType -eq 'UserMailbox'\", not \"MemberOfGroup -eq '{GROUP_DN}'\": the app "
        "may reach other mailboxes than the group's",
        "  medium  exchange  application-access-policy: application access policy "
        "'contoso\\\\a1b2' (DenyAccess to Board) names the app: it changes which mailboxes the "
        "app reaches, outside the stack",
    ]
    assert f"note: {NOT_READ.message}" not in lines

    both.exchange.tenants[TENANT] = declared_organization(scoped=True)
    assert once().returncode == 0


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (lambda org: org.scopes.clear(), ["exchange-scope-missing"]),
        (
            lambda org: org.assignments.clear(),
            ["exchange-role-assignment-missing"],
        ),
        (  # the assignment names the pointer by its ServiceId: with it, it is gone too
            lambda org: org.service_principals.clear(),
            ["exchange-service-principal-missing", "exchange-role-assignment-missing"],
        ),
        (
            lambda org: org.service_principals.append(
                {"AppId": CLIENT, "ObjectId": OTHERS[0], "Identity": "decoy", "Name": "decoy"}
            ),
            ["exchange-service-principal"],
        ),
        (lambda org: org.groups.clear(), ["exchange-scope-group-missing"]),
        (
            lambda org: org.assignments.append(  # named by its object ID, on another scope
                assignment("Application EWS.AccessAsApp", "Everyone", assignee=SP)
            ),
            ["exchange-role-assignment"],
        ),
    ],
)
def test_each_scope_finding(
    both: Both, capsys: pytest.CaptureFixture[str], plant: object, expected: list[str]
) -> None:
    write_stack_file(both.graph.project, "  mimecast-association:" + SCOPED)
    organization = declared_organization(scoped=True)
    plant(organization)  # type: ignore[operator]
    both.exchange.tenants[TENANT] = organization

    code, out = run(both, capsys)

    assert (code, codes(out)) == (3, expected), out


def test_a_role_group_holding_our_app_is_named(
    both: Both, capsys: pytest.CaptureFixture[str]
) -> None:
    """The way app-only identities get Exchange roles: our app, by its pointer's name, in
    Organization Management; a role group of others is not ours."""
    both.organization.service_principals.append({**POINTER, "ServiceId": SERVICE_ID})
    both.organization.role_groups += [
        {
            "Name": "Organization Management",
            "Roles": ["Role Management", "Mail Recipients"],
            "Members": ["contoso.onmicrosoft.com/admin", f"contoso.onmicrosoft.com/{SP}"],
        },
        {"Name": "Help Desk", "Roles": ["View-Only Recipients"], "Members": ["x/helpdesk"]},
    ]

    code, out = run(both, capsys)

    assert code == 3
    assert (
        "  high    exchange  exchange-role-group: is a member of the Exchange role group "
        "'Organization Management' (Role Management, Mail Recipients): it holds those roles; "
        "the stack declares no role group"
    ) in out.splitlines()
    assert codes(out) == ["exchange-service-principal", "exchange-role-group"]


def test_without_a_scope_a_pointer_for_our_app_is_undeclared(
    both: Both, capsys: pytest.CaptureFixture[str]
) -> None:
    both.organization.service_principals.append({**POINTER, "ServiceId": SERVICE_ID})

    code, out = run(both, capsys)

    assert (code, codes(out)) == (3, ["exchange-service-principal"])


def test_from_the_ews_shutdown_the_allow_list_is_not_judged(
    both: Both, capsys: pytest.CaptureFixture[str]
) -> None:
    both.organization.ews_enabled = False
    both.organization.allowed.clear()
    at = datetime(2027, 4, 2, tzinfo=UTC)

    code, out = run(both, capsys, at=at)

    assert (code, codes(out)) == (0, []), out


def test_exchange_refusing_the_audit_is_the_stacks_error_naming_the_rights(
    both: Both, capsys: pytest.CaptureFixture[str]
) -> None:
    both.exchange.statuses["Get-ManagementRoleAssignment"] = 403

    code, out = run(both, capsys)

    assert code == 1
    assert out.splitlines()[0] == (
        f"contoso: error - Exchange Online: Exchange Online, tenant {TENANT}, "
        "Get-ManagementRoleAssignment: refused (HTTP 403): the audit's identity needs the "
        "Exchange.ManageAsApp application permission with admin consent (app-only) and the "
        "Exchange role group View-Only Organization Management (read-only) to run "
        "Get-ManagementRoleAssignment. Exchange said: Get-ManagementRoleAssignment could not be "
        "run. [1 Graph request, 5 Exchange requests]"
    )


@pytest.mark.parametrize(
    ("answer", "extra", "message"),
    [
        ("invalid", (), "Get-OrganizationConfig: the answer is not valid JSON"),
        ("oversized", (), "Get-OrganizationConfig: the answer"),  # is larger, or all are
        ("trickle", ("--tenant-timeout=0.5",), "no complete answer within the tenant's 0.5 s"),
        ("stall", ("--tenant-timeout=1",), "no complete answer within the tenant's 1 s"),
    ],
)
def test_a_broken_exchange_is_the_stacks_error_within_its_budget(
    both: Both,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    answer: str,
    extra: tuple[str, ...],
    message: str,
) -> None:
    both.exchange.answer = answer  # type: ignore[assignment]
    report = tmp_path / "audit.json"

    code, out = run(both, capsys, *extra, f"--json={report}")

    assert code == 1
    assert message in out.splitlines()[0]
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["stacks"][0]["status"] == "error"


def test_without_exchange_flags_the_report_says_what_is_not_read(
    both: Both, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report, markdown = tmp_path / "audit.json", tmp_path / "audit.md"

    code, *_ = audit(both.graph, capsys, f"--json={report}", f"--markdown={markdown}")

    assert code == 0
    assert both.exchange.calls == []
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["notes"] == [
        {"code": "exchange-not-read", "setting": None, "message": NOT_READ.message}
    ]
    assert document["stacks"][0]["exchangeRequests"] is None
    assert f"**Note:** {NOT_READ.message}" in markdown.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--exchange-endpoint=http://exchange.example"], "is not an Exchange Online endpoint"),
        (["--exchange-endpoint=https://user:pw@outlook.office365.com"], "user name or password"),
        (["--exchange-token-env=UNSET_VARIABLE"], "--exchange-token-env UNSET_VARIABLE: the"),
        (["--exchange-endpoint=https://exchange.example"], "no known Entra ID authority"),
    ],
)
def test_exchange_usage_errors(
    both: Both, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code, _, err, _ = audit(both.graph, capsys, *flags)

    assert code == 2
    assert message in err
    assert "pw" not in err


def test_hostile_values_from_exchange_are_escaped(
    both: Both, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    both.organization.assignments.append(
        {**assignment("Application Mail.Read", assignee=CLIENT), "Name": "x\x1b[2J|`y`\nz"}
    )
    markdown = tmp_path / "audit.md"

    code, out = run(both, capsys, f"--markdown={markdown}")

    assert code == 3
    assert "\x1b" not in out
    assert "\x1b" not in markdown.read_text(encoding="utf-8")
    assert codes(out) == ["exchange-role-assignment"]


def test_with_exchange_manage_the_fix_is_pulumi_up(
    both: Both, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack_file(both.graph.project, "  mimecast-association:exchange:\n    manage: true\n")
    both.organization.allowed.remove(CLIENT)

    code, out = run(both, capsys)

    assert code == 3
    assert (
        f"  low     exchange  ews-not-allowed: the client ID {CLIENT} is not in EwsAllowedAppIDs: "
        "Mimecast cannot use EWS; run `pulumi up` (exchange.manage is set)"
    ) in out.splitlines()
