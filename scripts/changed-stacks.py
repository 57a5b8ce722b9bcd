#!/usr/bin/env python3
"""List the Pulumi stacks (tenants) a git change touches, as a JSON list.

The pipelines preview and deploy only the tenants a change can affect:

* ``Pulumi.<stack>.yaml`` touches that stack. A deleted stack file is an ERROR (exit 1)
  that names the stack, its tenant and the retire runbook: deleting the file does not
  delete the tenant's app, which keeps ``full_access_as_app``, orphaned. The retire
  script (``scripts/tenant.py retire``) removes the file after ``pulumi destroy`` and the
  commit says so with a line ``Retired-Stack: <stack>``, which acknowledges it. A renamed
  stack file is an error too (a file name is no stack name), with the fix: ``pulumi stack
  rename`` and a line ``Renamed-Stack: <old> -> <new>`` in the commit;
* what ``pulumi up`` loads touches every stack: the product (``association/``), its entry
  point ``__main__.py``, ``Pulumi.yaml``, the pinned ``requirements.txt``, the
  certificates (``certs/``) and the policy pack (``policy/``);
* what runs Pulumi in the pipelines (``scripts/``, ``pipelines/``, ``.github/``) touches
  the CANARY stacks (``--canary``, default the first two): a change to the scripts is
  previewed on a few real stacks before it reaches every tenant's deploy;
* what ``pulumi up`` never loads touches none: the operations tools
  (``association_tools/``, which the product never imports), ``.ci/``, ``benchmarks/``,
  ``tests/``, documentation (``docs/`` and any ``*.md``, wherever it is) and developer
  settings;
* any other path touches every stack: an extra no-op preview is cheap, a tenant left
  behind is not.

Comparing: pull requests compare the head with its merge base (what the branch changed);
pushes and deploys compare ``--base`` and ``--head`` directly (``--two-dot``), so a
force-pushed rollback selects what it rolls back. Deploys pass ``--bases``, the deploy
record (scripts/deploy-record.py): each stack is compared from the commit last deployed
to IT, so a stack whose deploy failed is retried by every later run while the others
advance; ``--base`` (the last successful deploy) serves the stacks the record does not
name.

A base that cannot be used (empty, all zeros as on a branch's first push, or missing
from the clone after a force push) also means every stack, for the same reason.

A stack file whose name Pulumi would refuse (stack names are letters, digits, ``-``,
``_`` and ``.``) is an error: names travel into shell commands and CI annotations.

Stdlib only, so a CI job can run it with any Python 3.11 before installing anything.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STACK_FILE = re.compile(r"Pulumi\.(?P<stack>.+)\.yaml", re.DOTALL)
"""A stack's settings file in the repository root; the project file is plain ``Pulumi.yaml``.

This and ``STACK_NAME`` are used with ``fullmatch`` only: ``^...$`` with ``match`` accepts a
trailing newline, and ``.`` without DOTALL would skip a name with a newline instead of
refusing it."""

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""What Pulumi accepts as a stack name (letters, digits, ``-``, ``_``, ``.``): a copy of
association_tools/project.py STACK_NAME (this script runs before any install), pinned
to it by tests/test_changed_stacks.py."""

RETIRED = re.compile(r"^Retired-Stack:\s*(?P<stack>\S+)\s*$", re.MULTILINE)
RENAMED = re.compile(r"^Renamed-Stack:\s*(?P<old>\S+)\s*->\s*(?P<new>\S+)\s*$", re.MULTILINE)
TENANT_LINE = re.compile(
    r"^\s*azuread:tenantId:\s*['\"]?(?P<tenant>[0-9A-Fa-f-]{36})", re.MULTILINE
)

RUNBOOK = 'README.md, "Offboarding a tenant"'

EVERY_STACK_FILES = frozenset({"Pulumi.yaml", "__main__.py", "requirements.txt"})
EVERY_STACK_DIRS = ("association/", "certs/", "policy/")
NO_STACK_FILES = frozenset(
    {
        "pyproject.toml",
        "requirements-dev.txt",
        ".gitignore",
        ".gitattributes",
        ".editorconfig",
    }
)
CANARY_DIRS = ("scripts/", "pipelines/", ".github/")
NO_STACK_DIRS = (
    "association_tools/",
    "benchmarks/",
    "tests/",
    "docs/",
    ".ci/",
)

ALL = "*"
"""Marker returned by :func:`classify` for a path that touches every stack."""
CANARY = "canary"
"""Marker for a path that touches the canary stacks (what runs Pulumi in CI)."""
CANARY_DEFAULT = 2
"""Canary stacks when ``--canary`` names none: the first two, in sorted order."""

ZERO_SHA = re.compile(r"0+")
COMMIT = re.compile(r"[0-9a-f]{40}")


def classify(path: str) -> str | None:
    """Say what one changed path touches: a stack name, ALL, CANARY or None for nothing."""
    if "/" not in path:
        match = STACK_FILE.fullmatch(path)
        if match:
            return match.group("stack")
    name = path.rsplit("/", 1)[-1]
    if name.lower().endswith(".md") or name.upper().startswith("LICENSE"):
        return None
    if path in EVERY_STACK_FILES or path.startswith(EVERY_STACK_DIRS):
        return ALL
    if path.startswith(CANARY_DIRS):
        return CANARY
    if path in NO_STACK_FILES or path.startswith(NO_STACK_DIRS):
        return None
    return ALL


def touched_stacks(
    changed: Iterable[str], stacks: Sequence[str], canary: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Map changed paths to the sorted stacks they touch, with one reason line per decision.

    Only stacks in ``stacks`` (those whose file exists at the head) are returned.
    """
    existing = set(stacks)
    touched: set[str] = set()
    reasons: list[str] = []
    for path in changed:
        target = classify(path)
        if target is None:
            continue
        if target == ALL:
            reasons.append(f"every stack: {path} changed")
            touched |= existing
        elif target == CANARY:
            chosen = sorted(existing & set(canary))
            reasons.append(f"canary stacks {' '.join(chosen) or '(none)'}: {path} changed")
            touched |= set(chosen)
        elif target in existing:
            reasons.append(f"stack {target}: {path} changed")
            touched.add(target)
        else:
            reasons.append(f"no stack: {path} is gone (retired or renamed), nothing to deploy")
    return sorted(touched), reasons


EXAMPLE_STACKS = frozenset({"example"})
"""The shipped demo stack (a placeholder tenant): preflight shows it, pipelines never run it."""


class StackFileError(Exception):
    """A stack file the pipelines must not go past: its message says what to do."""


def discover_stacks(root: Path) -> list[str]:
    """Return the stacks whose ``Pulumi.<stack>.yaml`` is in ``root``, sorted, examples left out.

    Raises StackFileError for a stack file whose name is no valid Pulumi stack name.
    """
    names = []
    for file in root.glob("Pulumi.*.yaml"):
        match = STACK_FILE.fullmatch(file.name)
        if match and file.is_file() and match.group("stack") not in EXAMPLE_STACKS:
            if not STACK_NAME.fullmatch(match.group("stack")):
                raise StackFileError(
                    f"error: {file.name!r} is no stack file Pulumi accepts: stack names are "
                    "letters, digits, '-', '_' and '.'. Rename or remove it."
                )
            names.append(match.group("stack"))
    return sorted(names)


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


def read_bases(path: Path) -> dict[str, str]:
    """The deploy record (scripts/deploy-record.py) as stack -> commit last deployed."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        bases = {
            stack: commit
            for commit, stacks in document["commits"].items()
            for stack in stacks
            if COMMIT.fullmatch(commit) and STACK_NAME.fullmatch(stack)
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise StackFileError(f"error: {path} is no deploy record: {error}") from None
    return bases


@dataclass(frozen=True)
class Selection:
    """How to compare: two-dot or from the merge base, and the canary stacks."""

    two_dot: bool
    canary: tuple[str, ...]


def select(
    root: Path,
    stacks: Sequence[str],
    bases: Mapping[str, str],
    default_base: str,
    head: str,
    options: Selection,
) -> tuple[list[str], list[str], list[str]]:
    """The stacks to run, the reasons and the errors, each stack compared from its own base.

    Stacks that share a base (usually all but a failing few) share one ``git diff``.
    """
    groups: dict[str, list[str]] = {default_base: []}  # deletions are checked from it too
    for stack in stacks:
        groups.setdefault(bases.get(stack, default_base), []).append(stack)
    chosen: set[str] = set()
    reasons: list[str] = []
    errors: list[str] = []
    for base, members in sorted(groups.items()):
        label = f" (from {base[:12]}: {len(members)} stacks)" if len(groups) > 1 else ""
        changes = changed_entries(root, base, head, options.two_dot)
        if changes is None:
            if not members:
                continue
            chosen |= set(members)
            reasons.append(f"every stack{label}: base {base or '(none)'} cannot be compared")
            continue
        errors += [e for e in removal_errors(root, base, head, changes) if e not in errors]
        paths = [p for c in changes for p in ((c.old,) if c.old else ()) + (c.path,)]
        touched, why = touched_stacks(paths, members, options.canary)
        chosen |= set(touched)
        reasons += [f"{reason}{label}" for reason in why]
    return sorted(chosen), reasons, errors


def render(stacks: Sequence[str]) -> str:
    """A JSON list on one line, as GITHUB_OUTPUT and ##vso[task.setvariable] need."""
    return json.dumps(list(stacks), separators=(",", ":"))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the touched stacks as JSON on stdout and the reasons on stderr.

    Exit status 1 (nothing on stdout) for a stack file deleted or renamed without the
    commit line that says why, for an invalid stack name and for an unreadable record.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="commit the change starts from")
    parser.add_argument("--head", default="HEAD", help="commit the change ends at")
    parser.add_argument("--all", action="store_true", help="every stack, whatever changed")
    parser.add_argument(
        "--two-dot",
        action="store_true",
        help="compare base and head directly (pushes, deploys), not from their merge base",
    )
    parser.add_argument(
        "--bases",
        type=Path,
        metavar="FILE",
        help="the deploy record: compare each stack it names from its own last deployed commit",
    )
    parser.add_argument(
        "--canary",
        default="",
        metavar="STACKS",
        help="stacks (comma or space separated) that changes to the CI scripts touch; "
        f"default: the first {CANARY_DEFAULT}",
    )
    parser.add_argument("--root", type=Path, default=Path(), help="repository root")
    args = parser.parse_args(argv)

    try:
        stacks = discover_stacks(args.root)
        bases = read_bases(args.bases) if args.bases else {}
    except StackFileError as error:
        print(error, file=sys.stderr)
        return 1
    canary = tuple(args.canary.replace(",", " ").split()) or tuple(stacks[:CANARY_DEFAULT])
    if args.all:
        chosen, reasons = stacks, ["every stack: requested with --all"]
    else:
        options = Selection(args.two_dot, canary)
        chosen, reasons, errors = select(args.root, stacks, bases, args.base, args.head, options)
        if errors:
            print("\n".join(errors), file=sys.stderr)
            return 1
    for reason in reasons:
        print(reason, file=sys.stderr)
    print(f"{len(chosen)} of {len(stacks)} stacks touched", file=sys.stderr)
    print(render(chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
