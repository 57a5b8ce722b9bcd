"""Keys of a stack file that nothing reads: outside `config:`, in the wrong case, or in a
misspelt namespace. The Pulumi CLI passes over them silently, so the user would only see the
consequence (a default used, a setting "missing"); each is named here with where it belongs.
"""

from __future__ import annotations

import difflib
from typing import Final

from association.component_args import SETTINGS
from association.identifiers import NAMESPACE
from association.problems import Problem
from association.text import quoted, visible

PROGRAM_KEYS: Final = frozenset(setting.key for setting in SETTINGS)

TOP_LEVEL_KEYS: Final = frozenset(
    {"config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt"}
)
"""What a stack file holds (pulumi/pulumi sdk/go/common/workspace/project.go, ProjectStack).
Go's YAML library ignores any other key, so the CLI would silently drop it."""


def top_level_problem(name: str, file: str) -> Problem:
    shown = visible(name)
    own = f"{NAMESPACE}:{shown}" if ":" not in name else shown
    return Problem(
        "stack-file-unknown-key",
        None,
        f"{file} has a top-level key {quoted(name)}, which the Pulumi CLI ignores: nothing "
        f"reads it. Stack settings belong under `config:`, e.g. `config:` then `  {own}: ...` "
        "(indented). Move it there or remove it.",
    )


_KNOWN_KEYS: Final = {key.lower(): key for key in PROGRAM_KEYS}
_OWN_NAMES: Final = {
    key.removeprefix(f"{NAMESPACE}:").lower(): key
    for key in PROGRAM_KEYS
    if key.startswith(f"{NAMESPACE}:")
}


def misplaced_problem(key: str, stack: str, file: str) -> Problem | None:
    """A key that nothing reads but that looks meant for this program: wrong case, wrong or
    misspelt namespace. The user would otherwise see only the consequence (a default used)."""
    if key in PROGRAM_KEYS:
        return None
    namespace, _, name = key.partition(":")
    meant = _KNOWN_KEYS.get(key.lower()) or _OWN_NAMES.get(name.lower())
    if meant is None and difflib.SequenceMatcher(None, namespace, NAMESPACE).ratio() >= 0.8:
        close = difflib.get_close_matches(name.lower(), list(_OWN_NAMES), n=1)
        meant = _OWN_NAMES[close[0]] if close else f"{NAMESPACE}:{name}"
    if meant is None:
        return None
    shown = visible(key)
    return Problem(
        "setting-misplaced",
        shown,
        f"Stack '{stack}' sets {shown}, which nothing reads (keys and namespaces are exact, "
        f"case included). Did you mean {meant}? Rename it in {file}: until then the program "
        "uses the default or reports the setting missing.",
    )
