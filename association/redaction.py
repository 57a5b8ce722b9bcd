"""Private keys, recognised in every form a user might paste, and removed from tool output.

A key is refused wherever it is pasted (`holds_key_material`) and cut out of any text shown
(`redacted`): `association.text.visible`, the one way a value reaches a message, redacts first,
and `association.text.quoted` uses the same test before it shows a value.
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

_KEY_RUN = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
"""Base64 in either alphabet: standard, or URL-safe (`-_`) as JWK and some tools write DER."""

_SEPARATORS = re.compile(r"(?:\s|\\+[nr])+")
"""What splits a pasted key into lines: whitespace, or `\\n` as JSON and repr() write it (its
backslash doubled when written twice)."""

_JWK = re.compile(r"""["']?\bkty\b["']?\s*[:=]""")
_JWK_PRIVATE = re.compile(
    r"""(?P<name>["']?\b(?:d|p|q|dp|dq|qi|k)\b["']?\s*[:=]\s*["']?)[A-Za-z0-9_-]{16,}"""
)
"""A JSON Web Key's private members (RFC 7518: `d` of EC, OKP and RSA, RSA's primes and CRT
values, `k` of a symmetric key), base64url: no DER to parse, so recognised by name."""

_OPENSSH_MAGIC = b"openssh-key-v1\x00"
"""How an OpenSSH private key's body begins, once base64-decoded (PROTOCOL.key)."""

_PKCS12_VERSION = b"\x02\x01\x03"
"""A PFX (PKCS#12) is SEQUENCE { version INTEGER 3, ... }: these bytes follow its header."""

_PEM_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL | re.IGNORECASE,
)
_KEY_HEADER = re.compile(
    r"-----(?:BEGIN|END) [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-", re.IGNORECASE
)
"""How a key in text begins or ends (PEM or PuTTY), as opposed to the words in a message."""
_BASE64_BLOCK = re.compile(r"(?:[A-Za-z0-9+/_=-]{16,}(?:\s|\\+[nr])+)*[A-Za-z0-9+/_=-]{16,}")
"""Base64 lines (of 16 characters or more) as a block, however the lines are broken."""


def holds_key_material(text: str) -> bool:
    """A private key in any form a user might paste: PEM of any label, PuTTY, OpenSSH, JWK, or
    base64 (either alphabet) of DER or PKCS#12, alone, broken into lines or after other words."""
    return bool(KEY_LABELS.search(text)) or _encoded_key(text)


def _encoded_key(text: str) -> bool:
    """Key material itself, not the words: a message may say "PRIVATE KEY" and still hold none."""
    if _JWK.search(text) and _JWK_PRIVATE.search(text):
        return True
    runs = {*_KEY_RUN.findall(text), *_KEY_RUN.findall(_SEPARATORS.sub("", text))}
    return any(_key_in_run(run) for run in runs)


def _key_in_run(run: str) -> bool:
    """A key pasted after other base64-like text starts anywhere in the run: try each place
    where DER (a SEQUENCE) or an OpenSSH key can begin, each checked from its own start."""
    run = run.rstrip("=").translate(_URL_SAFE)
    return any(_key_at(run, start.start()) for start in _KEY_START.finditer(run))


_URL_SAFE = str.maketrans("-_", "+/")
_KEY_START = re.compile(r"(?=M[A-P]|b3Bl)")
"""Where a key can begin in base64: the byte 0x30 (`M`, then `A` to `P`) or `openssh-`."""


def _key_at(run: str, start: int) -> bool:
    head = _decode(run[start : start + 8])
    if head.startswith(_OPENSSH_MAGIC[:6]):
        return _decode(run[start : start + 20]).startswith(_OPENSSH_MAGIC)
    size = _der_size(head)
    if size is None or start + (size * 4 + 2) // 3 > len(run):
        return False  # not DER, or longer than what is there: checked from its own start
    return is_key_der(_decode(run[start : start + (size + 2) // 3 * 4])[:size])


def _der_size(head: bytes) -> int | None:
    """The whole length of the DER SEQUENCE `head` begins, from its length octets (X.690)."""
    if len(head) < 4 or head[0] != 0x30:
        return None
    if head[1] < 0x80:
        return 2 + head[1]
    count = head[1] & 0x7F
    if not 1 <= count <= 3:
        return None
    return 2 + count + int.from_bytes(head[2 : 2 + count], "big")


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


def redacted(text: str) -> str:
    """`text` with every private key in it replaced by a marker; the rest kept as it is.

    For text a user did not type but a tool printed (an error message from Pulumi or a
    provider), which is shown whole rather than refused, and for every value a message shows.
    """
    text = _PEM_KEY_BLOCK.sub("[key removed]", text)
    if _JWK.search(text):
        text = _JWK_PRIVATE.sub(lambda member: member["name"] + "[key removed]", text)
    text = _BASE64_BLOCK.sub(
        lambda block: "[key material removed]" if _has_key(block.group()) else block.group(),
        text,
    )
    if _KEY_HEADER.search(text) or _encoded_key(text):
        return "[message removed: it held key material]"
    return text


def _has_key(block: str) -> bool:
    return any(_key_in_run(run) for run in _KEY_RUN.findall(_SEPARATORS.sub("", block)))
