"""Reading a stack's settings: raw config strings in, `AssociationArgs` and every problem out.

The declarations are on `AssociationArgs` (`association.component_args.SETTINGS`); this module
applies their defaults itself, because only the Pulumi CLI applies `Pulumi.yaml`'s and offline
runs have no CLI, then Pulumi's type rules, then each setting's own conversion. Pure (no Pulumi).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from association.component_args import SETTINGS, AssociationArgs, settings_key
from association.problems import Problem
from association.setting import Setting
from association.text import quoted

__all__ = [
    "SETTINGS",
    "SettingsError",
    "check_settings",
    "parse_settings",
    "read_settings",
    "typed_value",
]


class SettingsError(ValueError):
    """Every problem found in a stack's settings, each naming its setting and fix."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(problem.message for problem in problems))
        self.problems = problems


def read_settings(raw: Mapping[str, str], project_dir: Path, now: datetime) -> AssociationArgs:
    """Parse raw config strings (as Pulumi hands them over) and check them all at once.

    Raises `SettingsError` listing every problem; nothing is declared before this passes.
    """
    args, problems = parse_settings(raw, project_dir)
    problems = check_settings(args, problems, now)
    if problems:
        raise SettingsError(problems)
    return args


def check_settings(args: AssociationArgs, parsed: list[Problem], now: datetime) -> list[Problem]:
    """What did not parse, then what the parsed settings break: everything `read_settings`
    refuses, for tools that show it rather than stop."""
    # An entry that failed to load, or a list of the wrong type, is reported already; "no
    # certificate" would only repeat it.
    certificates = settings_key("certificates")
    unloadable = any(
        p.setting == certificates or (p.setting or "").startswith(f"{certificates}[")
        for p in parsed
    )
    return [
        *parsed,
        *(p for p in args.problems(now) if not (unloadable and p.code == "certificates-empty")),
    ]


def parse_settings(
    raw: Mapping[str, str], project_dir: Path
) -> tuple[AssociationArgs, list[Problem]]:
    """The settings as far as they parse, and what did not parse; no judgement of the values.

    For tools that must look at a stack whatever is wrong with it (the security audit): an
    expired certificate is kept, an entry that cannot be read is left out and named.
    """
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = typed_value(setting, raw.get(setting.key), problems)
        values[setting.attribute], converted = setting.convert(value, setting.key, project_dir)
        problems.extend(converted)
    return AssociationArgs(**values), problems


def typed_value(setting: Setting, text: str | None, problems: list[Problem]) -> Any:
    """`text` by Pulumi's type rules for `setting`, its default when unset; a value of the
    wrong type is a problem, and the type's empty value stands in."""
    if text is None:
        return setting.default if setting.default is not None else _EMPTY[setting.type]
    value: Any = None
    if setting.type == "string":
        return text
    if setting.type == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if setting.type == "boolean" and text in ("true", "false"):
        return text == "true"
    if setting.type in ("array", "object"):
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            value = None
        if setting.type == "array" and (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            return value
        if setting.type == "object" and isinstance(value, dict):
            return value
    hint = _TYPE_HINTS[setting.type].replace("KEY", setting.key)
    problems.append(
        Problem("setting-type", setting.key, f"{setting.key} is {quoted(text)}, not {hint}.")
    )
    return _EMPTY[setting.type]


_EMPTY: Final[dict[str, Any]] = {
    "string": "",
    "array": [],
    "object": {},
    "integer": 0,
    "boolean": True,
}
"""What a mistyped or required-but-unset value reads as, so the other checks still run (a
mistyped boolean reads as `true`: `protect` stays on)."""

_INTEGER: Final = re.compile(r"[-+]?[0-9]{1,18}")
"""Pulumi's integer check, capped at 18 digits: a day count needs 4, and no longer number can
overflow the date arithmetic it feeds."""

_TYPE_HINTS: Final = {
    "string": "text",
    "array": (
        "a list of strings. In the stack file write it as a YAML list, or use "
        "`pulumi config set --path 'KEY[0]' VALUE`"
    ),
    "integer": "a whole number. Set it with `pulumi config set KEY 30`",
    "boolean": "true or false. Set it with `pulumi config set KEY true`",
    "object": (
        "a map. In the stack file write it as a YAML map, or use "
        "`pulumi config set --path 'KEY.NAME' VALUE`"
    ),
}
