"""Hostile and careless input, as a user or an attacker would give it (issue 8).

Every case runs the real command or program and asserts what the user sees: the exit code, one
clear message naming the setting or file, no Python traceback, no key material anywhere in the
output, no raw control character, and (for the program) nothing registered. A SIGALRM guard
turns a hang into a failure; it is a bound, not a timing measurement.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from certfactory import (
    NOW,
    der,
    make_certificate,
    pem,
    private_key_der,
    private_key_pem,
    rsa_key,
)
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
from keyforms import KEY_FORMS, KEY_PIECES
from tenant import PROJECT, TENANT, TENANT_DIRECTORY, program_with_certificates

from association.certificates import rfc3339
from association_tools import project as project_module
from association_tools.audit.cli import main as audit_main
from association_tools.drift.cli import main as drift_main
from association_tools.offline import run_program
from association_tools.preflight import stacks as stacks_module
from association_tools.preflight.cli import main as preflight_main
from tests.fake_pulumi import load_script

rotate = load_script("rotate", PROJECT / "scripts" / "rotate.py")

OWNER = "aaaaaaaa-0000-0000-0000-000000000001"
HANG_GUARD_SECONDS = 20

KEY_PEM = private_key_pem().decode()
KEY_BASE64 = base64.b64encode(private_key_der()).decode()
PKCS12_BASE64 = base64.b64encode(
    pkcs12.serialize_key_and_certificates(b"m", rsa_key(), make_certificate(), None, NoEncryption())
).decode()
KEY_FRAGMENTS = [line[:24] for line in KEY_PEM.splitlines()[1:-1]] + [
    KEY_BASE64[i : i + 24] for i in range(0, len(KEY_BASE64) - 24, 200)
]
"""Any of these in an output means key material leaked."""

CERT_BASE64 = base64.b64encode(der(make_certificate("Current"))).decode()
"""A certificate as the guide's manifest holds it: here with its first character missing."""

FORGED = "Mimecast\n== prod: OK\x1b[2J\u202e"
"""A value that would forge a report line, clear the screen and reverse the text."""


@pytest.fixture(autouse=True)
def hang_guard() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"hostile input hung for {HANG_GUARD_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(HANG_GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return program_with_certificates(tmp_path, current=make_certificate("Current"))


def assert_clean(*outputs: str) -> None:
    """No traceback, no key material, no raw control character (newlines aside)."""
    for text in outputs:
        assert "Traceback" not in text
        for fragment in (*KEY_FRAGMENTS, *KEY_PIECES):
            assert fragment not in text, "key material in the output"
        assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text)
        assert "\u202e" not in text
        assert "\n== prod: OK" not in text


def stack_yaml(config: dict[str, Any]) -> str:
    """A stack file as JSON (which is YAML): every value exactly as given."""
    return json.dumps({"config": config})


def base_config(**settings: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": ["certs/current.pem"],
        "mimecast-association:owners": [OWNER],
    }
    config.update(settings)
    return config


def preflight(project: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = preflight_main(["--project-dir", str(project), "--now", rfc3339(NOW), *args])
    out, err = capsys.readouterr()
    assert_clean(out, err)
    return status, out + err


def one_error(project: Path, capsys: pytest.CaptureFixture[str], expected: str) -> None:
    """The stack fails preflight with `expected` among its errors, in text and in JSON."""
    status, text = preflight(project, "contoso", capsys=capsys)
    assert status == 1, text
    assert expected in text, text
    status, out = preflight(project, "contoso", "--json", "-", capsys=capsys)
    (report,) = json.loads(out)["stacks"]
    assert status == 1
    assert any(expected in error["message"] for error in report["errors"]), report["errors"]


# --- certificate entries -----------------------------------------------------------------

Setup = Callable[[Path], str]
"""Prepares the project and returns the certificates entry to list."""


def outside_file(project: Path) -> str:
    (project.parent / "outside.pem").write_bytes(pem(make_certificate("Outside")))
    return "../outside.pem"


def absolute_file(project: Path) -> str:
    (project.parent / "abs.pem").write_bytes(pem(make_certificate("Abs")))
    return str(project.parent / "abs.pem")


def symlink_out(project: Path) -> str:
    (project.parent / "target.pem").write_bytes(pem(make_certificate("Target")))
    (project / "certs" / "link.pem").symlink_to(project.parent / "target.pem")
    return "certs/link.pem"


def symlink_device(project: Path) -> str:
    (project / "certs" / "zero.pem").symlink_to("/dev/zero")
    return "certs/zero.pem"


def symlink_loop(project: Path) -> str:
    (project / "certs" / "loop.pem").symlink_to("loop.pem")
    return "certs/loop.pem"


def dev_urandom(project: Path) -> str:
    return "/dev/urandom"


def fifo(project: Path) -> str:
    os.mkfifo(project / "certs" / "pipe.pem")
    return "certs/pipe.pem"


def directory(project: Path) -> str:
    return "certs"


def oversized(project: Path) -> str:
    (project / "certs" / "big.pem").write_bytes(b"A" * (65 * 1024))
    return "certs/big.pem"


def key_file(project: Path) -> str:
    (project / "certs" / "key.pem").write_text(KEY_PEM)
    return "certs/key.pem"


def pfx_file(project: Path) -> str:
    (project / "certs" / "m.pfx").write_bytes(base64.b64decode(PKCS12_BASE64))
    return "certs/m.pfx"


CERTIFICATE_CASES: list[tuple[str, Setup, str]] = [
    ("parent-dir", outside_file, "outside the project directory"),
    ("absolute", absolute_file, "is an absolute path"),
    ("symlink-out", symlink_out, "outside the project directory"),
    ("symlink-dev-zero", symlink_device, "outside the project directory"),
    ("symlink-loop", symlink_loop, "is a symlink loop"),
    ("dev-urandom", dev_urandom, "is an absolute path"),
    ("fifo", fifo, "is a device, FIFO or socket, not a regular file"),
    ("directory", directory, "is a directory, not a regular file"),
    ("oversized", oversized, "is larger than 65536 bytes"),
    ("key-file", key_file, "holds a PRIVATE KEY"),
    ("pfx-file", pfx_file, "is a PKCS#12 bundle"),
    ("inline-key-pem", lambda _: KEY_PEM, "holds a PRIVATE KEY"),
    ("inline-key-base64", lambda _: KEY_BASE64, "holds a PRIVATE KEY"),
    ("inline-pkcs12-base64", lambda _: PKCS12_BASE64, "holds a PRIVATE KEY"),
    ("one-key-line", lambda _: KEY_PEM.splitlines()[3], "a base64 value (64 characters)"),
    ("nul-byte", lambda _: "certs/a\x00.pem", "contains a NUL character"),
    ("control-chars", lambda _: "certs/\x1b[2Jx\n.pem", "certs/\\x1b[2Jx\\n.pem"),
    ("system-ca-root", lambda _: "/etc/ssl/certs/ca-certificates.crt", "is an absolute path"),
    ("empty-entry", lambda _: "", "mimecast-association:certificates[0] is empty. Give the path"),
    ("blank-entry", lambda _: " \n ", "mimecast-association:certificates[0] is empty."),
    (
        "key-under-certificate-label",
        lambda _: (
            "-----BEGIN CERTIFICATE-----\n"
            + "\n".join(KEY_BASE64[i : i + 64] for i in range(0, len(KEY_BASE64), 64))
            + "\n-----END CERTIFICATE-----\n"
        ),
        "holds a PRIVATE KEY",
    ),
    (
        "base64-with-spaces-broken",
        lambda _: " ".join(CERT_BASE64[i : i + 50] for i in range(1, len(CERT_BASE64), 50)),
        "looks like base64 but does not decode",
    ),
    (
        "long-base64-like-name",
        lambda _: "certs/" + "a" * 300 + ".pem",
        "cannot be read (File name too long)",
    ),
]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [case[1:] for case in CERTIFICATE_CASES],
    ids=[case[0] for case in CERTIFICATE_CASES],
)
def test_certificate_entries(
    project: Path, capsys: pytest.CaptureFixture[str], setup: Setup, expected: str
) -> None:
    entry = setup(project)
    config = base_config(**{"mimecast-association:certificates": [entry]})
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(config))
    one_error(project, capsys, expected)


@pytest.mark.parametrize("count", [11, 200])
def test_too_many_certificates(
    project: Path, capsys: pytest.CaptureFixture[str], count: int
) -> None:
    for index in range(count):
        (project / "certs" / f"c{index}.pem").write_bytes(
            pem(make_certificate(f"C{index}", serial=index + 1))
        )
    entries = [f"certs/c{index}.pem" for index in range(count)]
    config = base_config(**{"mimecast-association:certificates": entries})
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(config))
    one_error(project, capsys, f"lists {count} certificates; this stack declares at most 10")


def test_a_forged_subject_is_shown_escaped(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "certs" / "forged.pem").write_bytes(pem(make_certificate(FORGED)))
    config = base_config(**{"mimecast-association:certificates": ["certs/forged.pem"]})
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(config))
    status, text = preflight(project, "contoso", capsys=capsys)
    assert status == 0, text
    assert "CN=Mimecast\\n== prod: OK\\x1b[2J\\u202e" in text
    status, out = preflight(project, "contoso", "--json", "-", capsys=capsys)
    assert "\\u202e" in out


# --- settings ----------------------------------------------------------------------------

SETTING_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("name-key-pem", {"mimecast-association:displayName": KEY_PEM}, "holding a PRIVATE KEY"),
    ("name-key-b64", {"mimecast-association:displayName": KEY_BASE64}, "holding a PRIVATE KEY"),
    ("name-forged", {"mimecast-association:displayName": FORGED}, "control or line-break"),
    ("name-long", {"mimecast-association:displayName": "M" * 300}, "at most 256"),
    ("name-list", {"mimecast-association:displayName": ["a", "b"]}, "must be of type 'string'"),
    ("name-map", {"mimecast-association:displayName": {"a": 1}}, "must be of type 'string'"),
    ("owners-json-text", {"mimecast-association:owners": json.dumps([OWNER])}, "array<string>"),
    (
        "owners-101",
        {"mimecast-association:owners": [f"aaaaaaaa-0000-0000-0000-{i:012d}" for i in range(101)]},
        "Entra ID allows at most 100",
    ),
    ("owner-key", {"mimecast-association:owners": [KEY_BASE64]}, "holding a PRIVATE KEY"),
    ("owner-forged", {"mimecast-association:owners": [FORGED]}, "not an object ID"),
    ("protect-space", {"mimecast-association:protect": "true "}, "not true or false"),
    ("protect-list", {"mimecast-association:protect": [True]}, "must be of type 'boolean'"),
    ("protect-key", {"mimecast-association:protect": KEY_PEM}, "holding a PRIVATE KEY"),
    ("days-1e30", {"mimecast-association:expiryWarningDays": 10**30}, "not a whole number"),
    ("days-huge", {"mimecast-association:expiryWarningDays": 99999999}, "from 0 to 3650"),
    ("days-float", {"mimecast-association:expiryWarningDays": "1e3"}, "not a whole number"),
    ("tenant-key", {"azuread:tenantId": KEY_PEM}, "holding a PRIVATE KEY"),
    ("tenant-key-b64", {"azuread:tenantId": KEY_BASE64}, "holding a PRIVATE KEY"),
    ("tenant-nil", {"azuread:tenantId": "00000000-0000-0000-0000-000000000000"}, "placeholder"),
    ("tenant-forged", {"azuread:tenantId": FORGED}, "not a tenant ID"),
    ("tenant-domain", {"azuread:tenantId": "contoso.onmicrosoft.com"}, "not a tenant ID"),
    ("other-namespace", {"other:certificates": ["x"]}, "Did you mean mimecast-association"),
    ("typo-namespace", {"mimecast-asociation:displayName": "x"}, "Did you mean mimecast-"),
    ("tenant-case", {"azuread:tenantID": TENANT}, "Did you mean azuread:tenantId?"),
    ("unknown-forged-key", {f"mimecast-association:{FORGED}": "x"}, "could not parse"),
]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [case[1:] for case in SETTING_CASES],
    ids=[case[0] for case in SETTING_CASES],
)
def test_settings(
    project: Path, capsys: pytest.CaptureFixture[str], settings: dict[str, Any], expected: str
) -> None:
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(base_config(**settings)))
    one_error(project, capsys, expected)


@pytest.mark.parametrize("form", KEY_FORMS)
def test_every_key_form_holds_a_piece_the_output_checks_look_for(form: str) -> None:
    """assert_clean would see each form echoed, whole or broken into lines."""
    compact = re.sub(r"\s|\\n", "", KEY_FORMS[form])
    assert any(piece in compact for piece in KEY_PIECES)


KEY_SLOTS: dict[str, Callable[[str], dict[str, Any]]] = {
    "displayName": lambda key: {"mimecast-association:displayName": key},
    "certificates": lambda key: {"mimecast-association:certificates": [key]},
    "owners": lambda key: {"mimecast-association:owners": [key]},
    "mailboxScope.group": lambda key: {"mimecast-association:mailboxScope": {"group": key}},
}
"""Where a key pasted as a value was accepted (a display name, a group) or echoed (a path)."""


@pytest.mark.parametrize("slot", KEY_SLOTS)
@pytest.mark.parametrize("form", KEY_FORMS)
def test_a_key_in_any_form_is_refused_as_any_value(
    project: Path, capsys: pytest.CaptureFixture[str], form: str, slot: str
) -> None:
    settings = KEY_SLOTS[slot](KEY_FORMS[form])
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(base_config(**settings)))
    one_error(project, capsys, "PRIVATE KEY")


NAME_SLOTS: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "setting": (lambda key: {f"mimecast-association:{key}": 1}, "Pulumi.contoso.yaml"),
    "adopt-field": (lambda key: {"mimecast-association:adopt": {key: 1}}, "is not one of"),
    "exchange-field": (lambda key: {"mimecast-association:exchange": {key: 1}}, "is not `manage`"),
}
"""Where a key pasted as a name was echoed, in the message or in the JSON's `setting`."""
NAME_FORMS = [form for form, key in KEY_FORMS.items() if len(json.dumps(key)) < 1024]
"""YAML allows no longer key (the RSA forms are refused as invalid YAML)."""


@pytest.mark.parametrize("slot", NAME_SLOTS)
@pytest.mark.parametrize("form", NAME_FORMS)
def test_a_key_in_any_form_as_a_name_is_never_shown(
    project: Path, capsys: pytest.CaptureFixture[str], form: str, slot: str
) -> None:
    settings, expected = NAME_SLOTS[slot]
    (project / "Pulumi.contoso.yaml").write_text(
        stack_yaml(base_config(**settings(KEY_FORMS[form])))
    )
    one_error(project, capsys, expected)


def test_a_key_as_tenant_is_not_in_the_header_or_json(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.contoso.yaml").write_text(
        stack_yaml(base_config(**{"azuread:tenantId": KEY_BASE64}))
    )
    status, out = preflight(project, "contoso", "--json", "-", capsys=capsys)
    assert status == 1
    assert json.loads(out)["stacks"][0]["tenantId"] is None


# --- stack and project files -------------------------------------------------------------

ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "config:\n  mimecast-association:owners: *i\n"
)

FILE_CASES: list[tuple[str, str | bytes, str]] = [
    ("alias-bomb", ALIAS_BOMB, "a YAML alias"),
    ("deep-nesting", "config:\n  a:b: " + "[" * 100 + "]" * 100 + "\n", "levels deep"),
    ("deeper-nesting", "config:\n  a:b: " + "[" * 10_000 + "]" * 10_000 + "\n", "nesting depth"),
    (
        "nested-duplicate",
        "config:\n  azuread:tenantId: " + TENANT + "\n  x:y:\n    a: 1\n    a: 2\n",
        'mapping key "a" already defined',
    ),
    ("invalid-utf8", b"config:\n  azuread:tenantId: \xff\xfe\n", "cannot be read"),
    ("nul-bytes", b"\x00\x00config", "cannot be"),
    ("not-a-map", "- a\n- b\n", "must be a map"),
    ("yaml-syntax", "config: {", "is not valid YAML"),
    ("forged-key-name", 'config:\n  "x\\e[2J": 1\n', "could not parse x\\x1b[2J"),
    ("raw-control-char", "config:\n  x\x1b: 1\n", "control characters are not allowed"),
]


@pytest.mark.parametrize(
    ("content", "expected"),
    [case[1:] for case in FILE_CASES],
    ids=[case[0] for case in FILE_CASES],
)
def test_stack_files(
    project: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, expected: str
) -> None:
    path = project / "Pulumi.contoso.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    one_error(project, capsys, expected)


def test_a_stack_file_too_large(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(project_module, "MAX_YAML_BYTES", 4096)  # Pulumi.yaml still fits
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(base_config()) + " " * 5000)
    one_error(project, capsys, "is larger than 4096 bytes")


def test_a_stack_file_that_is_a_fifo_does_not_hang(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(project / "Pulumi.contoso.yaml")
    one_error(project, capsys, "not a regular file")


def test_a_stack_file_linked_from_outside(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.parent / "elsewhere.yaml").write_text(stack_yaml(base_config()))
    (project / "Pulumi.contoso.yaml").symlink_to(project.parent / "elsewhere.yaml")
    one_error(project, capsys, "outside the project directory")


def test_a_stack_file_that_is_a_symlink_loop(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.contoso.yaml").symlink_to("Pulumi.contoso.yaml")
    one_error(project, capsys, "Pulumi.contoso.yaml cannot be read: is a symlink loop")


@pytest.mark.parametrize("name", ["$(touch PWNED)", "a b", "x;y", "é"])
def test_invalid_stack_names(project: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    (project / f"Pulumi.{name}.yaml").write_text(stack_yaml(base_config()))
    status, text = preflight(project, capsys=capsys)
    assert status == 1
    assert "is not a Pulumi stack name" in text
    assert not (project / "PWNED").exists()


PROJECT_CASES: list[tuple[str, str, str]] = [
    ("config-dir-absolute", "stackConfigDir: /etc\n", "is an absolute path"),
    ("config-dir-outside", "stackConfigDir: ../..\n", "outside the project directory"),
    ("main-elsewhere", "main: ../other\n", "moves the program"),
    ("alias", "x: &a [1]\ny: *a\n", "a YAML alias"),
]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [case[1:] for case in PROJECT_CASES],
    ids=[case[0] for case in PROJECT_CASES],
)
def test_project_files(
    project: Path, capsys: pytest.CaptureFixture[str], extra: str, expected: str
) -> None:
    pulumi_yaml = project / "Pulumi.yaml"
    pulumi_yaml.write_text(pulumi_yaml.read_text() + extra)
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(base_config()))
    status, text = preflight(project, capsys=capsys)
    assert status == 2
    assert expected in text


@pytest.mark.parametrize(
    "main",
    [preflight_main, audit_main, lambda argv: rotate.main(["add", "certs/current.pem", *argv])],
    ids=["preflight", "audit", "rotate"],
)
def test_a_project_dir_that_is_a_symlink_loop_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], main: Callable[[list[str]], int]
) -> None:
    (tmp_path / "loop").symlink_to("loop")
    status = main(["--project-dir", str(tmp_path / "loop")])
    out, err = capsys.readouterr()
    assert_clean(out, err)
    assert status == 2
    assert f"{tmp_path / 'loop'} is a symlink loop, not a directory" in err


@pytest.mark.parametrize(
    "now", ["0001-01-01", "9999-12-31T23:59:59", "1999-12-31", "2100-01-01", "\x1b[2J"]
)
def test_now_out_of_range_is_a_usage_error(
    project: Path, capsys: pytest.CaptureFixture[str], now: str
) -> None:
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(base_config()))
    status = preflight_main(["--project-dir", str(project), "--now", now])
    out, err = capsys.readouterr()
    assert_clean(out, err)
    assert status == 2
    assert "--now" in err


def test_one_stack_that_crashes_the_check_leaves_the_others_reported(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = stacks_module.check_stack

    def crash_on_fabrikam(project: Any, stack: str, *args: Any, **kwargs: Any) -> Any:
        if stack == "fabrikam":
            raise RecursionError("maximum recursion depth exceeded")
        return real(project, stack, *args, **kwargs)

    monkeypatch.setattr(stacks_module, "check_stack", crash_on_fabrikam)
    for stack in ("contoso", "fabrikam"):
        (project / f"Pulumi.{stack}.yaml").write_text(stack_yaml(base_config()))
    status, text = preflight(project, capsys=capsys)
    assert status == 1
    assert re.search(r"(?m)^  ok +contoso +expires ", text)
    assert re.search(
        r"(?m)^  errors +fabrikam +no certificate +preflight-stopped: .*RecursionError", text
    )


# --- the program itself, under the mocks ---------------------------------------------------

PROGRAM_CASES: list[tuple[str, dict[str, str], str]] = [
    ("name-key", {"mimecast-association:displayName": KEY_PEM}, "holding a PRIVATE KEY"),
    ("name-forged", {"mimecast-association:displayName": FORGED}, "control or line-break"),
    ("days-1e30", {"mimecast-association:expiryWarningDays": str(10**30)}, "whole number"),
    ("days-huge", {"mimecast-association:expiryWarningDays": "99999999"}, "from 0 to 3650"),
    ("protect-space", {"mimecast-association:protect": "true "}, "not true or false"),
    ("tenant-nil", {"azuread:tenantId": "00000000-0000-0000-0000-000000000000"}, "placeholder"),
    ("cert-outside", {"mimecast-association:certificates": '["../x.pem"]'}, "outside the project"),
    ("cert-device", {"mimecast-association:certificates": '["/dev/zero"]'}, "absolute path"),
    ("owners-key", {"mimecast-association:owners": json.dumps([KEY_BASE64])}, "PRIVATE KEY"),
]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [case[1:] for case in PROGRAM_CASES],
    ids=[case[0] for case in PROGRAM_CASES],
)
def test_the_program_refuses_before_registering_anything(
    project: Path, settings: dict[str, str], expected: str
) -> None:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
        **settings,
    }
    run = run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=NOW
    )
    assert run.error is not None
    assert expected in run.error
    assert run.resources == []
    assert_clean(run.error, *run.warnings)


@pytest.mark.parametrize("form", KEY_FORMS)
def test_the_program_refuses_a_key_in_any_form_as_its_display_name(
    project: Path, form: str
) -> None:
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
        "mimecast-association:displayName": KEY_FORMS[form],
    }
    run = run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=NOW
    )
    assert run.error is not None
    assert "displayName is a value holding a PRIVATE KEY" in run.error
    assert run.resources == []
    assert_clean(run.error, *run.warnings)


def test_the_program_refuses_a_certificate_that_is_a_symlink_loop(project: Path) -> None:
    """A traceback under `pulumi up` before: the loop was no refusal but a RuntimeError."""
    entry = symlink_loop(project)
    config = {"azuread:tenantId": TENANT, "mimecast-association:certificates": json.dumps([entry])}
    run = run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=NOW
    )
    assert run.error is not None
    assert "certificates[0] file certs/loop.pem is a symlink loop" in run.error
    assert run.resources == []
    assert_clean(run.error, *run.warnings)


def test_the_program_still_deploys_a_clean_stack(project: Path) -> None:
    """The guard above is not vacuous: the same copy deploys when nothing is hostile."""
    config = {
        "azuread:tenantId": TENANT,
        "mimecast-association:certificates": '["certs/current.pem"]',
        "mimecast-association:expiryWarningDays": "30",
    }
    run = run_program(
        project / "__main__.py", "contoso", config, TENANT_DIRECTORY, preview=False, now=NOW
    )
    assert run.error is None
    assert len(run.resources) == 5


# --- the drift report --------------------------------------------------------------------

STACK_URN = "urn:pulumi:contoso::mimecast-association::pulumi:pulumi:Stack::m-contoso"
APP_URN = (
    "urn:pulumi:contoso::mimecast-association::mimecast:index:Association"
    "$azuread:index/application:Application::mimecast"
)


def preview(*steps: dict[str, Any], **fields: Any) -> str:
    return json.dumps({"steps": [{"op": "same", "urn": STACK_URN}, *steps], **fields})


def drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str, str]:
    markdown, document = tmp_path / "drift.md", tmp_path / "drift.json"
    status = drift_main([*args, "--markdown", str(markdown), "--json", str(document)])
    out, err = capsys.readouterr()
    written = markdown.read_text() if markdown.exists() else ""
    saved = document.read_text() if document.exists() else ""
    assert_clean(out, err, written, saved)
    return status, out + err, written, saved


def clean_preview(tmp_path: Path) -> Path:
    path = tmp_path / "fabrikam.json"
    path.write_text(preview().replace("contoso", "fabrikam"))
    return path


DriftSetup = Callable[[Path], Path]


def deep_json(tmp_path: Path) -> Path:
    path = tmp_path / "deep.json"
    path.write_text("[" * 10_000 + "]" * 10_000)
    return path


def drift_fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe.json")
    return tmp_path / "pipe.json"


def drift_device(tmp_path: Path) -> Path:
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    return tmp_path / "zero.json"


def drift_directory(tmp_path: Path) -> Path:
    (tmp_path / "dir.json").mkdir()
    return tmp_path / "dir.json"


def drift_binary(tmp_path: Path) -> Path:
    (tmp_path / "bin.json").write_bytes(os.urandom(64) + b"\x00\x1b[2J")
    return tmp_path / "bin.json"


def drift_big(tmp_path: Path) -> Path:
    (tmp_path / "big.json").write_text(preview() + " " * 70_000)
    return tmp_path / "big.json"


DRIFT_CASES: list[tuple[str, DriftSetup, str]] = [
    ("deep-json", deep_json, "more than"),
    ("fifo", drift_fifo, "not a regular file"),
    ("dev-zero", drift_device, "not a regular file"),
    ("directory", drift_directory, "is a directory"),
    ("binary", drift_binary, "not valid JSON"),
    ("too-big", drift_big, "larger than 65536 bytes"),
    ("missing", lambda tmp: tmp / "missing.json", "does not exist"),
]


@pytest.mark.parametrize(
    ("setup", "expected"), [c[1:] for c in DRIFT_CASES], ids=[c[0] for c in DRIFT_CASES]
)
def test_drift_inputs_fail_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: DriftSetup, expected: str
) -> None:
    bad, good = setup(tmp_path), clean_preview(tmp_path)
    status, text, _, saved = drift(
        tmp_path, capsys, str(bad), str(good), "--max-input-bytes", "65536"
    )
    assert status == 1
    assert expected in text
    assert {s["stack"]: s["status"] for s in json.loads(saved)["stacks"]}["fabrikam"] == (
        "no-change"
    )


def test_drift_never_echoes_a_key_from_a_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "contoso.json"
    diagnostic = {"severity": "error", "message": f"error: bad value {KEY_PEM} {KEY_BASE64}"}
    path.write_text(preview(diagnostics=[diagnostic]))
    status, text, markdown, saved = drift(tmp_path, capsys, str(path))
    assert status == 1
    assert "[key removed]" in text + markdown + saved


@pytest.mark.parametrize("form", KEY_FORMS)
def test_drift_removes_a_key_in_any_form_from_a_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    path = tmp_path / "contoso.json"
    diagnostic = {"severity": "error", "message": f"error: bad value {KEY_FORMS[form]} (x)"}
    path.write_text(preview(diagnostics=[diagnostic]))
    status, text, markdown, saved = drift(tmp_path, capsys, str(path))
    assert status == 1
    assert all("removed" in output for output in (text, markdown, saved))


@pytest.mark.parametrize("form", KEY_FORMS)
def test_drift_never_names_a_stack_after_a_key_given_as_its_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    status, text, _, _ = drift(tmp_path, capsys, KEY_FORMS[form])
    assert status == 1
    assert "[key removed]: error (other)" in text


def test_drift_markdown_keeps_hostile_names_inert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = "x`](https://evil.example)<img src=x>\x1b[2J"
    step = {
        "op": "update",
        "urn": APP_URN.replace("::mimecast", f"::{hostile}"),
        "diffReasons": ["displayName"],
        "detailedDiff": None,
    }
    path = tmp_path / "contoso.json"
    path.write_text(preview(step))
    status, text, markdown, _ = drift(tmp_path, capsys, str(path))
    assert status == 3
    assert "``x`](https://evil.example)<img src=x>\\x1b[2J``" in markdown  # a literal span
    outside_code = re.sub(r"(`+)(.+?)\1", "", markdown)
    assert "](" not in outside_code
    assert "<img" not in outside_code
    assert "contoso: drift" in text


# --- the scripts -------------------------------------------------------------------------


def tenant_script(project: Path, *args: str) -> tuple[int, str]:
    """scripts/tenant.py as a user runs it: stdlib only, in a process of its own."""
    done = subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "tenant.py"), "--root", str(project), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert_clean(done.stdout, done.stderr)
    return done.returncode, done.stdout + done.stderr


def onboard_args(stack: str = "contoso", certificate: str = "certs/current.pem") -> list[str]:
    return ["onboard", stack, "--tenant-id", TENANT, "--owner", OWNER, "--certificate", certificate]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (lambda key: onboard_args(stack=key), "is no stack name to use"),
        (lambda key: onboard_args(certificate=key), "not echoed in case they are key material"),
        (lambda key: ["retire", key], "is no stack name to use"),
    ],
    ids=["stack", "certificate", "retire"],
)
@pytest.mark.parametrize("form", KEY_FORMS)
def test_tenant_script_never_echoes_a_key_given_as_an_argument(
    project: Path, form: str, args: Callable[[str], list[str]], expected: str
) -> None:
    status, output = tenant_script(project, *args(KEY_FORMS[form]))
    assert status == 1, output
    assert expected in output


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (symlink_loop, "certificate 'certs/loop.pem' is a symlink loop"),
        (lambda _: "certs/" + "a" * 300 + ".pem", "cannot be read (File name too long)"),
    ],
    ids=["symlink-loop", "name-too-long"],
)
def test_tenant_script_refuses_a_certificate_it_cannot_read(
    project: Path, setup: Setup, expected: str
) -> None:
    status, output = tenant_script(project, *onboard_args(certificate=setup(project)))
    assert status == 1, output
    assert expected in output
    assert not (project / "Pulumi.contoso.yaml").exists()


@pytest.mark.parametrize("command", ["add", "retire"])
@pytest.mark.parametrize("form", KEY_FORMS)
def test_rotate_never_echoes_a_key_given_as_its_certificate(
    project: Path, capsys: pytest.CaptureFixture[str], form: str, command: str
) -> None:
    (project / "Pulumi.contoso.yaml").write_text(stack_yaml(base_config()))
    status = rotate.main([command, KEY_FORMS[form], "--project-dir", str(project)])
    out, err = capsys.readouterr()
    assert_clean(out, err)
    assert status == (2 if command == "add" else 1)  # retire: no stack lists it
    assert (project / "Pulumi.contoso.yaml").read_text() == stack_yaml(base_config())
