"""Deciding no-change, drift or error for one stack's preview, and the exit status for all.

A drifted resource is reported once, with what `pulumi up` would do and, when the preview
refreshed it, what changed outside Pulumi; an error is sorted into a kind that says who has to
act. Drift is read from the program's own steps, which the engine computes against the
refreshed state; a `refresh` step only says that the resource was refreshed, and its old state
is the state as stored before (see `preview`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Literal

from association_tools.drift.preview import Preview, PropertyChange, Step, parse_urn

Status = Literal["no-change", "drift", "error"]
ErrorKind = Literal["authentication", "policy violation", "other"]
Operation = Literal["create", "update", "replace", "delete"]
RefreshOperation = Literal["update", "delete"]

EXIT_CLEAN: Final = 0
EXIT_FAILED: Final = 1
EXIT_DRIFT: Final = 3

ROOT_STACK_TYPE: Final = "pulumi:pulumi:Stack"

PROGRAM_OPERATIONS: Final[Mapping[str, Operation | None]] = {
    # Nothing for `pulumi up` to do. Reads (and discarding them) only track resources the
    # program looks up, never writes; a refresh step only reads the resource into the state.
    "same": None,
    "read": None,
    "read-replacement": None,
    "discard": None,
    "discard-replaced": None,
    "refresh": None,
    # Changes. Imports and removing a pending replacement change the stack's state, not the
    # tenant, but still mean the stack is not what the program describes.
    "create": "create",
    "import": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "import-replacement": "replace",
    "delete": "delete",
    "remove-pending-replace": "delete",
}
"""Every `display.StepOp` a preview shows (preview.STEP_OPS), and what `pulumi up` would do to
the resource."""

OPERATION_ORDER: Final[tuple[Operation, ...]] = ("replace", "create", "delete", "update")
"""The weightiest operation names a resource whose steps differ (replace steps come in sets)."""

STATE_ONLY_OPS: Final = frozenset({"import", "import-replacement", "remove-pending-replace"})
"""Ops that adopt or drop a resource in the stack's state without creating or deleting it in the
tenant; the Markdown names them next to the operation they count as."""

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

POLICY_HINT: Final = (
    "Pulumi gave no reason in the JSON. `pulumi preview --json` leaves policy violations out, "
    "so a mandatory policy violation looks like this: run the preview without --json to see it."
)
NOT_REFRESHED_NOTE: Final = (
    "The preview did not refresh (it has no refresh step): it compared the program with the "
    "state as stored, so changes made outside Pulumi are not in it. Run `pulumi preview "
    "--refresh --json`."
)
CORRUPT_MESSAGE: Final = (
    "Pulumi reported maybeCorrupt: an operation ended in an unknown state, so the stack's "
    "state may not match the tenant. Run `pulumi refresh` for this stack."
)


@dataclass(frozen=True)
class RefreshFinding:
    """What the refresh found in the tenant: the resource changed (update) or gone (delete).

    `properties` are the top-level outputs whose stored value the refresh changed (added,
    deleted or updated), as far as the program's steps show the refreshed state.
    """

    operation: RefreshOperation
    properties: tuple[PropertyChange, ...] = ()


@dataclass(frozen=True)
class ResourceDrift:
    """One resource that drifted, reported once however many steps name it."""

    urn: str
    type: str
    name: str
    operation: Operation
    """What `pulumi up` would do."""
    steps: tuple[str, ...]
    properties: tuple[PropertyChange, ...] = ()
    refresh: RefreshFinding | None = None
    """Set when the preview refreshed the resource and the refresh explains the change; None
    when the change comes from the program (or the preview did not refresh)."""


@dataclass(frozen=True)
class StackError:
    """An error diagnostic (or an unusable file), with its kind."""

    kind: ErrorKind
    message: str
    urn: str | None = None


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
    note: str | None = None
    refreshed: bool = False
    """The preview refreshed the stack's state (it has refresh steps)."""

    @property
    def error_kind(self) -> ErrorKind | None:
        """The most telling kind among the errors, None without errors."""
        kinds = {error.kind for error in self.errors}
        return next((kind for kind in KIND_ORDER if kind in kinds), None)


def classify(document: Preview, stack: str, *, source: str = "") -> StackDrift:
    """Decide no-change, drift or error for one stack's preview."""
    resources = _resources(document.steps)
    errors = [
        StackError(error_kind(diagnostic.message), diagnostic.message, diagnostic.urn)
        for diagnostic in document.diagnostics
        if diagnostic.severity == "error"
    ]
    note = None
    if errors and all(GENERIC_FAILURE.match(error.message) for error in errors):
        note = POLICY_HINT
    if document.maybe_corrupt:
        errors.append(StackError("other", CORRUPT_MESSAGE))
    if not document.steps and not errors:
        errors.append(
            StackError(
                "other", "The preview lists no steps, not even the root stack: it never ran."
            )
        )
    status: Status = "error" if errors else "drift" if resources else "no-change"
    refreshed = any(step.op == "refresh" for step in document.steps)
    if status != "error" and not refreshed and _had_state(document.steps):
        note = NOT_REFRESHED_NOTE
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


def _had_state(steps: Sequence[Step]) -> bool:
    """The stack existed before this preview: its root stack is not being created."""
    return any(_type_of(step.urn) == ROOT_STACK_TYPE and step.op != "create" for step in steps)


def unreadable(stack: str, source: str, message: str) -> StackDrift:
    """The verdict for a file that is not a usable preview document."""
    return StackDrift(stack, source, "error", errors=(StackError("other", message),))


def error_kind(message: str) -> ErrorKind:
    """Classify one error message by ERROR_PATTERNS."""
    for kind, pattern in ERROR_PATTERNS:
        if pattern.search(message):
            return kind
    return "other"


def _type_of(urn: str) -> str:
    parsed = parse_urn(urn)
    return parsed[2] if parsed is not None else ""


def _resources(steps: Sequence[Step]) -> tuple[ResourceDrift, ...]:
    """Group steps by URN (root stack left out: its changes are stack outputs, not the tenant)
    and report each resource `pulumi up` would change once, with what the refresh explains."""
    groups: dict[str, list[Step]] = {}
    for step in steps:
        if _type_of(step.urn) != ROOT_STACK_TYPE:
            groups.setdefault(step.urn, []).append(step)
    drifted = []
    for urn, group in groups.items():
        program_steps = [step for step in group if step.op != "refresh"]
        operations = {PROGRAM_OPERATIONS[step.op] for step in program_steps}
        operation = next((op for op in OPERATION_ORDER if op in operations), None)
        if operation is None:
            continue
        refreshed = next((step for step in group if step.op == "refresh"), None)
        parsed = parse_urn(urn)
        assert parsed is not None  # load_preview admits only parseable URNs
        drifted.append(
            ResourceDrift(
                urn=urn,
                type=parsed[2],
                name=parsed[3],
                operation=operation,
                steps=tuple(step.op for step in group),
                properties=_merge(_properties(step) for step in program_steps),
                refresh=_finding(refreshed, program_steps) if refreshed else None,
            )
        )
    return tuple(drifted)


def _finding(refreshed: Step, program_steps: Sequence[Step]) -> RefreshFinding | None:
    """What the refresh changed in the state: gone (the state had it, and `pulumi up` creates
    it), or the outputs that differ between the stored state and the refreshed one. None when
    the refresh left it as stored: the change is the program's."""
    if any(step.op == "create" for step in program_steps):
        return RefreshFinding("delete")
    after = next((step.old_outputs for step in program_steps if step.old_outputs is not None), None)
    if refreshed.old_outputs is None or after is None:
        return None
    changes = _output_changes(refreshed.old_outputs, after)
    return RefreshFinding("update", changes) if changes else None


def _output_changes(
    before: Mapping[str, object], after: Mapping[str, object]
) -> tuple[PropertyChange, ...]:
    """Top-level outputs added, deleted or changed, in Pulumi's diff kinds."""
    changes = []
    for key in dict.fromkeys([*before, *after]):
        if key not in before:
            changes.append(PropertyChange(key, "add"))
        elif key not in after:
            changes.append(PropertyChange(key, "delete"))
        elif before[key] != after[key]:
            changes.append(PropertyChange(key, "update"))
    return tuple(changes)


def _properties(step: Step) -> tuple[PropertyChange, ...]:
    """The step's detailedDiff, or its diff/replace reasons when the provider gave none."""
    if step.detailed_diff:
        return step.detailed_diff
    replace = set(step.replace_reasons)
    keys = dict.fromkeys((*step.diff_reasons, *step.replace_reasons))
    return tuple(
        PropertyChange(key, "update-replace" if key in replace else "update") for key in keys
    )


def _merge(groups: Iterable[tuple[PropertyChange, ...]]) -> tuple[PropertyChange, ...]:
    """Each distinct change once: a replacement's steps repeat the same detailedDiff."""
    return tuple(dict.fromkeys(change for changes in groups for change in changes))


def overall_status(results: Sequence[StackDrift]) -> Status:
    """Failure wins over drift, drift over no-change."""
    statuses = {result.status for result in results}
    return "error" if "error" in statuses else "drift" if "drift" in statuses else "no-change"


def exit_code(results: Sequence[StackDrift]) -> int:
    """1 if any stack failed, else 3 if any drifted, else 0."""
    codes = {"error": EXIT_FAILED, "drift": EXIT_DRIFT, "no-change": EXIT_CLEAN}
    return codes[overall_status(results)]
