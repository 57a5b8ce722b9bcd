"""The Pulumi CLI as `scripts/tenant.py retire` runs it: found before anything runs, each step
named as it starts, each change to the tenant previewed and confirmed before it is made.

Retiring deletes an app that can read every mailbox of a tenant, so nothing is changed on a
guess: `pulumi up` is shown first as `pulumi preview`, `pulumi destroy` as `pulumi destroy
--preview-only` (pulumi/pulumi `pkg/cmd/pulumi/operations/destroy.go`: that flag previews and
stops, and is accepted without a terminal), and each goes ahead only on a "y" typed at a
terminal, or with --yes. Stdlib only, like tenant.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

INSTALL_URL = "https://www.pulumi.com/docs/iac/download-install/"
"""Where the README sends a reader for the Pulumi CLI."""


class StepError(Exception):
    """A step that could not start, failed or was declined; the message says which and what
    to do."""


@dataclass(frozen=True)
class Pulumi:
    """The Pulumi CLI found on PATH, run from the project directory."""

    executable: str
    root: Path
    assume_yes: bool
    """--yes: each change goes ahead after its preview without asking."""

    @classmethod
    def find(cls, root: Path, assume_yes: bool) -> Pulumi:
        """The CLI, or a StepError naming it before any step has run."""
        name = os.environ.get("PULUMI", "pulumi")
        found = shutil.which(name)
        if found is None:
            raise StepError(
                f"the Pulumi CLI (`{name}`) is not on PATH, and retire runs it: install it "
                f"({INSTALL_URL}) and run retire again. Nothing was run or changed."
            )
        return cls(found, root, assume_yes)

    def run(self, step: str, args: Sequence[str], capture: bool = False) -> str:
        """Run one step, its output shown (or returned, `capture`); a failure stops the runbook."""
        print(f"== {step}: pulumi {shlex.join(args)}", flush=True)
        try:
            done = subprocess.run(
                [self.executable, *args],
                cwd=self.root,
                text=True,
                stdout=subprocess.PIPE if capture else None,
                check=False,
            )
        except OSError as error:
            raise StepError(f"{step}: {self.executable} did not start ({error.strerror})") from None
        if done.returncode:
            raise StepError(
                f"{step} failed (pulumi exit {done.returncode}); nothing after it ran and the "
                "stack file is kept. Fix it and run retire again: the steps before it are done "
                "or harmless to repeat."
            )
        return done.stdout or ""

    def confirmed(self, question: str) -> bool:
        """Yes only for "y" or "yes" typed at the terminal, or with --yes."""
        if self.assume_yes:
            print(f"{question} yes (--yes)", flush=True)
            return True
        print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
        return sys.stdin.readline().strip().lower() in {"y", "yes"}
