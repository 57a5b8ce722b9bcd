"""Re-runs and tokens for scripts/fleet.sh: the stale-commit check, the latest attempts of
re-run shards, the audit's chunks and how long a federated token still lives.

Stdlib only, like fleet.py, which uses it: CI runs both before installing anything.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any

COMMIT = re.compile(r"[0-9a-f]{40}")
"""A full git commit id, as the platforms' APIs and `git rev-parse` print it."""


class FleetError(Exception):
    """Bad input: the message says what is wrong; exit status 2."""


# --- re-runs: the commit, the attempts -------------------------------------------------


def stale_reason(head: str, tip: str, branch: str) -> str | None:
    """Why a deploy of `head` must not run while `branch` is at `tip`; None when it may.

    A re-run keeps its run's commit, so a deploy job checks that it still deploys the
    branch's tip: anything else (an older commit, one force-pushed away) would roll
    tenants back. What cannot be read refuses too.
    """
    if not COMMIT.fullmatch(head):
        return f"cannot tell which commit this job deploys ({head!r}): not deploying"
    if not COMMIT.fullmatch(tip):
        return f"cannot read the tip of {branch} ({tip[:80]!r}): not deploying; re-run later"
    if head == tip:
        return None
    return (
        f"this job deploys {head[:12]}, but {branch} is at {tip[:12]}: a re-run of an older "
        "run would roll tenants back to older settings, so nothing was deployed. The newest "
        f"run deploys {branch}; run it (or the manual deploy on {branch}) instead."
    )


ATTEMPT = re.compile(r"(?P<shard>.+)-attempt-(?P<number>[1-9][0-9]{0,5})")


def latest_attempts(folders: Sequence[str]) -> list[str]:
    """Each shard's newest attempt among artifact folders `NAME-attempt-N` (Azure DevOps
    names an artifact once per attempt); a folder without the suffix is its own shard."""
    best: dict[str, tuple[int, str]] = {}
    for folder in folders:
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        match = ATTEMPT.fullmatch(name)
        shard, number = (match["shard"], int(match["number"])) if match else (name, 0)
        if shard not in best or number > best[shard][0]:
            best[shard] = (number, folder)
    return sorted(folder for _, folder in best.values())


# --- the audit in chunks ---------------------------------------------------------------


def merge_audits(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The audit JSON of every chunk as one: an error wins over findings, findings over clean."""
    stacks = [stack for document in documents for stack in document["stacks"]]
    statuses = {str(document["status"]) for document in documents}
    status = next((s for s in ("error", "findings") if s in statuses), "clean")
    return {
        "schemaVersion": documents[0]["schemaVersion"] if documents else 1,
        "status": status,
        "exitCode": {"error": 1, "findings": 3, "clean": 0}[status],
        # what the runs did not read (e.g. Exchange Online), each once
        # Each chunk says the same run-wide notes ({code, setting, message}): keep them once.
        "notes": list(
            {
                json.dumps(note, sort_keys=True): note
                for document in documents
                for note in document.get("notes", [])
            }.values()
        ),
        "stacks": stacks,
    }


def token_life(token: str, now: float) -> int:
    """Seconds until a JWT's `exp`; FleetError when it is no JWT."""
    try:
        payload = token.strip().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"] - now)
    except (IndexError, ValueError, KeyError, TypeError):
        raise FleetError("the federated token is no JWT with an expiry") from None
