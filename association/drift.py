"""Drift report: classify `pulumi preview --json` output, one file per tenant stack.

Usage: `python -m association drift PREVIEW.json ... [--markdown FILE] [--json FILE]
[--stack NAME]`. Run the previews with `--refresh` so that changes made in the tenant (the
portal, Graph, another tool) show up, not only what the program would change.

Each stack is `no-change`, `drift` or `error`. Exit status: 0 every stack clean, 3 some stack
drifted (none failed), 1 some stack failed (failure wins over drift), 2 usage error (bad
arguments, a PREVIEW file or an output FILE that cannot be read or written).

What the input looks like (Pulumi's `ShowPreviewDigest`, pkg/backend/display/json.go, and
`display.PreviewDigest`): one JSON object with `config`, `steps`, `diagnostics`, `duration`,
`changeSummary` and `maybeCorrupt`, each left out when empty. Facts this module relies on:

* Steps are `{op, urn, provider, oldState, newState, diffReasons, replaceReasons, detailedDiff}`;
  `detailedDiff` is null or maps a property path to `{kind, inputDiff}`.
* `same` steps are left out unless `--show-sames`; the root stack's step is always there.
* A replacement is one logical `replace` step; `create-replacement`/`delete-replaced` (and the
  other non-logical replacement steps) appear only with `--show-replacement-steps`, next to it.
* With `--refresh` each refreshed resource has a `refresh` step, rewritten to `update` (with a
  detailedDiff) or `delete` when the refresh found the resource changed or gone; the program's
  own step for the same URN follows. Legacy refresh diffs (no detailedDiff) stay `refresh`, so
  then only the program's step tells of the change.
* Diagnostics are `{urn, message, severity}` with the "error: " prefix folded into the message.
  Pulumi leaves policy violations out of this document: a mandatory violation shows only as
  the engine's "preview failed" error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

Status = Literal["no-change", "drift", "error"]
ErrorKind = Literal["authentication", "policy violation", "other"]
Operation = Literal["create", "update", "replace", "delete"]
RefreshOperation = Literal["update", "delete"]

EXIT_CLEAN: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_DRIFT: Final = 3

PROG: Final = "python -m association drift"
ROOT_STACK_TYPE: Final = "pulumi:pulumi:Stack"
URN_PREFIX: Final = "urn:pulumi:"

PROGRAM_OPERATIONS: Final[Mapping[str, Operation | None]] = {
    # Nothing for `pulumi up` to do. Reads (and discarding them) only track resources the
    # program looks up, never writes; a refresh step is the refresh's finding, handled apart.
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
"""Every `display.StepOp` a preview shows, and what `pulumi up` would do to the resource."""

OPERATION_ORDER: Final[tuple[Operation, ...]] = ("replace", "create", "delete", "update")
"""The weightiest operation names a resource whose steps differ (replace steps come in sets)."""

STATE_ONLY_OPS: Final = frozenset({"import", "import-replacement", "remove-pending-replace"})
"""Ops that adopt or drop a resource in the stack's state without creating or deleting it in the
tenant; the Markdown names them next to the operation they count as."""

REFRESH_OPS: Final = frozenset({"refresh", "update", "delete"})
"""Ops a refresh step can carry in the document (refresh, or rewritten to update/delete)."""

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
TABLE_LIMIT: Final = 160
"""Characters of an error shown in the Markdown table; its section below has the whole text."""
CORRUPT_MESSAGE: Final = (
    "Pulumi reported maybeCorrupt: an operation ended in an unknown state, so the stack's "
    "state may not match the tenant. Run `pulumi refresh` for this stack."
)


class PreviewFormatError(ValueError):
    """The file is not a `pulumi preview --json` document; the message names the file."""


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


@dataclass(frozen=True)
class RefreshFinding:
    """What the refresh found in the tenant: the resource changed (update) or gone (delete)."""

    operation: RefreshOperation
    properties: tuple[PropertyChange, ...] = ()


@dataclass(frozen=True)
class ResourceDrift:
    """One resource that drifted, reported once however many steps name it."""

    urn: str
    type: str
    name: str
    operation: Operation | None
    """What `pulumi up` would do; None when only the refresh found something."""
    steps: tuple[str, ...]
    properties: tuple[PropertyChange, ...] = ()
    refresh: RefreshFinding | None = None


@dataclass(frozen=True)
class StackError:
    """An error diagnostic (or an unusable file), with its kind."""

    kind: ErrorKind
    message: str
    urn: str | None = None


@dataclass(frozen=True)
class StackDrift:
    """The verdict for one stack."""

    stack: str
    source: str
    status: Status
    resources: tuple[ResourceDrift, ...] = ()
    errors: tuple[StackError, ...] = ()
    maybe_corrupt: bool = False
    change_summary: Mapping[str, int] = field(default_factory=dict)
    note: str | None = None

    @property
    def error_kind(self) -> ErrorKind | None:
        """The most telling kind among the errors, None without errors."""
        kinds = {error.kind for error in self.errors}
        return next((kind for kind in KIND_ORDER if kind in kinds), None)


# --- reading -------------------------------------------------------------------------------


def load_preview(data: bytes, source: str) -> Preview:
    """Parse and validate one document; raise PreviewFormatError naming `source` if unusable."""
    if not data.strip():
        raise PreviewFormatError(
            f"{source} is empty: Pulumi stopped before the preview ran (see its error output)"
        )
    try:
        document = json.loads(data)  # bytes: UTF-8 (with or without BOM), UTF-16 or UTF-32
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PreviewFormatError(f"{source} is not valid JSON: {error}") from None
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
    if op not in PROGRAM_OPERATIONS:
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
    )


def _diagnostic(item: object, where: str, source: str) -> Diagnostic:
    if not isinstance(item, dict):
        raise _not_preview(source, f"{where} is {_json_type(item)}, not an object")
    fields = {key: item.get(key, "") for key in ("severity", "message", "urn")}
    for key, value in fields.items():
        if not isinstance(value, str):
            raise _not_preview(source, f"{where}.{key} is {_json_type(value)}, not a string")
    return Diagnostic(fields["severity"], fields["message"].rstrip(), fields["urn"] or None)


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


def _type_of(urn: str) -> str:
    parsed = parse_urn(urn)
    return parsed[2] if parsed is not None else ""


# --- classifying ---------------------------------------------------------------------------


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
    return StackDrift(
        stack,
        source,
        status,
        resources,
        tuple(errors),
        document.maybe_corrupt,
        dict(document.change_summary),
        note,
    )


def unreadable(stack: str, source: str, message: str) -> StackDrift:
    """The verdict for a file that is not a usable preview document."""
    return StackDrift(stack, source, "error", errors=(StackError("other", message),))


def error_kind(message: str) -> ErrorKind:
    """Classify one error message by ERROR_PATTERNS."""
    for kind, pattern in ERROR_PATTERNS:
        if pattern.search(message):
            return kind
    return "other"


def _resources(steps: Sequence[Step]) -> tuple[ResourceDrift, ...]:
    """Group steps by URN (root stack left out: its changes are stack outputs, not the tenant)
    and report each drifted resource once, with the refresh's finding and the program's plan."""
    refreshed = any(step.op == "refresh" for step in steps)
    groups: dict[str, list[Step]] = {}
    for step in steps:
        if _type_of(step.urn) != ROOT_STACK_TYPE:
            groups.setdefault(step.urn, []).append(step)
    drifted = []
    for urn, group in groups.items():
        refresh_step = group[0] if refreshed and group[0].op in REFRESH_OPS else None
        program_steps = group[1:] if refresh_step is not None else group
        finding = _finding(refresh_step) if refresh_step is not None else None
        operations = {PROGRAM_OPERATIONS[step.op] for step in program_steps}
        operation = next((op for op in OPERATION_ORDER if op in operations), None)
        if finding is None and operation is None:
            continue
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
                refresh=finding,
            )
        )
    return tuple(drifted)


def _finding(step: Step) -> RefreshFinding | None:
    if step.op == "update":
        return RefreshFinding("update", _properties(step))
    if step.op == "delete":
        return RefreshFinding("delete")
    return None


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


# --- rendering -----------------------------------------------------------------------------


def describe(result: StackDrift, limit: int | None = None) -> str:
    """One line on what changed or failed, for stdout and (cut to `limit`) the summary table."""
    if result.status == "error":
        error = next(error for error in result.errors if error.kind == result.error_kind)
        others = [
            other
            for other in result.errors
            if other is not error and not GENERIC_FAILURE.match(other.message)
        ]
        return _headline(error, limit) + (f" (+{len(others)} more)" if others else "")
    if result.status == "no-change":
        return "no changes"
    count = len(result.resources)
    parts = [f"{count} resource" + ("s" if count != 1 else "")]
    found = Counter(resource.refresh.operation for resource in result.resources if resource.refresh)
    if found:
        words = {"update": "changed", "delete": "deleted"}
        parts.append("outside Pulumi: " + _counts({words[op]: n for op, n in found.items()}))
    planned = Counter[str](
        resource.operation for resource in result.resources if resource.operation
    )
    if planned:
        parts.append("pulumi up: " + _counts(planned))
    return "; ".join(parts)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {word}" for word, count in counts.items())


def _headline(error: StackError, limit: int | None) -> str:
    """The line of the message that says most, cut to `limit` around where it matched.

    That is the first line matching its kind; else the first numbered problem of a list
    (the program's refusal opens with a heading, its problems follow as `1. ...`); else
    the first line.
    """
    lines = [line.strip().removeprefix("error: ") for line in error.message.splitlines()]
    lines = [line for line in lines if line] or ["(empty message)"]
    patterns = [pattern for kind, pattern in ERROR_PATTERNS if kind == error.kind]
    numbered = [line for line in lines if re.match(r"\d+\. ", line)]
    line, at = (numbered or lines)[0], 0
    for candidate in lines:
        starts = [match.start() for p in patterns if (match := p.search(candidate))]
        if starts:
            line, at = candidate, min(starts)
            break
    if limit is None or len(line) <= limit:
        return line
    start = max(0, at - limit // 3)
    text = ("…" if start else "") + line[start:]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_text(results: Sequence[StackDrift]) -> str:
    """The short summary printed to stdout."""
    lines = []
    for result in results:
        lines.append(f"{result.stack}: {_status_label(result)} - {describe(result)}")
        if result.note:
            lines.append(f"  {result.note}")
    statuses = Counter(result.status for result in results)
    tally = ", ".join(f"{statuses[s]} {s}" for s in ("no-change", "drift", "error") if statuses[s])
    stacks = f"{len(results)} stack" + ("s" if len(results) != 1 else "")
    lines.append(f"{stacks}: {tally}")
    return "\n".join(lines)


def _status_label(result: StackDrift) -> str:
    return f"error ({result.error_kind})" if result.status == "error" else result.status


def render_markdown(results: Sequence[StackDrift]) -> str:
    """A GitHub job summary: one table row per stack, then a section per drifted/failed one."""
    icons = {"no-change": "✅", "drift": "⚠️", "error": "❌"}
    lines = [
        "## Mimecast association drift report",
        "",
        "| Stack | Status | Changes |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {_code(r.stack)} | {icons[r.status]} {_status_label(r)} "
        f"| {_cell(describe(r, TABLE_LIMIT))} |"
        for r in results
    ]
    for result in results:
        if result.status != "no-change":
            lines += ["", *_markdown_section(result)]
    return "\n".join(lines) + "\n"


def _markdown_section(result: StackDrift) -> list[str]:
    lines = [
        f"### {_code(result.stack)}: {_status_label(result)}",
        "",
        f"From {_code(result.source)}.",
    ]
    if result.note:
        lines += ["", f"> {result.note}"]
    if result.resources:
        lines += [
            "",
            "| Resource | Type | Changed outside Pulumi (refresh) | `pulumi up` would "
            "| Properties |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_markdown_resource(resource) for resource in result.resources]
    for error in result.errors:
        where = f" on {_code(error.urn)}" if error.urn else ""
        fence = "`" * max(3, _longest_backtick_run(error.message) + 1)
        lines += ["", f"**{error.kind}**{where}:", "", f"{fence}text", error.message, fence]
    return lines


def _markdown_resource(resource: ResourceDrift) -> str:
    found = "—"
    if resource.refresh is not None:
        found = {"update": "changed", "delete": "deleted"}[resource.refresh.operation]
    properties = []
    if resource.refresh is not None and resource.refresh.properties:
        properties.append("refresh: " + _property_list(resource.refresh.properties))
    if resource.properties:
        properties.append("up: " + _property_list(resource.properties))
    operation: str = resource.operation or "—"
    state_only = [op for op in dict.fromkeys(resource.steps) if op in STATE_ONLY_OPS]
    if state_only:
        operation += f" ({', '.join(state_only)})"
    return (
        f"| {_code(resource.name)}<br>{_code(resource.urn)} | {_code(resource.type)} | {found} "
        f"| {operation} | {'<br>'.join(properties) or '—'} |"
    )


def _property_list(changes: Sequence[PropertyChange]) -> str:
    return ", ".join(f"{_code(change.path)} ({change.kind})" for change in changes)


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def to_json(results: Sequence[StackDrift]) -> str:
    """The machine-readable summary (schemaVersion 1)."""
    document = {
        "schemaVersion": 1,
        "status": overall_status(results),
        "exitCode": exit_code(results),
        "stacks": [_stack_json(result) for result in results],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _stack_json(result: StackDrift) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "source": result.source,
        "status": result.status,
        "errorKind": result.error_kind,
        "maybeCorrupt": result.maybe_corrupt,
        "changeSummary": dict(result.change_summary),
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "operation": resource.operation,
                "steps": list(resource.steps),
                "properties": _properties_json(resource.properties),
                "refresh": None
                if resource.refresh is None
                else {
                    "operation": resource.refresh.operation,
                    "properties": _properties_json(resource.refresh.properties),
                },
            }
            for resource in result.resources
        ],
        "errors": [
            {"kind": error.kind, "message": error.message, "urn": error.urn}
            for error in result.errors
        ],
        "note": result.note,
    }


def _properties_json(changes: Sequence[PropertyChange]) -> list[dict[str, Any]]:
    return [
        {"path": change.path, "kind": change.kind, "inputDiff": change.input_diff}
        for change in changes
    ]


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status instead of exiting."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify `pulumi preview --refresh --json` output per stack as no-change, "
        "drift or error. Exit status: 0 clean, 3 drift, 1 error (wins over drift), 2 usage.",
    )
    parser.add_argument(
        "previews", nargs="+", type=Path, metavar="PREVIEW.json", help="one file per stack"
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown summary")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write a JSON summary")
    parser.add_argument(
        "--stack", metavar="NAME", help="stack name for a single PREVIEW file (default: its URNs)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 after --help
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.stack is not None and len(args.previews) > 1:
        return _usage_error(parser, "--stack names one stack: give it a single PREVIEW file")
    inputs = []
    for path in args.previews:
        try:
            inputs.append((path, path.read_bytes()))
        except OSError as error:
            return _usage_error(parser, f"cannot read {path}: {error.strerror or error}")
    results = [_report(path, data, args.stack) for path, data in inputs]
    outputs = [(args.markdown, render_markdown), (args.json, to_json)]
    for target, render in outputs:
        if target is not None:
            try:
                target.write_text(render(results), encoding="utf-8")
            except OSError as error:
                return _usage_error(parser, f"cannot write {target}: {error.strerror or error}")
    print(render_text(results))
    return exit_code(results)


def _report(path: Path, data: bytes, stack: str | None) -> StackDrift:
    try:
        preview = load_preview(data, str(path))
    except PreviewFormatError as error:
        return unreadable(stack or path.stem, str(path), str(error))
    return classify(preview, stack or urn_stack(preview) or path.stem, source=str(path))


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE
