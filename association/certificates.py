"""Mimecast's public certificate: loading, checking and describing it as a key credential.

Pure functions, no Pulumi: what Entra ID would refuse (expired, weak, a private key)
is refused here first, with a message that says how to fix it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from association.files import FileRefused, inside_project, read_bounded
from association.identifiers import GUIDE_CERTIFICATE_THUMBPRINT, GUIDE_KEY_ID, KEY_ID_NAMESPACE
from association.problems import Notice, Problem
from association.redaction import holds_key_material, is_key_der, quoted, visible

MIN_RSA_BITS = 2048

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

_INLINE_BASE64 = re.compile(
    r"\s*(?:[A-Za-z0-9+/]{4}\s*){32,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\s*"
)
"""At least 96 bytes of base64 (a certificate is far longer; a file path is not base64-shaped)."""

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


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

    def problem(self, message: str) -> Problem:
        return Problem(self.key, message)


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

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(key, message)


def rfc3339(moment: datetime) -> str:
    """UTC with a `Z` suffix: the form the provider stores, so previews show no spurious diff."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_certificate(data: bytes, source: str, key: str | None = None) -> Certificate:
    """Read one certificate from PEM or DER bytes, refusing anything that holds a private key.

    `source` names it in messages; `key` is the setting it was listed under, if any.
    """
    if not data.strip():
        raise CertificateError(key, f"{source} is empty. {FIX_GET_CURRENT}")
    blocks = [label.decode("ascii") for label in _PEM_BLOCK.findall(data)]
    if any("PRIVATE KEY" in label for label in blocks) or is_key_der(data):
        raise CertificateError(
            key,
            f"{source} holds a PRIVATE KEY. Mimecast's private key must never be in this "
            "repository or stack configuration: delete it (and rotate it with Mimecast if it was "
            "ever committed) and give only the public certificate.",
        )
    if blocks:
        certificates = [label for label in blocks if label == "CERTIFICATE"]
        if len(certificates) != 1 or len(blocks) != 1:
            raise CertificateError(
                key,
                f"{source} holds {', '.join(blocks)} PEM blocks; it must hold exactly one "
                "CERTIFICATE. Give each certificate as its own entry.",
            )
        loader = x509.load_pem_x509_certificate
    else:
        loader = x509.load_der_x509_certificate
    try:
        cert = loader(data)
    except ValueError as error:
        raise CertificateError(
            key,
            f"{source} is not an X.509 certificate in PEM or DER form ({error}). {FIX_GET_CURRENT}",
        ) from None
    subject = cert.subject.rfc4514_string()
    if holds_key_material(subject):
        raise CertificateError(key, f"{source} has key material in its subject. {FIX_GET_CURRENT}")
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


def _private_key(key: str | None, source: str) -> CertificateError:
    return CertificateError(
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
    if "-----BEGIN" not in entry and holds_key_material(entry):
        raise _private_key(key, f"{key} (inline)")
    if "-----BEGIN" in entry:
        return parse_certificate(
            _dedent_pem(entry).encode("ascii", "replace"), f"{key} (inline)", key
        )
    if _INLINE_BASE64.fullmatch(entry):
        return parse_certificate(base64.b64decode("".join(entry.split())), f"{key} (inline)", key)
    source = f"{key} file {_path_text(entry)}"
    if Path(entry).suffix.lower() in {".pfx", ".p12"}:
        raise CertificateError(
            key,
            f"{source} is a PKCS#12 bundle, which carries a private key. Give only the public "
            "certificate (.pem, .cer or .crt).",
        )
    try:
        path = inside_project(entry, project_dir)
        data = read_bounded(path, MAX_CERTIFICATE_BYTES)
    except FileNotFoundError:
        raise CertificateError(
            key,
            f"{source} does not exist (looked in {_path_text(str(project_dir.resolve() / entry))})."
            f" Fix the path, which is relative to the project directory. {FIX_GET_CURRENT}",
        ) from None
    except FileRefused as refused:
        raise CertificateError(
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


def validity_problems(cert: Certificate, now: datetime) -> list[Problem]:
    """What Entra ID or Mimecast would reject about a well-formed certificate."""
    problems: list[str] = []
    if cert.not_after <= now:
        problems.append(
            f"{cert.describe()} expired on {cert.end_date}. Entra ID rejects an expired key "
            f"credential (KeyCredentialsInvalidEndDate). {FIX_GET_CURRENT}"
        )
    if cert.not_before > now:
        problems.append(
            f"{cert.describe()} is not valid until {cert.start_date}. Deploy after that date, or "
            "use the certificate that is current now."
        )
    if cert.key_type != "RSA":
        problems.append(
            f"{cert.describe()} has a key of type {cert.key_type}; Mimecast's certificate is RSA. "
            f"{FIX_GET_CURRENT}"
        )
    elif cert.key_bits < MIN_RSA_BITS:
        problems.append(
            f"{cert.describe()} has a {cert.key_bits}-bit RSA key; at least {MIN_RSA_BITS} bits "
            f"are required. {FIX_GET_CURRENT}"
        )
    return [cert.problem(message) for message in problems]


def expiry_warning(cert: Certificate, now: datetime, warning_days: int) -> Notice | None:
    """A warning while the certificate is valid but within `warning_days` of NotAfter."""
    if now < cert.not_after <= now + timedelta(days=warning_days):
        return Notice(
            "certificate-expiry",
            cert.key,
            f"{cert.describe()} expires on {cert.end_date} ({cert.days_left(now)} days left). "
            "Ask Mimecast for its successor and list it in `certificates` beside this one.",
        )
    return None


def duplicate_problems(certificates: list[Certificate]) -> list[Problem]:
    """The same certificate listed twice would declare two key credentials with one keyId."""
    first_seen: dict[str, Certificate] = {}
    problems = []
    for cert in certificates:
        earlier = first_seen.setdefault(cert.thumbprint, cert)
        if earlier is not cert:
            problems.append(
                cert.problem(
                    f"{cert.source} is the same certificate as {earlier.source} (thumbprint "
                    f"{cert.thumbprint}). List each certificate once."
                )
            )
    return problems
