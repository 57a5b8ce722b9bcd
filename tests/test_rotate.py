"""scripts/rotate.py: Mimecast's successor certificate onto many stacks, then the old one off."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from certfactory import NOW, make_certificate, pem, private_key_pem
from tenant import PROJECT, TENANT, copy_program

from association.certificate_checks import coverage_problems
from association.certificate_entries import load_certificate
from association.certificates import parse_certificate, rfc3339
from tests.fake_pulumi import load_script

rotate = load_script("rotate", PROJECT / "scripts" / "rotate.py")
onboarding = load_script("onboarding", PROJECT / "scripts" / "onboarding.py")

OWNER = "aaaaaaaa-0000-0000-0000-000000000001"
KEY = "mimecast-association:certificates"
PULUMI_SHAPE = f"""encryptionsalt: v1:abc=
config:
  azuread:tenantId: 22222222-2222-3333-4444-555555555555
  # Mimecast's certificate: rotate with scripts/rotate.py
  {KEY}:
    - certs/old.pem
  mimecast-association:displayName: Mimecast (Fabrikam)
  mimecast-association:owners:
    - {OWNER}
"""
"""As `pulumi config set` writes it (yaml.v3, indent 2: pulumi/pulumi yamlutil.YamlEncode),
keys sorted, with a comment someone added and a top-level key of the CLI's own."""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy_program(tmp_path)
    certs = tmp_path / "certs"
    certs.mkdir()
    old = make_certificate("Old", NOW - timedelta(days=340), NOW + timedelta(days=19), serial=1)
    (certs / "old.pem").write_bytes(pem(old))
    (certs / "new.pem").write_bytes(pem(make_certificate("New", serial=2)))
    (certs / "key.pem").write_bytes(private_key_pem())
    (certs / "notes.pem").write_text("not a certificate\n")
    gone = make_certificate("Gone", NOW - timedelta(days=400), NOW - timedelta(days=1), serial=3)
    (certs / "expired.pem").write_bytes(pem(gone))
    (tmp_path / "Pulumi.contoso.yaml").write_text(
        onboarding.stack_file_text(TENANT, ["certs/old.pem"], [OWNER], False)
    )
    (tmp_path / "Pulumi.fabrikam.yaml").write_text(PULUMI_SHAPE)
    (tmp_path / "Pulumi.example.yaml").write_text("config:\n  azuread:tenantId: x\n")
    return tmp_path


def run(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = rotate.main([*args, "--project-dir", str(project), "--now", rfc3339(NOW)])
    out, err = capsys.readouterr()
    return status, out, err


def entries(project: Path, stack: str) -> list[str]:
    config = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())["config"]
    listed: list[str] = config[KEY]
    return listed


def texts(project: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(project.glob("Pulumi.*.yaml"))}


def test_add_then_retire_on_both_shapes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contoso = (project / "Pulumi.contoso.yaml").read_text()
    status, out, err = run(project, capsys, "add", "certs/new.pem")

    assert (status, err) == (0, "")
    assert out.startswith("Added certs/new.pem in 2 stack(s): contoso, fabrikam\n")
    # Only the new line: comments, key order and the CLI's own key are kept.
    assert (project / "Pulumi.fabrikam.yaml").read_text() == PULUMI_SHAPE.replace(
        "    - certs/old.pem\n", "    - certs/old.pem\n    - certs/new.pem\n"
    )
    assert (project / "Pulumi.contoso.yaml").read_text() == contoso.replace(
        "    - certs/old.pem\n", "    - certs/old.pem\n    - certs/new.pem\n"
    )
    assert (project / "Pulumi.example.yaml").read_text() == "config:\n  azuread:tenantId: x\n"
    # Then preflight over the same stacks, as the next step says.
    assert "Next, preflight: venv/bin/python -m association preflight --exclude example" in out
    assert "2 stacks checked: 0 with errors, 2 with warnings, 0 ok" in out  # old: 19 days

    status, out, _ = run(project, capsys, "add", "certs/new.pem")
    assert "Unchanged, lists it already: contoso, fabrikam" in out

    new = parse_certificate((project / "certs" / "new.pem").read_bytes(), "x").thumbprint
    old = parse_certificate((project / "certs" / "old.pem").read_bytes(), "x").thumbprint
    spaced = " ".join(old[i : i + 2] for i in range(0, 40, 2)).lower()  # as certutil shows it
    status, out, _ = run(project, capsys, "retire", spaced)
    assert status == 0
    assert out.startswith("Retired")
    assert entries(project, "contoso") == entries(project, "fabrikam") == ["certs/new.pem"]
    assert (
        "# Mimecast's certificate: rotate with scripts/rotate.py"
        in texts(project)["Pulumi.fabrikam.yaml"]
    )
    assert "2 stacks checked: 0 with errors, 0 with warnings, 2 ok" in out
    # The last valid certificate is never removed, by thumbprint or by path.
    before = texts(project)
    for target in (new, "certs/new.pem"):
        status, _, err = run(project, capsys, "retire", target)
        assert status == 1
        assert "contoso: Pulumi.contoso.yaml would be left with days on which Mimecast" in err
        assert f"{KEY} lists no certificate valid now" in err  # the program's own words
        assert texts(project) == before


def test_only_the_named_stacks_and_a_flow_list(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = f"config:\n  azuread:tenantId: {TENANT}\n  {KEY}: [certs/old.pem]  # current\n"
    (project / "Pulumi.litware.yaml").write_text(flow)
    before = texts(project)
    status, out, _ = run(project, capsys, "add", "certs/new.pem", "litware")

    assert status == 0
    assert out.startswith("Added certs/new.pem in 1 stack(s): litware\n")
    assert (project / "Pulumi.litware.yaml").read_text() == flow.replace(
        "[certs/old.pem]", "[certs/old.pem, certs/new.pem]"
    )
    assert {k: v for k, v in texts(project).items() if k != "Pulumi.litware.yaml"} == {
        k: v for k, v in before.items() if k != "Pulumi.litware.yaml"
    }
    assert "== litware: " in out  # named: preflight shows its block


def test_exclude_leaves_a_stack_out_of_add_and_retire(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fabrikam = (project / "Pulumi.fabrikam.yaml").read_text()
    status, out, err = run(project, capsys, "add", "certs/new.pem", "--exclude", "fabrikam")

    assert (status, err) == (0, "")
    assert out.startswith("Added certs/new.pem in 1 stack(s): contoso\n")
    assert (project / "Pulumi.fabrikam.yaml").read_text() == fabrikam
    # Preflight checks the same stacks, and the command shown says so.
    assert (
        "Next, preflight: venv/bin/python -m association preflight --exclude example "
        "--exclude fabrikam --now " in out
    )
    assert "1 stack checked:" in out

    status, out, err = run(
        project, capsys, "retire", "certs/old.pem", "--exclude", "fabrikam", "--exclude", "example"
    )
    assert (status, err) == (0, "")
    assert out.startswith("Retired certs/old.pem in 1 stack(s): contoso\n")
    assert entries(project, "contoso") == ["certs/new.pem"]
    assert (project / "Pulumi.fabrikam.yaml").read_text() == fabrikam


@pytest.mark.parametrize("command", ["add", "retire"])
def test_an_exclusion_that_names_no_stack_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A misspelt exclusion must not rotate the very stack it was meant to spare."""
    before = texts(project)
    status, out, err = run(project, capsys, command, "certs/old.pem", "--exclude", "fabrikan")

    assert (status, out) == (2, "")
    assert err.startswith("rotate: --exclude fabrikan: no Pulumi.<stack>.yaml for it in ")
    assert "(stacks: contoso, example, fabrikam)" in err
    assert texts(project) == before


def test_exclude_with_named_stacks_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = texts(project)
    status, _, err = run(
        project, capsys, "add", "certs/new.pem", "contoso", "--exclude", "fabrikam"
    )
    assert status == 2
    assert "with STACK names given, leave it out of the names instead" in err
    assert texts(project) == before


@pytest.mark.parametrize(
    ("listed", "why"),
    [
        (["certs/old.pem", "certs/new.pem", "certs/late.pem"], "certificate-gap"),
        (["certs/new.pem", "certs/late.pem"], "certificates-none-valid-now"),
    ],
    ids=["gap", "only-a-future-one-left"],
)
def test_a_retire_that_would_leave_mimecast_unable_to_sign_in_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], listed: list[str], why: str
) -> None:
    """Judged by the rule preflight applies (`coverage_problems`), on the list left behind."""
    late = make_certificate("Late", NOW + timedelta(days=30), NOW + timedelta(days=400), serial=4)
    (project / "certs" / "late.pem").write_bytes(pem(late))
    (project / "Pulumi.contoso.yaml").write_text(
        onboarding.stack_file_text(TENANT, listed, [OWNER], False)
    )
    before = texts(project)
    status, out, err = run(project, capsys, "retire", "certs/new.pem", "contoso")

    left = [
        load_certificate(entry, f"{KEY}[{index}]", project)
        for index, entry in enumerate(e for e in listed if e != "certs/new.pem")
    ]
    (problem,) = coverage_problems(left, KEY, NOW)
    assert problem.code == why
    assert (status, out) == (1, "")
    assert err.startswith("rotate: nothing written; 1 stack(s) refused:\n  contoso: ")
    assert problem.message in err
    assert "add the successor first: scripts/rotate.py add certs/<successor>.pem contoso" in err
    assert texts(project) == before


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("certs/key.pem", "holds a PRIVATE KEY"),
        ("certs/notes.pem", "is not an X.509 certificate"),
        ("certs/expired.pem", "expired on"),
        ("../outside.pem", "give the certificate's path in the project"),
        ("/etc/passwd", "give the certificate's path in the project"),
        ("certs/missing.pem", "does not exist"),
    ],
)
def test_add_refuses_what_is_no_valid_certificate(
    project: Path, capsys: pytest.CaptureFixture[str], path: str, message: str
) -> None:
    before = texts(project)
    status, out, err = run(project, capsys, "add", path)

    assert (status, out) == (2, "")
    assert message in err
    assert "PRIVATE KEY-----" not in err
    assert texts(project) == before


@pytest.mark.parametrize(
    ("stack_file", "why"),
    [
        (f"config:\n  azuread:tenantId: {TENANT}\n", "lists no certificates under config"),
        (f"config:\n  {KEY}: certs/old.pem\n", "that is not a list of strings"),
        (f"config:\n  {KEY}: [certs/old.pem, 'a, b']\n", "entries that are not plain paths"),
        (f"config:\n  {KEY}:\n    - &a certs/old.pem\n", "a YAML alias"),
        (f"config:\n  {KEY}:\n    - certs/old.pem\n" + "#" * 2**20, "is larger than"),
    ],
    ids=["default", "scalar", "quoted-flow", "anchor", "oversized"],
)
def test_a_list_it_cannot_edit_safely_is_refused_with_the_fix(
    project: Path, capsys: pytest.CaptureFixture[str], stack_file: str, why: str
) -> None:
    if "&a" in stack_file:
        stack_file += "  other: *a\n"
    (project / "Pulumi.odd.yaml").write_text(stack_file)
    before = texts(project)
    status, _, err = run(project, capsys, "add", "certs/new.pem")

    assert status == 1
    assert err.startswith("rotate: nothing written; 1 stack(s) refused:\n  odd: Pulumi.odd.yaml ")
    assert why in err
    assert f"pulumi config set --path '{KEY}[N]' PATH --stack STACK" in err
    assert texts(project) == before  # every stack or none: contoso and fabrikam unchanged


def test_an_inline_pem_item_and_crlf_endings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inline = (project / "certs" / "old.pem").read_text().strip().replace("\n", "\n      ")
    text = f"config:\r\n  azuread:tenantId: {TENANT}\r\n  {KEY}:\r\n    - |\r\n      {inline}\r\n"
    text = text.replace("\n      ", "\r\n      ").replace("\r\r", "\r")
    (project / "Pulumi.inline.yaml").write_bytes(text.encode())
    status, _, _ = run(project, capsys, "add", "certs/new.pem", "inline")
    assert status == 0
    assert (project / "Pulumi.inline.yaml").read_bytes() == (
        text + "    - certs/new.pem\r\n"
    ).encode()

    old = parse_certificate((project / "certs" / "old.pem").read_bytes(), "x").thumbprint
    status, _, _ = run(project, capsys, "retire", old, "inline")
    assert status == 0
    assert entries(project, "inline") == ["certs/new.pem"]
    assert b"BEGIN" not in (project / "Pulumi.inline.yaml").read_bytes()


def test_the_file_mode_is_kept(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project / "Pulumi.contoso.yaml"
    path.chmod(0o640)
    assert run(project, capsys, "add", "certs/new.pem", "contoso")[0] == 0
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert not [p for p in project.iterdir() if p.name.startswith(".Pulumi")]


def test_a_retire_that_names_nothing_listed_writes_nothing_and_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {path.name: path.read_text() for path in project.glob("Pulumi.*.yaml")}
    status, _, err = run(project, capsys, "retire", "deadbeef")
    assert status == 1
    assert "no stack lists 'deadbeef'" in err or "no stack lists deadbeef" in err
    assert {path.name: path.read_text() for path in project.glob("Pulumi.*.yaml")} == before
