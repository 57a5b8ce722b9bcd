"""One entry of the `certificates` setting: inline PEM, inline base64, or a file in the project.

Inline base64 is what the guide's manifest `value` holds (DER without PEM lines); it is read,
never taken for a path, so a pasted private key is refused rather than echoed. A path is read
only from a regular file inside the project, bounded (`association.files`). Pure (no Pulumi).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from association.certificates import (
    FIX_GET_CURRENT,
    Certificate,
    CertificateError,
    decode_base64,
    parse_certificate,
    private_key_error,
)
from association.files import FileRefused, inside_project, read_bounded
from association.problems import Problem
from association.redaction import holds_key_material
from association.text import quoted, visible

MAX_CERTIFICATE_BYTES: Final = 64 * 1024
"""A certificate is a few kilobytes; anything this large is not one."""

_INLINE_BASE64: Final = re.compile(r"[A-Za-z0-9+/]{128,}={0,2}")
"""At least 96 bytes of base64 once whitespace is dropped, wherever it was (a certificate is
far longer; a file path is not base64-shaped: it has a dot)."""


def load_certificates(
    entries: list[str], key: str, project_dir: Path
) -> tuple[tuple[Certificate, ...], list[Problem]]:
    """Each entry of `certificates` loaded; one that cannot be is left out and named."""
    certificates, problems = [], []
    for index, entry in enumerate(entries):
        try:
            certificates.append(load_certificate(entry, f"{key}[{index}]", project_dir))
        except CertificateError as error:
            problems.append(error.problem)
    return tuple(certificates), problems


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
        raise private_key_error(key, f"{key} (inline)")
    if "-----BEGIN" in entry:
        return parse_certificate(
            _dedent_pem(entry).encode("ascii", "replace"), f"{key} (inline)", key
        )
    compact = "".join(entry.split())
    if _INLINE_BASE64.fullmatch(compact):
        decoded = decode_base64(compact.encode("ascii"))
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
