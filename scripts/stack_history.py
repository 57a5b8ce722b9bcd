"""Git history for scripts/changed-stacks.py: what changed between two commits, and whether a
stack file that went away was retired or renamed on purpose (commit trailers).

Stdlib only, like changed-stacks.py, which uses it; CI runs both before installing anything.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

STACK_FILE = re.compile(r"Pulumi\.(?P<stack>.+)\.yaml", re.DOTALL)
"""A stack's settings file in the repository root; the project file is plain ``Pulumi.yaml``.
Used with ``fullmatch`` only: ``^...$`` with ``match`` accepts a trailing newline, and ``.``
without DOTALL would skip a name with a newline instead of refusing it."""
EXAMPLE_STACKS = frozenset({"example"})
ZERO_SHA = re.compile(r"0+")
RETIRED = re.compile(r"^Retired-Stack:\s*(?P<stack>\S+)\s*$", re.MULTILINE)
RENAMED = re.compile(r"^Renamed-Stack:\s*(?P<old>\S+)\s*->\s*(?P<new>\S+)\s*$", re.MULTILINE)
TENANT_LINE = re.compile(
    r"^\s*azuread:tenantId:\s*['\"]?(?P<tenant>[0-9A-Fa-f-]{36})", re.MULTILINE
)

RUNBOOK = "docs/retirement.md"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _is_commit(root: Path, rev: str) -> bool:
    return _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode == 0


@dataclass(frozen=True)
class Change:
    """One entry of ``git diff --name-status``: A, M, D, T, ... or R (then ``old`` is set)."""

    status: str
    path: str
    old: str | None = None


def changed_entries(root: Path, base: str, head: str, two_dot: bool = False) -> list[Change] | None:
    """What changed from ``base`` to ``head``; None if the base is unusable.

    Compares from the merge base of the two (a pull request: what the branch changed), or
    directly with ``two_dot`` (a push or deploy: what the tenants would see change).
    """
    if not base or ZERO_SHA.fullmatch(base):
        return None
    if not (_is_commit(root, base) and _is_commit(root, head)):
        return None
    spec = f"{base}..{head}" if two_dot else f"{base}...{head}"
    diff = _git(root, "diff", "--name-status", "-M", "-z", spec)
    if diff.returncode:
        return None
    fields = diff.stdout.split("\0")
    changes: list[Change] = []
    index = 0
    while index < len(fields) and fields[index]:
        status = fields[index]
        if status.startswith(("R", "C")):
            old, path = fields[index + 1], fields[index + 2]
            changes.append(Change(status[0], path, old if status[0] == "R" else None))
            index += 3
        else:
            changes.append(Change(status[0], fields[index + 1]))
            index += 2
    return changes


def changed_files(root: Path, base: str, head: str, two_dot: bool = False) -> list[str] | None:
    """Paths changed (a rename counts as both of its paths); None if base is unusable."""
    changes = changed_entries(root, base, head, two_dot)
    if changes is None:
        return None
    return [p for change in changes for p in ((change.old,) if change.old else ()) + (change.path,)]


def acknowledged(root: Path, base: str, head: str) -> tuple[set[str], dict[str, str]]:
    """Stacks retired and renamed (old -> new) by lines in the commit messages base..head."""
    log = _git(root, "log", "--format=%B", f"{base}..{head}")
    text = log.stdout if log.returncode == 0 else ""
    retired = {m.group("stack") for m in RETIRED.finditer(text)}
    renamed = {m.group("old"): m.group("new") for m in RENAMED.finditer(text)}
    return retired, renamed


def _tenant(root: Path, base: str, path: str) -> str:
    shown = _git(root, "show", f"{base}:{path}")
    match = TENANT_LINE.search(shown.stdout) if shown.returncode == 0 else None
    return f"tenant {match.group('tenant')}" if match else "its tenant"


def removal_errors(root: Path, base: str, head: str, changes: Sequence[Change]) -> list[str]:
    """One error per stack file deleted or renamed without the commit line that says why."""
    retired, renamed = acknowledged(root, base, head)
    errors = []
    for change in changes:
        gone = change.old if change.status == "R" else change.path
        if change.status not in ("D", "R") or gone is None or "/" in gone:
            continue
        match = STACK_FILE.fullmatch(gone)
        if not match or match.group("stack") in EXAMPLE_STACKS:
            continue
        stack = match.group("stack")
        tenant = _tenant(root, base, gone)
        if change.status == "R":
            new = STACK_FILE.fullmatch(change.path)
            new_stack = new.group("stack") if new and "/" not in change.path else None
            if new_stack is not None and renamed.get(stack) == new_stack:
                continue
            errors.append(
                f"error: {gone} was renamed to {change.path}: a file name renames no stack. "
                f"Pulumi would look for a stack {new_stack or '(none)'} that does not exist, "
                f"and stack {stack} (the Mimecast app in {tenant}, holding "
                "full_access_as_app) would be left behind. Fix: rename the file back "
                f"(git mv {change.path} {gone}). To rename the stack itself, run "
                f"`pulumi stack rename {new_stack or 'NEW'} --stack {stack}` (it renames the "
                "stack in the backend and its file), then commit with the line "
                f"`Renamed-Stack: {stack} -> {new_stack or 'NEW'}`."
            )
        elif stack not in retired and stack not in renamed:
            errors.append(
                f"error: {gone} was deleted, but stack {stack} still manages the Mimecast app "
                f"in {tenant}, which holds full_access_as_app (every mailbox): deleting the "
                "file does not delete the app, it orphans it. Retire the tenant instead: "
                f"scripts/tenant.py retire {stack} (the runbook in {RUNBOOK}: Mimecast side "
                "first, protect: false, pulumi up, pulumi destroy, the Exchange retire "
                "command, then the file goes) and commit with the line "
                f"`Retired-Stack: {stack}`. To keep the tenant, restore the file: "
                f"git checkout {base} -- {gone}"
            )
    return errors
