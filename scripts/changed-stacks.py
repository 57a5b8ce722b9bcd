#!/usr/bin/env python3
"""List the Pulumi stacks (tenants) a git change touches, as JSON for a CI matrix.

The pipelines preview and deploy only the tenants a change can affect:

* ``Pulumi.<stack>.yaml`` touches that stack (a deleted stack file touches nothing:
  removing a tenant is a deliberate ``pulumi destroy``, never a side effect of a merge);
* what ``pulumi up`` loads touches every stack: the product (``association/``), its entry
  point ``__main__.py``, ``Pulumi.yaml``, the pinned ``requirements.txt``, the
  certificates (``certs/``) and the policy pack (``policy/``);
* what ``pulumi up`` never loads touches none: the operations tools
  (``association_tools/``, which the product never imports), the CI (``scripts/``,
  ``pipelines/``, ``.github/``, ``.ci/``), ``benchmarks/``, ``tests/``, documentation
  (``docs/`` and any ``*.md``, wherever it is) and developer settings;
* any other path touches every stack: an extra no-op preview is cheap, a tenant left
  behind is not.

A base that cannot be used (empty, all zeros as on a branch's first push, or missing
from the clone after a force push) also means every stack, for the same reason.

Stdlib only, so a CI job can run it with any Python 3.11 before installing anything.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>.+)\.yaml$")
"""A stack's settings file in the repository root; the project file is plain ``Pulumi.yaml``."""

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
NO_STACK_DIRS = (
    "association_tools/",
    "scripts/",
    "pipelines/",
    ".github/",
    "benchmarks/",
    "tests/",
    "docs/",
    ".ci/",
)

ALL = "*"
"""Marker returned by :func:`classify` for a path that touches every stack."""

ZERO_SHA = re.compile(r"^0+$")


def classify(path: str) -> str | None:
    """Say what one changed path touches: a stack name, ALL, or None for nothing."""
    if "/" not in path:
        match = STACK_FILE.match(path)
        if match:
            return match.group("stack")
    name = path.rsplit("/", 1)[-1]
    if name.lower().endswith(".md") or name.upper().startswith("LICENSE"):
        return None
    if path in EVERY_STACK_FILES or path.startswith(EVERY_STACK_DIRS):
        return ALL
    if path in NO_STACK_FILES or path.startswith(NO_STACK_DIRS):
        return None
    return ALL


def touched_stacks(changed: Iterable[str], stacks: Sequence[str]) -> tuple[list[str], list[str]]:
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
        elif target in existing:
            reasons.append(f"stack {target}: {path} changed")
            touched.add(target)
        else:
            reasons.append(f"no stack: {path} was deleted, its stack is not deployed")
    return sorted(touched), reasons


EXAMPLE_STACKS = frozenset({"example"})
"""The shipped demo stack (a placeholder tenant): preflight shows it, pipelines never run it."""


def discover_stacks(root: Path) -> list[str]:
    """Return the stacks whose ``Pulumi.<stack>.yaml`` is in ``root``, sorted, examples left out."""
    names = []
    for file in root.glob("Pulumi.*.yaml"):
        match = STACK_FILE.match(file.name)
        if match and file.is_file() and match.group("stack") not in EXAMPLE_STACKS:
            names.append(match.group("stack"))
    return sorted(names)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def changed_files(root: Path, base: str, head: str) -> list[str] | None:
    """Paths changed on ``head`` since its merge base with ``base``; None if base is unusable."""
    if not base or ZERO_SHA.match(base):
        return None
    for rev in (base, head):
        if _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode:
            return None
    diff = _git(root, "diff", "--name-only", "--no-renames", "-z", f"{base}...{head}")
    if diff.returncode:
        return None
    return [path for path in diff.stdout.split("\0") if path]


def ado_matrix(stacks: Sequence[str]) -> dict[str, dict[str, str]]:
    """Shape stacks as an Azure Pipelines matrix: leg name -> {"stack": name}.

    Leg names may only hold letters, digits and underscores and must start with a
    letter, so other characters become underscores and clashes get a numeric suffix.
    """
    matrix: dict[str, dict[str, str]] = {}
    for stack in stacks:
        leg = re.sub(r"[^A-Za-z0-9_]", "_", stack)
        if not leg[:1].isalpha():
            leg = f"stack_{leg}"
        candidate, number = leg, 2
        while candidate in matrix:
            candidate, number = f"{leg}_{number}", number + 1
        matrix[candidate] = {"stack": stack}
    return matrix


def render(stacks: Sequence[str], output_format: str) -> str:
    """Serialise on one line, as GITHUB_OUTPUT and ##vso[task.setvariable] need."""
    if output_format == "ado":
        return json.dumps(ado_matrix(stacks), separators=(",", ":"))
    return json.dumps(list(stacks), separators=(",", ":"))


def main(argv: Sequence[str] | None = None) -> int:
    """Print the touched stacks as JSON on stdout and the reasons on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="commit the change starts from")
    parser.add_argument("--head", default="HEAD", help="commit the change ends at")
    parser.add_argument("--all", action="store_true", help="every stack, whatever changed")
    parser.add_argument(
        "--format",
        choices=("json", "ado"),
        default="json",
        help="json: a list of names (GitHub matrix); ado: an Azure Pipelines matrix object",
    )
    parser.add_argument("--root", type=Path, default=Path(), help="repository root")
    args = parser.parse_args(argv)

    stacks = discover_stacks(args.root)
    if args.all:
        chosen, reasons = stacks, ["every stack: requested with --all"]
    else:
        changed = changed_files(args.root, args.base, args.head)
        if changed is None:
            chosen = stacks
            reasons = [f"every stack: base {args.base or '(none)'!s} cannot be compared"]
        else:
            chosen, reasons = touched_stacks(changed, stacks)
    for reason in reasons:
        print(reason, file=sys.stderr)
    print(f"{len(chosen)} of {len(stacks)} stacks touched", file=sys.stderr)
    print(render(chosen, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
