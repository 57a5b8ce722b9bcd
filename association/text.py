"""User-supplied text as messages show it: on one line, never key material.

Every value a user or a tenant supplies (a setting, a file name, a certificate's subject, a
display name) reaches a message through `quoted` or `visible`, so no message, report or export
can echo a private key, forge a report line with a newline, or send an escape sequence to a
terminal.
"""

from __future__ import annotations

from association.redaction import BASE64_RUN, holds_key_material, redacted

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """`text` on one line and without key material: a private key in any form replaced by a
    marker, then every character that is not printable (controls, format and line separators,
    unassigned code points) shown as its escape, e.g. ESC as `\\x1b`."""
    text = redacted(text)
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else _ESCAPES.get(char) or ascii(char)[1:-1] for char in text
    )


def quoted(value: str, limit: int = 80) -> str:
    """A config value as messages show it: never key material, never a wall of base64."""
    if holds_key_material(value):
        return (
            "a value holding a PRIVATE KEY (delete it: Mimecast's private key must never be in "
            "this repository or stack configuration)"
        )
    if "-----BEGIN" in value:
        return "a PEM block"
    if BASE64_RUN.search("".join(value.split())):
        return f"a base64 value ({len(value)} characters)"
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}..."
