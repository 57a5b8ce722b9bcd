"""`python -m association preflight`: what a reviewer sees for each stack, offline."""

from __future__ import annotations

import json
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from certfactory import NOW, make_certificate, pem, private_key_pem
from tenant import (
    APPLICATION,
    ASSIGNMENT,
    CERTIFICATE,
    COMPONENT,
    EXCHANGE_APP,
    FULL_ACCESS,
    OTHER_TENANT,
    PROJECT,
    SERVICE_PRINCIPAL,
    TENANT,
    copy_program,
)

from association.certificates import parse_certificate, rfc3339
from association_tools.preflight.cli import main
from association_tools.preflight.render import render_text
from association_tools.preflight.report import (
    CertificateReport,
    Marker,
    Plan,
    PlannedResource,
    StackReport,
)
from association_tools.project import ConfigValue, Project, ProjectKey, matches_type
from association_tools.stack_files import StackFileError, parse_stack_file, stack_config

NS = "mimecast-association"
OWNER = "aaaaaaaa-0000-0000-0000-000000000001"
GUIDE_THUMBPRINT = "D4DF4464B05EA92F4990DC0BAF82505FD561ADD2"

CREATED = {"unknown": "createdAtDeploy"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the program and its Pulumi.yaml, with a valid and an expired certificate."""
    copy_program(tmp_path)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "current.pem").write_bytes(pem(make_certificate("Current", serial=1)))
    (tmp_path / "certs" / "expired.pem").write_bytes(
        pem(make_certificate("Old", NOW - timedelta(days=400), NOW - timedelta(days=10), serial=2))
    )
    return tmp_path


def thumbprint(path: Path) -> str:
    return parse_certificate(path.read_bytes(), str(path)).thumbprint


def write_stack(project: Path, stack: str, **settings: object) -> None:
    """A stack file as `pulumi config set` writes it: tenant, certificate, owners, then these."""
    config: dict[str, object] = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": ["certs/current.pem"],
        "mimecast-association:owners": [OWNER],
    }
    config.update({f"mimecast-association:{key}": value for key, value in settings.items()})
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def preflight(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main([*args, "--now", rfc3339(NOW)])
    out, err = capsys.readouterr()
    return status, out, err


def preflight_json(
    capsys: pytest.CaptureFixture[str], project: Path, *stacks: str
) -> tuple[int, dict[str, Any]]:
    status, out, _ = preflight(capsys, "--project-dir", str(project), "--json", "-", *stacks)
    document: dict[str, Any] = json.loads(out)
    return status, document


def resource(report: dict[str, Any], type_: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in report["plan"]["resources"] if r["type"] == type_]
    (only,) = found
    return only


# A valid stack -----------------------------------------------------------------------------------


def test_valid_stack_as_text(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(project, "contoso")
    status, out, err = preflight(capsys, "--project-dir", str(project), "contoso")
    current = thumbprint(project / "certs" / "current.pem")

    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert "offline: no network connection, no credentials, no Pulumi CLI" in lines[0]
    assert "assumes you sign in to each stack's configured tenant" in lines[0]
    # What it found first, then the notices every stack shares (once), then the stack's line,
    # then (it was named) its block.
    assert lines[1] == (
        "1 stack checked: 0 with errors, 0 with warnings, 1 ok (besides the notices every "
        "stack shares, listed once)."
    )
    assert "  ok        contoso  expires 2027-11-26 (365 days left)" in lines[:10]
    assert f"== contoso: OK (Pulumi.contoso.yaml, tenant {TENANT})" in lines
    allow_list, ews = [line for line in lines if "  warning  " in line]
    assert lines.index(ews) < lines.index(f"== contoso: OK (Pulumi.contoso.yaml, tenant {TENANT})")
    assert allow_list.startswith("  warning  ews-allow-list-manual (this stack): ")
    assert "Mimecast cannot sync until this app's client ID is in" in allow_list
    assert "'mimecast-association:exchange.manage' true" in allow_list
    assert "exchangeOnline.ewsAllowList" in allow_list
    assert "shut down in Exchange Online on 2027-04-01 (125 days left)" in ews
    assert "EwsEnabled $true and the app's client ID in EwsAllowedAppIDs" in ews
    assert f"  certificate {current}  365 days left" in lines
    assert any(
        re.fullmatch(rf"\s+{APPLICATION}  mimecast  \[protect, retain on delete\]", line)
        for line in lines
    )
    assert f"(PEM certificate, thumbprint {current})" in out
    assert "BEGIN CERTIFICATE" not in out
    assert re.search(r"\n\s+clientId\s+\(created at deploy\)\n", out)
    assert "tenantDomain              (looked up in the tenant at deploy: " in out
    assert "  note     mimecast-association:owners is set" in out
    assert lines[-1] == lines[1]


def test_valid_stack_as_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(project, "contoso", displayName="Mimecast (Contoso)")
    status, document = preflight_json(capsys, project, "contoso")
    current = parse_certificate((project / "certs" / "current.pem").read_bytes(), "x")

    assert status == 0
    assert document["ok"] is True
    assert document["evaluatedAt"] == rfc3339(NOW)
    (report,) = document["stacks"]
    assert report["status"] == "warnings"  # EWS's shutdown, until 2027-04-01
    assert report["errors"] == []
    allow_list, ews = report["warnings"]
    assert allow_list["code"] == "ews-allow-list-manual"
    assert allow_list["setting"] == "mimecast-association:exchange"
    assert ews["code"] == "ews-retirement"
    assert "2027-04-01" in ews["message"]
    assert report["certificates"] == [
        {
            "source": "mimecast-association:certificates[0] file certs/current.pem",
            "thumbprint": current.thumbprint,
            "customKeyIdentifier": current.custom_key_identifier,
            "keyId": current.key_id,
            "subject": current.subject,
            "notBefore": current.start_date,
            "notAfter": current.end_date,
            "daysLeft": 365,
            "managed": True,
        }
    ]
    plan = report["plan"]
    assert plan["basis"] == "configuration"
    types = [r["type"] for r in plan["resources"]]
    assert types == [COMPONENT, ASSIGNMENT, APPLICATION, CERTIFICATE, SERVICE_PRINCIPAL]
    application = resource(report, APPLICATION)
    assert application["protect"] is True
    assert application["inputs"]["displayName"] == "Mimecast (Contoso)"
    assert application["inputs"]["owners"] == [OWNER]
    assert application["inputs"]["requiredResourceAccesses"] == [
        {"resourceAccesses": [{"id": FULL_ACCESS, "type": "Role"}], "resourceAppId": EXCHANGE_APP}
    ]
    certificate = resource(report, CERTIFICATE)
    assert certificate["name"] == f"mimecast-cert-{current.thumbprint[:16].lower()}"
    assert certificate["parent"] == resource(report, COMPONENT)["urn"]
    assert certificate["inputs"]["value"] == {"pemCertificate": current.thumbprint}
    assert certificate["inputs"]["applicationId"] == CREATED
    assert resource(report, SERVICE_PRINCIPAL)["inputs"]["clientId"] == CREATED
    assignment = resource(report, ASSIGNMENT)["inputs"]
    assert assignment["principalObjectId"] == CREATED
    assert assignment["resourceObjectId"]["unknown"] == "lookedUpAtDeploy"
    outputs = plan["outputs"]
    assert outputs["clientId"] == CREATED
    assert outputs["tenantId"] == TENANT
    assert outputs["tenantDomain"]["unknown"] == "lookedUpAtDeploy"
    assert outputs["certificates"][0]["thumbprint"] == current.thumbprint


def test_no_identifier_is_invented(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every GUID in the report comes from the configuration, the certificate or Microsoft."""
    write_stack(project, "contoso")
    status, document = preflight_json(capsys, project, "contoso")
    assert status == 0
    current = parse_certificate((project / "certs" / "current.pem").read_bytes(), "x")
    guids = set(
        re.findall(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", json.dumps(document)
        )
    )
    assert guids <= {TENANT, OWNER, current.key_id, FULL_ACCESS, EXCHANGE_APP}


# The shipped example stack -----------------------------------------------------------------------


def test_example_stack_reports_the_expired_certificate_with_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = preflight(capsys, "--project-dir", str(PROJECT), "example")

    assert status == 1
    assert (
        "== example: ERRORS (Pulumi.example.yaml, tenant 00000000-0000-0000-0000-000000000000)"
        in out
    )
    assert f"  certificate {GUIDE_THUMBPRINT}  EXPIRED 479 days ago" in out
    assert "file certs/mimecast.pem" in out
    assert "expired on 2025-08-04T15:07:00Z" in out
    assert "Download the current certificate from your Mimecast Administration Console" in out
    assert out.splitlines()[-1].endswith("Errors in: example.")


def test_example_stack_shows_the_plan_once_the_certificate_is_replaced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, document = preflight_json(capsys, PROJECT, "example")

    assert status == 1
    (report,) = document["stacks"]
    tenant, certificate = report["errors"]
    assert (tenant["code"], tenant["setting"]) == ("tenant-placeholder", "azuread:tenantId")
    assert certificate["code"] == "certificate-expired"
    assert "certificates[0] file certs/mimecast.pem" in certificate["message"]
    plan = report["plan"]
    assert plan["basis"] == "replacementCertificates"
    assert "Once certificates[0] is replaced and azuread:tenantId is set" in plan["description"]
    assert len(plan["resources"]) == 5
    assert plan["outputs"]["tenantId"] == {
        "unknown": "replacementTenant",
        "what": "the tenant ID set in azuread:tenantId",
    }
    # Object IDs are lower-cased by the program; the deployer is still shown as a lookup.
    assert resource(report, APPLICATION)["inputs"]["owners"] == [
        {"unknown": "lookedUpAtDeploy", "what": "object ID of the identity that runs pulumi up"}
    ]


def test_expired_certificate_shows_the_plan_once_replaced_never_the_stand_in(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso", certificates=["certs/current.pem", "certs/expired.pem"])
    status, document = preflight_json(capsys, project, "contoso")

    assert status == 1
    (report,) = document["stacks"]
    (error,) = report["errors"]
    assert error["code"] == "certificate-expired"
    assert "certificates[1] file certs/expired.pem" in error["message"]
    assert [cert["daysLeft"] for cert in report["certificates"]] == [365, -10]
    plan = report["plan"]
    assert plan["basis"] == "replacementCertificates"
    assert plan["description"].startswith(
        "As configured, pulumi up declares nothing. Once certificates[1]"
    )
    names = {r["name"] for r in plan["resources"] if r["type"] == CERTIFICATE}
    current = thumbprint(project / "certs" / "current.pem")
    assert names == {
        "mimecast-cert-<certificates[1] replacement>",
        f"mimecast-cert-{current[:16].lower()}",
    }
    (replaced,) = [
        r["inputs"]
        for r in plan["resources"]
        if r["name"].endswith("<certificates[1] replacement>")
    ]
    assert replaced["keyId"] == {
        "unknown": "replacementCertificate",
        "what": "keyId of the certificate replacing certificates[1]",
    }
    assert replaced["value"]["unknown"] == "replacementCertificate"
    assert replaced["endDate"]["unknown"] == "replacementCertificate"
    text = json.dumps(document)
    assert "replacement 1" not in text  # the stand-in's subject
    assert "9999-12-31" not in text  # the stand-in's expiry


# Each kind of error ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack_file", "message"),
    [
        ("config: [\n", "Pulumi.broken.yaml is not valid YAML: "),
        (
            "config:\n  azuread:tenantId: x\n  azuread:tenantId: y\n",
            'Pulumi.broken.yaml cannot be loaded: line 3: mapping key "azuread:tenantId" already '
            "defined. Fix the file.",
        ),
        (
            "config:\n  displayName: Mimecast\n",
            "Pulumi.broken.yaml: could not parse displayName as a configuration key "
            "(configuration keys should be of the form `<namespace>:<name>`). Write it as "
            "mimecast-association:displayName.",
        ),
    ],
)
def test_a_stack_file_pulumi_cannot_load(
    project: Path, capsys: pytest.CaptureFixture[str], stack_file: str, message: str
) -> None:
    (project / "Pulumi.broken.yaml").write_text(stack_file)
    write_stack(project, "contoso")
    status, document = preflight_json(capsys, project)

    assert status == 1
    broken, contoso = document["stacks"]
    assert broken["status"] == "errors"
    assert broken["errors"][0]["message"].startswith(message)
    assert broken["plan"] is None
    assert contoso["status"] == "warnings"


@pytest.mark.parametrize(
    ("settings", "code", "setting"),
    [
        ({"displayname": "Mimecast"}, "setting-unknown", "mimecast-association:displayname"),
        ({"certificates": "certs/current.pem"}, "setting-shape", f"{NS}:certificates"),
        ({"protect": "yes"}, "setting-type", f"{NS}:protect"),
        ({"expiryWarningDays": "thirty"}, "setting-type", f"{NS}:expiryWarningDays"),
        ({"certificates": {"secure": "v1:AAAA"}}, "setting-encrypted", f"{NS}:certificates"),
        ({"owners": ["alice@contoso.com"]}, "owner-invalid", f"{NS}:owners[0]"),
        (
            {"certificates": ["certs/missing.pem"]},
            "certificate-file-missing",
            f"{NS}:certificates[0]",
        ),
        ({"certificates": ["certs/key.pem"]}, "certificate-private-key", f"{NS}:certificates[0]"),
        ({"certificates": ["certs/expired.pem"]}, "certificate-expired", f"{NS}:certificates[0]"),
        # Alone, Mimecast's successor would leave it unable to sign in for 20 days.
        (
            {"certificates": ["certs/future.pem"]},
            "certificates-none-valid-now",
            f"{NS}:certificates",
        ),
        (
            {"certificates": ["certs/ending.pem", "certs/future.pem"]},
            "certificate-gap",
            f"{NS}:certificates",
        ),
        ({"expiryWarningDays": -1}, "expiry-warning-days-range", f"{NS}:expiryWarningDays"),
    ],
)
def test_each_kind_of_error(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    settings: dict[str, object],
    code: str,
    setting: str,
) -> None:
    (project / "certs" / "key.pem").write_bytes(private_key_pem())
    (project / "certs" / "future.pem").write_bytes(
        pem(make_certificate(not_before=NOW + timedelta(days=20), serial=3))
    )
    (project / "certs" / "ending.pem").write_bytes(
        pem(make_certificate(not_after=NOW + timedelta(days=10), serial=4))
    )
    write_stack(project, "contoso", **settings)
    status, document = preflight_json(capsys, project)
    _, out, _ = preflight(capsys, "--project-dir", str(project), "contoso")
    _, fleet, _ = preflight(capsys, "--project-dir", str(project))

    assert status == 1
    (report,) = document["stacks"]
    assert report["status"] == "errors"
    (error,) = [error for error in report["errors"] if error["code"] == code]
    assert error["setting"] == setting
    assert document["ok"] is False
    # The text report shows the same problem, in the same words, on one error line; the
    # fleet view names its code on the stack's line.
    assert f"  error    {error['message']}" in out
    (line,) = [line for line in fleet.splitlines() if line.startswith("  errors    contoso  ")]
    assert code in line


def test_a_wrong_type_does_not_hide_the_other_problems(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso", expiryWarningDays="thirty", owners=["bob"])
    _, document = preflight_json(capsys, project)
    (report,) = document["stacks"]
    assert sorted((error["code"], error["setting"]) for error in report["errors"]) == [
        ("owner-invalid", "mimecast-association:owners[0]"),
        ("setting-type", "mimecast-association:expiryWarningDays"),
    ]


def test_a_tenant_id_that_is_not_a_guid(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "Pulumi.contoso.yaml").write_text(
        "config:\n  azuread:tenantId: contoso.onmicrosoft.com\n"
        "  mimecast-association:owners: [aaaaaaaa-0000-0000-0000-000000000001]\n"
        "  mimecast-association:certificates: [certs/current.pem]\n"
    )
    status, document = preflight_json(capsys, project)

    assert status == 1
    (report,) = document["stacks"]
    assert [(error["code"], error["setting"]) for error in report["errors"]] == [
        ("tenant-invalid", "azuread:tenantId")
    ]
    assert report["plan"] is None


def test_a_key_declared_without_default_is_required_as_pulumi_requires(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declaration = "  region:\n    type: string\n    description: where\n"
    (project / "Pulumi.yaml").write_text((project / "Pulumi.yaml").read_text() + declaration)
    write_stack(project, "contoso")
    status, document = preflight_json(capsys, project)

    assert status == 1
    assert document["stacks"][0]["errors"] == [
        {
            "code": "setting-missing",
            "setting": None,
            "message": "Stack 'contoso' is missing configuration value 'region': Pulumi.yaml "
            "declares it without a default, so `pulumi up` stops until Pulumi.contoso.yaml sets "
            "it or Pulumi.yaml gives a default.",
        }
    ]


def test_warnings_alone_exit_zero(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stack(project, "contoso", expiryWarningDays=400)
    status, out, _ = preflight(capsys, "--project-dir", str(project))

    assert status == 0
    # Its own warning (the certificate's expiry) makes the stack stand out of the fleet.
    assert re.search(
        r"\n  warnings  contoso  expires 2027-11-26 \(365 days left\)  certificate-expiry: "
        r"mimecast-association:certificates\[0\] file certs/current.pem .*\(365 days left\)",
        out,
    )
    assert "== contoso" not in out  # no stack named: no block


def test_text_lists_stacks_with_errors_first(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "a-warned")
    write_stack(project, "b-warned", expiryWarningDays=400)
    write_stack(project, "c-broken", certificates=["certs/expired.pem"])
    for stack, tenant in (("b-warned", OTHER_TENANT), ("c-broken", "2" * 8 + TENANT[8:])):
        path = project / f"Pulumi.{stack}.yaml"
        path.write_text(path.read_text().replace(TENANT, tenant))
    status, out, _ = preflight(capsys, "--project-dir", str(project))

    assert status == 1
    rows = re.findall(r"(?m)^  (errors|warnings|ok) +(\S+)  ", out)
    assert rows == [("errors", "c-broken"), ("warnings", "b-warned"), ("ok", "a-warned")]
    # Until EWS is shut down (2027-04-01) every stack carries its notices: told once, they
    # leave a-warned ok in the view (its JSON status stays "warnings").
    lines = out.splitlines()
    summary = (
        "3 stacks checked: 1 with errors, 1 with warnings, 1 ok (besides the notices every "
        "stack shares, listed once). Errors in: c-broken."
    )
    assert lines[1] == lines[-2] == summary
    assert sum("ews-retirement" in line for line in lines) == 1
    _, details, _ = preflight(capsys, "--project-dir", str(project), "--plan")
    headings = [line.split(":")[0] for line in details.splitlines() if line.startswith("== ")]
    assert headings == ["== c-broken", "== b-warned", "== a-warned"]


# Isolation, --now, selection, usage errors -------------------------------------------------------


def test_stacks_are_isolated(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "certs" / "other.pem").write_bytes(pem(make_certificate("Other", serial=9)))
    write_stack(project, "contoso", displayName="Contoso app")
    (project / "Pulumi.fabrikam.yaml").write_text(
        yaml.safe_dump(
            {
                "config": {
                    "azuread:tenantId": OTHER_TENANT,
                    "mimecast-association:certificates": ["certs/other.pem"],
                    "mimecast-association:displayName": "Fabrikam app",
                    "mimecast-association:protect": False,
                    "mimecast-association:owners": [OWNER],
                }
            }
        )
    )
    _, document = preflight_json(capsys, project)
    contoso, fabrikam = document["stacks"]
    mine = {
        "contoso": thumbprint(project / "certs" / "current.pem"),
        "fabrikam": thumbprint(project / "certs" / "other.pem"),
    }

    for report, other in ((contoso, fabrikam), (fabrikam, contoso)):
        assert [c["thumbprint"] for c in report["certificates"]] == [mine[report["stack"]]]
        text = json.dumps(report)
        assert mine[other["stack"]] not in text
        assert other["tenantId"] not in text
        assert f"stack {report['stack']}:" in resource(report, APPLICATION)["inputs"]["notes"]
    assert resource(contoso, APPLICATION)["inputs"]["displayName"] == "Contoso app"
    assert resource(contoso, APPLICATION)["protect"] is True
    assert resource(fabrikam, APPLICATION)["inputs"]["displayName"] == "Fabrikam app"
    assert resource(fabrikam, APPLICATION)["protect"] is False
    assert fabrikam["plan"]["outputs"]["tenantId"] == OTHER_TENANT


def test_worker_processes_report_exactly_what_one_process_does(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for stack in ("contoso", "fabrikam", "litware"):
        write_stack(project, stack, displayName=f"{stack} app")
    write_stack(project, "broken", certificates=["certs/expired.pem"])
    alone = preflight(capsys, "--project-dir", str(project))
    spawned = preflight(capsys, "--project-dir", str(project), "--jobs", "2")
    assert spawned == alone
    assert alone[0] == 1
    named = preflight(capsys, "--project-dir", str(project), "contoso", "broken")
    assert "(created at deploy)" in named[1]
    assert named == preflight(
        capsys, "--project-dir", str(project), "contoso", "broken", "--jobs", "2"
    )


def test_excluded_stacks_are_left_out_of_every_stack(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso")
    write_stack(project, "example", certificates=["certs/expired.pem"])
    status, out, _ = preflight(
        capsys, "--project-dir", str(project), "--exclude", "example", "--exclude", "gone"
    )
    assert status == 0
    assert "  ok        contoso  expires" in out
    assert "example" not in out


def test_pipelines_can_require_owners_in_every_stack(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso")
    (project / "Pulumi.fabrikam.yaml").write_text(
        yaml.safe_dump(
            {
                "config": {
                    "azuread:tenantId": OTHER_TENANT,
                    "mimecast-association:certificates": ["certs/current.pem"],
                }
            }
        )
    )
    assert preflight(capsys, "--project-dir", str(project))[0] == 0
    status, document = preflight_json(capsys, project, "--require-owners")
    contoso, fabrikam = document["stacks"]
    assert status == 1
    assert contoso["status"] == "warnings"
    (error,) = fabrikam["errors"]
    assert (error["code"], error["setting"]) == ("owners-required", f"{NS}:owners")
    assert "Pulumi.fabrikam.yaml" in error["message"]


def test_now_judges_certificates_at_another_instant(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso")
    arguments = ["--project-dir", str(project), "--json", "-", "--now"]

    assert main([*arguments, "2027-03-06"]) == 0
    later = json.loads(capsys.readouterr().out)
    assert later["evaluatedAt"] == "2027-03-06T00:00:00Z"
    assert later["stacks"][0]["certificates"][0]["daysLeft"] == 265
    assert main([*arguments, "2027-12-01T09:00:00+01:00"]) == 1
    expired = json.loads(capsys.readouterr().out)
    assert expired["evaluatedAt"] == "2027-12-01T08:00:00Z"
    codes = {error["code"]: error for error in expired["stacks"][0]["errors"]}
    assert set(codes) == {"certificate-expired", "ews-shut-down"}
    error = codes["certificate-expired"]
    assert "expired on 2027-11-26T12:00:00Z" in error["message"]


def test_only_the_named_stacks_are_checked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for stack in ("a", "b", "c"):
        write_stack(project, stack)
    _, document = preflight_json(capsys, project, "c", "a")

    assert [report["stack"] for report in document["stacks"]] == ["c", "a"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nosuch"], "error: unknown stack nosuch: no Pulumi.<stack>.yaml for it in"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--now", "next tuesday"], "error: --now 'next tuesday' is not an ISO 8601 date"),
        (["--json", "contoso"], "argument --json: 'contoso' does not end in .json: --json takes"),
        (["--jobs", "0"], "argument --jobs: must be 1 or more, not 0"),
    ],
)
def test_usage_errors_exit_two(
    project: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    write_stack(project, "contoso")
    status = main(["--project-dir", str(project), *arguments])
    out, err = capsys.readouterr()

    assert (status, out) == (2, "")
    assert message in err


def test_json_file_beside_the_text_report(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso")
    document = project / "preflight.json"

    status, out, _ = preflight(capsys, "--project-dir", str(project), "--json", str(document))

    assert status == 0
    assert "  ok        contoso  expires" in out
    assert [s["stack"] for s in json.loads(document.read_text(encoding="utf-8"))["stacks"]] == [
        "contoso"
    ]


def test_unknown_stack_lists_the_stacks_there(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso")
    write_stack(project, "fabrikam")

    assert main(["--project-dir", str(project), "contso"]) == 2
    assert "(stacks: contoso, fabrikam)" in capsys.readouterr().err


def test_the_default_project_dir_is_the_current_directory(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the README's first command runs it: relative paths, no --project-dir."""
    write_stack(project, "contoso")
    monkeypatch.chdir(project)
    status = main(["contoso", "--now", rfc3339(NOW)])
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert "== contoso: OK (Pulumi.contoso.yaml, tenant" in out


def test_without_pulumi_yaml_it_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--project-dir", str(tmp_path)]) == 2
    assert f"error: no Pulumi.yaml in {tmp_path.resolve()}" in capsys.readouterr().err


def test_never_opens_a_network_connection(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[object] = []

    def record(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network is off")

    monkeypatch.setattr(socket.socket, "connect", record)
    monkeypatch.setattr(socket, "create_connection", record)
    monkeypatch.setattr(socket, "getaddrinfo", record)
    write_stack(project, "contoso")
    write_stack(project, "expired", certificates=["certs/expired.pem"])

    status, _, _ = preflight(capsys, "--project-dir", str(project))
    assert status == 1
    assert attempts == []


# Reading config as Pulumi does, and rendering, without the program -------------------------------


def test_stack_file_values_reach_the_program_as_pulumi_passes_them() -> None:
    parsed = parse_stack_file(
        "config:\n"
        "  mimecast-association:protect: yes\n"
        "  mimecast-association:expiryWarningDays: 30\n"
        "  mimecast-association:owners: [a, b]\n"
        "  azuread:config:tenantId: t\n"
        "  azuread:clientSecret:\n    secure: v1:abc\n",
        "Pulumi.s.yaml",
    )

    assert parsed.config == {
        "mimecast-association:protect": ConfigValue("yes"),
        "mimecast-association:expiryWarningDays": ConfigValue("30"),
        "mimecast-association:owners": ConfigValue('["a","b"]', structured=True),
        "azuread:tenantId": ConfigValue("t"),
        "azuread:clientSecret": ConfigValue("v1:abc", secure=True),
    }
    assert parsed.warnings == ()
    with pytest.raises(StackFileError, match="not valid YAML"):
        parse_stack_file("config: {", "Pulumi.s.yaml")


def test_config_from_esc_environments_is_called_unchecked() -> None:
    parsed = parse_stack_file("environment:\n  imports: [tenants/contoso]\n", "Pulumi.s.yaml")

    assert [notice.message for notice in parsed.warnings] == [
        "Pulumi.s.yaml imports Pulumi ESC environments, which preflight cannot read offline: "
        "config they set is not checked here.",
    ]


def test_project_defaults_apply_and_other_secrets_are_left_alone() -> None:
    project = Project(
        Path(),
        (
            ProjectKey(
                "mimecast-association:protect", "protect", "boolean", None, ConfigValue("true")
            ),
            ProjectKey(
                "mimecast-association:certificates",
                "certificates",
                "array",
                {"type": "string"},
                ConfigValue('["certs/mimecast.pem"]', structured=True),
            ),
        ),
        {},
    )
    values = {
        "azuread:tenantId": ConfigValue(TENANT),
        "azuread:clientSecret": ConfigValue("v1:abc", secure=True),
        "mimecast-association:protect": ConfigValue("false"),
    }

    config = stack_config(project, "s", "Pulumi.s.yaml", values)
    assert config.problems == ()
    assert config.faithful
    assert config.values == {
        "azuread:tenantId": TENANT,
        "mimecast-association:protect": "false",
        "mimecast-association:certificates": '["certs/mimecast.pem"]',
    }


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("string", "x", True),
        ("string", ["x"], False),
        ("integer", "30", True),
        ("integer", 30.0, True),
        ("integer", "thirty", False),
        ("integer", True, False),
        ("boolean", "true", True),
        ("boolean", "True", False),
        ("boolean", False, True),
        ("array", ["a", "b"], True),
        ("array", ["a", 1], False),
        ("array", "a", False),
    ],
)
def test_types_are_checked_as_pulumi_checks_them(
    type_name: str, value: object, expected: bool
) -> None:
    assert matches_type(type_name, {"type": "string"}, value) is expected


def test_text_report_is_aligned_and_marks_what_is_unknown() -> None:
    unknown = Marker("(created at deploy)", {"unknown": "createdAtDeploy"})
    plan = Plan(
        "configuration",
        "What pulumi up would declare and export.",
        (
            PlannedResource(
                COMPONENT, "mimecast", "urn:c", "urn:stack", False, False, None, False, {}
            ),
            PlannedResource(
                APPLICATION,
                "mimecast",
                "urn:a",
                "urn:c",
                True,
                False,
                None,
                False,
                {"displayName": "M", "owners": [unknown]},
            ),
        ),
        {"clientId": unknown, "tenantId": TENANT},
    )
    cert = CertificateReport(
        "certificates[0] file c.pem",
        "AB" * 20,
        "q98=",
        "k",
        "CN=x",
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
        36,
    )
    text = render_text(
        [StackReport("s", "Pulumi.s.yaml", TENANT, certificates=(cert,), plan=plan)], NOW
    )

    assert text.splitlines()[1:6] == [
        "1 stack checked: 0 with errors, 0 with warnings, 1 ok.",
        "",
        "Stacks: errors first, then warnings of their own, then ok:",
        "  ok        s  expires 2027-01-01 (36 days left)",
        "",
    ]
    assert text.splitlines()[6:] == [
        f"== s: OK (Pulumi.s.yaml, tenant {TENANT})",
        f"  certificate {'AB' * 20}  36 days left",
        "      keyId    k",
        "      subject  CN=x",
        "      valid    2026-01-01T00:00:00Z to 2027-01-01T00:00:00Z",
        "      source   certificates[0] file c.pem",
        "  plan     What pulumi up would declare and export.",
        f"    {COMPONENT}  mimecast",
        f"      {APPLICATION}  mimecast  [protect]",
        "          displayName  M",
        "          owners       [(created at deploy)]",
        "  outputs",
        "    clientId  (created at deploy)",
        f"    tenantId  {TENANT}",
        "",
        "1 stack checked: 0 with errors, 0 with warnings, 1 ok.",
    ]


def test_a_setting_pasted_outside_config_is_an_error_naming_where_it_belongs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso")
    path = project / "Pulumi.contoso.yaml"
    path.write_text(path.read_text() + "adopt:\n  applicationObjectId: x\n")
    status, document = preflight_json(capsys, project, "contoso")
    assert status == 1
    (error,) = document["stacks"][0]["errors"]
    assert error["code"] == "stack-file-unknown-key"
    assert "mimecast-association:adopt" in error["message"]
    assert "config:" in error["message"]


def test_two_stacks_for_one_tenant_are_a_warning_on_both(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, "contoso")
    write_stack(project, "contoso-again")
    write_stack(project, "fabrikam")
    path = project / "Pulumi.fabrikam.yaml"
    path.write_text(path.read_text().replace(TENANT, "99999999-8888-7777-6666-555555555555"))
    status, document = preflight_json(capsys, project)
    assert status == 0
    shared = {
        report["stack"]: [w for w in report["warnings"] if w["code"] == "tenant-shared"]
        for report in document["stacks"]
    }
    assert shared["fabrikam"] == []
    for stack in ("contoso", "contoso-again"):
        (warning,) = shared[stack]
        assert "contoso, contoso-again" in warning["message"]
        assert TENANT in warning["message"]
