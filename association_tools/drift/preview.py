"""Reading a `pulumi preview --json` document into typed, validated values.

What the input looks like (Pulumi's `ShowPreviewDigest`, pkg/backend/display/json.go, and
`display.PreviewDigest`): one JSON object with `config`, `steps`, `diagnostics`, `duration`,
`changeSummary` and `maybeCorrupt`, each left out when empty. Facts this package relies on:

* Steps are `{op, urn, provider, oldState, newState, diffReasons, replaceReasons, detailedDiff}`;
  `detailedDiff` is null or maps a property path to `{kind, inputDiff}`.
* `same` steps are left out unless `--show-sames`; the root stack's step is always there.
* A replacement is one logical `replace` step; `create-replacement`/`delete-replaced` (and the
  other non-logical replacement steps) appear only with `--show-replacement-steps`, next to it.
* With `pulumi preview --refresh` every resource in the stack's state first gets a `refresh`
  step, and it stays `refresh`: ShowPreviewDigest rewrites one only when its outputs event
  carries update/delete, which the engine sets only for `pulumi refresh` (`isRefresh`,
  pkg/engine/update.go). The event is sent before the read, so the step's `oldState` and
  `newState` are the state as stored before the refresh (with `--run-program`, `newState` is
  the program's goal), and it has no diff. The program's own steps follow, computed against
  the refreshed state: their `oldState` is the state the refresh read from the tenant.
  Default providers' steps are internal and never shown.
* Diagnostics are `{urn, message, severity}` with the "error: " prefix folded into the message.
  Pulumi leaves policy violations out of this document: a mandatory violation shows only as
  the engine's "preview failed" error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from association.redaction import redacted
from association_tools.safe_read import InputError, load_json

URN_PREFIX: Final = "urn:pulumi:"

STEP_OPS: Final = frozenset(
    {"same", "create", "update", "delete", "replace", "read", "refresh", "discard", "import"}
    | {"create-replacement", "delete-replaced", "read-replacement", "discard-replaced"}
    | {"remove-pending-replace", "import-replacement"}
)
"""Every `display.StepOp` a preview shows; a document with any other op is refused, since
the report could not say whether it is drift."""


class PreviewFormatError(InputError):
    """The file is not a `pulumi preview --json` document; the message names the file."""

    def __init__(self, message: str, code: str = "preview-invalid") -> None:
        super().__init__(message)
        self.code = code
        """`preview-empty` (Pulumi stopped before the preview ran) or `preview-invalid`."""


@dataclass(frozen=True)
class PropertyChange:
    """One property that differs: its path, the diff kind, and whether inputs alone differ."""

    path: str
    kind: str
    input_diff: bool = False


@dataclass(frozen=True)
class Step:
    """One step of the preview, reduced to what classification needs."""

    op: str
    urn: str
    diff_reasons: tuple[str, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    detailed_diff: tuple[PropertyChange, ...] = ()
    old_outputs: Mapping[str, Any] | None = None
    """`oldState.outputs`: for a refresh step the state before the refresh, for the program's
    steps the state the refresh read; None when the step has no old state."""


@dataclass(frozen=True)
class Diagnostic:
    """An engine diagnostic (severity error|warning|info|info#err)."""

    severity: str
    message: str
    urn: str | None = None


@dataclass(frozen=True)
class Preview:
    """A validated `pulumi preview --json` document."""

    steps: tuple[Step, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    change_summary: Mapping[str, int] = field(default_factory=dict)
    maybe_corrupt: bool = False


def load_preview(data: bytes, source: str) -> Preview:
    """Parse and validate one document; raise PreviewFormatError naming `source` if unusable."""
    if not data.strip():
        raise PreviewFormatError(
            f"{source} is empty: Pulumi stopped before the preview ran (see its error output)",
            "preview-empty",
        )
    try:
        document = load_json(data, source)  # UTF-8 (with or without BOM), UTF-16 or UTF-32
    except InputError as error:
        raise PreviewFormatError(str(error)) from None
    if not isinstance(document, dict):
        raise _not_preview(source, f"expected a JSON object, found {_json_type(document)}")
    known = ("config", "steps", "diagnostics", "changeSummary")
    if not any(key in document for key in known):
        raise _not_preview(source, f"it has none of the keys {', '.join(known)}")
    steps = tuple(
        _step(item, f"steps[{index}]", source)
        for index, item in enumerate(_list(document, "steps", source))
    )
    diagnostics = tuple(
        _diagnostic(item, f"diagnostics[{index}]", source)
        for index, item in enumerate(_list(document, "diagnostics", source))
    )
    summary = document.get("changeSummary", {})
    if not isinstance(summary, dict) or not all(
        isinstance(count, int) and not isinstance(count, bool) for count in summary.values()
    ):
        raise _not_preview(source, "changeSummary is not a map of counts")
    corrupt = document.get("maybeCorrupt", False)
    if not isinstance(corrupt, bool):
        raise _not_preview(source, "maybeCorrupt is not true or false")
    return Preview(steps, diagnostics, dict(summary), corrupt)


def _not_preview(source: str, why: str) -> PreviewFormatError:
    return PreviewFormatError(f"{source} is not a `pulumi preview --json` document: {why}")


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    return "null" if value is None else names.get(type(value), "a number")


def _list(document: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise _not_preview(source, f"{key} is {_json_type(value)}, not a list")
    return value


def _string(item: Mapping[str, Any], key: str, where: str, source: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise _not_preview(source, f"{where}.{key} is {_json_type(value)}, not a string")
    return value


def _strings(item: Mapping[str, Any], key: str, where: str, source: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise _not_preview(source, f"{where}.{key} is not a list of strings")
    return tuple(value)


def _step(item: object, where: str, source: str) -> Step:
    if not isinstance(item, dict):
        raise _not_preview(source, f"{where} is {_json_type(item)}, not an object")
    op = _string(item, "op", where, source)
    if op not in STEP_OPS:
        raise _not_preview(source, f"{where}.op {op!r} is not a step op this report knows")
    urn = _string(item, "urn", where, source)
    if parse_urn(urn) is None:
        raise _not_preview(source, f"{where}.urn {urn!r} is not a Pulumi URN")
    detailed = item.get("detailedDiff")
    if detailed is None:
        detailed = {}
    if not isinstance(detailed, dict):
        raise _not_preview(source, f"{where}.detailedDiff is {_json_type(detailed)}, not a map")
    changes = []
    for path, diff in detailed.items():
        if not isinstance(diff, dict) or not isinstance(diff.get("kind"), str):
            raise _not_preview(source, f"{where}.detailedDiff[{path!r}] has no kind")
        changes.append(PropertyChange(path, diff["kind"], diff.get("inputDiff") is True))
    return Step(
        op,
        urn,
        _strings(item, "diffReasons", where, source),
        _strings(item, "replaceReasons", where, source),
        tuple(changes),
        _old_outputs(item, where, source),
    )


def _old_outputs(item: Mapping[str, Any], where: str, source: str) -> Mapping[str, Any] | None:
    old_state = item.get("oldState")
    if old_state is None:
        return None
    outputs = old_state.get("outputs", {}) if isinstance(old_state, dict) else None
    if not isinstance(outputs, dict):
        raise _not_preview(source, f"{where}.oldState is not a resource state with outputs")
    return outputs


def _diagnostic(item: object, where: str, source: str) -> Diagnostic:
    if not isinstance(item, dict):
        raise _not_preview(source, f"{where} is {_json_type(item)}, not an object")
    fields = {key: item.get(key, "") for key in ("severity", "message", "urn")}
    for key, value in fields.items():
        if not isinstance(value, str):
            raise _not_preview(source, f"{where}.{key} is {_json_type(value)}, not a string")
    # Pulumi and the provider echo what they were given; a key in a message is never shown.
    message = redacted(fields["message"].rstrip())
    return Diagnostic(fields["severity"], message, fields["urn"] or None)


def parse_urn(urn: str) -> tuple[str, str, str, str] | None:
    """`urn:pulumi:STACK::PROJECT::TYPE::NAME` -> (stack, project, type, name); type is the last
    of a `parent$child` chain. None for anything else."""
    if not urn.startswith(URN_PREFIX):
        return None
    parts = urn[len(URN_PREFIX) :].split("::", 3)
    if len(parts) != 4 or not all(parts[:3]):
        return None
    stack, project, qualified_type, name = parts
    return stack, project, qualified_type.rsplit("$", 1)[-1], name


def urn_stack(preview: Preview) -> str | None:
    """The stack the document's URNs name (all name the same one), None if it has none."""
    urns = [step.urn for step in preview.steps]
    urns += [diagnostic.urn for diagnostic in preview.diagnostics if diagnostic.urn]
    for urn in urns:
        parsed = parse_urn(urn)
        if parsed is not None:
            return parsed[0]
    return None
