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

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from association.identifiers import GUIDE_CERTIFICATE_THUMBPRINT, GUIDE_KEY_ID, KEY_ID_NAMESPACE
from association.problems import Problem
from association.redaction import holds_key_material, is_key_der
from association.text import visible

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
        or any(is_key_der(decode_base64(body)) for body in _PEM_BODY.findall(data))  # any label
    ):
        raise private_key_error(key, source)
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


def decode_base64(body: bytes) -> bytes:
    """A PEM block's body decoded, or nothing if it is not base64."""
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""


def private_key_error(key: str | None, source: str) -> CertificateError:
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
