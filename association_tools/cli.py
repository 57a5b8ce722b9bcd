"""One way to run a command: usage errors, a closed pipe and Ctrl-C end every command alike.

Nothing from Pulumi (the standard library and `association.problems`): the drift report runs
without the Pulumi SDK.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from association.text import visible

EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
"""128 + SIGINT, what a shell reports for a command stopped with Ctrl-C."""
EXIT_BROKEN_PIPE: Final = 141
"""128 + SIGPIPE, what a shell reports when the reader of a pipe (`| head`) went away."""


class UsageError(Exception):
    """The command cannot run as asked (exit 2); the message says what to change."""


def write_output(target: Path, text: str) -> None:
    """Write a report file a flag names (`--json FILE`); one that cannot be written is exit 2."""
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write {target}: {error.strerror or error}") from None


def run(
    parser: argparse.ArgumentParser,
    command: Callable[[argparse.Namespace], int],
    argv: Sequence[str],
) -> int:
    """Parse `argv`, run `command`, and turn the ways a command ends early into exit codes."""
    try:
        args = parser.parse_args(argv)
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
