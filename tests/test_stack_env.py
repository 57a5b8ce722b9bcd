"""scripts/pulumi-stack-env.sh: how every pipeline job logs in and picks its tenant.

The helper is sourced for real by bash, with `pulumi` replaced by a fake executable that
logs its arguments, so no network, Pulumi CLI or Azure login is needed.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

HELPER = Path(__file__).resolve().parents[1] / "scripts" / "pulumi-stack-env.sh"

FAKE_PULUMI = """#!/bin/bash
echo "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "config get") [ -n "${FAKE_TENANT:-}" ] && echo "$FAKE_TENANT" || exit 1 ;;
esac
exit 0
"""

TENANT = "11111111-2222-3333-4444-555555555555"


def source_helper(
    tmp_path: Path, *, guarded: bool = False, prefix: str = "", **env: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Source the helper for stack "contoso" against a fake pulumi; return result and log.

    guarded sources it as `if ! source ...`, as the drift jobs do: bash then ignores
    `set -e` inside the helper, so every failure must return explicitly.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI, encoding="utf-8")
    fake.chmod(0o755)
    (tmp_path / "Pulumi.contoso.yaml").write_text("config: {}\n", encoding="utf-8")
    log = tmp_path / "pulumi.log"
    base_env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "ARM_USE_OIDC": "true",
        "ARM_CLIENT_ID": "client",
    }
    helper = shlex.quote(str(HELPER))
    source = (
        f"if ! source {helper} contoso; then exit 7; fi" if guarded else f"source {helper} contoso"
    )
    command = (
        f"set -euo pipefail; {prefix}{source};"
        ' printf "%s|%s|%s\\n" "$STACK_REF" "$ARM_TENANT_ID" "${PULUMI_ACCESS_TOKEN-unset}"'
    )
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={**base_env, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return result, log.read_text(encoding="utf-8") if log.exists() else ""


def test_helper_logs_in_to_azure_blob_and_drops_ado_placeholders(tmp_path: Path) -> None:
    result, log = source_helper(
        tmp_path,
        PULUMI_BACKEND_URL="azblob://state",
        AZURE_STORAGE_ACCOUNT="acct",
        PULUMI_ACCESS_TOKEN="$(PULUMI_ACCESS_TOKEN)",
        PULUMI_CONFIG_PASSPHRASE="$(PULUMI_CONFIG_PASSPHRASE)",
        FAKE_TENANT=TENANT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"contoso|{TENANT}|unset"
    # No `stack select`: every later command passes --stack (one Pulumi start less).
    assert log.splitlines() == [
        "login --non-interactive azblob://state",
        "config get --stack contoso azuread:tenantId",
    ]


def test_helper_drops_a_placeholder_of_another_variables_name(tmp_path: Path) -> None:
    # pipelines/templates/fleet.yml maps PULUMI_ACCESS_TOKEN: $(PULUMI_PREVIEW_ACCESS_TOKEN);
    # when that variable is not defined, Azure DevOps passes the macro text itself.
    result, log = source_helper(
        tmp_path,
        PULUMI_BACKEND_URL="azblob://state?storage_account=acct",
        PULUMI_ACCESS_TOKEN="$(PULUMI_PREVIEW_ACCESS_TOKEN)",
        PULUMI_CONFIG_PASSPHRASE="$(Some.Other_Name2)",
        PULUMI_ORG="$(PULUMI_ORG_NAME)",
        FAKE_TENANT=TENANT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"contoso|{TENANT}|unset"
    assert "PULUMI_ACCESS_TOKEN is the unexpanded Azure DevOps macro" in result.stderr
    assert "config get --stack contoso azuread:tenantId" in log  # no "$(...)/" org prefix


def test_a_placeholder_token_for_pulumi_cloud_is_missing_not_used(tmp_path: Path) -> None:
    result, log = source_helper(
        tmp_path, PULUMI_ACCESS_TOKEN="$(PULUMI_PREVIEW_ACCESS_TOKEN)", FAKE_TENANT=TENANT
    )
    assert result.returncode == 1
    assert "PULUMI_ACCESS_TOKEN is empty" in result.stderr
    assert log == ""  # never logged in with the macro text as the token


@pytest.mark.parametrize("value", ["$(a) b", "x$(Y)", "$()", "$(a-b)", "pul-$(X)"])
def test_only_an_exact_placeholder_is_dropped(tmp_path: Path, value: str) -> None:
    result, _ = source_helper(tmp_path, PULUMI_ACCESS_TOKEN=value, FAKE_TENANT=TENANT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"contoso|{TENANT}|{value}"


def test_helper_uses_pulumi_cloud_and_the_org(tmp_path: Path) -> None:
    result, log = source_helper(
        tmp_path, PULUMI_ACCESS_TOKEN="pul-token", PULUMI_ORG="acme", FAKE_TENANT=TENANT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"acme/contoso|{TENANT}|pul-token"
    assert log.splitlines()[0] == "login --non-interactive https://api.pulumi.com"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAKE_TENANT": ""}, "has no azuread:tenantId"),
        ({"FAKE_TENANT": ""}, "pulumi stack init"),
        ({"PULUMI_BACKEND_URL": "azblob://state"}, "storage_account"),
        ({"PULUMI_BACKEND_URL": "s3://bucket"}, "unsupported"),
        # The diy backend takes no organization (it would look for "acme/contoso" and fail).
        (
            {"PULUMI_BACKEND_URL": "azblob://state?storage_account=a", "PULUMI_ORG": "acme"},
            "unset the variable PULUMI_ORG",
        ),
        ({"PULUMI_ACCESS_TOKEN": ""}, "PULUMI_ACCESS_TOKEN is empty"),
        ({"ARM_USE_OIDC": "false"}, "OIDC"),
        ({"ARM_CLIENT_ID": ""}, "client ID"),
        ({"ARM_CLIENT_ID": "$(ARM_CLIENT_ID)"}, "client ID"),
    ],
)
@pytest.mark.parametrize("guarded", [False, True], ids=["errexit", "if-not-source"])
def test_helper_refuses_to_continue(
    tmp_path: Path, env: dict[str, str], message: str, guarded: bool
) -> None:
    result, _ = source_helper(
        tmp_path, guarded=guarded, **{"PULUMI_ACCESS_TOKEN": "t", "FAKE_TENANT": TENANT, **env}
    )
    assert result.returncode == (7 if guarded else 1)
    assert message in result.stderr
    assert result.stdout == ""


def test_a_job_logs_in_once_for_all_its_stacks(tmp_path: Path) -> None:
    helper = shlex.quote(str(HELPER))
    result, log = source_helper(
        tmp_path,
        prefix=f"source {helper} --login; source {helper} contoso;",
        PULUMI_BACKEND_URL="azblob://state?storage_account=acct",
        FAKE_TENANT=TENANT,
    )
    assert result.returncode == 0, result.stderr
    assert log.splitlines() == [
        "login --non-interactive azblob://state?storage_account=acct",
        "config get --stack contoso azuread:tenantId",
        "config get --stack contoso azuread:tenantId",
    ]
