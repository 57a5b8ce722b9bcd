"""One private key in every form a user might paste it, and the pieces of it no output may hold.

For the hostile-input suite: each form must be refused wherever it is given and never shown,
whole or in part. The keys are the test keys of `certfactory` (made once per process).
"""

from __future__ import annotations

import base64
import json

from certfactory import ec_key, make_certificate, rsa_key
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)


def _base64url(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).decode().rstrip("=")


def _lines(text: str, width: int = 64) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


_RSA, _EC = rsa_key(), ec_key()
_RSA_DER = _RSA.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
_EC_DER = _EC.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
_EC_BASE64 = base64.b64encode(_EC_DER).decode()
_OPENSSH = _EC.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
_NUMBERS = _EC.private_numbers()

KEY_FORMS: dict[str, str] = {
    "pkcs8-pem": _RSA.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
    "encrypted-pem": _RSA.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"secret")
    ).decode(),
    "ec-pem": _EC.private_bytes(
        Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()
    ).decode(),
    "openssh": _OPENSSH,
    "openssh-body-alone": "".join(_OPENSSH.splitlines()[1:-1]),
    "pkcs8-der-base64": base64.b64encode(_RSA_DER).decode(),
    "pkcs8-der-base64url": base64.urlsafe_b64encode(_EC_DER).decode().rstrip("="),
    "pkcs12-base64": base64.b64encode(
        pkcs12.serialize_key_and_certificates(b"m", _RSA, make_certificate(), None, NoEncryption())
    ).decode(),
    "jwk": json.dumps(
        {
            "kty": "EC",
            "crv": "P-256",
            "x": _base64url(_NUMBERS.public_numbers.x),
            "y": _base64url(_NUMBERS.public_numbers.y),
            "d": _base64url(_NUMBERS.private_value),
        }
    ),
    "under-a-certificate-label": "\n".join(
        ["-----BEGIN CERTIFICATE-----", *_lines(_EC_BASE64), "-----END CERTIFICATE-----"]
    ),
    "after-words": f"Mimecast Sync {_EC_BASE64}",
    "lines-as-escaped-newlines": "\\n".join(_lines(_EC_BASE64)),
}
"""A display name or a config key may be at most a few hundred characters: the EC key (P-256)
fits where an RSA key would be refused for its length alone."""


def _pieces(secret: bytes) -> list[str]:
    """`secret` as it shows inside any base64 of a key holding it: each of the three ways its
    bytes can fall into base64's 3-byte groups, in both alphabets (trimmed of the characters
    the group boundaries change)."""
    encoded = [base64.b64encode(bytes(shift) + secret[:30]).decode()[4:28] for shift in range(3)]
    return [*encoded, *(piece.replace("+", "-").replace("/", "_") for piece in encoded)]


_ENCRYPTED = "".join(KEY_FORMS["encrypted-pem"].splitlines()[1:-1])

KEY_PIECES: tuple[str, ...] = (
    *_pieces(_NUMBERS.private_value.to_bytes(32, "big")),
    *_pieces(_RSA.private_numbers().d.to_bytes(256, "big")[100:130]),
    *(_ENCRYPTED[offset : offset + 24] for offset in range(100, len(_ENCRYPTED) - 24, 300)),
)
"""Pieces of the private values themselves (the EC scalar, RSA's private exponent) and of the
encrypted key's ciphertext: any of them in an output means key material leaked. Public parts
(a JWK's `x` and `y`, the modulus) may show."""
