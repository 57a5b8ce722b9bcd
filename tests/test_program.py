"""The whole `__main__.py` under the Pulumi SDK's mocks: what `pulumi up` would declare."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from certfactory import NOW, make_certificate, pem
from tenant import (
    APPLICATION,
    ASSIGNMENT,
    CERTIFICATE,
    COMPONENT,
    DEPLOYER,
    EXCHANGE_APP,
    EXCHANGE_SP,
    FULL_ACCESS,
    OTHER_TENANT,
    PROJECT,
    SERVICE_PRINCIPAL,
    TENANT,
    TENANT_DIRECTORY,
    copy_program,
)

from association.certificates import parse_certificate, rfc3339
from association_tools.offline import (
    KNOWN_AFTER_DEPLOY,
    DeclaredResource,
    Directory,
    ProgramRun,
    run_program,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the program with two valid generated certificates beside it."""
    copy_program(tmp_path)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "current.pem").write_bytes(pem(make_certificate(serial=1)))
    (tmp_path / "certs" / "next.pem").write_bytes(
        pem(make_certificate(serial=2, not_after=NOW + timedelta(days=20)))
    )
    return tmp_path


def config(**settings: object) -> dict[str, str]:
    values: dict[str, object] = {"certificates": ["certs/current.pem", "certs/next.pem"]}
    values.update(settings)
    raw = {"azuread:tenantId": TENANT}
    for key, value in values.items():
        raw[f"mimecast-association:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return raw


def deploy(
    project: Path, directory: Directory = TENANT_DIRECTORY, **settings: object
) -> ProgramRun:
    return run_program(
        project / "__main__.py", "contoso", config(**settings), directory, preview=False, now=NOW
    )


def one(resources: list[DeclaredResource], type_: str) -> DeclaredResource:
    (resource,) = [r for r in resources if r.type == type_]
    return resource


def test_declares_exactly_the_guides_resources(project: Path) -> None:
    run = deploy(project)
    assert run.error is None
    assert sorted(r.type for r in run.resources) == sorted(
        [COMPONENT, APPLICATION, CERTIFICATE, CERTIFICATE, SERVICE_PRINCIPAL, ASSIGNMENT]
    )


def test_application_is_single_tenant_with_only_full_access_as_app(project: Path) -> None:
    app = one(deploy(project).resources, APPLICATION)
    assert app.inputs == {
        "displayName": "Mimecast Cloud Synchronization",
        "signInAudience": "AzureADMyOrg",
        "owners": [DEPLOYER],
        "preventDuplicateNames": True,
        "notes": (
            "Managed by Pulumi project mimecast-association, stack contoso: Mimecast server "
            "connection (Office 365 association). Change it there, not here."
        ),
        "requiredResourceAccesses": [
            {
                "resourceAppId": EXCHANGE_APP,
                "resourceAccesses": [{"id": FULL_ACCESS, "type": "Role"}],
            }
        ],
    }
    assert app.protect is True


def test_one_key_credential_per_certificate_never_a_key(project: Path) -> None:
    run = deploy(project)
    certificates = sorted(
        (r for r in run.resources if r.type == CERTIFICATE), key=lambda r: r.inputs["endDate"]
    )
    expected = sorted(
        (
            parse_certificate((project / "certs" / name).read_bytes(), name)
            for name in ("current.pem", "next.pem")
        ),
        key=lambda c: c.end_date,
    )
    application_id = f"/applications/{app_object_id()}"
    for resource, cert in zip(certificates, expected, strict=True):
        assert resource.name == f"mimecast-cert-{cert.thumbprint[:16].lower()}"
        assert resource.inputs == {
            "applicationId": application_id,
            "type": "AsymmetricX509Cert",
            "encoding": "pem",
            "value": cert.pem,
            "keyId": cert.key_id,
            "startDate": cert.start_date,
            "endDate": cert.end_date,
        }
        assert "PRIVATE" not in resource.inputs["value"]
        assert resource.delete_before_replace is True
        assert resource.protect is False


def app_object_id() -> str:
    """The object ID the offline engine gives the application, as the provider would."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{APPLICATION}::mimecast"))


def test_service_principal_and_admin_consent(project: Path) -> None:
    run = deploy(project)
    sp = one(run.resources, SERVICE_PRINCIPAL)
    assignment = one(run.resources, ASSIGNMENT)
    assert sp.inputs["clientId"] == run.outputs["clientId"]
    assert sp.inputs["owners"] == [DEPLOYER]
    assert sp.protect is True
    assert assignment.name == "mimecast-full-access-as-app"
    assert assignment.inputs == {
        "appRoleId": FULL_ACCESS,
        "principalObjectId": run.outputs["servicePrincipalObjectId"],
        "resourceObjectId": EXCHANGE_SP,
    }


def test_every_resource_is_a_child_of_the_component(project: Path) -> None:
    run = deploy(project)
    component = one(run.resources, COMPONENT)
    assert component.parent.endswith("::pulumi:pulumi:Stack::mimecast-association-contoso")
    children = [r for r in run.resources if r is not component]
    assert len(children) == 5
    assert all(r.parent == component.urn for r in children)


def test_configured_owners_are_exactly_those_with_a_warning_for_the_deployer(
    project: Path,
) -> None:
    owners = ["cccccccc-0000-0000-0000-000000000003", "dddddddd-0000-0000-0000-000000000004"]
    run = deploy(project, owners=owners)
    assert one(run.resources, APPLICATION).inputs["owners"] == owners
    assert one(run.resources, SERVICE_PRINCIPAL).inputs["owners"] == owners
    (warning,) = [w for w in run.warnings if "owners" in w]
    assert f"The deploying identity {DEPLOYER} is not among mimecast-association:owners" in warning
    assert "Application.ReadWrite.OwnedBy" in warning
    assert not [w for w in deploy(project, owners=[*owners, DEPLOYER]).warnings if "owners" in w]


def test_protect_false_unprotects_application_and_service_principal(project: Path) -> None:
    run = deploy(project, protect=False)
    assert not any(r.protect for r in run.resources)


def test_outputs_are_what_mimecasts_form_asks_for(project: Path) -> None:
    run = deploy(project)
    app = one(run.resources, APPLICATION)
    assert run.outputs["clientId"] == str(uuid.uuid5(uuid.NAMESPACE_OID, "mimecast"))
    assert run.outputs["tenantId"] == TENANT
    assert run.outputs["tenantDomain"] == "contoso.onmicrosoft.com"
    assert run.outputs["applicationObjectId"] == app_object_id()
    assert run.outputs["servicePrincipalObjectId"]
    assert app.name == "mimecast"
    current = parse_certificate((project / "certs" / "current.pem").read_bytes(), "current")
    assert run.outputs["certificates"][0] == {
        "customKeyIdentifier": current.custom_key_identifier,
        "thumbprint": current.thumbprint,
        "keyId": current.key_id,
        "notBefore": current.start_date,
        "notAfter": current.end_date,
        "subject": "O=Mimecast Services Limited,CN=Mimecast Test",
        "managed": True,
    }
    assert run.outputs["permissions"] == [
        "Office 365 Exchange Online / full_access_as_app (application permission, admin "
        "consent granted): Use Exchange Web Services with full access to all mailboxes"
    ]


def test_preview_marks_what_only_a_deploy_knows(project: Path) -> None:
    run = run_program(
        project / "__main__.py", "contoso", config(), TENANT_DIRECTORY, preview=True, now=NOW
    )
    assert run.outputs["clientId"] is KNOWN_AFTER_DEPLOY
    assert run.outputs["servicePrincipalObjectId"] is KNOWN_AFTER_DEPLOY
    assert one(run.resources, ASSIGNMENT).inputs["principalObjectId"] is KNOWN_AFTER_DEPLOY
    assert run.outputs["tenantDomain"] == "contoso.onmicrosoft.com"


def test_same_settings_give_identical_inputs_every_run(project: Path) -> None:
    first, second = deploy(project), deploy(project)
    # Registration order may vary (it is asynchronous); what each resource receives may not.
    assert {r.urn: r.inputs for r in first.resources} == {r.urn: r.inputs for r in second.resources}
    assert len(first.resources) == 6
    assert first.outputs == second.outputs


def test_expiring_certificate_gives_a_warning_with_date_and_days(project: Path) -> None:
    run = deploy(project)
    nxt = parse_certificate((project / "certs" / "next.pem").read_bytes(), "next")
    (warning,) = [w for w in run.warnings if "certs/next.pem" in w]
    assert f"certs/next.pem (thumbprint {nxt.thumbprint}" in warning
    assert f"expires on {nxt.end_date} (20 days left)" in warning
    assert [n.code for n in run.notices] == [
        "ews-allow-list-manual",
        "certificate-expiry",
        "ews-retirement",
    ]
    assert [n.code for n in deploy(project, expiryWarningDays=10).notices] == [
        "ews-allow-list-manual",
        "ews-retirement",
    ]


def test_failing_check_registers_no_resource(project: Path) -> None:
    run = deploy(project, certificates=["certs/current.pem", "certs/missing.pem"], owners=["x"])
    assert run.resources == []
    assert run.error is not None
    assert [(p.code, p.setting) for p in run.refusal] == [
        ("certificate-file-missing", "mimecast-association:certificates[1]"),
        ("owner-invalid", "mimecast-association:owners[0]"),
    ]
    # What Pulumi prints: a heading that says nothing changed, then the problems numbered.
    assert "nothing was created or changed in the tenant. Fix 2 problems:" in run.error
    for number, problem in enumerate(run.refusal, 1):
        assert f"  {number}. {problem.message}" in run.error


def test_shipped_default_configuration_fails_on_the_expired_certificate() -> None:
    run = run_program(
        PROJECT / "__main__.py",
        "contoso",
        {"azuread:tenantId": TENANT},
        TENANT_DIRECTORY,
        preview=True,
        now=NOW,
    )
    assert run.resources == []
    assert run.error is not None
    assert [(p.code, p.setting) for p in run.refusal] == [
        ("certificate-expired", "mimecast-association:certificates[0]")
    ]
    assert "certs/mimecast.pem" in run.error


def test_wrong_tenant_is_refused_before_anything_is_declared(project: Path) -> None:
    other = Directory(OTHER_TENANT, DEPLOYER, EXCHANGE_SP, "fabrikam.onmicrosoft.com")
    run = deploy(project, directory=other)
    assert run.resources == []
    assert run.error is not None
    assert [p.code for p in run.refusal] == ["tenant-mismatch"]
    assert f"signed in to tenant {OTHER_TENANT}" in run.error


def test_tenant_without_exchange_online_is_refused(project: Path) -> None:
    run = deploy(project, directory=Directory(TENANT, DEPLOYER, None, "contoso.onmicrosoft.com"))
    assert run.resources == []
    assert run.error is not None
    assert [p.code for p in run.refusal] == ["exchange-online-missing"]


def test_unexpected_full_access_role_id_is_refused(project: Path) -> None:
    odd = Directory(
        TENANT,
        DEPLOYER,
        EXCHANGE_SP,
        "contoso.onmicrosoft.com",
        full_access_role_id="00000000-1111-2222-3333-444444444444",
    )
    run = deploy(project, directory=odd)
    assert run.resources == []
    assert run.error is not None
    assert [p.code for p in run.refusal] == ["role-id-unexpected"]
    assert "'00000000-1111-2222-3333-444444444444'" in run.error


@pytest.mark.parametrize(
    ("denied", "code", "fix"),
    [
        ("getClientConfig", "deployer-unreadable", "az login --tenant"),
        ("getServicePrincipal", "permission-service-principals", "Application.Read.All"),
        ("getDomains", "permission-domains", "Domain.Read.All"),
    ],
)
def test_a_lookup_the_identity_may_not_make_is_refused_with_the_permission_to_grant(
    project: Path, denied: str, code: str, fix: str
) -> None:
    directory = replace(TENANT_DIRECTORY, denied=frozenset({denied}))
    run = deploy(project, directory=directory)
    assert run.resources == []
    assert run.error is not None
    assert [p.code for p in run.refusal] == [code]
    assert fix in run.error
    assert "Authorization_RequestDenied" in run.error


def test_a_tenant_without_an_initial_domain_is_refused(project: Path) -> None:
    run = deploy(project, directory=replace(TENANT_DIRECTORY, initial_domain=None))
    assert run.resources == []
    assert run.error is not None
    assert [p.code for p in run.refusal] == ["initial-domain-missing"]


def test_owners_are_sent_in_lower_case_and_listed_once(project: Path) -> None:
    upper = "CCCCCCCC-0000-0000-0000-000000000003"
    run = deploy(project, owners=[upper, DEPLOYER])
    assert one(run.resources, APPLICATION).inputs["owners"] == [upper.lower(), DEPLOYER]
    twice = deploy(project, owners=[upper, upper.lower()])
    assert twice.resources == []
    assert twice.error is not None
    assert f"mimecast-association:owners[1] lists {upper.lower()} again" in twice.error


def test_component_is_usable_from_another_program(project: Path) -> None:
    (project / "other.py").write_text(
        "import pulumi\n"
        "from pathlib import Path\n"
        "from association import AssociationArgs, MimecastAssociation\n"
        "from association.certificate_entries import load_certificate\n"
        "cert = load_certificate('certs/current.pem', 'cert', Path(__file__).parent)\n"
        f"args = AssociationArgs(tenant_id={TENANT!r}, certificates=[cert],\n"
        "    display_name='Mimecast (Contoso)', protect=False)\n"
        "association = MimecastAssociation('contoso-mimecast', args)\n"
        "pulumi.export('clientId', association.client_id)\n"
    )
    run = run_program(project / "other.py", "msp", {}, TENANT_DIRECTORY, preview=False, now=NOW)
    assert run.error is None
    app = one(run.resources, APPLICATION)
    assert app.name == "contoso-mimecast"
    assert app.inputs["displayName"] == "Mimecast (Contoso)"
    assert run.outputs["clientId"]


def test_a_successor_valid_from_a_later_day_is_declared_with_its_own_dates(project: Path) -> None:
    successor = make_certificate(
        serial=3, not_before=NOW + timedelta(days=5), not_after=NOW + timedelta(days=800)
    )
    (project / "certs" / "successor.pem").write_bytes(pem(successor))
    run = deploy(project, certificates=["certs/current.pem", "certs/successor.pem"])
    assert run.error is None, run.error
    dates = sorted(
        (r.inputs["startDate"], r.inputs["endDate"]) for r in run.resources if r.type == CERTIFICATE
    )
    assert dates == sorted(
        [
            (rfc3339(cert.not_valid_before_utc), rfc3339(cert.not_valid_after_utc))
            for cert in (make_certificate(serial=1), successor)
        ]
    )
    (notice,) = [n for n in run.notices if n.code == "certificate-not-yet-valid"]
    assert notice.setting == "mimecast-association:certificates[1]"
    assert rfc3339(successor.not_valid_before_utc) in notice.message


@pytest.mark.parametrize(
    ("listed", "code"),
    [
        (["certs/successor.pem"], "certificates-none-valid-now"),
        (["certs/next.pem", "certs/successor.pem"], "certificate-gap"),
    ],
    ids=["only-a-successor", "gap"],
)
def test_a_list_that_leaves_mimecast_unable_to_sign_in_is_refused_before_anything_is_declared(
    project: Path, listed: list[str], code: str
) -> None:
    """The successor alone (valid from 25 days on), or beside next.pem, which ends 5 days
    before the successor starts: Mimecast could not sign in on those days, so nothing is
    registered (Pulumi would have deleted the key credential of the certificate dropped)."""
    successor = make_certificate(
        serial=3, not_before=NOW + timedelta(days=25), not_after=NOW + timedelta(days=800)
    )
    (project / "certs" / "successor.pem").write_bytes(pem(successor))
    run = deploy(project, certificates=listed)
    assert run.resources == []
    assert [(p.code, p.setting) for p in run.refusal] == [
        (code, "mimecast-association:certificates")
    ]
    assert run.error is not None
    assert rfc3339(successor.not_valid_before_utc) in run.error
    assert "nothing was created or changed in the tenant" in run.error
