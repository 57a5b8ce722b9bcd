"""Adopting the application made by hand (`adopt`): one `pulumi up` takes it over in place.

Under the SDK's mocks each object must be declared with exactly the provider's import ID
(terraform-provider-azuread importers) and kept in the tenant whatever the engine deletes;
the key credentials made by hand are never imported (an imported ApplicationCertificate has no
`value` and fails every run: docs/adoption.md) and never declared a second
time; bad IDs are refused with nothing registered.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from certfactory import NOW, make_certificate
from docs_pages import blocks, section
from tenant import (
    APPLICATION,
    ASSIGNMENT,
    CERTIFICATE,
    COMPONENT,
    DEPLOYER,
    EXCHANGE_SP,
    HAND_MADE_APP,
    SERVICE_PRINCIPAL,
    TENANT,
    TENANT_DIRECTORY,
    assignment_id,
    program_with_certificates,
)

from association.certificates import parse_certificate, rfc3339
from association_tools.offline import (
    DeclaredResource,
    Directory,
    ProgramRun,
    run_program,
)
from association_tools.preflight.cli import main as preflight_main

APP_OBJECT = HAND_MADE_APP
SP_OBJECT = "12345678-aaaa-4bbb-8ccc-000000000002"

ASSIGNMENT_ID = assignment_id(SP_OBJECT)
OLD_KEY_ID = "6b1f0f3e-2b7a-4c7e-9a55-0c5b1f6d2e11"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return program_with_certificates(
        tmp_path,
        current=make_certificate("Current", serial=1),
        next=make_certificate("Next", serial=2),
    )


def thumbprint(project: Path, name: str) -> str:
    return parse_certificate((project / "certs" / name).read_bytes(), name).thumbprint


def adopt(project: Path, **fields: Any) -> dict[str, Any]:
    return {
        "applicationObjectId": APP_OBJECT,
        "servicePrincipalObjectId": SP_OBJECT,
        "appRoleAssignmentId": ASSIGNMENT_ID,
        "keyIds": {thumbprint(project, "current.pem").lower(): OLD_KEY_ID},
        **fields,
    }


def deploy(
    project: Path,
    adoption: dict[str, Any],
    directory: Directory = TENANT_DIRECTORY,
    **settings: str,
) -> ProgramRun:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem", "certs/next.pem"]',
        "mimecast-association:adopt": json.dumps(adoption),
        **settings,
    }
    return run_program(
        project / "__main__.py", "contoso", config, directory, preview=False, now=NOW
    )


def by_type(run: ProgramRun, type_: str) -> list[DeclaredResource]:
    return [r for r in run.resources if r.type == type_]


def test_each_hand_made_object_is_imported_with_the_providers_id(project: Path) -> None:
    run = deploy(project, adopt(project))
    assert run.error is None, run.error
    (app,) = by_type(run, APPLICATION)
    (sp,) = by_type(run, SERVICE_PRINCIPAL)
    (assignment,) = by_type(run, ASSIGNMENT)
    assert app.import_id == f"/applications/{APP_OBJECT}"
    assert sp.import_id == f"/servicePrincipals/{SP_OBJECT}"
    assert assignment.import_id == (
        f"/servicePrincipals/{EXCHANGE_SP}/appRoleAssignedTo/{ASSIGNMENT_ID}"
    )
    # Nothing declared twice: the hand-made credential is not declared again; `next` is added.
    assert sorted(r.type for r in run.resources) == sorted(
        [COMPONENT, APPLICATION, CERTIFICATE, SERVICE_PRINCIPAL, ASSIGNMENT]
    )


def test_adopted_objects_stay_in_the_tenant_whatever_the_engine_deletes(project: Path) -> None:
    """A changed adopt ID is an import replacement: its delete step skips `protect` but keeps
    an object marked retain-on-delete (pulumi/pulumi DeleteStep.Apply)."""
    first = deploy(project, adopt(project))
    another = "12345678-aaaa-4bbb-8ccc-000000000003"  # another hand-made app, also owned
    tenant = replace(TENANT_DIRECTORY, applications={another: (DEPLOYER,)})
    changed = deploy(project, adopt(project, applicationObjectId=another), tenant)
    unprotected = deploy(project, adopt(project), **{"mimecast-association:protect": "false"})
    for run in (first, changed, unprotected):
        (app,) = by_type(run, APPLICATION)
        (sp,) = by_type(run, SERVICE_PRINCIPAL)
        assert (app.retain_on_delete, sp.retain_on_delete) == (True, True)
        # The consent is deleted on purpose when scoping is enforced: it is not retained.
        (assignment,) = by_type(run, ASSIGNMENT)
        assert assignment.retain_on_delete is False
    (adopted,) = by_type(first, APPLICATION)
    assert adopted.inputs["preventDuplicateNames"] is False  # never created: nothing to protect


def created(project: Path, **settings: str) -> ProgramRun:
    config = {"azuread:tenantId": TENANT, "mimecast-association:certificates": '["certs/next.pem"]'}
    return run_program(
        project / "__main__.py",
        "contoso",
        {**config, **settings},
        TENANT_DIRECTORY,
        preview=False,
        now=NOW,
    )


def test_a_protected_application_the_stack_created_is_kept_when_adopt_replaces_it(
    project: Path,
) -> None:
    """A stack that made its own app and then gets `adopt`: the import replacement deletes the
    old app unless the OLD state has retainOnDelete, so every protected deploy records it."""
    run = created(project)
    (app,) = by_type(run, APPLICATION)
    (sp,) = by_type(run, SERVICE_PRINCIPAL)
    assert (app.protect, app.retain_on_delete) == (True, True)
    assert (sp.protect, sp.retain_on_delete) == (True, True)
    assert app.inputs["preventDuplicateNames"] is True
    # Unprotected (the retirement runbook's `pulumi up` before `pulumi destroy`): deleted.
    run = created(project, **{"mimecast-association:protect": "false"})
    (app,) = by_type(run, APPLICATION)
    (sp,) = by_type(run, SERVICE_PRINCIPAL)
    assert (app.protect, app.retain_on_delete, sp.retain_on_delete) == (False, False, False)
    # Its certificates are never retained: rotation deletes the retired one.
    assert {c.retain_on_delete for c in by_type(run, CERTIFICATE)} == {False}


def test_a_hand_made_credential_is_left_as_it_is_and_never_imported(project: Path) -> None:
    run = deploy(project, adopt(project))
    current = thumbprint(project, "current.pem")
    nxt = parse_certificate((project / "certs" / "next.pem").read_bytes(), "next")
    (added,) = by_type(run, CERTIFICATE)
    assert (added.import_id, added.ignore_changes) == ("", ())
    assert added.inputs["keyId"] == nxt.key_id
    exported = {c["thumbprint"]: (c["keyId"], c["managed"]) for c in run.outputs["certificates"]}
    assert exported == {current: (OLD_KEY_ID, False), nxt.thumbprint: (nxt.key_id, True)}
    (kept,) = [n for n in run.notices if n.code == "hand-made-credential-kept"]
    assert kept.setting == "mimecast-association:certificates[0]"
    assert OLD_KEY_ID in kept.message


def test_the_customkeyidentifier_az_prints_is_taken_for_the_thumbprint(project: Path) -> None:
    current = thumbprint(project, "current.pem")
    base64_thumbprint = base64.b64encode(bytes.fromhex(current)).decode()
    run = deploy(project, adopt(project, keyIds={base64_thumbprint: OLD_KEY_ID.upper()}))
    assert run.error is None, run.error
    assert len(by_type(run, CERTIFICATE)) == 1  # the hand-made one is recognised
    assert {c["keyId"] for c in run.outputs["certificates"]} >= {OLD_KEY_ID}


def test_a_hand_made_credential_of_another_certificate_is_named_for_removal(
    project: Path,
) -> None:
    retired = "AB" * 20
    run = deploy(project, adopt(project, keyIds={retired: OLD_KEY_ID}))
    assert len(by_type(run, CERTIFICATE)) == 2  # both listed certificates are the stack's
    (notice,) = [n for n in run.notices if n.code == "hand-made-credential-retired"]
    assert notice.setting == "mimecast-association:adopt.keyIds"
    assert f"az ad app credential delete --id {APP_OBJECT} --key-id {OLD_KEY_ID}" in notice.message


def test_adopt_with_enforced_scoping_keeps_the_consent_until_it_is_in_state(
    project: Path,
) -> None:
    """Step 1: the hand-made consent is imported, still requested, reported as still granted."""
    scope = json.dumps({"group": "mimecast-sync@contoso.com", "enforce": True})
    run = deploy(project, adopt(project), **{"mimecast-association:mailboxScope": scope})
    assert run.error is None, run.error
    (assignment,) = by_type(run, ASSIGNMENT)
    assert assignment.import_id.endswith(ASSIGNMENT_ID)
    (app,) = by_type(run, APPLICATION)
    # Requested as long as it is granted: the policy pack refuses a consent nobody requests.
    assert app.inputs["requiredResourceAccesses"] != []
    assert "STILL GRANTED" in run.outputs["permissions"][0]
    assert [n.code for n in run.notices if n.code.startswith("scope")] == ["scope-enforce-pending"]
    # Step 2: removeConsent: the stack declares no consent and requests nothing, so the engine
    # deletes the one in state (a resource no longer declared is deleted; it is not retained).
    run = deploy(
        project,
        adopt(project, removeConsent=True),
        **{"mimecast-association:mailboxScope": scope},
    )
    assert run.error is None, run.error
    assert by_type(run, ASSIGNMENT) == []
    (app,) = by_type(run, APPLICATION)
    assert app.inputs["requiredResourceAccesses"] == []
    assert run.outputs["permissions"][0].startswith("No permission granted in Entra ID")
    (removal,) = [n for n in run.notices if n.code == "consent-removal"]
    # If step 1 was skipped, the consent is still there: the warning says how to delete it.
    assert f"servicePrincipals/{SP_OBJECT}/appRoleAssignments/{ASSIGNMENT_ID}" in removal.message


def test_a_consent_once_imported_is_declared_without_import(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`consentImported`: the same assignment, declared with no import ID, so a refresh that
    found it deleted in the portal is followed by its create, not by an import that fails every
    run. The application and service principal are still imported."""
    run = deploy(project, adopt(project, consentImported=True))
    assert run.error is None, run.error
    (assignment,) = by_type(run, ASSIGNMENT)
    assert assignment.import_id == ""
    assert assignment.inputs["appRoleId"] == "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
    assert assignment.inputs["resourceObjectId"] == EXCHANGE_SP
    (app,) = by_type(run, APPLICATION)
    (sp,) = by_type(run, SERVICE_PRINCIPAL)
    assert (app.import_id, sp.import_id) == (
        f"/applications/{APP_OBJECT}",
        f"/servicePrincipals/{SP_OBJECT}",
    )
    # Preflight shows it: no import on the consent, and a note on what the flag means.
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": ["certs/current.pem"],
        "mimecast-association:owners": [DEPLOYER],
        "mimecast-association:adopt": adopt(project, consentImported=True),
    }
    (project / "Pulumi.contoso.yaml").write_text(json.dumps({"config": config}))
    args = ["--project-dir", str(project), "--now", rfc3339(NOW), "--json", "-", "contoso"]
    assert preflight_main(args) == 0
    (report,) = json.loads(capsys.readouterr().out)["stacks"]
    imports = {r["type"]: r["importId"] for r in report["plan"]["resources"]}
    assert imports[ASSIGNMENT] is None
    assert imports[APPLICATION] == f"/applications/{APP_OBJECT}"
    (note,) = [n for n in report["notes"] if n["code"] == "consent-imported"]
    assert note["setting"] == "mimecast-association:adopt.consentImported"
    assert "Permission being assigned already exists" in note["message"]


def test_consent_imported_with_remove_consent_declares_no_consent(project: Path) -> None:
    scope = json.dumps({"group": "mimecast-sync@contoso.com", "enforce": True})
    run = deploy(
        project,
        adopt(project, removeConsent=True, consentImported=True),
        **{"mimecast-association:mailboxScope": scope},
    )
    assert run.error is None, run.error
    assert by_type(run, ASSIGNMENT) == []


def test_the_consent_is_always_named_and_removed_only_with_scoping(project: Path) -> None:
    fields = {k: v for k, v in adopt(project, appRoleAssignmentId=None).items() if v is not None}
    scope = json.dumps({"group": "mimecast-sync@contoso.com", "enforce": True})
    for settings in ({}, {"mimecast-association:mailboxScope": scope}):
        run = deploy(project, fields, **settings)
        assert [(p.code, p.setting) for p in run.refusal] == [
            ("adopt-id-invalid", "mimecast-association:adopt.appRoleAssignmentId")
        ]
        assert run.resources == []
    run = deploy(project, adopt(project, removeConsent=True))
    assert [p.code for p in run.refusal] == ["adopt-remove-consent-without-enforce"]


def test_another_principals_consent_is_refused(project: Path) -> None:
    other = assignment_id("99999999-aaaa-4bbb-8ccc-000000000009")
    run = deploy(project, adopt(project, appRoleAssignmentId=other))
    assert [p.code for p in run.refusal] == ["adopt-assignment-other-principal"]
    assert "99999999-aaaa-4bbb-8ccc-000000000009" in run.error
    assert run.resources == []


def test_ids_as_entra_shows_them_are_accepted_in_either_case(project: Path) -> None:
    run = deploy(
        project,
        adopt(
            project,
            applicationObjectId=f"/applications/{APP_OBJECT.upper()}",
            servicePrincipalObjectId=SP_OBJECT.upper(),
        ),
    )
    (app,) = by_type(run, APPLICATION)
    (sp,) = by_type(run, SERVICE_PRINCIPAL)
    assert (app.import_id, sp.import_id) == (
        f"/applications/{APP_OBJECT}",
        f"/servicePrincipals/{SP_OBJECT}",
    )


ADOPT = "mimecast-association:adopt"
BAD = [
    ("missing-field", {"appRoleAssignmentId": None}, "adopt-id-invalid", "appRoleAssignmentId"),
    ("app-not-guid", {"applicationObjectId": "contoso"}, "adopt-id-invalid", "applicationObjectId"),
    (
        "sp-path-of-app",
        {"servicePrincipalObjectId": f"/applications/{SP_OBJECT}"},
        "adopt-id-invalid",
        "servicePrincipalObjectId",
    ),
    ("assignment-short", {"appRoleAssignmentId": "abc"}, "adopt-id-invalid", "appRoleAssignmentId"),
    ("unknown-field", {"clientId": "x"}, "adopt-unknown-field", "clientId"),
    ("thumbprint-bad", {"keyIds": {"xyz": OLD_KEY_ID}}, "adopt-key-ids-invalid", "keyIds"),
    ("key-id-bad", {"keyIds": {"A" * 40: "nope"}}, "adopt-key-ids-invalid", "keyIds"),
    (
        "assignment-43-not-base64url",
        {"appRoleAssignmentId": "a" * 42 + "!"},
        "adopt-id-invalid",
        "appRoleAssignmentId",
    ),
    ("key-ids-list", {"keyIds": [OLD_KEY_ID]}, "adopt-key-ids-invalid", "keyIds"),
    (
        "consent-imported-text",
        {"consentImported": "yes"},
        "adopt-consent-imported-type",
        "consentImported",
    ),
]


@pytest.mark.parametrize(
    ("fields", "code", "field"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_adopt_values_are_refused_with_nothing_registered(
    project: Path, fields: dict[str, Any], code: str, field: str
) -> None:
    adoption = {k: v for k, v in adopt(project, **fields).items() if v is not None}
    run = deploy(project, adoption)
    assert run.error is not None
    assert [(p.code, p.setting) for p in run.refusal] == [(code, f"{ADOPT}.{field}")]
    assert run.resources == []


def test_preflight_shows_which_ids_are_imported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": ["certs/current.pem"],
        "mimecast-association:owners": ["aaaaaaaa-0000-0000-0000-000000000001"],
        "mimecast-association:adopt": adopt(project),
    }
    (project / "Pulumi.contoso.yaml").write_text(json.dumps({"config": config}))
    args = ["--project-dir", str(project), "--now", rfc3339(NOW), "contoso"]
    assert preflight_main(args) == 0
    out = capsys.readouterr().out
    assert f"[protect, retain on delete, adopted: import /applications/{APP_OBJECT}]" in out
    assert "/certificate/" not in out  # key credentials are never imported
    assert preflight_main([*args, "--json", "-"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["stacks"]
    imports = {r["type"]: r["importId"] for r in report["plan"]["resources"]}
    assert imports[SERVICE_PRINCIPAL] == f"/servicePrincipals/{SP_OBJECT}"
    # Exchange Online's service principal is looked up at deploy; preflight says so in place.
    assert imports[ASSIGNMENT] == (
        "/servicePrincipals/<object ID of Office 365 Exchange Online's service principal>"
        f"/appRoleAssignedTo/{ASSIGNMENT_ID}"
    )
    # The adopted IDs are shown as the values the import reads, not as created at deploy.
    outputs = report["plan"]["outputs"]
    assert outputs["applicationObjectId"] == APP_OBJECT
    assert outputs["servicePrincipalObjectId"] == SP_OBJECT
    assert outputs["clientId"] == {"unknown": "readAtDeploy"}


@pytest.mark.parametrize(
    ("page", "heading"),
    [("README.md", "2. Write the stack file"), ("docs/adoption.md", "Write the stack file")],
)
def test_the_documented_adoption_stack_file_passes_preflight_with_the_adoption_plan(
    page: str, heading: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Followed literally: the stack file the docs show, with only `az` output in it, is
    accepted."""
    written = section(page, heading)
    (block,) = [
        b
        for b in blocks(page)
        if b.language == "yaml"
        and "  mimecast-association:adopt:" in b.lines
        and "\n".join(b.lines) in written
    ]
    stack_file = "\n".join(block.lines) + "\n"
    project = program_with_certificates(tmp_path, **{"mimecast-2026": make_certificate("2026")})
    (project / "Pulumi.contoso.yaml").write_text(stack_file)
    args = ["--project-dir", str(project), "--now", rfc3339(NOW), "--json", "-", "contoso"]
    assert preflight_main(args) == 0
    (report,) = json.loads(capsys.readouterr().out)["stacks"]
    assert report["errors"] == []
    imports = {r["type"]: r["importId"] for r in report["plan"]["resources"]}
    assert imports[APPLICATION] == "/applications/3f2a6c1e-8b4d-4e21-9c57-0a1b2c3d4e5f"
    assert imports[SERVICE_PRINCIPAL] == "/servicePrincipals/7d9e0f12-3456-4789-abcd-ef0123456789"
    assert imports[ASSIGNMENT].endswith(
        "/appRoleAssignedTo/Eg-efVY0iUerze8BI0VniY0sR7HmqU8DtcfZHiD0prg"
    )


def test_every_adopt_problem_is_named_at_once(project: Path) -> None:
    fields = {"applicationObjectId": "x", "removeConsent": "no", "consentImported": 1}
    run = deploy(project, adopt(project, **fields))
    assert [(p.code, p.setting) for p in run.refusal] == [
        ("adopt-id-invalid", f"{ADOPT}.applicationObjectId"),
        ("adopt-remove-consent-type", f"{ADOPT}.removeConsent"),
        ("adopt-consent-imported-type", f"{ADOPT}.consentImported"),
    ]
    assert run.resources == []
