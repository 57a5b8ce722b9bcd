"""Command-line tools: `python -m association preflight|drift ...`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

USAGE = """usage: python -m association COMMAND [ARGS ...]

commands:
  preflight   check every tenant stack offline and show what `pulumi up` would do
  drift       classify `pulumi preview --refresh --json` output as clean, drift or error

`python -m association COMMAND --help` describes each command."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands: dict[str, Callable[[Sequence[str]], int]] = {
        "preflight": _preflight,
        "drift": _drift,
    }
    if not args or args[0] not in commands:
        print(USAGE, file=sys.stderr if args and args[0] not in ("-h", "--help") else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help") else 2
    return commands[args[0]](args[1:])


def _preflight(argv: Sequence[str]) -> int:
    from association import preflight  # imports Pulumi; only the command that needs it pays

    return preflight.main(argv)


def _drift(argv: Sequence[str]) -> int:
    from association import drift

    return drift.main(argv)


if __name__ == "__main__":
    sys.exit(main())
