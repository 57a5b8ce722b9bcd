"""One public certificate file read without a library (stdlib only: the scripts run before
anything is installed): refused if it holds a private key or is not one X.509 certificate, and
its NotAfter read from the DER (RFC 5280). Nothing of the file is ever printed.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

MAX_CERTIFICATE_BYTES = 64 * 1024


class CertificateFileError(Exception):
    """The file is not one public certificate; the message says why, naming only the file."""


def certificate_not_after(data: bytes, name: str) -> datetime:
    """NotAfter of the one X.509 certificate in `data` (PEM or DER), read without a library:
    this script runs before anything is installed. Nothing of the file is ever printed."""
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise CertificateFileError(
            f"certificate {name!r} is larger than {MAX_CERTIFICATE_BYTES} bytes"
        )
    if re.search(rb"PRIVATE KEY|PuTTY-User-Key-File", data) or name.lower().endswith(
        (".pfx", ".p12")
    ):
        raise CertificateFileError(
            f"certificate {name!r} holds a PRIVATE KEY: delete it (and have Mimecast rotate it "
            "if it was ever committed); give only Mimecast's public certificate"
        )
    blocks = re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)
    if blocks:
        body = re.search(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", data, re.S)
        if blocks != [b"CERTIFICATE"] or body is None:
            raise CertificateFileError(
                f"certificate {name!r} must hold exactly one PEM CERTIFICATE block"
            )
        try:
            data = base64.b64decode(b"".join(body.group(1).split()), validate=True)
        except binascii.Error:
            raise CertificateFileError(f"certificate {name!r} is not valid PEM") from None
    try:
        return _der_not_after(data)
    except (IndexError, ValueError):
        raise CertificateFileError(f"certificate {name!r} is not an X.509 certificate") from None


def _der(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `at`."""
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("length")
        length, at = int.from_bytes(data[at : at + count], "big"), at + count
    if at + length > len(data):
        raise ValueError("truncated")
    return tag, at, at + length


def _der_not_after(data: bytes) -> datetime:
    """Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version?, serialNumber,
    signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... } (RFC 5280)."""
    tag, start, _ = _der(data, 0)
    tag_tbs, at, _ = _der(data, start)
    if tag != 0x30 or tag_tbs != 0x30:
        raise ValueError("not a certificate")
    if data[at] == 0xA0:  # the explicit version
        at = _der(data, at)[2]
    for _ in range(3):  # serialNumber, signature, issuer
        at = _der(data, at)[2]
    tag, at, _ = _der(data, at)
    if tag != 0x30:
        raise ValueError("no validity")
    at = _der(data, at)[2]  # notBefore
    tag, start, end = _der(data, at)
    text = data[start:end].decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049 (RFC 5280 4.1.2.5.1)
        moment = datetime.strptime(text, "%y%m%d%H%M%SZ")
        if moment.year >= 2050:
            moment = moment.replace(year=moment.year - 100)
    elif tag == 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        moment = datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise ValueError("no time")
    return moment.replace(tzinfo=UTC)
