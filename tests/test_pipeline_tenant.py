"""scripts/tenant.py: onboarding writes a checked stack file; retiring runs the runbook.

The retire runbook runs against a fake `pulumi` that records its calls (orchestration
only: the order of the steps and when it stops).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "tenant.py"
TENANT = "11111111-2222-3333-4444-555555555555"
OWNER = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"
CERT = ["contoso", "--tenant-id", TENANT, "--owner", OWNER, "--certificate"]
APP = "99999999-8888-7777-6666-555555555555"

FAKE = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "stack output") cat "$FAKE_OUTPUTS" ;;
  "stack rm") rm -f "Pulumi.contoso.yaml" ;;
esac
[ "$1" = "${FAKE_FAIL-}" ] && exit 7
exit 0
"""


def tenant(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_onboard_writes_the_stack_file_and_prints_the_next_steps(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "mimecast-2026.pem").write_text("x", "utf-8")
    result = tenant(
        tmp_path, "onboard", "contoso", "--tenant-id", TENANT, "--owner", OWNER,
        "--owner", OWNER.lower(), "--certificate", "certs/mimecast-2026.pem", "--app-id", APP,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "Pulumi.contoso.yaml").read_text("utf-8") == (
        "config:\n"
        f"  azuread:tenantId: {TENANT}\n"
        "  mimecast-association:certificates:\n"
        "    - certs/mimecast-2026.pem\n"
        "  mimecast-association:owners:\n"
        f"    - {OWNER.lower()}\n"
    )
    out = result.stdout
    assert f"https://login.microsoftonline.com/{TENANT}/adminconsent?client_id={APP}" in out
    assert "pulumi stack init contoso" in out
    assert "az ad app list --display-name 'Mimecast Cloud Synchronization'" in out
    assert "servicePrincipals/<servicePrincipalObjectId>/appRoleAssignments" in out
    assert "appId eq '00000002-0000-0ff1-ce00-000000000000'" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["con toso", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["$(id)", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["example", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["contoso", "--tenant-id", "contoso.onmicrosoft.com", "--owner", OWNER], "not a GUID"),
        (["contoso", "--tenant-id", TENANT, "--owner", "me"], "not a GUID"),
        (["contoso", "--tenant-id", TENANT], "--owner"),
        (["contoso", "--tenant-id", TENANT, "--owner", OWNER, "--app-id", "x"], "not a GUID"),
        ([*CERT, "../k.pem"], "inside"),
        ([*CERT, "c/no.pem"], "not a file"),
        # A trailing newline: `^...$` with re.match would pass it (Pulumi.ok\n.yaml).
        (["ok\n", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["contoso", "--tenant-id", f"{TENANT}\n", "--owner", OWNER], "not a GUID"),
        (["contoso", "--tenant-id", TENANT, "--owner", f"{OWNER}\n"], "not a GUID"),
        ([*CERT[:-1], "--app-id", f"{APP}\n"], "not a GUID"),
        ([*CERT, "certs/x.pem\n"], "inside"),
    ],
)  # fmt: skip
def test_onboard_refuses_bad_input_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "x.pem\n").write_text("x", "utf-8")
    result = tenant(tmp_path, "onboard", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["certs"]


def test_onboard_never_overwrites_a_stack(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.contoso.yaml").write_text("config: {}\n", "utf-8")
    result = tenant(tmp_path, "onboard", "contoso", "--tenant-id", TENANT, "--owner", OWNER)
    assert result.returncode == 1
    assert (tmp_path / "Pulumi.contoso.yaml").read_text("utf-8") == "config: {}\n"


def retire_env(tmp_path: Path, outputs: object, **extra: str) -> dict[str, str]:
    fake = tmp_path / "pulumi"
    fake.write_text(FAKE, "utf-8")
    fake.chmod(0o755)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs), "utf-8")
    (tmp_path / "Pulumi.contoso.yaml").write_text(f"config:\n  azuread:tenantId: {TENANT}\n")
    return {
        "PULUMI": str(fake),
        "FAKE_LOG": str(tmp_path / "log"),
        "FAKE_OUTPUTS": str(tmp_path / "outputs.json"),
        **extra,
    }


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "log"
    return log.read_text("utf-8").splitlines() if log.exists() else []


def test_retire_runs_the_runbook_in_order(tmp_path: Path) -> None:
    retire_line = "$ids = ...; Set-OrganizationConfig -EwsAllowedAppIDs ($ids -join ',')"
    env = retire_env(tmp_path, {"exchangeOnline": {"retire": retire_line}}, PULUMI_ORG="acme")
    result = tenant(tmp_path, "retire", "contoso", "--mimecast-disconnected", **env)
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == [
        "stack output --json --stack acme/contoso",
        "config set --stack acme/contoso mimecast-association:protect false",
        "up --yes --stack acme/contoso",
        "destroy --yes --stack acme/contoso",
        "stack rm --yes --stack acme/contoso",
    ]
    assert retire_line in result.stdout
    assert result.stdout.index(retire_line) < result.stdout.index("pulumi stack rm")
    assert "-m 'Retired-Stack: contoso'" in result.stdout
    assert not (tmp_path / "Pulumi.contoso.yaml").exists()


def test_retire_starts_on_mimecasts_side(tmp_path: Path) -> None:
    result = tenant(tmp_path, "retire", "contoso", **retire_env(tmp_path, {}))
    assert result.returncode == 2
    assert "Mimecast" in result.stderr
    assert calls(tmp_path) == []


def test_retire_stops_at_the_failing_step_and_keeps_the_file(tmp_path: Path) -> None:
    env = retire_env(tmp_path, {}, FAKE_FAIL="destroy")
    result = tenant(tmp_path, "retire", "contoso", "--mimecast-disconnected", **env)
    assert result.returncode == 1
    assert "pulumi destroy failed (pulumi exit 7)" in result.stderr
    assert calls(tmp_path)[-1] == "destroy --yes --stack contoso"
    assert (tmp_path / "Pulumi.contoso.yaml").exists()


def test_retire_without_the_exchange_output_says_what_to_remove(tmp_path: Path) -> None:
    env = retire_env(tmp_path, {"clientId": APP})
    result = tenant(tmp_path, "retire", "contoso", "--mimecast-disconnected", **env)
    assert result.returncode == 0, result.stderr
    assert "EwsAllowedAppIDs, keeping the other apps" in result.stdout
