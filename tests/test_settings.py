"""Stack settings without Pulumi: defaults, types and every problem reported at once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from certfactory import NOW, make_certificate, pem, private_key_pem

from association.identifiers import NAMESPACE, TENANT_KEY
from association.problems import Problem
from association.settings import SETTINGS, SettingsError, read_settings

PROJECT = Path(__file__).resolve().parent.parent
TENANT = "11111111-2222-3333-4444-555555555555"


def write_certificate(directory: Path, name: str = "mimecast.pem", **kwargs: object) -> str:
    (directory / name).write_bytes(pem(make_certificate(**kwargs)))  # type: ignore[arg-type]
    return name


def refused(raw: dict[str, str], directory: Path) -> list[Problem]:
    with pytest.raises(SettingsError) as caught:
        read_settings(raw, directory, NOW)
    return caught.value.problems


def problems_of(raw: dict[str, str], directory: Path) -> list[str]:
    return [problem.message for problem in refused(raw, directory)]


def test_pulumi_yaml_declares_the_same_settings_and_defaults() -> None:
    declared = yaml.safe_load((PROJECT / "Pulumi.yaml").read_text())["config"]
    ours = {s.name: s for s in SETTINGS if s.key.startswith(f"{NAMESPACE}:")}
    assert set(declared) == set(ours)
    for name, setting in ours.items():
        assert declared[name]["type"] == setting.type, name
        assert declared[name].get("default") == setting.default, name
        assert declared[name]["description"] == setting.description, name
    # Pulumi refuses a type or default for another namespace's key in Pulumi.yaml.
    assert TENANT_KEY not in declared


def test_defaults_apply_when_only_the_tenant_is_set(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    write_certificate(tmp_path / "certs")
    args = read_settings({TENANT_KEY: TENANT}, tmp_path, NOW)
    assert args.tenant_id == TENANT
    assert args.display_name == "Mimecast Cloud Synchronization"
    assert [cert.source for cert in args.certificates] == [
        "mimecast-association:certificates[0] file certs/mimecast.pem"
    ]
    assert args.owners is None
    assert args.expiry_warning_days == 30
    assert args.protect is True


def test_values_arrive_as_pulumi_hands_them_over(tmp_path: Path) -> None:
    first = write_certificate(tmp_path, "a.pem", serial=1)
    second = write_certificate(tmp_path, "b.pem", serial=2)
    owner = "aaaaaaaa-0000-0000-0000-000000000001"
    args = read_settings(
        {
            TENANT_KEY: TENANT,
            f"{NAMESPACE}:displayName": "Mimecast Sync (Contoso)",
            f"{NAMESPACE}:certificates": json.dumps([first, second]),
            f"{NAMESPACE}:owners": json.dumps([owner]),
            f"{NAMESPACE}:expiryWarningDays": "45",
            f"{NAMESPACE}:protect": "false",
        },
        tmp_path,
        NOW,
    )
    assert args.display_name == "Mimecast Sync (Contoso)"
    assert len(args.certificates) == 2
    assert args.owners == (owner,)
    assert args.expiry_warning_days == 45
    assert args.protect is False


def test_the_shipped_default_fails_because_its_certificate_expired() -> None:
    (problem,) = refused({TENANT_KEY: TENANT}, PROJECT)
    assert (problem.code, problem.setting) == (
        "certificate-expired",
        f"{NAMESPACE}:certificates[0]",
    )
    problem = problem.message
    assert "certs/mimecast.pem" in problem
    assert "expired on 2025-08-04T15:07:00Z" in problem
    assert "Mimecast Administration Console" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    valid = write_certificate(tmp_path, "valid.pem")
    expired = write_certificate(tmp_path, "old.pem", serial=7, not_after=NOW - timedelta(days=1))
    (tmp_path / "key.pem").write_bytes(private_key_pem())
    refusal = refused(
        {
            TENANT_KEY: "contoso.onmicrosoft.com",
            f"{NAMESPACE}:displayName": "  ",
            f"{NAMESPACE}:certificates": json.dumps(
                [valid, expired, "missing.pem", "key.pem", valid]
            ),
            f"{NAMESPACE}:owners": json.dumps(["alice@contoso.com"]),
            f"{NAMESPACE}:expiryWarningDays": "-1",
        },
        tmp_path,
    )
    certificates = f"{NAMESPACE}:certificates"
    # Parse first (entries that cannot be read), then each setting's checks in declaration
    # order: every problem at once, each with its code and the setting it concerns.
    assert [(problem.code, problem.setting) for problem in refusal] == [
        ("certificate-file-missing", f"{certificates}[2]"),
        ("certificate-private-key", f"{certificates}[3]"),
        ("tenant-invalid", TENANT_KEY),
        ("certificate-expired", f"{certificates}[1]"),
        ("certificate-duplicate", f"{certificates}[4]"),
        ("display-name-empty", f"{NAMESPACE}:displayName"),
        ("owner-invalid", f"{NAMESPACE}:owners[0]"),
        ("expiry-warning-days-range", f"{NAMESPACE}:expiryWarningDays"),
    ]
    # Each message starts with the setting it concerns, so a reader finds it in the file.
    for problem in refusal:
        assert problem.message.startswith(str(problem.setting)), problem


def test_missing_tenant_says_how_to_set_it(tmp_path: Path) -> None:
    (problem,) = refused(
        {f"{NAMESPACE}:certificates": json.dumps([write_certificate(tmp_path)])}, tmp_path
    )
    assert (problem.code, problem.setting) == ("tenant-missing", TENANT_KEY)
    assert "pulumi config set azuread:tenantId" in problem.message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("certificates", "certs/new.pem", "not a list of strings"),
        ("certificates", "[1, 2]", "not a list of strings"),
        ("owners", '"aaaaaaaa-0000-0000-0000-000000000001"', "not a list of strings"),
        ("expiryWarningDays", "thirty", "not a whole number"),
        ("expiryWarningDays", "true", "not a whole number"),
        ("protect", "yes", "not true or false"),
    ],
)
def test_wrong_types_name_the_key_and_how_to_set_it(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    raw = {TENANT_KEY: TENANT, f"{NAMESPACE}:{key}": value}
    if key != "certificates":
        raw[f"{NAMESPACE}:certificates"] = json.dumps([write_certificate(tmp_path)])
    problem = refused(raw, tmp_path)[0]
    assert (problem.code, problem.setting) == ("setting-type", f"{NAMESPACE}:{key}")
    assert problem.message.startswith(f"{NAMESPACE}:{key} is {value!r}, {message}")
    assert "pulumi config set" in problem.message


@pytest.mark.parametrize("key", ["certificates", "owners", "protect"])
def test_a_private_key_pasted_into_any_setting_is_never_echoed(tmp_path: Path, key: str) -> None:
    key_pem = private_key_pem().decode()
    raw = {TENANT_KEY: key_pem, f"{NAMESPACE}:{key}": key_pem}
    problems = problems_of(raw, tmp_path)
    assert problems
    assert all("PRIVATE KEY" not in p or "holding a PRIVATE KEY" in p for p in problems)
    body = key_pem.splitlines()[1]
    assert not any(body in problem or "BEGIN" in problem for problem in problems)


def test_long_values_are_shortened_in_messages(tmp_path: Path) -> None:
    raw = {
        TENANT_KEY: TENANT,
        f"{NAMESPACE}:certificates": json.dumps([write_certificate(tmp_path)]),
        f"{NAMESPACE}:protect": "no, " * 125,
    }
    (problem,) = problems_of(raw, tmp_path)
    assert ("no, " * 20)[:80] + "'..." in problem
    assert "no, " * 21 not in problem


def test_a_line_of_base64_is_never_echoed(tmp_path: Path) -> None:
    line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "A" * 12  # 64, as in a PEM
    raw = {
        TENANT_KEY: TENANT,
        f"{NAMESPACE}:certificates": json.dumps([write_certificate(tmp_path)]),
        f"{NAMESPACE}:protect": line,
    }
    (problem,) = problems_of(raw, tmp_path)
    assert "a base64 value (64 characters)" in problem
    assert line[:20] not in problem


def test_an_empty_certificate_list_is_refused(tmp_path: Path) -> None:
    raw = {TENANT_KEY: TENANT, f"{NAMESPACE}:certificates": "[]"}
    (problem,) = refused(raw, tmp_path)
    assert (problem.code, problem.setting) == ("certificates-empty", f"{NAMESPACE}:certificates")


def test_no_extra_problem_when_the_only_certificate_cannot_be_loaded(tmp_path: Path) -> None:
    raw = {TENANT_KEY: TENANT, f"{NAMESPACE}:certificates": '["gone.pem"]'}
    (problem,) = refused(raw, tmp_path)
    assert problem.code == "certificate-file-missing"
    assert "gone.pem does not exist" in problem.message
