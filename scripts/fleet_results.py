"""The results side of scripts/fleet.sh: every shard's results -> one report.

Stdlib only, like fleet.py, which uses it (`fleet.py report`): CI runs both with any
Python 3.11 before installing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OK, FAILED, BLOCKED = "ok", "failed", "blocked"


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


def markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def render_report(mode: str, expected: Sequence[str], results: Sequence[Result]) -> dict[str, Any]:
    """The consolidated outcome: one entry per expected stack, last result wins.

    A stack that was expected but has no result (its job died, a step was skipped) is a
    failure: nothing may pass silently.
    """
    by_stack = {result.stack: result for result in results}
    stacks = []
    for stack in sorted(set(expected) | set(by_stack)):
        result = by_stack.get(
            stack, Result(stack, FAILED, "no result: its job or step did not run")
        )
        stacks.append({"stack": stack, "status": result.status, "detail": result.detail})
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


def to_markdown(report: dict[str, Any]) -> str:
    counts = report["counts"]
    lines = [
        f"## {report['command']}: {len(report['stacks'])} stacks, {counts[OK]} ok, "
        f"{counts[FAILED]} failed, {counts[BLOCKED]} blocked by preflight",
        "",
    ]
    bad = [s for s in report["stacks"] if s["status"] != OK]
    if bad:
        lines += ["| stack | status | why |", "|---|---|---|"]
        lines += [f"| `{s['stack']}` | {s['status']} | {markdown_cell(s['detail'])} |" for s in bad]
    else:
        lines.append("Every stack succeeded.")
    return "\n".join(lines) + "\n"
