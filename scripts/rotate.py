"""Rotate Mimecast's certificate on many stacks: add the successor, later retire the old one.

  venv/bin/python scripts/rotate.py add certs/mimecast-2027.pem [STACK ...]
  venv/bin/python scripts/rotate.py retire THUMBPRINT|certs/mimecast-2026.pem [STACK ...]
  (either with [--exclude STACK ...] in place of STACK)

Without STACK: every stack file but the shipped `example` and each `--exclude` (repeatable; an
exclusion that names no stack file is a usage error). `add` lists the certificate
beside the current ones in each stack that does not list it yet; `retire` removes it from
each stack that lists it (named by its SHA-1 thumbprint, as Mimecast's console and preflight
show it, or by the path it is listed under). Then it runs preflight on those stacks.

Refused, before any file is written, with every reason at once: a certificate file outside
the project, not a regular file, a private key, not one X.509 certificate, expired, or one
Mimecast would not use (read as the program reads it); a stack whose list this script cannot
edit safely (the fix is named); a retire that would leave a stack without a certificate
valid now or with a gap later (the program's own rule, `coverage_problems`). Each file is
edited line by line (`certificate_list`), checked to parse to the same document with only the
list changed, and replaced atomically. Runs with the project's venv
(the program's own certificate reader). Exit status: preflight's (0, or 1 with errors), 1
refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the project, after scripts/

import yaml
from certificate_list import KEY, PLAIN_ENTRY, ShapeError, locate, with_entry, without_entries

from association.certificate_checks import (
    MAX_CERTIFICATES,
    coverage_problems,
    validity_problems,
)
from association.certificate_entries import load_certificate
from association.certificates import Certificate, CertificateError
from association.clock import current_time
from association.files import FileRefused, inside_project
from association.text import visible
from association_tools.cli import UsageError
from association_tools.preflight import cli as preflight
from association_tools.project import (
    GoYaml,
    Project,
    check_plain_yaml,
    load_project,
    read_yaml,
)

THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}")
SHIPPED = "example"


@dataclass(frozen=True)
class Edit:
    stack: str
    path: Path
    text: str | None
    """The new text, or None: the stack is left as it is (`why` says why)."""
    why: str


def new_certificate(entry: str, root: Path, now: datetime) -> Certificate:
    """The certificate to add: a plain path inside the project, read as the program reads it."""
    if not PLAIN_ENTRY.fullmatch(entry) or ".." in PurePosixPath(entry).parts:
        raise UsageError(
            f"{visible(repr(entry))}: give the certificate's path in the project, "
            "e.g. certs/mimecast-2027.pem"
        )
    try:
        cert = load_certificate(entry, entry, root)
    except CertificateError as error:
        raise UsageError(error.problem.message) from None
    problems = validity_problems(cert, now)
    if problems:
        raise UsageError(" ".join(problem.message for problem in problems))
    return cert


def listed(text: str) -> tuple[dict[str, object], list[str]]:
    """The stack file's document and its certificates entries (ShapeError when unusable)."""
    check_plain_yaml(text)
    document = yaml.load(text, Loader=GoYaml)
    config = document.get("config") if isinstance(document, dict) else None
    entries = config.get(KEY) if isinstance(config, dict) else None
    if entries is None:
        raise ShapeError("lists no certificates under config (it uses Pulumi.yaml's default)")
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ShapeError(f"has {KEY} that is not a list of strings")
    return document, list(entries)


def checked(old: dict[str, object], new_text: str, entries: list[str]) -> str:
    """`new_text`, if it parses to `old` with only the certificates list now `entries`."""
    expected = {**old, "config": {**old["config"], KEY: entries}}  # type: ignore[dict-item]
    if yaml.load(new_text, Loader=GoYaml) != expected:
        raise ShapeError("is written in a way this edit would change beyond the list")
    return new_text


def readable(entry: str, root: Path, key: str | None = None) -> Certificate | None:
    """The entry's certificate (named in messages as `key`), or None if it cannot be read:
    that is preflight's to report, and such an entry keeps Mimecast signed in no more than a
    missing one."""
    try:
        return load_certificate(entry, key or entry, root)
    except CertificateError:
        return None


def thumbprint_of(entry: str, root: Path) -> str | None:
    cert = readable(entry, root)
    return None if cert is None else cert.thumbprint  # a path still matches


def plan_add(stack: str, path: Path, root: Path, entry: str, cert: Certificate) -> Edit:
    text = read_yaml(path)
    document, entries = listed(text)
    if entry in entries or cert.thumbprint in {thumbprint_of(e, root) for e in entries}:
        return Edit(stack, path, None, "lists it already")
    if len(entries) >= MAX_CERTIFICATES:
        raise ShapeError(f"lists {len(entries)} certificates, the most a stack declares")
    return Edit(
        stack,
        path,
        checked(document, with_entry(locate(text), entries, entry), [*entries, entry]),
        "added",
    )


def plan_retire(stack: str, path: Path, root: Path, target: str, now: datetime) -> Edit:
    text = read_yaml(path)
    document, entries = listed(text)
    compact = re.sub(r"[\s:]", "", target)  # as a portal or `certutil` may print it
    wanted = compact.upper() if THUMBPRINT.fullmatch(compact) else thumbprint_of(target, root)
    drop = {
        index
        for index, entry in enumerate(entries)
        if entry == target or (wanted is not None and thumbprint_of(entry, root) == wanted)
    }
    if not drop:
        return Edit(stack, path, None, "does not list it")
    kept = [entry for index, entry in enumerate(entries) if index not in drop]
    left = [readable(entry, root, f"{KEY}[{index}]") for index, entry in enumerate(kept)]
    problems = coverage_problems([cert for cert in left if cert is not None], KEY, now)
    if problems:
        raise ShapeError(
            "would be left with days on which Mimecast cannot sign in: "
            + " ".join(problem.message for problem in problems)
            + " Retire it once the others cover every day from now on (add the successor "
            f"first: scripts/rotate.py add certs/<successor>.pem {stack})."
        )
    return Edit(
        stack,
        path,
        checked(document, without_entries(locate(text), entries, drop), kept),
        "removed",
    )


def write(edit: Edit) -> None:
    """Replace the file at once (a crash leaves the old or the new, never half), mode kept."""
    assert edit.text is not None
    mode = edit.path.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(dir=edit.path.parent, prefix=f".{edit.path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(edit.text)
        os.chmod(temporary, mode)
        os.replace(temporary, edit.path)
    except BaseException:
        os.unlink(temporary)
        raise


def excluded(project: Project, names: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """The stacks left out of every stack file: the shipped one and each `--exclude`.

    Unlike preflight's, an exclusion must name a stack file: a misspelt one would edit the very
    stack it was meant to spare.
    """
    if exclude and names:
        raise UsageError(
            "--exclude leaves stacks out of every stack file; with STACK names given, leave "
            "it out of the names instead"
        )
    unknown = [stack for stack in exclude if stack not in project.stacks and stack != SHIPPED]
    if unknown:
        raise UsageError(
            f"--exclude {', '.join(unknown)}: no Pulumi.<stack>.yaml for it in "
            f"{project.directory.resolve()} (stacks: {', '.join(project.stacks) or 'none'})"
        )
    return [] if names else list(dict.fromkeys([SHIPPED, *exclude]))


def rotate(args: argparse.Namespace) -> int:
    now = preflight.parse_now(args.now) if args.now else current_time()
    project = load_project(args.project_dir)
    root = project.directory
    left_out = excluded(project, args.stacks, args.exclude)
    stacks = preflight.select_stacks(project, args.stacks, left_out)
    if args.command == "add":
        cert = new_certificate(args.certificate, root, now)
    edits, refused = [], []
    for stack in stacks:
        file = f"Pulumi.{stack}.yaml"
        try:
            path = inside_project(project.stacks[stack].name, root)
            if args.command == "add":
                edits.append(plan_add(stack, path, root, args.certificate, cert))
            else:
                edits.append(plan_retire(stack, path, root, args.certificate, now))
        except (ShapeError, FileRefused, OSError, UnicodeDecodeError, ValueError) as error:
            refused.append(f"  {stack}: {file} {visible(str(error))}")
    if refused:
        print(
            f"rotate: nothing written; {len(refused)} stack(s) refused:\n"
            + "\n".join(refused)
            + "\nFix them (a list this script cannot edit: edit the file, or `pulumi config set "
            f"--path '{KEY}[N]' PATH --stack STACK`), or name only the other stacks.",
            file=sys.stderr,
        )
        return 1
    if args.command == "retire" and all(edit.why == "does not list it" for edit in edits):
        print(
            f"rotate: no stack lists {visible(args.certificate)} (a thumbprint, hex, or a "
            "certificate file in the project): nothing written. Check it against the stacks' "
            "certificates (preflight prints each one's thumbprint).",
            file=sys.stderr,
        )
        return 1
    for edit in edits:
        if edit.text is not None:
            write(edit)
    done = [edit.stack for edit in edits if edit.text is not None]
    verb = "Added" if args.command == "add" else "Retired"
    print(f"{verb} {visible(args.certificate)} in {len(done)} stack(s): {', '.join(done) or '-'}")
    for why in ("lists it already", "does not list it"):
        same = [edit.stack for edit in edits if edit.why == why]
        if same:
            print(f"Unchanged, {why}: {', '.join(same)}")
    selection = args.stacks or [flag for stack in left_out for flag in ("--exclude", stack)]
    command = [*selection, *(["--now", args.now] if args.now else [])]
    print(f"Next, preflight: venv/bin/python -m association preflight {' '.join(command)}\n")
    return preflight.main([*command, "--project-dir", str(args.project_dir)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/rotate.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="list a new certificate in every stack (or the named ones)")
    add.add_argument("certificate", metavar="PATH", help="e.g. certs/mimecast-2027.pem")
    old = sub.add_parser("retire", help="remove a certificate from every stack that lists it")
    old.add_argument("certificate", metavar="THUMBPRINT|PATH")
    for command in (add, old):
        command.add_argument("stacks", nargs="*", metavar="STACK")
        command.add_argument(
            "--exclude",
            metavar="STACK",
            action="append",
            default=[],
            help="leave this stack out of every stack file (repeatable); example always is",
        )
        command.add_argument(
            "--now", metavar="TIMESTAMP", help="judge certificates at this instant"
        )
        command.add_argument("--project-dir", metavar="DIR", type=Path, default=Path())
    args = parser.parse_args(argv)
    try:
        return rotate(args)
    except UsageError as error:
        print(f"rotate: {visible(str(error))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
