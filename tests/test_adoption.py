"""Adopting the application made by hand (`adopt`): one `pulumi up` takes it over in place.

Under the SDK's mocks each resource must be declared with exactly the provider's import ID
(terraform-provider-azuread importers), the certificate with the keyId the app already has
and its key material ignored, and nothing declared twice; bad IDs are refused with nothing
registered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from certfactory import NOW, make_certificate
from tenant import (
    APPLICATION,
    ASSIGNMENT,
    CERTIFICATE,
    COMPONENT,
    EXCHANGE_SP,
    SERVICE_PRINCIPAL,
    TENANT,
    TENANT_DIRECTORY,
    program_with_certificates,
)

from association.certificates import parse_certificate, rfc3339
from association_tools.offline import DeclaredResource, ProgramRun, run_program
from association_tools.preflight.cli import main as preflight_main

APP_OBJECT = "12345678-aaaa-4bbb-8ccc-000000000001"
SP_OBJECT = "12345678-aaaa-4bbb-8ccc-000000000002"
ASSIGNMENT_ID = "FWyJXGCGQUebHgw2w4ndeUhsXyB2lsdMqIVT2rO0BbM"
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


def deploy(project: Path, adoption: dict[str, Any], **settings: str) -> ProgramRun:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem", "certs/next.pem"]',
        "mimecast-association:adopt": json.dumps(adoption),
        **settings,
    }
    return run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=NOW
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
    # Nothing declared twice: the guide's objects, once each.
    assert sorted(r.type for r in run.resources) == sorted(
        [COMPONENT, APPLICATION, CERTIFICATE, CERTIFICATE, SERVICE_PRINCIPAL, ASSIGNMENT]
    )


def test_a_listed_certificate_keeps_its_key_id_and_ignores_key_material(project: Path) -> None:
    run = deploy(project, adopt(project))
    current = thumbprint(project, "current.pem")
    adopted, added = sorted(
        by_type(run, CERTIFICATE), key=lambda r: r.inputs["keyId"] != OLD_KEY_ID
    )
    assert adopted.inputs["keyId"] == OLD_KEY_ID
    assert adopted.import_id == f"{APP_OBJECT}/certificate/{OLD_KEY_ID}"
    assert set(adopted.ignore_changes) == {"value", "encoding"}
    # A certificate not in keyIds is added as usual, with its own stable keyId.
    nxt = parse_certificate((project / "certs" / "next.pem").read_bytes(), "next")
    assert (added.import_id, added.ignore_changes) == ("", ())
    assert added.inputs["keyId"] == nxt.key_id
    exported = {c["thumbprint"]: c["keyId"] for c in run.outputs["certificates"]}
    assert exported[current] == OLD_KEY_ID


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
    ("thumbprint-unlisted", {"keyIds": {"A" * 40: OLD_KEY_ID}}, "adopt-key-id-unlisted", "keyIds"),
    ("key-ids-list", {"keyIds": [OLD_KEY_ID]}, "adopt-key-ids-invalid", "keyIds"),
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
    assert f"[protect, adopted: import /applications/{APP_OBJECT}]" in out
    assert f"adopted: import {APP_OBJECT}/certificate/{OLD_KEY_ID}" in out
    assert preflight_main([*args, "--json", "-"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["stacks"]
    imports = {r["type"]: r["importId"] for r in report["plan"]["resources"]}
    assert imports[SERVICE_PRINCIPAL] == f"/servicePrincipals/{SP_OBJECT}"
    # Exchange Online's service principal is looked up at deploy; preflight says so in place.
    assert imports[ASSIGNMENT] == (
        "/servicePrincipals/<object ID of Office 365 Exchange Online's service principal>"
        f"/appRoleAssignedTo/{ASSIGNMENT_ID}"
    )
