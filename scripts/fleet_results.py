"""The results side of scripts/fleet.sh: every shard's results -> one report.

Stdlib only, like fleet.py, which uses it (`fleet.py report`): CI runs both with any
Python 3.11 before installing anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

OK, FAILED, BLOCKED = "ok", "failed", "blocked"
WARNING = "warning"
"""A results.tsv record that is no outcome: one of the stack's own warnings (fleet_gate.py)."""
ORDER: Final = {FAILED: 0, BLOCKED: 1, OK: 2}
"""The job summary's order: what broke, what preflight stopped, then what went through."""


@dataclass(frozen=True)
class Result:
    stack: str
    status: str
    detail: str


def read_results(paths: Sequence[Path]) -> list[Result]:
    """Every `stack<TAB>status<TAB>detail` line of the shards' results.tsv files."""
    results = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                stack, status, detail = [*line.split("\t", 2), "", ""][:3]
                results.append(Result(stack, status, detail))
    return results


VERBS = {"preview": "pulumi preview", "up": "pulumi up --refresh", "drift": "drift preview"}

_MARKDOWN_ACTIVE: Final = re.compile(r"[\\`*_\[\]<>&|~@$]|(?<=[A-Za-z]):(?=//)|(?<=[wW]{3})\.")
"""A copy of association_tools/escape.py's pattern (this script runs before any install);
tests/test_fleet.py pins `markdown_cell` to `md_text`."""
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def markdown_cell(text: str) -> str:
    """Plain text in a table cell: one line, whole, nothing that formats, links or opens
    HTML (association_tools.escape.md_text, without its imports)."""
    flat = "".join(
        char if char.isprintable() else _ESCAPES.get(char) or ascii(char)[1:-1] for char in text
    )
    return _MARKDOWN_ACTIVE.sub(lambda match: "\\" + match.group(), flat)


def render_report(mode: str, expected: Sequence[str], results: Sequence[Result]) -> dict[str, Any]:
    """The consolidated outcome: one entry per expected stack, last result wins, with the
    stack's own warnings; failed first, then blocked, then ok.

    A stack that was expected but has no result (its job died, a step was skipped) is a
    failure: nothing may pass silently.
    """
    outcomes = [result for result in results if result.status != WARNING]
    by_stack = {result.stack: result for result in outcomes}
    warnings: dict[str, list[str]] = {}
    for result in results:
        if result.status == WARNING:
            warnings.setdefault(result.stack, [])
            if result.detail not in warnings[result.stack]:  # a re-run gates it again
                warnings[result.stack].append(result.detail)
    stacks: list[dict[str, Any]] = []
    for stack in sorted(set(expected) | set(by_stack)):
        result = by_stack.get(
            stack, Result(stack, FAILED, "no result: its job or step did not run")
        )
        stacks.append(
            {
                "stack": stack,
                "status": result.status,
                "detail": result.detail,
                "warnings": warnings.get(stack, []),
            }
        )
    stacks.sort(key=lambda entry: ORDER.get(entry["status"], 0))  # stable: by name within
    counts = {
        status: sum(s["status"] == status for s in stacks) for status in (OK, FAILED, BLOCKED)
    }
    return {"mode": mode, "command": VERBS.get(mode, mode), "counts": counts, "stacks": stacks}


SUMMARY_BUDGET = 800_000
"""Characters of logs in one summary: GitHub refuses a step summary over 1 MiB."""


def log_sections(stacks: Sequence[dict[str, Any]], logs: Path) -> str:
    """Each stack's log, cut to its share of the budget, folded under its status."""
    budget = SUMMARY_BUDGET // max(len(stacks), 1)
    parts = []
    for entry in stacks:
        path = logs / f"{entry['stack']}.log"
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")[-budget:]
        text = text.replace("```", "` ``")  # a fence in the log would end ours early
        parts.append(
            f"<details><summary><code>{entry['stack']}</code>: {entry['status']}</summary>"
            f"\n\n```diff\n{text}\n```\n</details>\n"
        )
    return "\n".join(parts)


def _stack(name: str) -> str:
    """A stack name as code; anything but a plain name (none reaches here) as text."""
    return f"`{name}`" if _PLAIN_NAME.fullmatch(name) else markdown_cell(name)


_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_.-]+")


def to_markdown(report: dict[str, Any]) -> str:
    """The job summary: a row per stack that failed, was blocked or has warnings of its own
    (in that order, each "why" whole), then how many others went through."""
    counts = report["counts"]
    lines = [
        f"## {report['command']}: {len(report['stacks'])} stacks, {counts[OK]} ok, "
        f"{counts[FAILED]} failed, {counts[BLOCKED]} blocked by preflight",
        "",
    ]
    shown = [s for s in report["stacks"] if s["status"] != OK or s["warnings"]]
    if shown:
        lines += ["| stack | status | why | warnings |", "|---|---|---|---|"]
        lines += [
            f"| {_stack(s['stack'])} | {markdown_cell(s['status'])} "
            f"| {markdown_cell(s['detail']) or '—'} "
            f"| {'<br>'.join(markdown_cell(w) for w in s['warnings']) or '—'} |"
            for s in shown
        ]
    quiet = len(report["stacks"]) - len(shown)
    if not shown:
        lines.append("Every stack succeeded.")
    elif quiet:
        lines += ["", f"The other {quiet} stacks: ok, without warnings of their own."]
    return "\n".join(lines) + "\n"
