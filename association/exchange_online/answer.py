"""What one InvokeCommand answer holds: the objects, Exchange's warnings, the next page, errors.

Pure. Any 2xx is success, whatever its body: a write that returns nothing may answer 204 with
no body (GreyCorbel/ExoHelper Invoke-ExoCommand.ps1 handles `NoContent` as "no data"), or a
body with only `@adminapi.warnings` and no `value` (KelvinTegelaar/CIPP-API New-ExoRequest.ps1
returns `value`, and falls back to the warnings only when `value` is null). So a write's missing
`value` is no objects; a read's, or a `value` that is not a list of objects, is a broken
answer. Exchange's words are hostile text: shown escaped and cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from association.text import visible

MAX_DETAIL: Final = 400
"""Characters of Exchange's own text (an error or a warning) shown in a message."""
MAX_WARNINGS: Final = 20
"""Warnings kept from one answer; more are counted, not shown."""
WARNINGS_KEY: Final = "@adminapi.warnings"


@dataclass(frozen=True)
class Answer:
    """One page of a cmdlet's answer."""

    items: list[dict[str, Any]]
    warnings: tuple[str, ...]
    next_link: object
    """`@odata.nextLink` as given (checked by the client before it is followed), or None."""


def read_answer(document: object, read: bool) -> Answer:
    """The page's objects and warnings; ValueError when `value` is there but is no list of
    objects, or missing from a read's answer (then nothing of the answer is used): a 2xx
    without objects means "none" only for a write, or a refresh would take a broken answer
    for an object deleted outside Pulumi."""
    if not isinstance(document, dict):
        document = {}
    value = document.get("value")
    if value is None and read:
        raise ValueError("the answer of a read has no `value`")
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("the answer's `value` is not a list of objects")
    link = document.get("@odata.nextLink", document.get("odata.nextLink"))
    return Answer(value, _warnings(document.get(WARNINGS_KEY)), link)


def _warnings(value: object) -> tuple[str, ...]:
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    shown = [_cut(visible(text)) for text in texts if isinstance(text, str) and text.strip()]
    if len(shown) > MAX_WARNINGS:
        shown = [*shown[:MAX_WARNINGS], f"(and {len(shown) - MAX_WARNINGS} more warnings)"]
    return tuple(shown)


def error_detail(document: Any) -> str:
    """Exchange's own words, shown escaped: `error.details[].message` (often `code|type|text`),
    `error.innererror.internalException.message`, or `error.message` (the shapes CIPP-API,
    ExoHelper and M365Permissions read)."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return ""
    texts: list[str] = []
    details = error.get("details")
    if isinstance(details, list):
        texts += [d["message"] for d in details if isinstance(d, dict) and "message" in d]
    inner = error.get("innererror") or error.get("innerError")
    internal = inner.get("internalException") if isinstance(inner, dict) else None
    if not texts and isinstance(internal, dict):
        texts.append(internal.get("message", ""))
    if not texts:
        texts += [error.get("code", ""), error.get("message", "")]
    text = " ".join(str(part).split("|")[-1] for part in texts if isinstance(part, str) and part)
    return _cut(visible(text))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."
