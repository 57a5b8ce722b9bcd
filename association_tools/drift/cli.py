"""`python -m association drift PREVIEW.json ...`: the drift report as a command.

Run the previews with `--refresh` so that changes made in the tenant (the portal, Graph,
another tool) show up, not only what the program would change. Exit status: 0 every stack
clean, 3 some stack drifted (none failed), 1 some stack failed (failure wins over drift; a
PREVIEW file that cannot be read or is not a preview fails its stack), 2 usage error (bad
arguments, a stack given twice, an output FILE that cannot be written).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from association.redaction import holds_key_material
from association_tools import options
from association_tools.cli import UsageError, publish, run
from association_tools.drift.classify import StackDrift, classify, exit_code, unreadable
from association_tools.drift.preview import PreviewFormatError, load_preview, urn_stack
from association_tools.drift.render import render_markdown, render_text, to_json
from association_tools.safe_read import InputError, read_bounded

PROG: Final = "python -m association drift"

DESCRIPTION: Final = """\
Classify `pulumi preview --refresh --json` output per stack as no-change, drift
or error. Exit status: 0 clean, 3 drift, 1 error (wins over drift), 2 usage."""

EPILOG: Final = f"""example:
  pulumi preview --refresh --json --stack contoso > contoso.json
  pulumi preview --refresh --json --stack fabrikam > fabrikam.json
  {PROG} contoso.json fabrikam.json \\
      --markdown "$GITHUB_STEP_SUMMARY" --json drift.json
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return the exit status instead of exiting."""
    return run(parser(), _command, sys.argv[1:] if argv is None else argv)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the example's lines
    )
    parser.add_argument("previews", nargs="+", metavar="PREVIEW.json", help="one file per stack")
    options.add_markdown(parser, "a table and a section per drifted or failed stack")
    options.add_json(parser, "every stack's verdict")
    parser.add_argument(
        "--stack", metavar="NAME", help="stack name for a single PREVIEW file (default: its URNs)"
    )
    options.add_max_input_bytes(parser, "a PREVIEW file")
    return parser


def _command(args: argparse.Namespace) -> int:
    if args.stack is not None and len(args.previews) > 1:
        raise UsageError("--stack names one stack: give it a single PREVIEW file")
    results = [_report(path, args.stack, args.max_input_bytes) for path in args.previews]
    _refuse_a_stack_twice(results)
    publish(results, render_text, (args.markdown, render_markdown), (args.json, to_json))
    return exit_code(results)


def _report(name: str, stack: str | None, max_bytes: int) -> StackDrift:
    """One stack's verdict; a file that cannot be read or parsed fails that stack only.

    A key pasted as the file name is refused as it was typed: `Path` would fold its `//`, and
    the stack named after the file (without `--stack` or URNs) would be a piece of it, cut at
    a `/`, that no redaction can recognise."""
    if holds_key_material(name):
        return unreadable(
            "[key removed]",
            "[key removed]",
            "preview-unreadable",
            "a PREVIEW argument holds key material, not a file name: give the preview's file",
        )
    path = Path(name)
    try:
        preview = load_preview(read_bounded(path, max_bytes), str(path))
    except PreviewFormatError as error:
        return unreadable(stack or path.stem, str(path), error.code, str(error))
    except InputError as error:
        return unreadable(stack or path.stem, str(path), "preview-unreadable", str(error))
    return classify(preview, stack or urn_stack(preview) or path.stem, source=str(path))


def _refuse_a_stack_twice(results: Sequence[StackDrift]) -> None:
    """Each stack once: a file given twice (a glob that overlaps a name), or two previews of
    one stack, would count it twice in the tally and the exit status, with nothing to say
    which verdict holds. Refused rather than merged: the caller knows which file is meant."""
    first: dict[str, StackDrift] = {}
    for result in results:
        earlier = first.setdefault(result.stack, result)
        if earlier is result:
            continue
        if earlier.source == result.source:
            raise UsageError(
                f"the PREVIEW file {result.source} is given twice: give each stack's file once"
            )
        if _same_file(Path(earlier.source), Path(result.source)):
            raise UsageError(
                f"{earlier.source} and {result.source} are the same PREVIEW file: give each "
                "stack's file once"
            )
        raise UsageError(
            f"{earlier.source} and {result.source} both hold stack {result.stack!r}: give one "
            "PREVIEW file per stack"
        )


def _same_file(first: Path, second: Path) -> bool:
    """Both names lead to one file (`a.json` and `/work/a.json`, a symlink); False if either
    is missing (two missing names are two errors, told apart by name)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False
