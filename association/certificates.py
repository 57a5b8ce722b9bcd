"""Mimecast's public certificate: read from a settings entry and described as a key credential.

Pure functions, no Pulumi. Anything that is not one public X.509 certificate (a private key
above all) is refused here, with a message that says how to fix it; what Entra ID would
refuse about a well-formed certificate is judged in `association.certificate_checks`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from association.files import FileRefused, inside_project, read_bounded
from association.identifiers import GUIDE_CERTIFICATE_THUMBPRINT, GUIDE_KEY_ID, KEY_ID_NAMESPACE
from association.problems import Problem
from association.redaction import holds_key_material, is_key_der
from association.text import quoted, visible

MAX_CERTIFICATE_BYTES = 64 * 1024
"""A certificate is a few kilobytes; anything this large is not one."""

FIX_GET_CURRENT = (
    "Download the current certificate from your Mimecast Administration Console, save it in "
    "certs/ and list it in the `certificates` setting (or paste it there as inline PEM)."
)

_KEY_TYPES: tuple[tuple[type, str], ...] = (
    (rsa.RSAPublicKey, "RSA"),
    (ec.EllipticCurvePublicKey, "EC"),
    (ed25519.Ed25519PublicKey, "Ed25519"),
    (ed448.Ed448PublicKey, "Ed448"),
    (dsa.DSAPublicKey, "DSA"),
)

_INLINE_BASE64 = re.compile(r"[A-Za-z0-9+/]{128,}={0,2}")
"""At least 96 bytes of base64 once whitespace is dropped, wherever it was (a certificate is
far longer; a file path is not base64-shaped: it has a dot)."""

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_PEM_BODY = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----(.*?)(?:-----END|\Z)", re.DOTALL)


@dataclass(frozen=True)
class Certificate:
    """One X.509 certificate as Entra ID stores it in an application's keyCredentials."""

    source: str
    """Where it came from, for messages: the config key and file, or `(inline)`."""
    der: bytes
    thumbprint: str
    """SHA-1 of the DER bytes, upper-case hex, as the Entra portal shows it."""
    subject: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_bits: int
    key: str | None = None
    """The config key it was listed under, e.g. `mimecast-association:certificates[0]`."""

    @property
    def pem(self) -> str:
        body = base64.encodebytes(self.der).decode("ascii").replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----", ""])

    @property
    def custom_key_identifier(self) -> str:
        """Base64 SHA-1 thumbprint, the manifest's `customKeyIdentifier`."""
        return base64.b64encode(bytes.fromhex(self.thumbprint)).decode("ascii")

    @property
    def key_id(self) -> str:
        """Stable keyId: the guide's for the guide's certificate, else derived from the thumbprint.

        A fixed keyId makes `pulumi preview` stable and matches an application set up by hand
        from the guide, so importing one changes nothing.
        """
        if self.thumbprint == GUIDE_CERTIFICATE_THUMBPRINT:
            return GUIDE_KEY_ID
        return str(uuid.uuid5(KEY_ID_NAMESPACE, self.thumbprint))

    @property
    def start_date(self) -> str:
        return rfc3339(self.not_before)

    @property
    def end_date(self) -> str:
        return rfc3339(self.not_after)

    def days_left(self, now: datetime) -> int:
        """Whole days until NotAfter (negative once expired)."""
        return (self.not_after - now).days

    def describe(self) -> str:
        return f"{self.source} (thumbprint {self.thumbprint}, {self.subject})"

    def summary(self) -> CertificateSummary:
        return CertificateSummary(
            self.custom_key_identifier,
            self.thumbprint,
            self.key_id,
            self.start_date,
            self.end_date,
            self.subject,
        )

    def problem(self, code: str, message: str) -> Problem:
        return Problem(code, self.key, message)


@dataclass(frozen=True)
class CertificateSummary:
    """What an administrator compares with Mimecast's console and the app's manifest."""

    custom_key_identifier: str
    thumbprint: str
    key_id: str
    not_before: str
    not_after: str
    subject: str

    def output(self) -> dict[str, str]:
        """The stack output's form (camelCase, as in the manifest)."""
        return {
            "customKeyIdentifier": self.custom_key_identifier,
            "thumbprint": self.thumbprint,
            "keyId": self.key_id,
            "notBefore": self.not_before,
            "notAfter": self.not_after,
            "subject": self.subject,
        }


class CertificateError(ValueError):
    """A certificate entry that cannot be used; the problem says why and how to fix it."""

    def __init__(self, code: str, key: str | None, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(code, key, message)


def rfc3339(moment: datetime) -> str:
    """UTC with a `Z` suffix: the form the provider stores, so previews show no spurious diff."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_certificate(data: bytes, source: str, key: str | None = None) -> Certificate:
    """Read one certificate from PEM or DER bytes, refusing anything that holds a private key.

    `source` names it in messages; `key` is the setting it was listed under, if any.
    """
    if not data.strip():
        raise CertificateError("certificate-empty", key, f"{source} is empty. {FIX_GET_CURRENT}")
    blocks = [label.decode("ascii") for label in _PEM_BLOCK.findall(data)]
    if (
        any("PRIVATE KEY" in label for label in blocks)
        or is_key_der(data)
        or any(is_key_der(_base64(body)) for body in _PEM_BODY.findall(data))  # any label
    ):
        raise _private_key(key, source)
    if blocks:
        certificates = [label for label in blocks if label == "CERTIFICATE"]
        if len(certificates) != 1 or len(blocks) != 1:
            raise CertificateError(
                "certificate-pem-blocks",
                key,
                f"{source} holds {', '.join(blocks)} PEM blocks; it must hold exactly one "
                "CERTIFICATE. Give each certificate as its own entry.",
            )
        loader = x509.load_pem_x509_certificate
    else:
        loader = x509.load_der_x509_certificate
    try:
        cert = loader(data)
    except ValueError:  # never cryptography's text: it can quote the input
        raise CertificateError(
            "certificate-not-x509",
            key,
            f"{source} is not an X.509 certificate in PEM or DER form. {FIX_GET_CURRENT}",
        ) from None
    subject = cert.subject.rfc4514_string()
    if holds_key_material(subject):
        raise CertificateError(
            "certificate-private-key", key, f"{source} has key material in its subject."
        )
    public_key = cert.public_key()
    der = cert.public_bytes(Encoding.DER)
    return Certificate(
        source=source,
        der=der,
        thumbprint=hashlib.sha1(der).hexdigest().upper(),
        subject=visible(subject),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=_key_type(public_key),
        key_bits=public_key.key_size if isinstance(public_key, rsa.RSAPublicKey) else 0,
        key=key,
    )


def _base64(body: bytes) -> bytes:
    """A PEM block's body decoded, or nothing if it is not base64."""
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _private_key(key: str | None, source: str) -> CertificateError:
    return CertificateError(
        "certificate-private-key",
        key,
        f"{source} holds a PRIVATE KEY. Mimecast's private key must never be in this "
        "repository or stack configuration: delete it (and rotate it with Mimecast if it was "
        "ever committed) and give only the public certificate.",
    )


def _key_type(public_key: object) -> str:
    for kind, name in _KEY_TYPES:
        if isinstance(public_key, kind):
            return name
    return type(public_key).__name__


def load_certificate(entry: str, key: str, project_dir: Path) -> Certificate:
    """Load one entry of a certificates list: inline PEM or base64, or a path in the project.

    `key` names the entry in messages, e.g. `mimecast-association:certificates[0]`. Inline
    base64 is what the guide's manifest `value` holds (DER without PEM lines); it is read,
    never taken for a path, so a pasted private key is refused rather than echoed.
    """
    if not entry.strip():
        raise CertificateError(
            "certificate-empty",
            key,
            f"{key} is empty. Give the path of Mimecast's certificate in the project "
            f"(certs/<name>.pem) or paste it as inline PEM. {FIX_GET_CURRENT}",
        )
    if "-----BEGIN" not in entry and holds_key_material(entry):
        raise _private_key(key, f"{key} (inline)")
    if "-----BEGIN" in entry:
        return parse_certificate(
            _dedent_pem(entry).encode("ascii", "replace"), f"{key} (inline)", key
        )
    compact = "".join(entry.split())
    if _INLINE_BASE64.fullmatch(compact):
        decoded = _base64(compact.encode("ascii"))
        if not decoded:
            raise CertificateError(
                "certificate-not-base64",
                key,
                f"{key} (inline) looks like base64 but does not decode (a character missing or "
                f"added?). Paste the certificate again, or give its path. {FIX_GET_CURRENT}",
            )
        return parse_certificate(decoded, f"{key} (inline)", key)
    source = f"{key} file {_path_text(entry)}"
    if Path(entry).suffix.lower() in {".pfx", ".p12"}:
        raise CertificateError(
            "certificate-private-key",
            key,
            f"{source} is a PKCS#12 bundle, which carries a private key. Give only the public "
            "certificate (.pem, .cer or .crt).",
        )
    try:
        path = inside_project(entry, project_dir)
        data = read_bounded(path, MAX_CERTIFICATE_BYTES)
    except FileNotFoundError:
        raise CertificateError(
            "certificate-file-missing",
            key,
            f"{source} does not exist (looked in {_path_text(str(project_dir.resolve() / entry))})."
            f" Fix the path, which is relative to the project directory. {FIX_GET_CURRENT}",
        ) from None
    except FileRefused as refused:
        raise CertificateError(
            "certificate-file-refused",
            key,
            f"{source} {visible(str(refused))}. Certificates are read only from regular files "
            "inside the project: copy Mimecast's certificate into certs/ and list it as "
            "certs/<name>.pem.",
        ) from None
    return parse_certificate(data, source, key)


def _path_text(path: str) -> str:
    """A path as written (escaped), unless it may be key text or is too long to be a path."""
    shown = quoted(path, limit=160)
    return visible(path) if shown == repr(path) else shown


def _dedent_pem(text: str) -> str:
    """Inline PEM in YAML often keeps its indentation; PEM parsers do not accept that."""
    return "\n".join(line.strip() for line in text.strip().splitlines()) + "\n"
