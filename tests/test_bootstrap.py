"""`python -m association bootstrap` against the strict fake Graph (and fake Exchange) on
127.0.0.1: a mix of tenants, what each ends as, what was written, and that a second run, a dry
run and a resumed run change nothing more than they should.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from certfactory import der, make_certificate
from cryptography.hazmat.primitives import hashes
from fake_directory import (
    CLOUD_APPLICATION_ADMINISTRATOR,
    EXCHANGE_ADMINISTRATOR,
    GRAPH_ROLES,
    MANAGE_AS_APP,
    PIPELINE_APPS,
    WITHOUT_PRIVILEGED_ROLE,
    FakeDirectory,
    FakeTenant,
    add_hand_made_app,
    consented_tenant,
    fresh_tenant,
    publisher_tenant,
)
from fake_directory import serve as serve_directory
from fake_exchange import FakeExchange, FakeOrganization
from fake_exchange import serve as serve_exchange
from tenant import program_with_certificates

from association_tools.bootstrap.cli import main
from association_tools.stack_files import parse_stack_file

DEPLOY, PREVIEW, AUDIT = PIPELINE_APPS
DEPLOY_NEEDS = [
    GRAPH_ROLES[name]
    for name in (
        "Application.ReadWrite.OwnedBy",
        "AppRoleAssignment.ReadWrite.All",
        "Application.Read.All",
        "Domain.Read.All",
    )
]
PREVIEW_NEEDS = [GRAPH_ROLES["Application.Read.All"], GRAPH_ROLES["Domain.Read.All"]]
AUDIT_NEEDS = [
    GRAPH_ROLES[name] for name in ("Application.Read.All", "Directory.Read.All", "Policy.Read.All")
]
CONSENTED = {DEPLOY: DEPLOY_NEEDS, PREVIEW: PREVIEW_NEEDS, AUDIT: AUDIT_NEEDS}
CONSENTED_FOR_EXCHANGE = {
    DEPLOY: [*DEPLOY_NEEDS, MANAGE_AS_APP],
    PREVIEW: [*PREVIEW_NEEDS, MANAGE_AS_APP],
    AUDIT: AUDIT_NEEDS,
}
"""What a tenant whose stack manages Exchange has consented to."""
CERTIFICATE = make_certificate("Mimecast Current")


@dataclass
class World:
    project: Path
    directory: FakeDirectory
    exchange: FakeExchange
    graph: str
    exchange_url: str
    monkeypatch: pytest.MonkeyPatch

    def tenants(self, *rows: tuple[str, FakeTenant, str]) -> Path:
        lines = ["stack,tenantId,exchange"]
        lines += [f"{stack},{tenant.tenant_id},{exchange}" for stack, tenant, exchange in rows]
        path = self.project / "tenants.csv"
        path.write_text("\n".join(lines) + "\n")
        tokens = {t.tenant_id: f"token-{t.tenant_id}" for _, t, _ in rows}
        self.monkeypatch.setenv("GRAPH_TOKENS", json.dumps(tokens))
        self.monkeypatch.setenv("EXCHANGE_TOKENS", self.exchange.token)
        return path

    def run(self, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
        status = main(
            [
                str(self.project / "tenants.csv"),
                "--project-dir",
                str(self.project),
                "--deploy-app-id",
                DEPLOY,
                "--preview-app-id",
                PREVIEW,
                "--audit-app-id",
                AUDIT,
                "--certificate",
                "certs/current.pem",
                "--graph-endpoint",
                self.graph,
                "--exchange-endpoint",
                self.exchange_url,
                "--token-env",
                "GRAPH_TOKENS",
                "--exchange-token-env",
                "EXCHANGE_TOKENS",
                *extra,
            ],
            sleep=lambda seconds: None,
        )
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return status, out + err

    def stack(self, name: str) -> dict[str, Any]:
        config = parse_stack_file((self.project / f"Pulumi.{name}.yaml").read_text(), "f").config
        return {
            key: json.loads(value.text) if value.structured else value.text
            for key, value in config.items()
        }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    project = program_with_certificates(tmp_path, current=CERTIFICATE)
    directory = FakeDirectory(seed=7)
    publisher_tenant(directory)
    exchange = FakeExchange()
    with serve_directory(directory) as graph, serve_exchange(exchange) as exchange_url:
        yield World(project, directory, exchange, graph, exchange_url, monkeypatch)


def lines(out: str) -> dict[str, str]:
    """stack -> its line (status first)."""
    found = {}
    for line in out.splitlines()[1:]:
        if not line.startswith(" "):
            status, stack = line.split()[:2]
            found[stack] = f"{status} {line.split(None, 2)[2]}"
    return found


def owners_of(tenant: FakeTenant, app_id: str) -> str:
    return next(sp["id"] for sp in tenant.service_principals if sp["appId"] == app_id)


def test_a_fresh_tenant_is_consented_and_gets_a_stack_file_preflight_accepts(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = fresh_tenant(world.directory)
    world.tenants(("contoso", fresh, ""))
    status, out = world.run(capsys)
    assert status == 0, out
    assert lines(out)["contoso"].startswith("ready a new app"), out
    deploy_sp = owners_of(fresh, DEPLOY)
    assert {(a["principalId"], a["appRoleId"]) for a in fresh.assignments} >= {
        (deploy_sp, role) for role in DEPLOY_NEEDS
    }
    assert world.stack("contoso") == {
        "azuread:tenantId": fresh.tenant_id,
        "mimecast-association:certificates": ["certs/current.pem"],
        "mimecast-association:owners": [deploy_sp],
    }
    writes = len(world.directory.writes())
    text = (world.project / "Pulumi.contoso.yaml").read_text()
    status, again = world.run(capsys)
    assert status == 0, again
    assert len(world.directory.writes()) == writes, "a second run writes nothing"
    assert (world.project / "Pulumi.contoso.yaml").read_text() == text
    assert "unchanged" in lines(again)["contoso"]


def test_a_hand_made_app_is_adopted_and_the_deploy_app_made_its_owner(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(world.directory, CONSENTED)
    application, principal, consent = add_hand_made_app(world.directory, tenant, der(CERTIFICATE))
    world.tenants(("fabrikam", tenant, ""))
    status, out = world.run(capsys)
    assert status == 0, out
    assert "adopting 'Mimecast Cloud Synchronization'" in lines(out)["fabrikam"]
    deploy_sp = owners_of(tenant, DEPLOY)
    adopt = world.stack("fabrikam")["mimecast-association:adopt"]
    assert adopt == {
        "applicationObjectId": application["id"],
        "servicePrincipalObjectId": principal["id"],
        "appRoleAssignmentId": consent["id"],
        "keyIds": {
            CERTIFICATE.fingerprint(hashes.SHA1()).hex().upper(): application["keyCredentials"][0][
                "keyId"
            ]
        },
    }
    assert deploy_sp in tenant.owners[application["id"]]
    assert deploy_sp in tenant.owners[principal["id"]]


def test_consent_a_privileged_role_administrator_must_give_is_named(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = fresh_tenant(world.directory, admin_roles=WITHOUT_PRIVILEGED_ROLE)
    world.exchange.tenants[tenant.tenant_id] = FakeOrganization()
    world.tenants(("northwind", tenant, "manage"))
    status, out = world.run(capsys)
    assert status == 1
    line = lines(out)["northwind"]
    assert line.startswith("needs-consent a Privileged Role Administrator")
    assert "Microsoft Graph / Application.ReadWrite.OwnedBy to the deploy app" in line
    deploy_sp = owners_of(tenant, DEPLOY)
    held = {(a["principalId"], a["appRoleId"]) for a in tenant.assignments}
    assert (deploy_sp, MANAGE_AS_APP) in held, "Exchange's permission needs no Graph role"
    assert world.stack("northwind")["mimecast-association:exchange"] == {"manage": True}


def test_exchange_role_groups_for_a_managed_stack(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(
        world.directory,
        CONSENTED_FOR_EXCHANGE,
        admin_roles=(CLOUD_APPLICATION_ADMINISTRATOR, EXCHANGE_ADMINISTRATOR),
    )
    world.exchange.tenants[tenant.tenant_id] = FakeOrganization(ews_enabled=True)
    world.tenants(("contoso", tenant, "manage"))
    status, out = world.run(capsys)
    assert status == 0, out
    groups = {g["Name"]: g for g in world.exchange.tenants[tenant.tenant_id].role_groups}
    assert groups["Mimecast association deploy"]["Roles"] == ["Organization Configuration"]
    assert groups["Mimecast association preview"]["Roles"] == ["View-Only Configuration"]
    assert len(groups["Mimecast association deploy"]["Members"]) == 1
    writes = len(world.exchange.writes())
    world.run(capsys)
    assert len(world.exchange.writes()) == writes, "a second run changes nothing in Exchange"


def test_a_dry_run_reads_only_and_says_what_it_would_do(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = fresh_tenant(world.directory)
    world.tenants(("contoso", tenant, ""))
    status, out = world.run(capsys, "--dry-run")
    assert status == 0, out
    assert world.directory.writes() == []
    assert not (world.project / "Pulumi.contoso.yaml").exists()
    assert not (world.project / "bootstrap-state.json").exists()
    assert "    would create the deploy app's service principal" in out.splitlines()
    assert "    would grant Microsoft Graph / Application.ReadWrite.OwnedBy to the deploy app" in (
        out.splitlines()
    )
    assert "the stack file once the deploy app's service principal exists" in lines(out)["contoso"]


def test_a_hand_written_stack_file_keeps_every_line(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(world.directory, CONSENTED)
    hand = (
        "# ask Jo first\nconfig:\n"
        f"  azuread:tenantId: {tenant.tenant_id}  # contoso\n"
        "  mimecast-association:displayName: Mimecast (Contoso)\n"
    )
    (world.project / "Pulumi.contoso.yaml").write_text(hand)
    world.tenants(("contoso", tenant, ""))
    status, out = world.run(capsys)
    assert status == 0, out
    text = (world.project / "Pulumi.contoso.yaml").read_text()
    assert text.startswith(hand)
    assert world.stack("contoso")["mimecast-association:displayName"] == "Mimecast (Contoso)"


def test_a_stopped_run_resumed_ends_as_one_run(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tenants = [fresh_tenant(world.directory) for _ in range(4)]
    rows = [(f"t{n}", tenant, "") for n, tenant in enumerate(tenants)]
    world.tenants(*rows[:2])  # the run stopped after two tenants
    world.run(capsys)
    world.tenants(*rows)
    status, out = world.run(capsys, "--resume")
    assert status == 0, out
    assert "(done before)" in lines(out)["t0"]
    state = json.loads((world.project / "bootstrap-state.json").read_text())
    assert {name: s["status"] for name, s in state["tenants"].items()} == {
        f"t{n}": "ready" for n in range(4)
    }
    for n, tenant in enumerate(tenants):
        assert world.stack(f"t{n}")["mimecast-association:owners"] == [owners_of(tenant, DEPLOY)]


def test_a_consent_left_by_a_deleted_app_is_a_note_not_an_error(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(world.directory, CONSENTED)
    _, principal, consent = add_hand_made_app(world.directory, tenant, der(CERTIFICATE))
    tenant.service_principals.remove(principal)  # deleted; its assignment left behind
    world.tenants(("contoso", tenant, ""))
    status, out = world.run(capsys)
    assert status == 0, out
    assert f"({consent['id']}) names principal {principal['id']}, which no longer exists" in out
    assert "mimecast-association:adopt" not in world.stack("contoso")


def test_a_stack_file_of_another_tenant_stops_that_tenant_before_any_write(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = fresh_tenant(world.directory)
    elsewhere = "99999999-8888-4777-8666-555555555555"
    (world.project / "Pulumi.contoso.yaml").write_text(
        f"config:\n  azuread:tenantId: {elsewhere}\n"
    )
    world.tenants(("contoso", tenant, ""))
    for extra in ((), ("--dry-run",)):
        status, out = world.run(capsys, *extra)
        assert status == 1
        line = lines(out)["contoso"]
        assert line.startswith(f"error Pulumi.contoso.yaml is for tenant {elsewhere}")
        assert tenant.tenant_id in line
    assert world.directory.calls == [], "nothing was asked of either tenant"


def test_a_dry_run_names_the_app_it_would_adopt(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = fresh_tenant(world.directory)
    add_hand_made_app(world.directory, tenant, der(CERTIFICATE))
    world.tenants(("contoso", tenant, ""))
    _, out = world.run(capsys, "--dry-run")
    assert "would adopt 'Mimecast Cloud Synchronization'" in lines(out)["contoso"]
    assert "    would make the deploy app an owner of the adopted app" not in out, (
        "no deploy app yet to make an owner in a dry run: its creation is listed instead"
    )


def test_tenants_file_problems_are_one_a_line_and_the_flag_is_named_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenants = [fresh_tenant(world.directory) for _ in range(3)]
    world.tenants(*((f"t{n}", t, "") for n, t in enumerate(tenants)))
    (world.project / "tenants.csv").write_text(
        (world.project / "tenants.csv").read_text() + "bad,not-a-guid,\n"
    )
    status, out = world.run(capsys, "--certificate", "certs/missing.pem")
    assert status == 2
    problems = [
        line for line in out.splitlines() if line.startswith(("tenants.csv", "--cert", "/"))
    ]
    assert sum("--certificate" in line for line in problems) == 1
    assert any(":5: tenantId 'not-a-guid'" in line for line in problems)
    assert "problem(s) in" in out
    assert "\\n" not in out
    assert world.directory.calls == []


def held_by(tenant: FakeTenant, app_id: str) -> set[str]:
    principal = owners_of(tenant, app_id)
    return {a["appRoleId"] for a in tenant.assignments if a["principalId"] == principal}


def test_each_app_gets_exactly_its_permissions(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = fresh_tenant(world.directory)
    world.tenants(("contoso", tenant, ""))
    world.run(capsys)
    assert held_by(tenant, DEPLOY) == set(DEPLOY_NEEDS)
    assert held_by(tenant, PREVIEW) == set(PREVIEW_NEEDS)
    assert held_by(tenant, AUDIT) == set(AUDIT_NEEDS)


def test_a_stacks_own_app_is_never_adopted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(world.directory, CONSENTED)
    application, _, _ = add_hand_made_app(world.directory, tenant, der(CERTIFICATE))
    application["notes"] = (
        "Managed by Pulumi project mimecast-association, stack contoso: Mimecast server "
        "connection (Office 365 association). Change it there, not here."
    )
    world.tenants(("contoso", tenant, ""))
    _, out = world.run(capsys)
    assert "a new app" in lines(out)["contoso"]
    assert "mimecast-association:adopt" not in world.stack("contoso")


def test_more_holders_than_are_read_adopts_none(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(world.directory, CONSENTED)
    for _ in range(51):
        add_hand_made_app(world.directory, tenant, der(CERTIFICATE))
    world.tenants(("contoso", tenant, ""))
    status, out = world.run(capsys)
    assert status == 1
    assert lines(out)["contoso"].startswith("choose-app")
    assert not (world.project / "Pulumi.contoso.yaml").exists()
    assert "more than the 50 the bootstrap reads" in out


def test_an_existing_role_group_with_other_roles_is_never_joined(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(
        world.directory,
        CONSENTED_FOR_EXCHANGE,
    )
    organization = FakeOrganization(ews_enabled=True)
    organization.role_groups.append(
        {
            "Name": "Mimecast association preview",
            "Roles": ["Organization Management"],
            "Members": [],
        }
    )
    world.exchange.tenants[tenant.tenant_id] = organization
    world.tenants(("contoso", tenant, "manage"))
    status, out = world.run(capsys)
    assert status == 1
    line = lines(out)["contoso"]
    assert (
        "role group 'Mimecast association preview' holds the roles Organization Management" in line
    )
    (group,) = [g for g in organization.role_groups if g["Name"] == "Mimecast association preview"]
    assert group["Members"] == []


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "latin-1"])
def test_a_stack_file_it_must_not_touch_is_that_tenants_error(
    world: World, capsys: pytest.CaptureFixture[str], kind: str, tmp_path_factory: Any
) -> None:
    tenant = fresh_tenant(world.directory)
    path = world.project / "Pulumi.contoso.yaml"
    if kind == "symlink":
        outside = tmp_path_factory.mktemp("outside") / "stack.yaml"
        outside.write_text(f"config:\n  azuread:tenantId: {tenant.tenant_id}\n")
        path.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"config:\n  mimecast-association:displayName: Caf\xe9\n")
    world.tenants(("contoso", tenant, ""))
    status, out = world.run(capsys)
    assert status == 1
    assert lines(out)["contoso"].startswith("error Pulumi.contoso.yaml")
    assert world.directory.calls == []
    if kind == "symlink":
        assert "certificates" not in outside.read_text(), "nothing written outside the project"


def test_a_stack_file_that_adopts_already_gets_its_own_objects_owned(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = consented_tenant(world.directory, CONSENTED)
    named, named_sp, named_consent = add_hand_made_app(world.directory, tenant, der(CERTIFICATE))
    other, other_sp, _ = add_hand_made_app(world.directory, tenant, der(CERTIFICATE))
    (world.project / "Pulumi.contoso.yaml").write_text(
        f"config:\n  azuread:tenantId: {tenant.tenant_id}\n"
        "  mimecast-association:adopt:\n"
        f"    applicationObjectId: {named['id']}\n"
        f"    servicePrincipalObjectId: {named_sp['id']}\n"
        f"    appRoleAssignmentId: {named_consent['id']}\n"
    )
    world.tenants(("contoso", tenant, ""))
    _, out = world.run(capsys, "--owner", tenant.admin_id)
    deploy_sp = owners_of(tenant, DEPLOY)
    assert deploy_sp in tenant.owners[named["id"]]
    assert deploy_sp in tenant.owners[named_sp["id"]]
    assert deploy_sp not in tenant.owners[other["id"]]
    assert deploy_sp not in tenant.owners.get(other_sp["id"], set())
    assert "adopting what the stack file names" in lines(out)["contoso"], out
    assert GRAPH_ROLES["User.Read.All"] in held_by(tenant, DEPLOY), "owners may be people"


def test_a_rerun_while_entra_lags_behind_is_ready_and_changes_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.directory.replication_lag = 8
    tenant = fresh_tenant(world.directory)
    world.tenants(("contoso", tenant, ""))
    first, out = world.run(capsys)
    assert first == 0, out
    again, out = world.run(capsys)
    assert again == 0, out
    assert "unchanged" in lines(out)["contoso"]
