"""Exchange Online around the association: the EWS retirement, the allow list, mailbox scoping.

The dates are Microsoft's (FACTS: EWS blocked by default from 2026-10-01, shut down on
2027-04-01) and are written out here rather than imported, so a wrong date in the package
fails these tests.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from certfactory import NOW, make_certificate
from powershell import assignments, cmdlets, named
from tenant import APPLICATION, ASSIGNMENT, TENANT, TENANT_DIRECTORY, program_with_certificates

from association.certificates import rfc3339
from association_tools.offline import ProgramRun, run_program
from association_tools.preflight.cli import main as preflight_main

SHUTDOWN = "2027-04-01"
GROUP = "mimecast-sync@contoso.com"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return program_with_certificates(tmp_path, current=make_certificate("Current"))


def deploy(project: Path, **settings: Any) -> ProgramRun:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
        **{
            f"mimecast-association:{key}": value if isinstance(value, str) else json.dumps(value)
            for key, value in settings.items()
        },
    }
    return run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=NOW
    )


def write_stacks(project: Path, **stacks: dict[str, Any]) -> None:
    for name, settings in stacks.items():
        config = {
            "azuread:tenantId": TENANT,
            "mimecast-association:certificates": ["certs/current.pem"],
            "mimecast-association:owners": ["aaaaaaaa-0000-0000-0000-000000000001"],
            **{f"mimecast-association:{key}": value for key, value in settings.items()},
        }
        (project / f"Pulumi.{name}.yaml").write_text(json.dumps({"config": config}))


def preflight_json(
    project: Path, capsys: pytest.CaptureFixture[str], now: str
) -> tuple[int, dict[str, Any]]:
    status = preflight_main(["--project-dir", str(project), "--now", now, "--json", "-"])
    return status, {s["stack"]: s for s in json.loads(capsys.readouterr().out)["stacks"]}


# --- the EWS retirement ------------------------------------------------------------------


def test_after_the_shutdown_every_stack_is_refused_unless_allowed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stacks(project, contoso={}, fabrikam={}, litware={"allowAfterEwsShutdown": True})
    status, stacks = preflight_json(project, capsys, "2027-04-02")
    assert status == 1
    for name in ("contoso", "fabrikam"):
        (error,) = stacks[name]["errors"]
        assert error["code"] == "ews-shut-down"
        assert error["setting"] == "mimecast-association:allowAfterEwsShutdown"
        assert f"shut down on {SHUTDOWN}" in error["message"]
        assert stacks[name]["plan"] is None
    assert stacks["litware"]["errors"] == []
    (warning,) = [w for w in stacks["litware"]["warnings"] if w["code"].startswith("ews")]
    assert warning["code"] == "ews-shutdown"
    assert f"shut down on {SHUTDOWN}" in warning["message"]
    assert stacks["litware"]["plan"] is not None


@pytest.mark.parametrize(
    ("now", "days"), [("2026-11-26T12:00:00Z", 125), ("2027-03-31T23:00:00Z", 0)]
)
def test_before_the_shutdown_every_stack_is_warned_with_the_days_left(
    project: Path, capsys: pytest.CaptureFixture[str], now: str, days: int
) -> None:
    write_stacks(project, contoso={}, broken={"expiryWarningDays": -1})
    status, stacks = preflight_json(project, capsys, now)
    assert status == 1
    for stack in stacks.values():  # a stack with errors hears of it too
        (warning,) = [w["message"] for w in stack["warnings"] if w["code"] == "ews-retirement"]
        assert f"({days} days left)" in warning
        assert "EwsEnabled $true" in warning
        assert "EwsAllowedAppIDs" in warning


def test_the_program_refuses_after_the_shutdown_with_nothing_registered(project: Path) -> None:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
    }
    later = NOW.replace(year=2027, month=4, day=2)
    run = run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=later
    )
    assert run.error is not None
    assert f"shut down on {SHUTDOWN}" in run.error
    assert run.resources == []


def test_every_run_warns_through_pulumi(project: Path) -> None:
    run = deploy(project)
    (warning,) = [w for w in run.warnings if SHUTDOWN in w]
    assert "(125 days left)" in warning


# --- the exchangeOnline output -----------------------------------------------------------


def test_the_allow_list_command_adds_this_client_id_and_keeps_the_others(project: Path) -> None:
    run = deploy(project)
    client_id = str(uuid.uuid5(uuid.NAMESPACE_OID, "mimecast"))
    commands = run.outputs["exchangeOnline"]
    assert set(commands) == {"ewsAllowList", "ewsCheck", "retire"}
    allow = commands["ewsAllowList"]
    assert assignments(allow) == {"appId": client_id}
    # Read the current list with the switch that shows it, then set the whole list back (ours
    # added) with EWS on.
    names = [c.name for c in cmdlets(allow)]
    assert names.index("Get-OrganizationConfig") < names.index("Set-OrganizationConfig")
    for script in commands.values():  # every read of the list asks for it
        for read in named(script, "Get-OrganizationConfig"):
            assert read.parameters == {"RetrieveEwsOperationAccessPolicy": ""}
    (setter,) = named(allow, "Set-OrganizationConfig")
    assert setter.parameters == {"EwsEnabled": "$true", "EwsAllowedAppIDs": "($ids -join ',')"}
    lines = [line.strip() for line in allow.splitlines()]
    assert "if ($ids -notcontains $appId) { $ids += $appId }" in lines
    # Where adding this app changes EWS for other apps (not restricted by app today, or off
    # with others listed), nothing is set unless $changeOtherApps says so.
    assert "$restricts = $null -eq $org.EwsEnabled -or ($org.EwsEnabled -and $ids.Count -eq 0)" in (
        lines
    )
    assert "$letsIn = $org.EwsEnabled -eq $false -and $others.Count -gt 0" in lines
    (guard,) = [line for line in lines if "-not $changeOtherApps" in line]
    assert guard.startswith("if (($restricts -or $letsIn) -and -not $changeOtherApps) {")
    assert guard.startswith("if (")
    assert guard.endswith("} else {")
    assert "$changeOtherApps = $false" in allow
    assert lines.index(guard) < lines.index(
        "Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs ($ids -join ',')"
    )
    retire = commands["retire"]
    assert assignments(retire) == {"appId": client_id}
    setters = [c.parameters for c in named(retire, "Set-OrganizationConfig")]
    # The others are written back; an empty list is left only with EWS off, or where the
    # switch is not $true (on with an empty list would stop restricting).
    assert setters == [
        {"EwsAllowedAppIDs": "($others -join ',')"},
        {"EwsEnabled": "$false", "EwsAllowedAppIDs": "$null"},
        {"EwsAllowedAppIDs": "$null"},
    ]
    assert "} elseif ($org.EwsEnabled -eq $true) {" in retire
    # Nothing is written unless this app is in the list (else $others is the whole list).
    (decision,) = [line for line in retire.splitlines() if line.startswith("if (")]
    assert decision.startswith("if ($ids -notcontains $appId) { 'This app is not in")
    assert "$others = @($ids | Where-Object { $_ -ne $appId })" in retire.splitlines()
    assert assignments(commands["ewsCheck"]) == {"appId": client_id}


def test_values_in_commands_reach_powershell_unchanged(project: Path) -> None:
    name, group = "O'Brien $(Remove-Item x)", "a'b@contoso.com"
    run = deploy(project, displayName=name, mailboxScope={"group": group})
    scope = run.outputs["exchangeOnline"]["scope"]
    (pointer,) = named(scope, "New-ServicePrincipal")
    assert pointer.parameters["DisplayName"] == name  # a literal: nothing in it runs
    (lookup,) = named(scope, "Get-DistributionGroup")
    assert lookup.parameters["Identity"] == group


# --- mailbox scoping ---------------------------------------------------------------------


def test_scoping_not_enforced_keeps_the_consent_and_says_it_has_no_effect(project: Path) -> None:
    run = deploy(project, mailboxScope={"group": GROUP})
    assert [r for r in run.resources if r.type == ASSIGNMENT]
    (notice,) = [n for n in run.notices if n.code == "scope-not-enforced"]
    assert "still reaches every mailbox" in notice.message
    scope = run.outputs["exchangeOnline"]["scope"]
    assert [c.name for c in cmdlets(scope)] == [
        "Get-DistributionGroup",
        "New-ServicePrincipal",
        "New-ManagementScope",
        "New-ManagementRoleAssignment",
    ]
    assert named(scope, "Get-DistributionGroup")[0].parameters == {"Identity": GROUP}
    (management_scope,) = named(scope, "New-ManagementScope")
    (assignment,) = named(scope, "New-ManagementRoleAssignment")
    assert management_scope.parameters["RecipientRestrictionFilter"] == (
        "\"MemberOfGroup -eq '$dn'\""
    )
    # The DN goes into OPATH's single quotes with any quote in it doubled (O'Neil).
    assert '$dn = $group.DistinguishedName -replace "\'", "\'\'"' in scope.splitlines()
    assert assignment.parameters == {
        "App": run.outputs["servicePrincipalObjectId"],  # its ObjectId, as the reference asks
        "Role": "Application EWS.AccessAsApp",
        "CustomResourceScope": management_scope.parameters["Name"],
    }
    check = run.outputs["exchangeOnline"]["scopeCheck"]
    assert [c.name for c in cmdlets(check)] == [
        "Get-DistributionGroupMember",
        "Test-ServicePrincipalAuthorization",
        "Format-Table",
    ]


def test_enforced_scoping_grants_nothing_tenant_wide(project: Path) -> None:
    run = deploy(project, mailboxScope={"group": GROUP, "enforce": True})
    assert run.error is None, run.error
    assert not [r for r in run.resources if r.type == ASSIGNMENT]
    (app,) = [r for r in run.resources if r.type == APPLICATION]
    assert app.inputs["requiredResourceAccesses"] == []
    assert GROUP in run.outputs["permissions"][0]
    scope = run.outputs["exchangeOnline"]["scope"]
    assert named(scope, "Get-DistributionGroup")[0].parameters == {"Identity": GROUP}


def test_preflight_states_the_order_before_enforcing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stacks(project, contoso={"mailboxScope": {"group": GROUP, "enforce": True}})
    status, stacks = preflight_json(project, capsys, rfc3339(NOW))
    assert status == 0
    (note,) = [
        n["message"] for n in stacks["contoso"]["notes"] if n["code"] == "scope-enforce-order"
    ]
    assert note.index("exchangeOnline.scope") < note.index("scopeCheck") < note.index("deploy")
    assert (
        "<clientId: pulumi stack output clientId>" in stacks["contoso"]["exchangeOnline"]["scope"]
    )


BAD_SCOPES = [
    ("no-group", {"enforce": True}, "mailboxScope.group is missing"),
    ("enforce-text", {"group": GROUP, "enforce": "yes"}, "enforce must be true or false"),
    ("unknown-field", {"group": GROUP, "groups": [GROUP]}, "which is not `group` or `enforce`"),
    ("empty-group", {"group": " "}, "mailboxScope.group is ' '"),
    ("forged-group", {"group": "a\nb"}, "control or line-break"),
    ("not-a-map", ["x"], "not a map"),
]


@pytest.mark.parametrize(
    ("scope", "expected"), [c[1:] for c in BAD_SCOPES], ids=[c[0] for c in BAD_SCOPES]
)
def test_bad_scopes_are_refused_with_nothing_registered(
    project: Path, scope: Any, expected: str
) -> None:
    run = deploy(project, mailboxScope=scope)
    assert run.error is not None
    assert expected in run.error
    assert run.resources == []
