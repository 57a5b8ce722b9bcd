"""The resources a preview would change, each once: what `pulumi up` would do, and what the
refresh found changed outside Pulumi.

Drift is read from the program's own steps, which the engine computes against the refreshed
state; a `refresh` step only says that the resource was refreshed, and its old state is the
state as stored before (see `preview`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from association.identifiers import ROOT_STACK_TYPE
from association_tools.drift.preview import PropertyChange, Step, parse_urn

Operation = Literal["create", "update", "replace", "delete"]
RefreshOperation = Literal["update", "delete"]

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

    JSON_PROPERTIES: ClassVar[tuple[str, ...]] = ("code",)
    """Computed from `refresh`, yet part of the JSON document: consumers filter on it."""

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

    @property
    def code(self) -> str:
        """`changed-outside-pulumi`, `deleted-outside-pulumi` (the refresh explains it), or
        `program-change` (code or settings not yet deployed, or a preview without refresh)."""
        if self.refresh is None:
            return "program-change"
        return {"update": "changed-outside-pulumi", "delete": "deleted-outside-pulumi"}[
            self.refresh.operation
        ]


def had_state(steps: Sequence[Step]) -> bool:
    """The stack existed before this preview: its root stack is not being created."""
    return any(_type_of(step.urn) == ROOT_STACK_TYPE and step.op != "create" for step in steps)


def _type_of(urn: str) -> str:
    parsed = parse_urn(urn)
    return parsed[2] if parsed is not None else ""


def drifted_resources(steps: Sequence[Step]) -> tuple[ResourceDrift, ...]:
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
