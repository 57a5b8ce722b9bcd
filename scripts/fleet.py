#!/usr/bin/env python3
"""The data side of scripts/fleet.sh: shards, the preflight gate, results, last deploy.

scripts/fleet.sh runs the commands (pulumi, the program's Python); this file does what
needs JSON and is called a few times per job, never once per stack:

  plan         stacks (JSON list on stdin) -> how many shards, as job outputs
  shard        the stacks of shard INDEX of COUNT (round robin over the sorted list)
  gate         preflight's JSON -> one line per stack: ok, or blocked with the reason
  report       every shard's results.tsv -> one Markdown summary, one JSON, the exit status
  last-deploy  the platform's run history (JSON on stdin) -> commit of the last
               successful deploy of main, or nothing

Stdlib only, like changed-stacks.py: CI runs it with any Python 3.11 before installing.
Stack names are data from the repository: anything but a valid Pulumi stack name is
refused, so that names are safe in file names, TSV lines and CI annotations.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""A Pulumi stack name; always used with ``fullmatch`` (``$`` would pass a trailing newline)."""
GITHUB_MATRIX_LIMIT = 256
"""GitHub Actions runs at most 256 jobs per matrix."""

OK, FAILED, BLOCKED = "ok", "failed", "blocked"


class FleetError(Exception):
    """Bad input: the message says what is wrong; exit status 2."""


def checked(stacks: object) -> list[str]:
    """A JSON list of valid stack names, or FleetError."""
    if not isinstance(stacks, list) or not all(isinstance(s, str) for s in stacks):
        raise FleetError("the stack list must be a JSON list of names")
    for stack in stacks:
        if not STACK_NAME.fullmatch(stack):
            raise FleetError(f"{stack!r} is no Pulumi stack name (letters, digits, '-', '_', '.')")
    return list(stacks)


# --- shards --------------------------------------------------------------------------


def shard_count(stacks: int, wanted: int, max_per_shard: int, limit: int) -> int:
    """Shards for `stacks` stacks: `wanted`, more if a shard would exceed `max_per_shard`
    (0: no maximum), never more than there are stacks; FleetError above `limit`."""
    if wanted < 1:
        raise FleetError(f"the shard count must be 1 or more, not {wanted}")
    if stacks == 0:
        return 0
    needed = math.ceil(stacks / max_per_shard) if max_per_shard else 1
    count = min(max(wanted, needed), stacks)
    if count > limit:
        raise FleetError(
            f"{stacks} stacks at most {max_per_shard} per job need {count} jobs, more than "
            f"the {limit} a matrix can run: raise the stacks per job"
        )
    return count


def shard(stacks: Sequence[str], index: int, count: int) -> list[str]:
    """Shard `index` of `count`: every count-th stack of the sorted list, from `index`."""
    if not 0 <= index < count:
        raise FleetError(f"shard index {index} is not in 0..{count - 1}")
    return sorted(stacks)[index::count]


def plan_outputs(stacks: Sequence[str], count: int) -> dict[str, str]:
    """Job outputs, one line each: both platforms' matrix shapes and the stack list."""
    indexes = list(range(count))
    matrix = {f"shard_{i}": {"SHARD_INDEX": str(i)} for i in indexes}
    return {
        "stacks": json.dumps(sorted(stacks), separators=(",", ":")),
        "count": str(len(stacks)),
        "shard_count": str(count),
        "shards": json.dumps(indexes, separators=(",", ":")),
        "matrix": json.dumps(matrix, separators=(",", ":")),
    }


# --- the preflight gate ----------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    stack: str
    status: str
    reason: str


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def gate(stacks: Sequence[str], preflight: str, exit_status: int) -> list[Gate]:
    """Which stacks may run: those preflight reports without errors.

    Preflight exits 1 when some stack has errors, which is expected here; any other
    failure (no JSON, a usage error) blocks every stack of the shard, with the reason.
    """
    try:
        document = json.loads(preflight)
        reports = {str(r["stack"]): list(r.get("errors", [])) for r in document["stacks"]}
    except (ValueError, KeyError, TypeError):
        reason = f"preflight did not run (exit {exit_status}); see the shard's log"
        return [Gate(stack, BLOCKED, reason) for stack in stacks]
    gates = []
    for stack in stacks:
        errors = reports.get(stack)
        if errors is None:
            gates.append(Gate(stack, BLOCKED, "preflight did not report this stack"))
        elif errors:
            gates.append(Gate(stack, BLOCKED, "preflight: " + one_line(str(errors[0]))))
        else:
            gates.append(Gate(stack, OK, ""))
    return gates


# --- results -------------------------------------------------------------------------


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


# --- the last successful deploy ----------------------------------------------------------


def last_deploy(platform: str, document: Any, repository: str, branch: str) -> str:
    """Commit of the newest successful deploy run of `branch`, or "" when there is none.

    GitHub (workflow runs, newest first): only push and manual runs of this repository's
    own branch count; a pull request from a fork's branch of the same name does not.
    Azure DevOps (builds, filtered by the query): the first build's sourceVersion.
    """
    if platform == "github":
        for run in document.get("workflow_runs", []):
            if (
                run.get("conclusion") == "success"
                and run.get("event") in ("push", "workflow_dispatch")
                and run.get("head_branch") == branch
                and (run.get("head_repository") or {}).get("full_name") == repository
            ):
                return str(run["head_sha"])
        return ""
    builds = document.get("value", [])
    return str(builds[0]["sourceVersion"]) if builds else ""


# --- command line --------------------------------------------------------------------


def _stdin_stacks() -> list[str]:
    try:
        return checked(json.loads(sys.stdin.read() or "[]"))
    except ValueError as error:
        raise FleetError(f"the stack list is no JSON: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    plan_p = sub.add_parser("plan", help="shards for the stacks on stdin, as KEY=VALUE lines")
    plan_p.add_argument("--shards", type=int, required=True)
    plan_p.add_argument("--max-per-shard", type=int, default=0)
    plan_p.add_argument("--limit", type=int, default=GITHUB_MATRIX_LIMIT)
    shard_p = sub.add_parser("shard", help="the stacks (JSON on stdin) of one shard")
    shard_p.add_argument("--index", type=int, required=True)
    shard_p.add_argument("--count", type=int, required=True)
    gate_p = sub.add_parser("gate", help="ok/blocked per stack from preflight --json")
    gate_p.add_argument("--preflight", type=Path, required=True)
    gate_p.add_argument("--exit-status", type=int, required=True)
    gate_p.add_argument("stacks", nargs="*")
    report_p = sub.add_parser("report", help="consolidate results.tsv files")
    report_p.add_argument("--mode", required=True, choices=sorted(VERBS))
    report_p.add_argument("--expected", type=Path, help="file with one expected stack a line")
    report_p.add_argument("--markdown", type=Path, required=True)
    report_p.add_argument("--json", type=Path, required=True)
    report_p.add_argument("--logs", type=Path, help="append each stack's log from this folder")
    report_p.add_argument("results", nargs="*", type=Path)
    last_p = sub.add_parser("last-deploy", help="commit of the last successful deploy")
    last_p.add_argument("--platform", choices=("github", "ado"), required=True)
    last_p.add_argument("--repository", default="")
    last_p.add_argument("--branch", default="main")
    args = parser.parse_args(argv)

    try:
        if args.command == "plan":
            stacks = _stdin_stacks()
            count = shard_count(len(stacks), args.shards, args.max_per_shard, args.limit)
            for key, value in plan_outputs(stacks, count).items():
                print(f"{key}={value}")
        elif args.command == "shard":
            sys.stdout.write(
                "".join(f"{s}\n" for s in shard(_stdin_stacks(), args.index, args.count))
            )
        elif args.command == "gate":
            text = args.preflight.read_text(encoding="utf-8") if args.preflight.exists() else ""
            for entry in gate(checked(args.stacks), text, args.exit_status):
                print(f"{entry.stack}\t{entry.status}\t{entry.reason}")
        elif args.command == "report":
            expected = (
                checked(args.expected.read_text(encoding="utf-8").split()) if args.expected else []
            )
            report = render_report(args.mode, expected, read_results(args.results))
            markdown = to_markdown(report)
            if args.logs:
                markdown += "\n" + log_sections(report["stacks"], args.logs)
            args.markdown.write_text(markdown, encoding="utf-8")
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            failed = [s["stack"] for s in report["stacks"] if s["status"] != OK]
            print(" ".join(failed))
            return 1 if failed else 0
        else:
            print(last_deploy(args.platform, json.load(sys.stdin), args.repository, args.branch))
    except FleetError as error:
        print(f"fleet: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
