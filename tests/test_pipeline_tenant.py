"""scripts/tenant.py: onboarding writes a checked stack file; retiring runs the runbook.

The retire runbook runs against a fake `pulumi` that records its calls (orchestration
only: the order of the steps and when it stops).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from certfactory import NOW, der, make_certificate, pem, private_key_pem
from fake_pulumi import load_script

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
  "config set") echo "  $5: '$6'" >> Pulumi.contoso.yaml ;;
  "stack rm") rm -f "Pulumi.contoso.yaml" ;;
esac
case "$*" in "${FAKE_FAIL-never}"*) echo "error: $1 failed" >&2; exit 7 ;; esac
exit 0
"""
"""Records each call; fails (exit 7) the first call that starts with $FAKE_FAIL."""


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
    current = make_certificate(not_after=datetime.now(UTC) + timedelta(days=400))
    (tmp_path / "certs" / "mimecast-2026.pem").write_bytes(pem(current))
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
    assert "--adopt" in out  # the way to adopt a hand-made app instead


def test_onboard_adopt_writes_placeholders_and_prints_the_readmes_recipe(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    current = make_certificate(not_after=datetime.now(UTC) + timedelta(days=400))
    (tmp_path / "certs" / "current.cer").write_bytes(der(current))  # DER is read too
    result = tenant(tmp_path, "onboard", *CERT, "certs/current.cer", "--adopt")
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "Pulumi.contoso.yaml").read_text("utf-8")
    assert "  mimecast-association:adopt:\n    applicationObjectId: <1." in written
    printed = [line.strip() for line in result.stdout.splitlines() if line.startswith("   ")]
    script = load_script("onboarding", SCRIPT.parent / "onboarding.py")
    assert [line for line in printed if line.startswith(("az ", "#"))] == script.adopt_recipe(
        TENANT, [OWNER.lower()]
    )
    # The owner step, for the owner given, before the first deploy.
    assert f"az ad app owner add --id <applicationObjectId> --owner-object-id {OWNER.lower()}" in (
        printed
    )
    # One recipe: the adoption page gives the same commands, for any tenant.
    page = {
        line.strip() for line in (REPO / "docs" / "adoption.md").read_text("utf-8").splitlines()
    }
    for line in script.adopt_recipe("<tenantId>", ["<ownerObjectId>"]):
        assert line in page, line


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (private_key_pem(), "holds a PRIVATE KEY"),
        (pem(make_certificate()) + private_key_pem(), "holds a PRIVATE KEY"),
        (b"hello", "is not an X.509 certificate"),
        (pem(make_certificate()) * 2, "exactly one PEM CERTIFICATE"),
        (
            pem(
                make_certificate(
                    not_before=NOW.replace(year=2019), not_after=NOW.replace(year=2020)
                )
            ),
            "expired on 2020-",
        ),
    ],
    ids=["key", "cert-and-key", "garbage", "two-certs", "expired"],
)
def test_onboard_refuses_what_is_not_one_valid_public_certificate(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "x.pem").write_bytes(content)
    result = tenant(tmp_path, "onboard", *CERT, "certs/x.pem")
    assert result.returncode == 1
    assert message in result.stderr
    assert "BEGIN" not in result.stderr  # nothing of the file is echoed
    assert not (tmp_path / "Pulumi.contoso.yaml").exists()


def test_onboard_without_a_certificate_refuses_the_expired_default(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "mimecast.pem").write_bytes(
        (REPO / "certs" / "mimecast.pem").read_bytes()
    )
    result = tenant(tmp_path, "onboard", "contoso", "--tenant-id", TENANT, "--owner", OWNER)
    assert result.returncode == 1
    assert "'certs/mimecast.pem' expired on 2025-08-04" in result.stderr


def test_onboard_reads_certificates_as_the_program_does(tmp_path: Path) -> None:
    """Symlinks followed: one inside the project is taken, one that leads out is refused."""
    (tmp_path / "certs").mkdir()
    current = make_certificate(not_after=datetime.now(UTC) + timedelta(days=400))
    (tmp_path / "certs" / "real.pem").write_bytes(pem(current))
    (tmp_path / "certs" / "link.pem").symlink_to(tmp_path / "certs" / "real.pem")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "x.pem").write_bytes(pem(current))
    (tmp_path / "certs2").symlink_to(outside)
    result = tenant(tmp_path, "onboard", *CERT, "certs2/x.pem")
    assert result.returncode == 1
    assert "resolves outside the project" in result.stderr
    result = tenant(tmp_path, "onboard", *CERT, "certs/link.pem")
    assert result.returncode == 0, result.stderr


def test_onboard_without_an_owner_says_how_to_find_one(tmp_path: Path) -> None:
    result = tenant(tmp_path, "onboard", "contoso", "--tenant-id", TENANT)
    assert result.returncode == 1
    assert "az ad signed-in-user show --query id -o tsv" in result.stderr


NIL = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["con toso", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["$(id)", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["example", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["contoso", "--tenant-id", "contoso.onmicrosoft.com", "--owner", OWNER], "not a GUID"),
        (["contoso", "--tenant-id", NIL, "--owner", OWNER], "the nil GUID is a placeholder"),
        (["contoso", "--tenant-id", TENANT, "--owner", "me"], "not a GUID"),
        (["contoso", "--tenant-id", TENANT], "--owner"),
        (["contoso", "--tenant-id", TENANT, "--owner", OWNER, "--app-id", "x"], "not a GUID"),
        ([*CERT, "../k.pem"], "resolves outside the project"),
        ([*CERT, "c/no.pem"], "does not exist (looked in"),
        # A trailing newline: `^...$` with re.match would pass it (Pulumi.ok\n.yaml).
        (["ok\n", "--tenant-id", TENANT, "--owner", OWNER], "no stack name"),
        (["contoso", "--tenant-id", f"{TENANT}\n", "--owner", OWNER], "not a GUID"),
        (["contoso", "--tenant-id", TENANT, "--owner", f"{OWNER}\n"], "not a GUID"),
        ([*CERT[:-1], "--app-id", f"{APP}\n"], "not a GUID"),
        ([*CERT, "certs/x.pem\n"], "letters, digits"),
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
    (tmp_path / "certs").mkdir()
    current = make_certificate(not_after=datetime.now(UTC) + timedelta(days=400))
    (tmp_path / "certs" / "c.pem").write_bytes(pem(current))
    result = tenant(tmp_path, "onboard", *CERT, "certs/c.pem")
    assert result.returncode == 1
    assert (tmp_path / "Pulumi.contoso.yaml").read_text("utf-8") == "config: {}\n"


def retire_env(tmp_path: Path, outputs: object, **extra: str) -> dict[str, str]:
    fake = tmp_path / "pulumi"
    fake.write_text(FAKE, "utf-8")
    fake.chmod(0o755)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs), "utf-8")
    (tmp_path / "Pulumi.contoso.yaml").write_text(STACK_FILE)
    return {
        "PULUMI": str(fake),
        "FAKE_LOG": str(tmp_path / "log"),
        "FAKE_OUTPUTS": str(tmp_path / "outputs.json"),
        **extra,
    }


STACK_FILE = f"config:\n  azuread:tenantId: {TENANT}\n"
RETIRE = ["retire", "contoso", "--mimecast-disconnected"]
UNPROTECT = [
    "stack output --json --stack contoso",
    "config set --stack contoso mimecast-association:protect false",
    "preview --stack contoso",
]
"""What runs before the first question: reads, the local setting, the preview of `up`."""
UP_THEN_PREVIEW = [*UNPROTECT, "up --yes --stack contoso", "destroy --preview-only --stack contoso"]
"""... and before the second: `up`, the preview of `destroy`."""


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "log"
    return log.read_text("utf-8").splitlines() if log.exists() else []


def at_a_terminal(root: Path, answers: str, *args: str, **env: str) -> tuple[int, str, str]:
    """tenant.py with its input a terminal on which `answers` are typed (one line each)."""
    controller, terminal = os.openpty()
    with subprocess.Popen(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
    ) as process:
        os.close(terminal)
        os.write(controller, answers.encode())
        out, err = process.communicate(timeout=60)
    os.close(controller)
    return process.returncode, out, err


def test_retire_previews_each_change_before_it_is_made(tmp_path: Path) -> None:
    retire_line = "$ids = ...; Set-OrganizationConfig -EwsAllowedAppIDs ($ids -join ',')"
    env = retire_env(tmp_path, {"exchangeOnline": {"retire": retire_line}}, PULUMI_ORG="acme")
    result = tenant(tmp_path, *RETIRE, "--yes", **env)
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == [
        "stack output --json --stack acme/contoso",
        "config set --stack acme/contoso mimecast-association:protect false",
        "preview --stack acme/contoso",
        "up --yes --stack acme/contoso",
        "destroy --preview-only --stack acme/contoso",
        "destroy --yes --stack acme/contoso",
        "stack rm --yes --stack acme/contoso",
    ]
    out = result.stdout
    # Each step is named before it runs; --yes answers each question, visibly.
    steps = [
        "== preview of pulumi up (unprotect): pulumi preview --stack acme/contoso",
        "Run this pulumi up (it only lifts the protection)? yes (--yes)",
        "== pulumi up (unprotect): pulumi up --yes --stack acme/contoso",
        "== preview of pulumi destroy: pulumi destroy --preview-only --stack acme/contoso",
        "Run this pulumi destroy (it deletes what the preview lists)? yes (--yes)",
        "== pulumi destroy: pulumi destroy --yes --stack acme/contoso",
        retire_line,
        "== pulumi stack rm: pulumi stack rm --yes --stack acme/contoso",
    ]
    assert [out.index(step) for step in steps] == sorted(out.index(step) for step in steps)
    assert "-m 'Retired-Stack: contoso'" in out
    assert not (tmp_path / "Pulumi.contoso.yaml").exists()


def test_retire_at_a_terminal_asks_before_up_and_before_destroy(tmp_path: Path) -> None:
    env = retire_env(tmp_path, {})
    status, out, err = at_a_terminal(tmp_path, "y\nyes\n", *RETIRE, **env)
    assert status == 0, err
    assert err.count("[y/N]") == 2
    assert calls(tmp_path)[3:6] == [
        "up --yes --stack contoso",
        "destroy --preview-only --stack contoso",
        "destroy --yes --stack contoso",
    ]
    assert "Stack contoso is retired." in out


def test_no_to_up_changes_nothing(tmp_path: Path) -> None:
    env = retire_env(tmp_path, {})
    status, _, err = at_a_terminal(tmp_path, "n\n", *RETIRE, **env)
    assert status == 1
    assert "Run this pulumi up (it only lifts the protection)? [y/N]" in err
    assert "tenant: you answered no to pulumi up: nothing was changed in the tenant." in err
    assert calls(tmp_path) == UNPROTECT
    # `protect: false` is taken back: the stack file says what the tenant still has.
    assert (tmp_path / "Pulumi.contoso.yaml").read_text("utf-8") == STACK_FILE


def test_no_to_destroy_destroys_nothing_and_says_how_to_protect_again(tmp_path: Path) -> None:
    env = retire_env(tmp_path, {})
    status, _, err = at_a_terminal(tmp_path, "y\n\n", *RETIRE, **env)  # Enter: the default, no
    assert status == 1
    assert calls(tmp_path) == UP_THEN_PREVIEW
    assert "you answered no to pulumi destroy: nothing was deleted" in err
    assert "pulumi config set mimecast-association:protect true --stack contoso" in err
    assert (tmp_path / "Pulumi.contoso.yaml").exists()


@pytest.mark.parametrize(
    ("failing", "ran"),
    [("preview", UNPROTECT), ("destroy --preview-only", UP_THEN_PREVIEW)],
    ids=["up-preview", "destroy-preview"],
)
def test_a_failed_preview_stops_before_its_change(
    tmp_path: Path, failing: str, ran: list[str]
) -> None:
    env = retire_env(tmp_path, {}, FAKE_FAIL=failing)
    result = tenant(tmp_path, *RETIRE, "--yes", **env)
    assert result.returncode == 1
    assert calls(tmp_path) == ran
    assert "failed (pulumi exit 7); nothing after it ran" in result.stderr
    assert (tmp_path / "Pulumi.contoso.yaml").exists()
    if failing == "preview":
        assert (tmp_path / "Pulumi.contoso.yaml").read_text("utf-8") == STACK_FILE


def test_retire_without_a_terminal_needs_yes(tmp_path: Path) -> None:
    result = tenant(tmp_path, *RETIRE, **retire_env(tmp_path, {}))
    assert result.returncode == 2
    assert "its input is no terminal" in result.stderr
    assert "add --yes to go ahead after each preview" in result.stderr
    assert calls(tmp_path) == []


@pytest.mark.parametrize("pulumi", [None, "/nowhere/pulumi"], ids=["not-on-path", "PULUMI"])
def test_retire_without_the_pulumi_cli_says_how_to_install_it(
    tmp_path: Path, pulumi: str | None
) -> None:
    env = retire_env(tmp_path, {})
    del env["PULUMI"]
    result = tenant(tmp_path, *RETIRE, "--yes", **env, **({"PULUMI": pulumi} if pulumi else {}))
    assert result.returncode == 1
    name = pulumi or "pulumi"
    assert result.stderr == (
        f"tenant: the Pulumi CLI (`{name}`) is not on PATH, and retire runs it: install it "
        "(https://www.pulumi.com/docs/iac/download-install/) and run retire again. Nothing "
        "was run or changed.\n"
    )
    assert result.stdout == ""
    assert (tmp_path / "Pulumi.contoso.yaml").read_text("utf-8") == STACK_FILE


def test_the_install_link_is_the_readmes() -> None:
    steps = load_script("retire_steps", SCRIPT.parent / "retire_steps.py")
    assert f"]({steps.INSTALL_URL})" in (REPO / "README.md").read_text("utf-8")


def test_retire_of_an_adopted_stack_names_the_app_to_delete_on_purpose(tmp_path: Path) -> None:
    app = "3F2A6C1E-8B4D-4E21-9C57-0A1B2C3D4E5F"
    env = retire_env(tmp_path, {"applicationObjectId": app})
    stack_file = tmp_path / "Pulumi.contoso.yaml"
    stack_file.write_text(
        stack_file.read_text("utf-8") + "  mimecast-association:adopt:\n"
        f"    applicationObjectId: {app}\n"
    )
    result = tenant(tmp_path, *RETIRE, "--yes", **env)
    assert result.returncode == 0, result.stderr
    assert f"az ad app delete --id {app.lower()}" in result.stdout
    # A stack that created its app: destroy deleted it, nothing more to do.
    env = retire_env(tmp_path, {"applicationObjectId": app})
    result = tenant(tmp_path, *RETIRE, "--yes", **env)
    assert "az ad app delete" not in result.stdout


def test_retire_starts_on_mimecasts_side(tmp_path: Path) -> None:
    result = tenant(tmp_path, "retire", "contoso", "--yes", **retire_env(tmp_path, {}))
    assert result.returncode == 2
    assert "Mimecast" in result.stderr
    assert calls(tmp_path) == []


def test_retire_stops_at_the_failing_step_and_keeps_the_file(tmp_path: Path) -> None:
    env = retire_env(tmp_path, {}, FAKE_FAIL="destroy --yes")
    result = tenant(tmp_path, *RETIRE, "--yes", **env)
    assert result.returncode == 1
    assert "pulumi destroy failed (pulumi exit 7)" in result.stderr
    assert calls(tmp_path)[-1] == "destroy --yes --stack contoso"
    assert (tmp_path / "Pulumi.contoso.yaml").exists()


def test_retire_without_the_exchange_output_says_what_to_remove(tmp_path: Path) -> None:
    env = retire_env(tmp_path, {"clientId": APP})
    result = tenant(tmp_path, *RETIRE, "--yes", **env)
    assert result.returncode == 0, result.stderr
    assert "EwsAllowedAppIDs, keeping the other apps" in result.stdout
