"""The preflight gate of scripts/fleet.sh: which stacks may run, and what each must hear.

`fleet.py gate` reads preflight's JSON and prints TSV records, one a line:

  STACK<TAB>ok<TAB>                       the stack runs
  STACK<TAB>blocked<TAB>WHY               it does not: preflight's first error, whole
  STACK<TAB>warning<TAB>CODE: MESSAGE     one of its own warnings (ok or blocked)

fleet.sh queues the `ok` stacks and appends every other record to the shard's results.tsv,
where the report (`fleet_results`) shows the warnings beside each stack's outcome. A stack's
own warnings are those preflight does not list as fleet-wide (`summary.fleetWide`: the EWS
notices every stack carries), so an expiring certificate stands out in the job summary.
Stdlib only, like fleet.py.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleet_results import BLOCKED, OK, WARNING

CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
"""A problem's code as preflight writes it (kebab-case): safe in a TSV line as it is."""


@dataclass(frozen=True)
class Gate:
    stack: str
    status: str
    reason: str
    warnings: tuple[str, ...] = ()
    """`code: message` of each of the stack's own warnings."""

    def records(self) -> list[str]:
        """The TSV lines of this stack: its verdict, then a line per warning."""
        return [
            f"{self.stack}\t{self.status}\t{self.reason}",
            *(f"{self.stack}\t{WARNING}\t{warning}" for warning in self.warnings),
        ]


def one_line(text: str) -> str:
    """`text` on one line, control characters escaped (it reaches TSV lines and annotations);
    never cut: the whole reason reaches the summary."""
    return "".join(
        f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in " ".join(text.split())
    )


def _entry(entry: dict[str, Any]) -> str:
    """A preflight problem or warning, `{"code", "setting", "message"}`, as `code: message`.

    Only the code decides anything; the message is shown, never matched.
    """
    code, message = entry["code"], entry["message"]
    if not isinstance(code, str) or not CODE.fullmatch(code) or not isinstance(message, str):
        raise TypeError("a problem needs a kebab-case code and a message")
    return f"{code}: {one_line(message)}"


def _fleet_wide(document: dict[str, Any]) -> set[str]:
    """The codes preflight told once for the fleet; none if it gave no summary."""
    summary = document.get("summary") or {}
    return {str(notice["code"]) for notice in summary.get("fleetWide", [])}


def gate(stacks: Sequence[str], preflight: str, exit_status: int) -> list[Gate]:
    """Which stacks may run: those preflight reports without errors.

    Preflight exits 1 when some stack has errors, which is expected here; any other
    failure (no JSON, a usage error) blocks every stack of the shard, with the reason.
    """
    try:
        document = json.loads(preflight)
        shared = _fleet_wide(document)
        reports = {
            str(r["stack"]): (
                [_entry(e) for e in r["errors"]],
                tuple(_entry(w) for w in r.get("warnings", []) if w["code"] not in shared),
            )
            for r in document["stacks"]
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        reason = f"preflight did not run (exit {exit_status}); see the shard's log"
        return [Gate(stack, BLOCKED, reason) for stack in stacks]
    gates = []
    for stack in stacks:
        if stack not in reports:
            gates.append(Gate(stack, BLOCKED, "preflight did not report this stack"))
            continue
        errors, warnings = reports[stack]
        if errors:
            gates.append(Gate(stack, BLOCKED, f"preflight: {errors[0]}", warnings))
        else:
            gates.append(Gate(stack, OK, "", warnings))
    return gates
