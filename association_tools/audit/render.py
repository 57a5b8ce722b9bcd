"""The audit's three forms: a summary for stdout, a GitHub job summary, a JSON document.

Findings quote what the tenant holds (display names, URIs, issuers), which anyone who can edit
the app chose: every such value is escaped, one line on the terminal, inert in Markdown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

from association.problems import Notice
from association.text import visible
from association_tools import jsondoc
from association_tools.audit.compare import SEVERITIES, StackAudit, exit_code, overall_status
from association_tools.escape import md_code, md_text

SCHEMA_VERSION: Final = 2
"""Of the JSON document; raised when a key changes meaning or goes away."""

STATUSES: Final = ("clean", "findings", "error")


def describe(result: StackAudit) -> str:
    """One line: the error, or how many findings of each severity."""
    if result.error:
        return result.error
    if not result.findings:
        return "nothing undeclared"
    counts = Counter(finding.severity for finding in result.findings)
    tally = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if counts[s])
    return f"{len(result.findings)} finding{'s' if len(result.findings) != 1 else ''} ({tally})"


def _requests(result: StackAudit) -> str:
    graph = f"{result.requests} Graph request{'s' if result.requests != 1 else ''}"
    exchange = result.exchange_requests
    if exchange is None:
        return graph
    return f"{graph}, {exchange} Exchange request{'s' if exchange != 1 else ''}"


def render_text(results: Sequence[StackAudit], run_notes: Sequence[Notice] = ()) -> str:
    """The summary printed to stdout: a line per stack, then one per finding, then its notes;
    last what the run did not read (`run_notes`)."""
    lines = []
    for result in results:
        lines.append(
            f"{visible(result.stack)}: {result.status} - {visible(describe(result))} "
            f"[{_requests(result)}]"
        )
        lines += [
            f"  {f.severity:<6}  {f.target}  {f.code}: {visible(f.message)}"
            for f in result.findings
        ]
        lines += [f"  note    {visible(note.message)}" for note in result.notes]
    statuses = Counter(result.status for result in results)
    tally = ", ".join(f"{statuses[s]} {s}" for s in STATUSES if statuses[s])
    lines.append(f"{len(results)} stack{'s' if len(results) != 1 else ''}: {tally}")
    lines += [f"note: {visible(note.message)}" for note in run_notes]
    return "\n".join(lines)


def render_markdown(results: Sequence[StackAudit], run_notes: Sequence[Notice] = ()) -> str:
    """A GitHub job summary: one row per stack, then each stack's notes and its findings."""
    icons = {"clean": "✅", "findings": "🚨", "error": "❌"}
    lines = [
        "## Mimecast association security audit",
        "",
        "| Stack | Tenant | Status | Summary |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {md_code(r.stack)} | {md_code(r.tenant_id or '')} | {icons[r.status]} {r.status} "
        f"| {md_text(describe(r))} |"
        for r in results
    ]
    lines += [f"\n**Note:** {md_text(note.message)}" for note in run_notes]
    for result in results:
        if result.findings or result.notes:
            lines += ["", f"### {md_code(result.stack)}: {md_text(describe(result))}", ""]
            lines += [f"- **Note:** {md_text(note.message)}" for note in result.notes]
        if result.findings:
            lines += [
                *([""] if result.notes else []),
                "| Severity | Object | Code | Finding |",
                "| --- | --- | --- | --- |",
            ]
            lines += [
                f"| {f.severity} | {f.target} | {md_code(f.code)} | {md_text(f.message)} |"
                for f in result.findings
            ]
    return "\n".join(lines) + "\n"


def to_json(results: Sequence[StackAudit], run_notes: Sequence[Notice] = ()) -> str:
    """The machine-readable summary, as jsondoc writes it, ending in a newline."""
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "status": overall_status(results),
        "exitCode": exit_code(results),
        "notes": list(run_notes),
        "stacks": list(results),
    }
    return jsondoc.dumps(document) + "\n"
