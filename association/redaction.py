"""Private keys, recognised in every form a user might paste, and removed from tool output.

A key is refused wherever it is pasted (`holds_key_material`) and cut out of text another
program printed (`redacted`); `association.text.quoted` uses the same test before it shows a
value.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_der_private_key

__all__ = ["BASE64_RUN", "holds_key_material", "is_key_der", "redacted"]

KEY_LABELS = re.compile(r"PRIVATE KEY|PuTTY-User-Key-File", re.IGNORECASE)
"""PEM private keys of every kind (PKCS#1, PKCS#8, encrypted, EC, OpenSSH) and PuTTY keys."""

BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
"""30 bytes or more of base64: longer than any identifier a setting holds, shorter than a key."""

_PKCS12_VERSION = b"\x02\x01\x03"
"""A PFX (PKCS#12) is SEQUENCE { version INTEGER 3, ... }: these bytes follow its header."""


def holds_key_material(text: str) -> bool:
    """A private key in any form a user might paste: PEM, PuTTY, or base64 of DER or PKCS#12."""
    if KEY_LABELS.search(text):
        return True
    compact = "".join(text.split())
    return any(is_key_der(_decode(run)) for run in BASE64_RUN.findall(compact))


def _decode(run: str) -> bytes:
    try:
        return base64.b64decode(run + "=" * (-len(run) % 4))
    except (binascii.Error, ValueError):
        return b""


def is_key_der(data: bytes) -> bool:
    """DER that holds a private key (PKCS#1/#8, encrypted or not) or a PKCS#12 bundle: it has
    no PEM label to spot, so parse it (without a password)."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    header = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    if data[header : header + 3] == _PKCS12_VERSION:
        return True
    try:
        load_der_private_key(data, password=None)
    except TypeError:
        return True  # an encrypted private key: it asked for a password
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


_PEM_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)


def redacted(text: str) -> str:
    """`text` with every private key in it replaced by a marker; the rest kept as it is.

    For text a user did not type but a tool printed (an error message from Pulumi or a
    provider), which is shown whole rather than refused.
    """
    text = _PEM_KEY_BLOCK.sub("[key removed]", text)
    text = BASE64_RUN.sub(
        lambda run: "[key material removed]" if is_key_der(_decode(run.group())) else run.group(),
        text,
    )
    if KEY_LABELS.search(text) and holds_key_material(text):
        return "[message removed: it held key material]"
    return text
