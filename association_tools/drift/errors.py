"""Why a stack's preview failed: each error sorted into a kind (who has to act) and a code.

The kind is for people (`authentication`: the identity's credentials or role; `policy
violation`; `other`); the code is for tools, stable and kebab-case. The program's own refusal
is read back from its text: `refusal_items` and `is_refusal` read what
`association.problems.refusal_text` writes (tests/test_drift.py pins the two together).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

ErrorKind = Literal["authentication", "policy violation", "other"]

GENERIC_FAILURE: Final = re.compile(r"^(?:error: )?(?:preview|update) failed$")
"""The engine's closing error, which adds no reason of its own."""

ERROR_PATTERNS: Final[tuple[tuple[ErrorKind, re.Pattern[str]], ...]] = (
    # Authentication: the identity running the preview cannot sign in or lacks rights. The fix
    # is its credentials or role, not the code. Bare "401"/"403" are not matched: thumbprints
    # and object IDs contain such digits.
    ("authentication", re.compile(r"\bAADSTS\d+")),  # Entra ID sign-in error codes
    ("authentication", re.compile(r"\baz login\b|\bAzure CLI\b")),  # CLI not signed in
    ("authentication", re.compile(r"authenticat(?:e|ed|ing|ion)\b", re.IGNORECASE)),
    ("authentication", re.compile(r"\baccess token\b", re.IGNORECASE)),
    ("authentication", re.compile(r"\b401 Unauthorized\b|\b403 Forbidden\b")),  # Graph status
    ("authentication", re.compile(r"\bAuthorization_RequestDenied\b|\bInsufficient privileges\b")),
    # Policy: the engine's text when a policy pack fails to run ("failed to run policy: ..."),
    # and the CLI's text for violations ("[mandatory]", "policy violation") should a digest
    # ever carry them; today a violation leaves only "preview failed" (see GENERIC_FAILURE).
    ("policy violation", re.compile(r"\bfailed to run polic(?:y|ies)\b", re.IGNORECASE)),
    ("policy violation", re.compile(r"\bpolicy packs?\b", re.IGNORECASE)),
    ("policy violation", re.compile(r"\[mandatory\]|\bpolicy violations?\b", re.IGNORECASE)),
)
"""Patterns for error diagnostics, in priority order; an error matching none is `other`."""

KIND_ORDER: Final[tuple[ErrorKind, ...]] = ("authentication", "policy violation", "other")
"""A stack's error kind is its most telling error's: a sign-in failure explains the rest."""

KIND_CODES: Final[dict[ErrorKind, str]] = {
    "authentication": "authentication-failed",
    "policy violation": "policy-failed",
    "other": "preview-error",
}
"""The code of an error diagnostic that is neither the program's refusal nor the bare
closing "preview failed"."""

CORRUPT_MESSAGE: Final = (
    "Pulumi reported maybeCorrupt: an operation ended in an unknown state, so the stack's "
    "state may not match the tenant. Run `pulumi refresh` for this stack."
)
NEVER_RAN_MESSAGE: Final = "The preview lists no steps, not even the root stack: it never ran."

_REFUSAL_HEADING: Final = re.compile(
    r"^(?:error: )?mimecast-association: stack .+ was not deployed"
)
_ITEM: Final = re.compile(r"^\s*\d+\. ")


@dataclass(frozen=True)
class StackError:
    """An error diagnostic (or an unusable file), with its code and kind."""

    code: str
    """`program-refused`, `preview-failed`, `authentication-failed`, `policy-failed`,
    `preview-error` for diagnostics; `maybe-corrupt`, `preview-never-ran`,
    `preview-unreadable`, `preview-empty`, `preview-invalid` for the document itself."""
    kind: ErrorKind
    message: str
    urn: str | None = None


def diagnostic_error(message: str, urn: str | None = None) -> StackError:
    """An error diagnostic of the preview, with its kind and code."""
    kind = error_kind(message)
    if is_refusal(message):
        code = "program-refused"
    elif GENERIC_FAILURE.match(message):
        code = "preview-failed"
    else:
        code = KIND_CODES[kind]
    return StackError(code, kind, message, urn)


def error_kind(message: str) -> ErrorKind:
    """Classify one error message by ERROR_PATTERNS."""
    for kind, pattern in ERROR_PATTERNS:
        if pattern.search(message):
            return kind
    return "other"


def is_refusal(text: str) -> bool:
    """The text holds the program's refusal (`refusal_text`): it checked the stack's settings
    or the tenant and declared nothing."""
    return any(_REFUSAL_HEADING.match(line.strip()) for line in text.splitlines())


def refusal_items(text: str) -> list[str]:
    """The numbered lines of a refusal inside Pulumi's output (`1. ...`), as written.

    The drift report reads another process's output here; in-process callers get the problems
    themselves from `association.refusal.Refusal.problems`.
    """
    return [line.strip() for line in text.splitlines() if _ITEM.match(line)]
