#!/usr/bin/env python3
"""The data side of scripts/fleet.sh: shards, the preflight gate, results, re-runs.

scripts/fleet.sh runs the commands (pulumi, the program's Python); this file does what
needs JSON and is called a few times per job, never once per stack:

  plan         stacks (JSON list on stdin) -> how many shards, as job outputs
  shard        the stacks of shard INDEX of COUNT (round robin over the sorted list)
  gate         preflight's JSON -> a line per stack (ok, or blocked with the reason) and
               per warning of its own (fleet_gate.py)
  report       every shard's results.tsv -> one Markdown summary, one JSON, the exit status
  stale        refuse a deploy whose commit is not the branch's tip (a re-run of an old run)
  latest       the shards' artifact folders, only the latest attempt of each
  audit-merge  the audit's JSON of each chunk -> one audit JSON and its exit status
  token-life   seconds a federated token (a JWT, on stdin) still lives

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
import time
from collections.abc import Sequence
from pathlib import Path

# Beside this file: Python puts the script's folder on sys.path.
from fleet_gate import gate
from fleet_guard import new_application
from fleet_results import OK, VERBS, log_sections, read_results, render_report, to_markdown
from fleet_runs import FleetError, latest_attempts, merge_audits, stale_reason, token_life

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""A Pulumi stack name; always used with ``fullmatch`` (``$`` would pass a trailing newline).
A copy of association_tools/project.py STACK_NAME (this script runs before any install);
tests/test_fleet.py pins the two together."""
GITHUB_MATRIX_LIMIT = 256
"""GitHub Actions runs at most 256 jobs per matrix."""


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


# --- command line --------------------------------------------------------------------


MAX_JSON_BYTES = 32 * 1024 * 1024
"""A preview or outputs file of one stack is tens of kilobytes."""


def _bounded(path: Path) -> str:
    """A file pulumi wrote, read bounded; a missing or oversized one reads as nothing."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_JSON_BYTES + 1)
    except OSError:
        return ""
    return "" if len(data) > MAX_JSON_BYTES else data.decode("utf-8", "replace")


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
    stale_p = sub.add_parser("stale", help="exit 1 unless HEAD is the branch's tip")
    stale_p.add_argument("--head", required=True)
    stale_p.add_argument("--tip", required=True)
    stale_p.add_argument("--branch", default="main")
    latest_p = sub.add_parser("latest", help="the latest attempt of each shard's folder")
    latest_p.add_argument("folders", nargs="*")
    merge_p = sub.add_parser("audit-merge", help="the chunks' audit JSON as one")
    merge_p.add_argument("--json", type=Path, required=True)
    merge_p.add_argument("parts", nargs="*", type=Path)
    sub.add_parser("token-life", help="seconds the JWT on stdin still lives")
    new_p = sub.add_parser("new-application", help="exit 1 if up would replace the app")
    new_p.add_argument("--stack", required=True)
    new_p.add_argument("--outputs", type=Path, required=True)
    new_p.add_argument("--preview", type=Path)
    new_p.add_argument("--allow", default="", help="stacks allowed a new application")
    new_p.add_argument("--preview-status", type=int, default=0, help="the preview's exit status")
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
                print("\n".join(entry.records()))
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
        elif args.command == "stale":
            reason = stale_reason(args.head, args.tip, args.branch)
            if reason:
                print(reason)
                return 1
        elif args.command == "latest":
            sys.stdout.write("".join(f"{folder}\n" for folder in latest_attempts(args.folders)))
        elif args.command == "audit-merge":
            try:
                parts = [json.loads(p.read_text(encoding="utf-8")) for p in args.parts]
                merged = merge_audits(parts)
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise FleetError(f"an audit chunk wrote no readable JSON: {error}") from None
            args.json.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
            return int(merged["exitCode"])
        elif args.command == "new-application":
            reason = new_application(
                args.stack,
                _bounded(args.outputs),
                _bounded(args.preview) if args.preview else "",
                args.allow.split(),
                args.preview_status,
            )
            if reason:
                print(f"fleet: {args.stack}: {reason}")
                return 1
        else:
            print(token_life(sys.stdin.read(1_000_000), time.time()))
    except FleetError as error:
        print(f"fleet: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
