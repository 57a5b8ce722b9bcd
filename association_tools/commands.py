"""`python -m association COMMAND`: which command runs, each imported only when asked for.

Lazily, because the commands need different things: preflight loads the Pulumi SDK, the
audit signs in with azure-identity, and the drift report must start without either.
`association/__main__.py` forwards here, so the commands keep the name pipelines and people
use while their code stays in the tools, where a change deploys no tenant.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Final

from association.text import visible
from association_tools.cli import EXIT_USAGE

USAGE: Final = """usage: python -m association COMMAND [ARGS ...]

commands:
  preflight   check every tenant stack offline and show what `pulumi up` would do
  drift       classify `pulumi preview --refresh --json` output as clean, drift or error
  audit       compare each stack's live app in Microsoft Graph with what the stack declares
  bootstrap   from a list of tenants to deployable stacks: consent, discovery, stack files

`python -m association COMMAND --help` describes each command."""

COMMANDS: Final = {
    "preflight": "association_tools.preflight.cli",
    "drift": "association_tools.drift.cli",
    "audit": "association_tools.audit.cli",
    "bootstrap": "association_tools.bootstrap.cli",
}
"""Command name -> module with a `main(argv) -> int`."""


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command; exit status 2 for a missing or unknown command."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not args or args[0] not in COMMANDS:
        if args:
            print(f"unknown command {visible(repr(args[0]))}", file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    status: int = importlib.import_module(COMMANDS[args[0]]).main(args[1:])
    return status
