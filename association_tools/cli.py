"""One way to run a command: usage errors, a closed pipe and Ctrl-C end every command alike,
reports go where their flags say, and a report's verdicts become one exit status.

Nothing from Pulumi: the drift report runs without the Pulumi SDK.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from association.text import visible
from association_tools import options
from association_tools.options import ReportTarget

Results = TypeVar("Results")
Status = TypeVar("Status", bound=str)

EXIT_CLEAN: Final = 0
EXIT_FAILED: Final = 1
"""Some stack could not be checked (or, for preflight, has errors)."""
EXIT_USAGE: Final = 2
EXIT_FOUND: Final = 3
"""Some stack differs from what it declares (drift, audit findings); none failed."""
EXIT_INTERRUPTED: Final = 130
"""128 + SIGINT, what a shell reports for a command stopped with Ctrl-C."""
EXIT_BROKEN_PIPE: Final = 141
"""128 + SIGPIPE, what a shell reports when the reader of a pipe (`| head`) went away."""


class UsageError(Exception):
    """The command cannot run as asked (exit 2); the message says what to change."""


@dataclass(frozen=True)
class Verdicts(Generic[Status]):
    """A report's three statuses per stack, and the exit status they make together: a failure
    wins over a finding, a finding over clean."""

    failed: Status
    found: Status
    clean: Status

    def overall(self, statuses: Iterable[Status]) -> Status:
        seen = set(statuses)
        return next((s for s in (self.failed, self.found) if s in seen), self.clean)

    def exit_code(self, statuses: Iterable[Status]) -> int:
        """1 if any stack failed, else 3 if any has a finding, else 0."""
        codes = {self.failed: EXIT_FAILED, self.found: EXIT_FOUND, self.clean: EXIT_CLEAN}
        return codes[self.overall(statuses)]


def publish(
    results: Results,
    text: Callable[[Results], str],
    *reports: tuple[ReportTarget | None, Callable[[Results], str]],
) -> None:
    """Write each report a flag asked for (`--json FILE`, `--markdown -`), then print the text
    report, unless a document went to stdout: stdout then holds that document alone.

    A file that cannot be written is a usage error (exit 2).
    """
    on_stdout = False
    for target, render in reports:
        if target is None:
            continue
        document = render(results)
        if target.path is None:
            sys.stdout.write(document)
            on_stdout = True
            continue
        try:
            target.path.write_text(document, encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {target}: {error.strerror or error}") from None
    if not on_stdout:
        print(text(results))


def run(
    parser: argparse.ArgumentParser,
    command: Callable[[argparse.Namespace], int],
    argv: Sequence[str],
) -> int:
    """Parse `argv`, run `command`, and turn the ways a command ends early into exit codes."""
    try:
        args = parser.parse_args(argv)
        if len(flags := options.on_stdout(args)) > 1:
            parser.error(f"{' and '.join(flags)} would both write to stdout: give one a FILE")
    except SystemExit as stop:  # argparse has printed the help (0) or the usage error (2)
        return 0 if stop.code in (0, None) else EXIT_USAGE
    try:
        status = command(args)
        # A reader that went away (`| head`) shows here, where it is handled, rather than in
        # the interpreter's last flush at exit (a traceback and exit 120).
        sys.stdout.flush()
        return status
    except UsageError as error:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {visible(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader is gone; point stdout at /dev/null so the interpreter's last flush at
        # exit cannot fail a second time with a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
