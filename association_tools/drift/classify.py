"""Deciding no-change, drift or error for one stack's preview, and the status of them all.

A drifted resource is reported once (`resources`), an error with the kind that says who has
to act and its code (`errors`); a note says what the verdict cannot show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal

from association_tools.cli import Verdicts
from association_tools.drift.errors import (
    CORRUPT_MESSAGE,
    GENERIC_FAILURE,
    KIND_ORDER,
    NEVER_RAN_MESSAGE,
    ErrorKind,
    StackError,
    diagnostic_error,
)
from association_tools.drift.preview import Preview
from association_tools.drift.resources import ResourceDrift, drifted_resources, had_state

Status = Literal["no-change", "drift", "error"]

VERDICTS: Final = Verdicts[Status]("error", "drift", "no-change")
"""Failure wins over drift, drift over no-change; exit 1, 3 or 0."""


@dataclass(frozen=True)
class Note:
    """What a stack's verdict cannot show, and what to do about it."""

    code: str
    message: str


POLICY_HINT: Final = Note(
    "no-reason-given",
    "Pulumi gave no reason in the JSON. `pulumi preview --json` leaves policy violations out, "
    "so a mandatory policy violation looks like this: run the preview without --json to see it.",
)
NOT_REFRESHED: Final = Note(
    "not-refreshed",
    "The preview did not refresh (it has no refresh step): it compared the program with the "
    "state as stored, so changes made outside Pulumi are not in it. Run `pulumi preview "
    "--refresh --json`.",
)


@dataclass(frozen=True)
class StackDrift:
    """The verdict for one stack."""

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("error_kind",)
    """Computed, yet part of the JSON document: consumers filter on it."""

    stack: str
    source: str
    status: Status
    resources: tuple[ResourceDrift, ...] = ()
    errors: tuple[StackError, ...] = ()
    maybe_corrupt: bool = False
    change_summary: Mapping[str, int] = field(default_factory=dict)
    note: Note | None = None
    refreshed: bool = False
    """The preview refreshed the stack's state (it has refresh steps)."""

    @property
    def error_kind(self) -> ErrorKind | None:
        """The most telling kind among the errors, None without errors."""
        kinds = {error.kind for error in self.errors}
        return next((kind for kind in KIND_ORDER if kind in kinds), None)


def classify(document: Preview, stack: str, *, source: str = "") -> StackDrift:
    """Decide no-change, drift or error for one stack's preview."""
    resources = drifted_resources(document.steps)
    errors = [
        diagnostic_error(diagnostic.message, diagnostic.urn)
        for diagnostic in document.diagnostics
        if diagnostic.severity == "error"
    ]
    note = None
    if errors and all(GENERIC_FAILURE.match(error.message) for error in errors):
        note = POLICY_HINT
    if document.maybe_corrupt:
        errors.append(StackError("maybe-corrupt", "other", CORRUPT_MESSAGE))
    if not document.steps and not errors:
        errors.append(StackError("preview-never-ran", "other", NEVER_RAN_MESSAGE))
    status: Status = "error" if errors else "drift" if resources else "no-change"
    refreshed = any(step.op == "refresh" for step in document.steps)
    if status != "error" and not refreshed and had_state(document.steps):
        note = NOT_REFRESHED
    return StackDrift(
        stack,
        source,
        status,
        resources,
        tuple(errors),
        document.maybe_corrupt,
        dict(document.change_summary),
        note,
        refreshed,
    )


def unreadable(stack: str, source: str, code: str, message: str) -> StackDrift:
    """The verdict for a file that is not a usable preview document."""
    return StackDrift(stack, source, "error", errors=(StackError(code, "other", message),))


def overall_status(results: Sequence[StackDrift]) -> Status:
    return VERDICTS.overall(result.status for result in results)


def exit_code(results: Sequence[StackDrift]) -> int:
    return VERDICTS.exit_code(result.status for result in results)
