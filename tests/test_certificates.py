"""Certificate handling without Pulumi: loading, identifiers, and every refusal."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from certfactory import (
    NOW,
    der,
    ec_key,
    make_certificate,
    pem,
    private_key_der,
    private_key_pem,
    rsa_key,
)

from association.certificate_checks import (
    duplicate_problems,
    expiry_warnings,
    pending_warnings,
    validity_problems,
)
from association.certificate_entries import load_certificate
from association.certificates import (
    Certificate,
    CertificateError,
    parse_certificate,
    rfc3339,
)
from association.identifiers import GUIDE_KEY_ID, KEY_ID_NAMESPACE

PROJECT = Path(__file__).resolve().parent.parent
KEY = "mimecast-association:certificates[0]"


def guide_certificate() -> Certificate:
    return load_certificate("certs/mimecast.pem", KEY, PROJECT)


def test_guide_certificate_matches_the_guides_manifest() -> None:
    cert = guide_certificate()
    assert cert.custom_key_identifier == "1N9EZLBeqS9JkNwLr4JQX9VhrdI="
    assert cert.thumbprint == "D4DF4464B05EA92F4990DC0BAF82505FD561ADD2"
    assert cert.key_id == GUIDE_KEY_ID == "a2d4c31d-cca7-4262-9418-e1a9c1ee0492"
    assert cert.subject == (
        "CN=Mimecast Services Limited,OU=Unknown,O=Mimecast Services Limited,"
        "L=London,ST=England,C=GB"
    )
    assert (cert.start_date, cert.end_date) == ("2015-08-07T15:07:00Z", "2025-08-04T15:07:00Z")
    assert (cert.key_type, cert.key_bits) == ("RSA", 2048)


def test_shipped_pem_is_the_guides_value_byte_for_byte() -> None:
    shipped = (PROJECT / "certs" / "mimecast.pem").read_text()
    assert guide_certificate().pem == shipped
    body = "".join(shipped.splitlines()[1:-1])
    assert body.startswith("MIIDtTCCAp2gAwIBAgIEbvdztDANBgkqhkiG9w0BAQsF")
    assert body.endswith("lhXrH36Jmo=")


def test_guide_certificate_expired_with_the_fix_in_the_message() -> None:
    (problem,) = validity_problems(guide_certificate(), NOW)
    assert problem.setting == KEY
    assert "expired on 2025-08-04T15:07:00Z" in problem.message
    assert "KeyCredentialsInvalidEndDate" in problem.message
    assert "Mimecast Administration Console" in problem.message
    assert problem.message.startswith(f"{KEY} file certs/mimecast.pem")


@pytest.mark.parametrize("encode", [pem, der], ids=["pem", "der"])
def test_files_load_in_pem_and_der(tmp_path: Path, encode: object) -> None:
    x509_cert = make_certificate()
    (tmp_path / "mimecast.cer").write_bytes(encode(x509_cert))  # type: ignore[operator]
    cert = load_certificate("mimecast.cer", KEY, tmp_path)
    assert cert.der == der(x509_cert)
    assert validity_problems(cert, NOW) == []


def test_inline_pem_loads_even_when_indented_by_yaml() -> None:
    text = pem(make_certificate()).decode()
    indented = "\n".join("    " + line for line in text.splitlines())
    cert = load_certificate(indented, KEY, Path("/nonexistent"))
    assert cert.source == f"{KEY} (inline)"
    assert cert.der == der(make_certificate())


def test_inline_base64_der_loads_like_the_guides_manifest_value() -> None:
    guide = guide_certificate()
    manifest_value = base64.b64encode(guide.der).decode()
    cert = load_certificate(manifest_value, KEY, Path("/nonexistent"))
    assert (cert.thumbprint, cert.source) == (guide.thumbprint, f"{KEY} (inline)")


def test_inline_base64_with_spaces_anywhere_loads_as_base64() -> None:
    """Copied from a console that wraps at its width: spaces and newlines at any column."""
    value = base64.b64encode(der(make_certificate())).decode()
    spaced = " ".join(value[i : i + 50] for i in range(0, len(value), 50)) + "\n"
    cert = load_certificate(spaced, KEY, Path("/nonexistent"))
    assert cert.der == der(make_certificate())


def key_under_certificate_label() -> str:
    body = base64.b64encode(private_key_der()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----", ""])


@pytest.mark.parametrize(
    "entry",
    [
        base64.b64encode(private_key_der()).decode(),
        "\n".join(private_key_pem().decode().splitlines()[1:-1]),
        key_under_certificate_label(),
    ],
    ids=["base64-der-key", "pem-body-without-lines", "key-under-certificate-label"],
)
def test_a_pasted_private_key_without_pem_lines_is_refused_not_echoed(entry: str) -> None:
    with pytest.raises(CertificateError) as caught:
        load_certificate(entry, KEY, Path("/nonexistent"))
    assert caught.value.problem.code == "certificate-private-key"
    body = [line for line in entry.splitlines() if "-----" not in line]
    assert body[0][:40] not in str(caught.value)


def test_other_certificates_get_a_key_id_derived_from_the_thumbprint() -> None:
    cert = parse_certificate(pem(make_certificate()), "test")
    assert cert.key_id == str(uuid.uuid5(KEY_ID_NAMESPACE, cert.thumbprint))
    assert cert.key_id == parse_certificate(der(make_certificate()), "again").key_id
    other = parse_certificate(pem(make_certificate(serial=2)), "other")
    assert other.key_id != cert.key_id


def test_dates_are_utc_rfc3339() -> None:
    cest = datetime(2026, 6, 1, 14, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert rfc3339(cest) == "2026-06-01T14:30:00Z"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "certificate-empty"),
        (b"   \n", "certificate-empty"),
        (b"hello, not a certificate", "certificate-not-x509"),
        (private_key_pem(), "certificate-private-key"),
        (private_key_der(), "certificate-private-key"),
        (pem(make_certificate()) + private_key_pem(), "certificate-private-key"),
        (pem(make_certificate()) * 2, "certificate-pem-blocks"),
        (key_under_certificate_label().encode(), "certificate-private-key"),
        (pem(make_certificate())[:-80] + b"\n-----END CERTIFICATE-----\n", "certificate-not-x509"),
    ],
    ids=[
        "empty",
        "blank",
        "garbage",
        "key-pem",
        "key-der",
        "cert-and-key",
        "two-certs",
        "key-under-certificate-label",
        "truncated-pem",
    ],
)
def test_bad_files_are_refused(tmp_path: Path, content: bytes, code: str) -> None:
    (tmp_path / "bad.pem").write_bytes(content)
    with pytest.raises(CertificateError) as caught:
        load_certificate("bad.pem", KEY, tmp_path)
    assert (caught.value.problem.code, caught.value.problem.setting) == (code, KEY)
    assert str(caught.value).startswith(f"{KEY} file bad.pem")
    assert "BEGIN" not in str(caught.value)  # never echo key material


def test_private_key_message_says_it_must_never_be_in_the_repository(tmp_path: Path) -> None:
    with pytest.raises(CertificateError) as caught:
        load_certificate(private_key_pem().decode(), KEY, tmp_path)
    assert "must never be in this repository" in str(caught.value)


def test_missing_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(CertificateError) as caught:
        load_certificate("certs/new.pem", KEY, tmp_path)
    message = str(caught.value)
    assert f"{KEY} file certs/new.pem does not exist" in message
    assert str(tmp_path / "certs" / "new.pem") in message


def test_unreadable_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    with pytest.raises(CertificateError, match="is a directory, not a regular file") as caught:
        load_certificate("certs", KEY, tmp_path)
    assert caught.value.problem.code == "certificate-file-refused"


def test_pkcs12_bundle_is_refused_without_reading_it(tmp_path: Path) -> None:
    with pytest.raises(CertificateError) as caught:
        load_certificate("mimecast.pfx", KEY, tmp_path)
    assert caught.value.problem.code == "certificate-private-key"
    assert "PKCS#12 bundle" in str(caught.value)


def test_a_certificate_valid_from_a_later_day_is_accepted_with_a_warning() -> None:
    """Mimecast's successor can be added before its first day: Graph takes a future start.
    Alone it is an error instead: tests/test_certificate_coverage.py."""
    current = parse_certificate(pem(make_certificate(serial=1)), "current")
    cert = parse_certificate(pem(make_certificate(not_before=NOW + timedelta(days=2))), "next")
    assert validity_problems(cert, NOW) == []
    (warning,) = pending_warnings([current, cert], NOW)
    assert warning.code == "certificate-not-yet-valid"
    assert cert.start_date in warning.message
    assert pending_warnings([cert], NOW) == []


@pytest.mark.parametrize(
    ("key", "code"),
    [(rsa_key(1024), "certificate-weak-key"), (ec_key(), "certificate-key-type")],
    ids=["rsa-1024", "ec"],
)
def test_weak_or_non_rsa_keys_are_refused(key: object, code: str) -> None:
    cert = parse_certificate(pem(make_certificate(key=key)), "weak")  # type: ignore[arg-type]
    (problem,) = validity_problems(cert, NOW)
    assert problem.code == code


def test_duplicates_are_named() -> None:
    body = pem(make_certificate())
    first, second = parse_certificate(body, "a"), parse_certificate(body, "b")
    (problem,) = duplicate_problems([first, second])
    assert problem.code == "certificate-duplicate"
    assert problem.message.startswith("b is the same certificate as a")  # both named


def test_expiry_warning_gives_the_date_and_days_left() -> None:
    cert = parse_certificate(pem(make_certificate(not_after=NOW + timedelta(days=10))), "soon")
    (warning,) = expiry_warnings([cert], NOW, 30)
    assert warning is not None
    assert f"expires on {cert.end_date} (10 days left)" in warning.message
    assert expiry_warnings([cert], NOW, 10)
    assert not expiry_warnings([cert], NOW, 9)
    assert not expiry_warnings([cert], NOW, 0)


def test_a_certificate_that_does_not_parse_is_said_without_the_librarys_text(
    tmp_path: Path,
) -> None:
    """cryptography's error text can quote the input (a key's first line): never passed on."""
    (tmp_path / "bad.pem").write_bytes(
        pem(make_certificate())[:-80] + b"\n-----END CERTIFICATE-----\n"
    )
    with pytest.raises(CertificateError) as caught:
        load_certificate("bad.pem", KEY, tmp_path)
    assert str(caught.value).split(". ")[0] == (
        f"{KEY} file bad.pem is not an X.509 certificate in PEM or DER form"
    )
    assert "asn1" not in str(caught.value).lower()
    assert "ParseError" not in str(caught.value)
