"""Command-line tools: `python -m association preflight|drift ...`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from association import drift, preflight

USAGE = """usage: python -m association COMMAND [ARGS ...]

commands:
  preflight   check every tenant stack offline and show what `pulumi up` would do
  drift       classify `pulumi preview --refresh --json` output as clean, drift or error

`python -m association COMMAND --help` describes each command."""

COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "preflight": preflight.main,
    "drift": drift.main,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command; exit status 2 for a missing or unknown command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not args or args[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
