"""User-supplied text as messages may show it: never key material, never a control character.

Every value a user supplies (a setting, a file name, a certificate's subject) reaches a message
through `quoted` or `visible`, so no message, report or export can echo a private key, forge a
report line with a newline, or send an escape sequence to a terminal.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_der_private_key

from association.problems import visible

__all__ = ["holds_key_material", "is_key_der", "quoted", "redacted", "visible"]

KEY_LABELS = re.compile(r"PRIVATE KEY|PuTTY-User-Key-File", re.IGNORECASE)
"""PEM private keys of every kind (PKCS#1, PKCS#8, encrypted, EC, OpenSSH) and PuTTY keys."""

_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")
"""30 bytes or more of base64: longer than any identifier a setting holds, shorter than a key."""

_PKCS12_VERSION = b"\x02\x01\x03"
"""A PFX (PKCS#12) is SEQUENCE { version INTEGER 3, ... }: these bytes follow its header."""


def holds_key_material(text: str) -> bool:
    """A private key in any form a user might paste: PEM, PuTTY, or base64 of DER or PKCS#12."""
    if KEY_LABELS.search(text):
        return True
    compact = "".join(text.split())
    return any(is_key_der(_decode(run)) for run in _BASE64_RUN.findall(compact))


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
    text = _BASE64_RUN.sub(
        lambda run: "[key material removed]" if is_key_der(_decode(run.group())) else run.group(),
        text,
    )
    if KEY_LABELS.search(text) and holds_key_material(text):
        return "[message removed: it held key material]"
    return text


def quoted(value: str, limit: int = 80) -> str:
    """A config value as messages show it: never key material, never a wall of base64."""
    if holds_key_material(value):
        return (
            "a value holding a PRIVATE KEY (delete it: Mimecast's private key must never be in "
            "this repository or stack configuration)"
        )
    if "-----BEGIN" in value:
        return "a PEM block"
    if _BASE64_RUN.search("".join(value.split())):
        return f"a base64 value ({len(value)} characters)"
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}..."
