"""Adopting under Application.ReadWrite.OwnedBy: the pipeline identity must own what it adopts.

After the import the first `pulumi up` updates the application (notes, owners) and its service
principal, and OwnedBy lets a caller change only what it owns and add no owner (Graph
permissions reference; application: Add owner). So a pipeline identity (app-only: the service
principal of its client ID is itself) that the adopted application does not list among its
owners is refused before anything is registered, with the commands of the owner step; a person
signed in with `az login` is not checked (the Azure CLI's client ID, terraform-provider-azuread
`internal/clients/builder.go`). docs/adoption.md#make-the-pipeline-an-owner.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from certfactory import NOW, make_certificate
from tenant import (
    APPLICATION,
    ASSIGNMENT,
    DEPLOYER,
    HAND_MADE_APP,
    SERVICE_PRINCIPAL,
    TENANT,
    TENANT_DIRECTORY,
    assignment_id,
    program_with_certificates,
)

from association.certificates import rfc3339
from association_tools.offline import AZURE_CLI_APP_ID, Directory, ProgramRun, run_program
from association_tools.preflight.cli import main as preflight_main

SP_OBJECT = "12345678-aaaa-4bbb-8ccc-000000000002"
ADMIN = "dddddddd-0000-4000-8000-000000000004"
"""The admin who made the app by hand: its only owner until the owner step."""
KEY = "mimecast-association:adopt.applicationObjectId"
ADOPT = {
    "applicationObjectId": HAND_MADE_APP,
    "servicePrincipalObjectId": SP_OBJECT,
    "appRoleAssignmentId": assignment_id(SP_OBJECT),
}
HAND_MADE = replace(TENANT_DIRECTORY, applications={HAND_MADE_APP: (ADMIN,)})
"""The tenant as the guide left it: the app's owner is the admin, not the pipeline."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return program_with_certificates(tmp_path, current=make_certificate("Current", serial=1))


def deploy(
    project: Path,
    directory: Directory,
    owners: list[str] | None = None,
    preview: bool = False,
) -> ProgramRun:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
        "mimecast-association:adopt": json.dumps(ADOPT),
    }
    if owners is not None:
        config["mimecast-association:owners"] = json.dumps(owners)
    return run_program(
        project / "__main__.py", "contoso", config, directory, preview=preview, now=NOW
    )


def owner_step(*owners: str) -> list[str]:
    graph = "https://graph.microsoft.com/v1.0"
    commands = []
    for owner in owners:
        commands.append(f"az ad app owner add --id {HAND_MADE_APP} --owner-object-id {owner}")
        body = json.dumps({"@odata.id": f"{graph}/directoryObjects/{owner}"})
        url = f"{graph}/servicePrincipals/{SP_OBJECT}/owners/$ref"
        commands.append(
            f"az rest --method POST --url {shlex.quote(url)} --body {shlex.quote(body)}"
        )
    return commands


def test_a_pipeline_that_does_not_own_the_adopted_app_is_refused_with_the_owner_step(
    project: Path,
) -> None:
    run = deploy(project, HAND_MADE, owners=[DEPLOYER, ADMIN])
    assert run.resources == []  # nothing registered, not even the component: nothing changes
    assert [(p.code, p.setting) for p in run.refusal] == [("adopt-deployer-not-owner", KEY)]
    (problem,) = run.refusal
    # The step names every command to run, exactly, for the pipeline identity only: the admin
    # owns the app already (the service principal's owners no lookup returns).
    for command in owner_step(DEPLOYER):
        assert f"`{command}`" in problem.message
    assert f"--owner-object-id {ADMIN}" not in problem.message
    assert "Cloud Application Administrator" in problem.message
    # The step ran: the same stack adopts the app in place, with no warning about owners.
    owned = replace(TENANT_DIRECTORY, applications={HAND_MADE_APP: (ADMIN, DEPLOYER)})
    run = deploy(project, owned, owners=[DEPLOYER, ADMIN])
    assert run.error is None, run.error
    (app,) = [r for r in run.resources if r.type == APPLICATION]
    assert app.import_id == f"/applications/{HAND_MADE_APP}"
    assert not [n for n in run.notices if n.code.startswith("adopt-owners")]


def test_a_preview_does_not_check_since_a_pull_requests_identity_owns_nothing(
    project: Path,
) -> None:
    """Previews change nothing, and a pull request's or the nightly drift's runs as the
    read-only identity: only `pulumi up` checks (and so refuses before changing anything)."""
    run = deploy(project, HAND_MADE, owners=[DEPLOYER, ADMIN], preview=True)
    assert run.error is None, run.error
    assert not [n for n in run.notices if n.code.startswith("adopt-")]


def test_the_owner_step_names_each_listed_owner_the_app_lacks(project: Path) -> None:
    """Without `owners` the deployer is the owner; with them, each missing one is added too,
    since OwnedBy "will not be sufficient to add another owner" in the first up."""
    other = "eeeeeeee-0000-4000-8000-000000000005"
    (problem,) = deploy(project, HAND_MADE).refusal
    assert f"--owner-object-id {DEPLOYER}" in problem.message
    (problem,) = deploy(project, HAND_MADE, owners=[other, ADMIN]).refusal
    for command in owner_step(DEPLOYER, other):
        assert f"`{command}`" in problem.message
    assert f"--owner-object-id {ADMIN}" not in problem.message


def test_a_pipeline_owning_the_app_is_warned_of_owners_its_first_up_would_add(
    project: Path,
) -> None:
    other = "eeeeeeee-0000-4000-8000-000000000005"
    run = deploy(project, TENANT_DIRECTORY, owners=[DEPLOYER, other])
    assert run.error is None, run.error
    (notice,) = [n for n in run.notices if n.code == "adopt-owners-to-add"]
    assert notice.setting == "mimecast-association:owners"
    assert "Application.ReadWrite.All" in notice.message
    for command in owner_step(other):
        assert f"`{command}`" in notice.message


def test_a_person_signed_in_with_az_is_not_checked(project: Path) -> None:
    """A user's object ID is not the Azure CLI's service principal: no app-only sign-in, and an
    admin role may update any application."""
    person = replace(HAND_MADE, deployer_client_id=AZURE_CLI_APP_ID, app_only=False)
    run = deploy(project, person)
    assert run.error is None, run.error
    assert {r.type for r in run.resources} >= {APPLICATION, SERVICE_PRINCIPAL, ASSIGNMENT}


def test_a_created_app_needs_no_owner_lookup(project: Path) -> None:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
    }
    tenant = replace(TENANT_DIRECTORY, applications={}, denied=frozenset({"getApplication"}))
    run = run_program(project / "__main__.py", "contoso", config, tenant, preview=False, now=NOW)
    assert run.error is None, run.error


@pytest.mark.parametrize(
    ("directory", "code", "fix"),
    [
        (replace(HAND_MADE, applications={}), "adopt-application-missing", "deletedItems/"),
        (
            replace(HAND_MADE, denied=frozenset({"getApplication"})),
            "permission-applications",
            "Application.Read.All",
        ),
    ],
    ids=["deleted-or-wrong-id", "may-not-read"],
)
def test_an_adopted_app_that_cannot_be_read_is_refused_with_the_fix(
    project: Path, directory: Directory, code: str, fix: str
) -> None:
    run = deploy(project, directory)
    assert run.resources == []
    assert [p.code for p in run.refusal] == [code]
    assert fix in run.error


def test_the_owner_problem_comes_with_every_other_tenant_problem_at_once(project: Path) -> None:
    directory = replace(HAND_MADE, denied=frozenset({"getDomains"}))
    run = deploy(project, directory)
    assert [p.code for p in run.refusal] == ["permission-domains", "adopt-deployer-not-owner"]
    # A denied service principal lookup is named once, not once per lookup.
    denied = replace(HAND_MADE, denied=frozenset({"getServicePrincipal"}))
    assert [p.code for p in deploy(project, denied).refusal] == ["permission-service-principals"]


def test_preflight_names_the_owner_step_before_the_first_deploy(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline nothing of the tenant is read: a note gives the step, with the owners listed
    and, with --deployer, the pipeline identity first."""
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": ["certs/current.pem"],
        "mimecast-association:owners": [ADMIN],
        "mimecast-association:adopt": ADOPT,
    }
    (project / "Pulumi.contoso.yaml").write_text(json.dumps({"config": config}))
    args = ["--project-dir", str(project), "--now", rfc3339(NOW), "--json", "-"]
    assert preflight_main([*args, "--deployer", DEPLOYER, "contoso"]) == 1  # not in owners
    (report,) = json.loads(capsys.readouterr().out)["stacks"]
    (note,) = [n for n in report["notes"] if n["code"] == "adopt-owner-step"]
    assert note["setting"] == KEY
    for command in owner_step(DEPLOYER, ADMIN):
        assert f"`{command}`" in note["message"]
    assert preflight_main([*args, "contoso"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["stacks"]
    (note,) = [n for n in report["notes"] if n["code"] == "adopt-owner-step"]
    assert owner_step(ADMIN)[0] in note["message"]
