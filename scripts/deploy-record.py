#!/usr/bin/env python3
"""The deploy record: which commit was last deployed to each stack, kept between runs.

Deploys select, per stack, what changed since the commit last deployed TO THAT STACK,
so one tenant that keeps failing redeploys only itself, not the fleet. The record is
`deploy-bases.json`, written by each deploy run's report job into an artifact of that
run (GitHub: `deploy-bases`; Azure DevOps: inside `up-report-attempt-N`), and read by
the next run's plan from the platform's history of deploy runs on main. Only deploy
runs on main write it: a pull request runs another workflow (or pipeline) and cannot
add an artifact to a deploy run.

  history     deploy runs (the platform's JSON on stdin) -> `base SHA` (newest successful
              run: the fallback for stacks the record does not name) and `run ID` lines
              (newest first) whose artifacts may hold the record
  record-url  a run's artifacts (JSON on stdin) -> the record's download URL, or nothing
  bases       the downloaded artifact (a zip) -> the record, checked, as JSON
  record      the record after this run: each stack that deployed now moves to its commit

Record: {"schemaVersion": 1, "commits": {"<40-hex commit>": ["stack", ...]}}.
Stdlib only, like changed-stacks.py: CI runs it with any Python 3.11 before installing.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""A copy of association_tools/project.py STACK_NAME (pinned by tests/test_fleet.py)."""
COMMIT = re.compile(r"[0-9a-f]{40}")
RECORD_FILE = "deploy-bases.json"
GITHUB_ARTIFACT = "deploy-bases"
ADO_ARTIFACT = re.compile(r"up-report-attempt-(?P<attempt>[1-9][0-9]{0,5})")
MAX_RUNS = 10
"""Runs asked for the record before giving up (each is one API call)."""
MAX_RECORD_BYTES = 1_000_000
"""The record of 300 stacks is about 3 KB; anything near this is not one."""
MAX_ARTIFACT_BYTES = 10_000_000
"""Read at most this much of a downloaded artifact (Azure DevOps zips the whole report)."""


class RecordError(Exception):
    """A record or API answer that cannot be used: exit status 2, with the reason."""


def history(platform: str, document: Any, repository: str, branch: str) -> tuple[str, list[str]]:
    """The newest successful deploy's commit ("" if none) and the runs to ask, newest first.

    GitHub: only push and manual runs of this repository's own `branch` count (a pull
    request from a fork's branch of the same name does not). Azure DevOps: the query
    already asks for `branch`'s builds of this pipeline. Newest = highest run id: a re-run
    of an old run finishes late but keeps its id.
    """
    if platform == "github":
        runs = [
            (int(run["id"]), str(run["head_sha"]), run.get("conclusion") == "success")
            for run in document.get("workflow_runs", [])
            if run.get("event") in ("push", "workflow_dispatch")
            and run.get("head_branch") == branch
            and (run.get("head_repository") or {}).get("full_name") == repository
        ]
    else:
        runs = [
            (int(build["id"]), str(build["sourceVersion"]), build.get("result") == "succeeded")
            for build in document.get("value", [])
        ]
    runs.sort(reverse=True)
    base = next((sha for _, sha, succeeded in runs if succeeded), "")
    return base, [str(run_id) for run_id, _, _ in runs[:MAX_RUNS]]


def record_url(platform: str, document: Any) -> str:
    """Where the record of one run is, "" when that run kept none."""
    if platform == "github":
        for artifact in document.get("artifacts", []):
            if artifact.get("name") == GITHUB_ARTIFACT and not artifact.get("expired"):
                return str(artifact["archive_download_url"])
        return ""
    attempts = [
        (int(match["attempt"]), str(artifact["resource"]["downloadUrl"]))
        for artifact in document.get("value", [])
        if (match := ADO_ARTIFACT.fullmatch(str(artifact.get("name", ""))))
    ]
    return max(attempts)[1] if attempts else ""


def checked_record(document: Any) -> dict[str, list[str]]:
    """The record's commits -> stacks, every name and commit checked, each stack once."""
    if not isinstance(document, dict) or document.get("schemaVersion") != 1:
        raise RecordError("not a deploy record (schemaVersion 1)")
    commits = document.get("commits")
    if not isinstance(commits, dict):
        raise RecordError("the record has no commits")
    seen: set[str] = set()
    for commit, stacks in commits.items():
        if not COMMIT.fullmatch(str(commit)) or not isinstance(stacks, list):
            raise RecordError(f"bad commit in the record: {str(commit)[:60]!r}")
        for stack in stacks:
            if not isinstance(stack, str) or not STACK_NAME.fullmatch(stack) or stack in seen:
                raise RecordError(f"bad or repeated stack in the record: {str(stack)[:60]!r}")
            seen.add(stack)
    return {commit: sorted(stacks) for commit, stacks in sorted(commits.items())}


def read_artifact(data: bytes) -> dict[str, list[str]]:
    """The record inside a downloaded artifact (a zip), or RecordError."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(RECORD_FILE)]
            if len(members) != 1 or members[0].file_size > MAX_RECORD_BYTES:
                raise RecordError(f"the artifact holds no single {RECORD_FILE}")
            text = archive.read(members[0]).decode("utf-8")
    except (zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise RecordError(f"the artifact is no zip with the record: {error}") from None
    try:
        return checked_record(json.loads(text))
    except ValueError as error:
        raise RecordError(f"the record is no JSON: {error}") from None


def advanced(
    previous: Mapping[str, Sequence[str]], head: str, deployed: Sequence[str]
) -> dict[str, list[str]]:
    """The record after a run of `head`: the stacks it deployed move to `head`, the others
    (failed, blocked, not selected) keep the commit they were last deployed at."""
    if not COMMIT.fullmatch(head):
        raise RecordError(f"not a commit: {head[:60]!r}")
    moved = set(deployed)
    commits: dict[str, list[str]] = {}
    for commit, stacks in previous.items():
        kept = [stack for stack in stacks if stack not in moved]
        if kept:
            commits[commit] = kept
    if moved:
        commits[head] = sorted(set(commits.get(head, [])) | moved)
    return checked_record({"schemaVersion": 1, "commits": commits})


def dumps(commits: Mapping[str, Sequence[str]]) -> str:
    """One line: the plan passes the record on as a job output."""
    return json.dumps({"schemaVersion": 1, "commits": commits}, separators=(",", ":"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    history_p = sub.add_parser("history", help="deploy runs on stdin -> base and runs")
    url_p = sub.add_parser("record-url", help="a run's artifacts on stdin -> the record's URL")
    for command in (history_p, url_p):
        command.add_argument("--platform", choices=("github", "ado"), required=True)
    history_p.add_argument("--repository", default="")
    history_p.add_argument("--branch", default="main")
    bases_p = sub.add_parser("bases", help="the downloaded artifact -> the record")
    bases_p.add_argument("artifact", type=Path)
    record_p = sub.add_parser("record", help="the record after this run")
    record_p.add_argument("--previous", default="", help="the record the plan read (JSON)")
    record_p.add_argument("--head", required=True, help="the commit this run deployed")
    record_p.add_argument("--report", type=Path, required=True, help="fleet.json of this run")
    args = parser.parse_args(argv)
    try:
        if args.command == "history":
            base, runs = history(args.platform, json.load(sys.stdin), args.repository, args.branch)
            print("\n".join([f"base {base}", *(f"run {run}" for run in runs)]))
        elif args.command == "record-url":
            print(record_url(args.platform, json.load(sys.stdin)))
        elif args.command == "bases":
            with args.artifact.open("rb") as file:
                data = file.read(MAX_ARTIFACT_BYTES + 1)
            if len(data) > MAX_ARTIFACT_BYTES:
                raise RecordError(f"the artifact is larger than {MAX_ARTIFACT_BYTES} bytes")
            print(dumps(read_artifact(data)))
        else:
            previous = checked_record(json.loads(args.previous)) if args.previous else {}
            report = json.loads(args.report.read_text(encoding="utf-8"))
            deployed = [s["stack"] for s in report["stacks"] if s["status"] == "ok"]
            print(dumps(advanced(previous, args.head, deployed)))
    except (RecordError, ValueError, KeyError, TypeError, OSError) as error:
        print(f"deploy-record: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
