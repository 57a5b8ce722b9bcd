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
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stack_history import (  # beside this file: Python puts the script's folder on sys.path
    EXAMPLE_STACKS,
    STACK_FILE,
    changed_entries,
    removal_errors,
)

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""What Pulumi accepts as a stack name (letters, digits, ``-``, ``_``, ``.``): a copy of
association_tools/project.py STACK_NAME (this script runs before any install), pinned
to it by tests/test_changed_stacks.py."""

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
