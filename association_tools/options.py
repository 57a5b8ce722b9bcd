"""The flags the commands share, declared once: the same name, meaning, check and help in each.

Every flag two commands share means one thing in each: `--json FILE` writes the JSON
document to FILE (`-`: to stdout, in place of the text report), `--markdown FILE` likewise,
`--project-dir DIR` is where `Pulumi.yaml` is, `--max-input-bytes N` bounds every input file.
Numbers are checked as the arguments are parsed, so a bad one is a usage error (exit 2)
before anything runs. Nothing from Pulumi: the drift report imports it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from association.text import visible
from association_tools.safe_read import DEFAULT_MAX_BYTES

STDOUT: Final = "-"
"""The FILE that means stdout, as in most command-line tools."""


@dataclass(frozen=True)
class ReportTarget:
    """Where a report flag sends its document: a file, or stdout."""

    path: Path | None
    """None: stdout (the flag was given `-`)."""

    def __str__(self) -> str:
        return STDOUT if self.path is None else str(self.path)


def json_target(text: str) -> ReportTarget:
    """`--json FILE`: `-`, or a name ending in `.json`.

    The suffix is required because `--json` used to be a switch in preflight: `preflight
    --json contoso` would otherwise take the stack name for the file and check every stack.
    """
    if text == STDOUT:
        return ReportTarget(None)
    if not text.lower().endswith(".json"):
        raise argparse.ArgumentTypeError(
            f"{visible(repr(text))} does not end in .json: --json takes the FILE.json to write "
            "the document to, or - to print it instead of the text report"
        )
    return ReportTarget(Path(text))


def markdown_target(text: str) -> ReportTarget:
    """`--markdown FILE`: `-`, or any file name (GitHub's `$GITHUB_STEP_SUMMARY` has no suffix)."""
    if text == STDOUT:
        return ReportTarget(None)
    if not text:
        raise argparse.ArgumentTypeError(
            "the file name is empty (is the variable that names it set, e.g. "
            "$GITHUB_STEP_SUMMARY?): give a FILE, or - for stdout"
        )
    return ReportTarget(Path(text))


def at_least_one(text: str) -> int:
    """A whole number of 1 or more (`--jobs`, `--concurrency`, `--max-input-bytes`)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{visible(repr(text))} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def add_json(parser: argparse.ArgumentParser, document: str) -> None:
    """`--json FILE`: `document` says what the JSON holds, for the help text."""
    _add_report(parser, "--json", json_target, f"{document} as JSON to FILE (a name ending .json)")


def add_markdown(parser: argparse.ArgumentParser, document: str) -> None:
    """`--markdown FILE`: `document` says what the Markdown holds, for the help text."""
    where = 'FILE (e.g. "$GITHUB_STEP_SUMMARY")'
    _add_report(parser, "--markdown", markdown_target, f"{document} as Markdown to {where}")


def _add_report(
    parser: argparse.ArgumentParser,
    flag: str,
    target: Callable[[str], ReportTarget],
    what: str,
) -> None:
    parser.add_argument(
        flag,
        type=target,
        metavar="FILE",
        help=f"write {what}, or to stdout with - (then the text report is not printed)",
    )


def add_project_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project-dir",
        metavar="DIR",
        type=Path,
        default=Path(),
        help="the project directory, with Pulumi.yaml and the stack files (default: the "
        "current directory)",
    )


def add_max_input_bytes(parser: argparse.ArgumentParser, files: str) -> None:
    """`--max-input-bytes N`: `files` names the inputs it bounds, for the help text."""
    parser.add_argument(
        "--max-input-bytes",
        metavar="N",
        type=at_least_one,
        default=DEFAULT_MAX_BYTES,
        help=f"refuse {files} larger than N bytes (default "
        f"{DEFAULT_MAX_BYTES}, {DEFAULT_MAX_BYTES // 2**20} MiB)",
    )


def on_stdout(args: argparse.Namespace) -> list[str]:
    """The report flags of `args` that send their document to stdout (`--json -`)."""
    return [
        "--" + name.replace("_", "-")
        for name, value in vars(args).items()
        if isinstance(value, ReportTarget) and value.path is None
    ]
