"""`exchange: {manage: true}`: the whole program declares the Exchange Online side itself.

Run under the SDK's mocks (the offline engine), with each registration's dependencies as the
engine would receive them. The resource types and Microsoft's endpoints are written out here
rather than imported, so a wrong constant in the package fails these tests.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from certfactory import NOW, make_certificate, private_key_pem
from tenant import (
    ASSIGNMENT,
    COMPONENT,
    SERVICE_PRINCIPAL,
    TENANT,
    TENANT_DIRECTORY,
    assignment_id,
    program_with_certificates,
)

from association.certificates import rfc3339
from association.settings import parse_settings
from association_tools import pulumi_sdk
from association_tools.offline import KNOWN_AFTER_DEPLOY, DeclaredResource, ProgramRun, run_program
from association_tools.preflight.cli import main as preflight_main

EWS_ACCESS = "pulumi-python:dynamic/mimecast:EwsAccess"
POINTER = "pulumi-python:dynamic/mimecast:ExchangeServicePrincipal"
SCOPE = "pulumi-python:dynamic/mimecast:ExchangeManagementScope"
ROLE_ASSIGNMENT = "pulumi-python:dynamic/mimecast:ExchangeRoleAssignment"
EXCHANGE = {EWS_ACCESS, POINTER, SCOPE, ROLE_ASSIGNMENT}
GROUP = "mimecast-sync@contoso.com"
KEY = "mimecast-association:exchange"
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return program_with_certificates(tmp_path, current=make_certificate("Current"))


def config(**settings: Any) -> dict[str, str]:
    return {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
        **{f"mimecast-association:{key}": json.dumps(value) for key, value in settings.items()},
    }


def deploy(project: Path, now: Any = NOW, preview: bool = False, **settings: Any) -> ProgramRun:
    run = run_program(
        project / "__main__.py",
        "contoso",
        config(**settings),
        TENANT_DIRECTORY,
        preview=preview,
        now=now,
    )
    assert run.error is None, run.error
    return run


def by_type(run: ProgramRun) -> dict[str, DeclaredResource]:
    found: dict[str, DeclaredResource] = {}
    for resource in run.resources:
        assert resource.type not in found or resource.type not in EXCHANGE, resource.type
        found[resource.type] = resource
    return found


# --- the setting ---------------------------------------------------------------------------


def test_unset_it_manages_nothing_in_the_global_cloud(tmp_path: Path) -> None:
    args, problems = parse_settings({"azuread:tenantId": TENANT}, tmp_path)
    assert (args.exchange.manage, args.exchange.cloud.name) == (False, "global")
    assert [p.code for p in problems if p.setting and p.setting.startswith(KEY)] == []


def test_manage_and_a_national_cloud(tmp_path: Path) -> None:
    raw = {KEY: json.dumps({"manage": True, "cloud": "usgovernment"})}
    args, problems = parse_settings(raw, tmp_path)
    assert [p for p in problems if p.setting and p.setting.startswith(KEY)] == []
    assert args.exchange.manage is True
    assert args.exchange.cloud.endpoint == "https://outlook.office365.us"
    assert args.exchange.cloud.authority == "login.microsoftonline.us"


def test_every_wrong_field_is_one_problem_with_its_fix(tmp_path: Path) -> None:
    raw = {
        KEY: json.dumps(
            {"manage": "yes", "cloud": "mars", "endpoint": "https://evil", "changeOtherApps": 1}
        )
    }
    args, problems = parse_settings(raw, tmp_path)
    ours = {p.code: p for p in problems if p.setting and p.setting.startswith(KEY)}
    assert set(ours) == {
        "exchange-unknown-field",
        "exchange-manage-type",
        "exchange-cloud-unknown",
        "exchange-change-other-apps-type",
    }
    assert ours["exchange-unknown-field"].setting == f"{KEY}.endpoint"
    assert f"--path '{KEY}.manage' true" in ours["exchange-manage-type"].message
    assert ours["exchange-change-other-apps-type"].setting == f"{KEY}.changeOtherApps"
    cloud = ours["exchange-cloud-unknown"].message
    assert "'mars'" in cloud
    assert "global, usgovernment, dod, china" in cloud
    assert args.exchange.manage is False, "a setting that does not parse manages nothing"


def test_a_key_pasted_as_the_cloud_is_never_echoed(tmp_path: Path) -> None:
    pasted = private_key_pem().decode()
    _, problems = parse_settings({KEY: json.dumps({"cloud": pasted})}, tmp_path)
    (problem,) = [p for p in problems if p.code == "exchange-cloud-unknown"]
    assert "PRIVATE KEY (delete it" in problem.message
    assert pasted.splitlines()[1] not in problem.message


def test_a_map_is_required(project: Path) -> None:
    run = run_program(
        project / "__main__.py",
        "contoso",
        {**config(), KEY: "true"},
        TENANT_DIRECTORY,
        preview=False,
        now=NOW,
    )
    assert [p.code for p in run.refusal] == ["setting-type"]
    assert run.resources == []


# --- what the program declares -------------------------------------------------------------


def test_without_manage_nothing_in_exchange_and_the_first_warning_says_why(
    project: Path,
) -> None:
    run = deploy(project, mailboxScope={"group": GROUP})
    assert not EXCHANGE & {r.type for r in run.resources}
    first = run.notices[0]
    assert (first.code, first.setting) == ("ews-allow-list-manual", KEY)
    assert "Mimecast cannot sync until" in first.message
    assert f"`pulumi config set --path '{KEY}.manage' true`" in first.message
    assert "exchangeOnline.ewsAllowList" in first.message
    assert "Mimecast cannot sync until" in run.warnings[0], "Pulumi prints it first too"


def test_manage_declares_the_allow_list_entry_after_the_service_principal(
    project: Path,
) -> None:
    run = deploy(project, exchange={"manage": True})
    found = by_type(run)
    assert EXCHANGE & set(found) == {EWS_ACCESS}
    ews = found[EWS_ACCESS]
    sp = found[SERVICE_PRINCIPAL]
    assert ews.parent == found[COMPONENT].urn
    assert sp.urn in ews.dependencies
    assert ews.inputs["appId"] == sp.inputs["clientId"]
    assert ews.inputs["tenantId"] == TENANT
    assert (ews.inputs["endpoint"], ews.inputs["authority"]) == (
        "https://outlook.office365.com",
        "login.microsoftonline.com",
    )
    assert "ews-allow-list-manual" not in [n.code for n in run.notices]
    assert ews.inputs["changeOtherApps"] is False


def test_change_other_apps_reaches_the_resource_and_is_warned_unused_without_manage(
    project: Path,
) -> None:
    run = deploy(project, exchange={"manage": True, "changeOtherApps": True})
    assert by_type(run)[EWS_ACCESS].inputs["changeOtherApps"] is True
    assert "exchange-change-other-apps-unused" not in [n.code for n in run.notices]
    run = deploy(project, exchange={"changeOtherApps": True})
    assert not EXCHANGE & {r.type for r in run.resources}
    (unused,) = [n for n in run.notices if n.code == "exchange-change-other-apps-unused"]
    assert unused.setting == f"{KEY}.changeOtherApps"


def test_with_a_scope_the_rbac_objects_come_after_the_service_principal(project: Path) -> None:
    run = deploy(project, exchange={"manage": True}, mailboxScope={"group": GROUP})
    found = by_type(run)
    assert set(found) >= EXCHANGE
    sp = found[SERVICE_PRINCIPAL]
    for kind in EXCHANGE:
        assert sp.urn in found[kind].dependencies, kind
    assignment = found[ROLE_ASSIGNMENT]
    assert {found[POINTER].urn, found[SCOPE].urn} <= set(assignment.dependencies)
    # the offline engine's object ID for the service principal, as a provider would invent one
    sp_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SERVICE_PRINCIPAL}::mimecast"))
    assert found[POINTER].inputs["objectId"] == sp_object_id
    assert assignment.inputs["objectId"] == sp_object_id
    assert found[SCOPE].inputs["group"] == GROUP
    assert assignment.inputs["scope"] == found[SCOPE].inputs["name"]
    assert assignment.inputs["role"] == "Application EWS.AccessAsApp"
    # not enforced: the consent stays, and the warning says pulumi up makes the scope
    assert found[ASSIGNMENT]
    (notice,) = [n for n in run.notices if n.code == "scope-not-enforced"]
    assert "pulumi up makes the scope and its role assignment" in notice.message


def test_enforce_drops_the_consent_while_the_scoped_assignment_stays(project: Path) -> None:
    """The consent goes in the run that enforces; the scope and its assignment are the same
    resources (same URNs) as in the run before, so they exist before the engine deletes the
    consent (it deletes what left the program only after the run's creates: docs/exchange.md)."""
    scoped = deploy(project, exchange={"manage": True}, mailboxScope={"group": GROUP})
    enforced = deploy(
        project, exchange={"manage": True}, mailboxScope={"group": GROUP, "enforce": True}
    )
    before, after = by_type(scoped), by_type(enforced)
    assert ASSIGNMENT in before
    assert ASSIGNMENT not in after
    for kind in (POINTER, SCOPE, ROLE_ASSIGNMENT):
        assert after[kind].urn == before[kind].urn, kind
        assert after[kind].inputs == before[kind].inputs, kind


def test_enforce_from_scratch_declares_the_scoped_assignment(project: Path) -> None:
    run = deploy(project, exchange={"manage": True}, mailboxScope={"group": GROUP, "enforce": True})
    found = by_type(run)
    assert ASSIGNMENT not in found
    assert {POINTER, SCOPE, ROLE_ASSIGNMENT} <= set(found)


def test_after_the_shutdown_ews_is_declared_only_where_the_stack_says_the_date_moved(
    project: Path,
) -> None:
    """allowAfterEwsShutdown exists for a moved date: then EWS access must stay, or the next
    up would take this app off the allow list."""
    later = NOW.replace(year=2027, month=4, day=2)
    run = deploy(
        project,
        now=later,
        exchange={"manage": True},
        mailboxScope={"group": GROUP},
        allowAfterEwsShutdown=True,
    )
    assert EXCHANGE & {r.type for r in run.resources} == {
        EWS_ACCESS,
        POINTER,
        SCOPE,
        ROLE_ASSIGNMENT,
    }

    unmanaged = deploy(project, now=later, allowAfterEwsShutdown=True)
    assert "ews-allow-list-manual" not in [n.code for n in unmanaged.notices]


def test_the_day_before_the_shutdown_ews_access_is_still_declared(project: Path) -> None:
    eve = NOW.replace(year=2027, month=3, day=31) + timedelta(hours=11)
    run = deploy(project, now=eve, exchange={"manage": True})
    assert EWS_ACCESS in by_type(run)


def test_a_national_cloud_reaches_every_exchange_resource(project: Path) -> None:
    run = deploy(
        project, exchange={"manage": True, "cloud": "china"}, mailboxScope={"group": GROUP}
    )
    for resource in run.resources:
        if resource.type in EXCHANGE:
            assert resource.inputs["endpoint"] == "https://partner.outlook.cn"
            assert resource.inputs["authority"] == "login.chinacloudapi.cn"


# --- state: the serialized provider and the inputs -------------------------------------------


def test_the_serialized_provider_holds_no_token_and_nothing_secret(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = "sentinel-oidc-token-do-not-store"
    for name in ("ARM_OIDC_TOKEN", "ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.setenv(name, sentinel)
    monkeypatch.setenv("ARM_USE_OIDC", "true")
    seen: list[dict[str, Any]] = []
    named = pulumi_sdk.dynamic_provider

    def spy(inputs: dict[str, Any]) -> str | None:
        seen.append(dict(inputs))
        return named(inputs)

    monkeypatch.setattr(pulumi_sdk, "dynamic_provider", spy)
    run = deploy(project, exchange={"manage": True}, mailboxScope={"group": GROUP})
    raw = [inputs for inputs in seen if "__provider" in inputs]
    assert len(raw) == len(EXCHANGE)
    for inputs in raw:
        blob = inputs["__provider"]
        assert isinstance(blob, str), "a secret provider arrives wrapped, not as a string"
        pickle = base64.b64decode(blob)
        assert sentinel.encode() not in pickle
        assert b"association.exchange_online." in pickle
        assert len(pickle) < 200, "the provider is pickled by reference, with no state"
        for value in inputs.values():
            assert not (isinstance(value, dict) and SECRET_SIGNATURE in value)
    assert sentinel not in json.dumps([r.inputs for r in run.resources], default=repr)


# --- preflight -----------------------------------------------------------------------------


def write_stack(project: Path, **settings: Any) -> None:
    values = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": ["certs/current.pem"],
        "mimecast-association:owners": ["aaaaaaaa-0000-0000-0000-000000000001"],
        **{f"mimecast-association:{key}": value for key, value in settings.items()},
    }
    (project / "Pulumi.contoso.yaml").write_text(json.dumps({"config": values}))


def preflight(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    status = preflight_main(["--project-dir", str(project), "--now", rfc3339(NOW), *args])
    assert status == 0
    out: str = capsys.readouterr().out
    return out


def test_preflight_plans_them_with_placeholders_and_no_pickle(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project, exchange={"manage": True}, mailboxScope={"group": GROUP, "enforce": True})
    (report,) = json.loads(preflight(project, capsys, "--json", "-"))["stacks"]
    planned = {r["type"]: r for r in report["plan"]["resources"]}
    assert set(planned) >= EXCHANGE
    assert ASSIGNMENT not in planned
    created = {"unknown": "createdAtDeploy"}
    assert planned[EWS_ACCESS]["inputs"]["appId"] == created
    assert planned[POINTER]["inputs"]["objectId"] == created
    assert planned[ROLE_ASSIGNMENT]["inputs"]["appId"] == created
    assert planned[EWS_ACCESS]["inputs"]["__provider"] == {
        "dynamicProvider": "association.exchange_online.ews_access.EwsAccessProvider"
    }
    assert planned[SCOPE]["inputs"]["__provider"] == {
        "dynamicProvider": "association.exchange_online.rbac.ManagementScopeProvider"
    }
    (note,) = [n["message"] for n in report["notes"] if n["code"] == "scope-enforce-order"]
    assert "makes the scope and its role assignment first" in note
    assert "--continue-on-error" in note

    text = preflight(project, capsys, "--plan")
    assert (
        "__provider   (dynamic provider "
        "association.exchange_online.rbac.ServicePrincipalPointerProvider)" in text
    )
    for out in (text, json.dumps(report)):
        assert "gASV" not in out, "a pickle (protocol 4, base64) reached the report"


def test_preflight_without_manage_plans_nothing_in_exchange_and_warns_first(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stack(project)
    (report,) = json.loads(preflight(project, capsys, "--json", "-"))["stacks"]
    assert not EXCHANGE & {r["type"] for r in report["plan"]["resources"]}
    assert report["warnings"][0]["code"] == "ews-allow-list-manual"
    assert "Set-OrganizationConfig" in report["exchangeOnline"]["ewsAllowList"], "manual path"


def test_an_adopted_app_is_named_in_exchange_by_its_known_service_principal(
    project: Path,
) -> None:
    sp = "22345678-1234-4234-8234-123456789012"
    adopt = {
        "applicationObjectId": "12345678-1234-4234-8234-123456789012",
        "servicePrincipalObjectId": sp,
        "appRoleAssignmentId": assignment_id(sp),
    }
    run = deploy(
        project, preview=True, exchange={"manage": True}, adopt=adopt, mailboxScope={"group": GROUP}
    )
    found = by_type(run)
    assert found[POINTER].inputs["objectId"] == sp
    assert found[ROLE_ASSIGNMENT].inputs["objectId"] == sp
    assert found[POINTER].inputs["appId"] is KNOWN_AFTER_DEPLOY, "only the tenant knows it"


def test_the_permissions_output_says_who_makes_the_scope(project: Path) -> None:
    scope = {"group": GROUP, "enforce": True}
    managed = deploy(project, exchange={"manage": True}, mailboxScope=scope)
    assert "(declared by this stack, exchange.manage)" in managed.outputs["permissions"][0]
    by_hand = deploy(project, mailboxScope=scope)
    assert "(exchangeOnline.scope)" in by_hand.outputs["permissions"][0]
