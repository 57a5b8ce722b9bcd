"""The report's three forms: a summary for stdout, a GitHub job summary, a JSON document.

Every value from the preview (names, URNs, messages, the file's path) goes through `escape`:
one line on the terminal, inert text or code in Markdown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final

from association.text import visible
from association_tools import jsondoc
from association_tools.drift.classify import NOT_REFRESHED, StackDrift, exit_code, overall_status
from association_tools.drift.errors import (
    ERROR_PATTERNS,
    GENERIC_FAILURE,
    StackError,
    refusal_items,
)
from association_tools.drift.preview import PropertyChange
from association_tools.drift.resources import STATE_ONLY_OPS, ResourceDrift
from association_tools.escape import md_code, md_fence, md_text

SCHEMA_VERSION: Final = 2
"""Of the JSON document; raised when a key changes meaning or goes away (2: `note` became
`{code, message}`)."""

TABLE_LIMIT: Final = 160
"""Characters of an error shown in the Markdown table; its section below has the whole text."""


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
        return "no changes" + (" (not refreshed)" if result.note == NOT_REFRESHED else "")
    count = len(result.resources)
    parts = [f"{count} resource" + ("s" if count != 1 else "")]
    found = Counter(resource.refresh.operation for resource in result.resources if resource.refresh)
    if found:
        words = {"update": "changed", "delete": "deleted"}
        parts.append("outside Pulumi: " + _counts({words[op]: n for op, n in found.items()}))
    parts.append("pulumi up: " + _counts(Counter(r.operation for r in result.resources)))
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
    numbered = refusal_items("\n".join(lines))
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


STATUS_ORDER: Final = {"error": 0, "drift": 1, "no-change": 2}
"""Stdout's order: what failed, then what drifted, then the clean stacks (each in input order)."""


def render_text(results: Sequence[StackDrift]) -> str:
    """The short summary printed to stdout: a line per stack, worst first, and under each
    drifted one a line per resource that drifted."""
    lines = []
    for result in sorted(results, key=lambda r: STATUS_ORDER[r.status]):
        lines.append(
            f"{visible(result.stack)}: {_status_label(result)} - {visible(describe(result))}"
        )
        if result.note:
            lines.append(f"  {result.note.message}")
        lines.extend(f"  {visible(_resource_line(resource))}" for resource in result.resources)
    statuses = Counter(result.status for result in results)
    tally = ", ".join(f"{statuses[s]} {s}" for s in ("no-change", "drift", "error") if statuses[s])
    stacks = f"{len(results)} stack" + ("s" if len(results) != 1 else "")
    lines.append(f"{stacks}: {tally}")
    return "\n".join(lines)


def _resource_line(resource: ResourceDrift) -> str:
    """`update mimecast (azuread:index/application:Application) - changed outside Pulumi:
    owners; pulumi up changes: owners[1] (delete)`."""
    line = f"{resource.operation} {resource.name} ({resource.type})"
    if resource.refresh is not None:
        found = {"update": "changed", "delete": "deleted"}[resource.refresh.operation]
        line += f" - {found} outside Pulumi"
        if resource.refresh.properties:
            line += ": " + ", ".join(change.path for change in resource.refresh.properties)
    if resource.properties:
        changes = ", ".join(f"{change.path} ({change.kind})" for change in resource.properties)
        line += f"; pulumi up changes: {changes}"
    return line


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
        f"| {md_code(r.stack)} | {icons[r.status]} {_status_label(r)} "
        f"| {md_text(describe(r, TABLE_LIMIT))} |"
        for r in results
    ]
    for result in results:
        if result.status != "no-change":
            lines += ["", *_markdown_section(result)]
    return "\n".join(lines) + "\n"


def _markdown_section(result: StackDrift) -> list[str]:
    lines = [
        f"### {md_code(result.stack)}: {_status_label(result)}",
        "",
        f"From {md_code(result.source)}.",
    ]
    if result.note:
        lines += ["", f"> {result.note.message}"]
    if result.resources:
        lines += [
            "",
            "| Resource | Type | Changed outside Pulumi (refresh) | `pulumi up` would "
            "| Properties |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [_markdown_resource(resource) for resource in result.resources]
    for error in result.errors:
        where = f" on {md_code(error.urn)}" if error.urn else ""
        lines += ["", f"**{error.kind}**{where}:", "", *md_fence(error.message)]
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
    operation: str = resource.operation
    state_only = [op for op in dict.fromkeys(resource.steps) if op in STATE_ONLY_OPS]
    if state_only:
        operation += f" ({', '.join(state_only)})"
    return (
        f"| {md_code(resource.name)}<br>{md_code(resource.urn)} | {md_code(resource.type)} "
        f"| {found} "
        f"| {operation} | {'<br>'.join(properties) or '—'} |"
    )


def _property_list(changes: Sequence[PropertyChange]) -> str:
    return ", ".join(f"{md_code(change.path)} ({change.kind})" for change in changes)


def to_json(results: Sequence[StackDrift]) -> str:
    """The machine-readable summary: each stack's verdict as jsondoc writes it, ending in a
    newline like any text file."""
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "status": overall_status(results),
        "exitCode": exit_code(results),
        "stacks": list(results),
    }
    return jsondoc.dumps(document) + "\n"
