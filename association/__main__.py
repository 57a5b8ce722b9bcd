"""`python -m association preflight|drift ...`: the operators' commands, loaded on demand.

The commands live in `association_tools`; each is imported only when asked for, so the
drift report, which needs only the standard library, never loads the Pulumi SDK.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

USAGE = """usage: python -m association COMMAND [ARGS ...]

commands:
  preflight   check every tenant stack offline and show what `pulumi up` would do
  drift       classify `pulumi preview --refresh --json` output as clean, drift or error
  audit       compare each stack's live app in Microsoft Graph with what the stack declares

`python -m association COMMAND --help` describes each command."""

COMMANDS = {
    "preflight": "association_tools.preflight.cli",
    "drift": "association_tools.drift.cli",
    "audit": "association_tools.audit.cli",
}
"""Command name -> module with a `main(argv) -> int`."""


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command; exit status 2 for a missing or unknown command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not args or args[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    command: int = importlib.import_module(COMMANDS[args[0]]).main(args[1:])
    return command


if __name__ == "__main__":
    sys.exit(main())
