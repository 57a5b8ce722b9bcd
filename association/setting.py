"""What a stack setting is: its key, type, default, description, example, parse and check.

Each setting is declared once, on the `AssociationArgs` field it fills (`metadata=setting(...)`),
the way a Terraform module's variable carries its type, description, default and validation
together. `Pulumi.yaml`'s config block and the README's settings table are written from these
declarations (`scripts/settings-doc.py`); the stack reader and the checks use them too.

Pure (no Pulumi).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from association.identifiers import setting_key
from association.problems import Notice, Problem

JsonValue = str | int | bool | list[str] | dict[str, object] | None
"""A setting's default as `Pulumi.yaml` writes it."""

SettingType = Literal["string", "array", "integer", "boolean", "object"]
"""Pulumi's config types (`Pulumi.yaml`'s `type:`); an array holds strings."""

Convert = Callable[[Any, str, Path], tuple[Any, list[Problem]]]
"""The value as Pulumi's type check passed it (str, int, bool, list[str] or dict), the setting's
key and the project directory -> the typed argument, and what stood in the way."""

Check = Callable[[Any, str, datetime], list[Problem]]
"""The whole `AssociationArgs`, the setting's key and the instant -> what must be fixed."""

Warn = Callable[[Any, str, datetime], list[Notice]]
"""The whole `AssociationArgs`, the setting's key and the instant -> what deserves a warning."""

METADATA: Final = "setting"
"""The key of a field's metadata that holds its `Setting`."""


def _as_is(value: Any, key: str, project_dir: Path) -> tuple[Any, list[Problem]]:
    return value, []


def _nothing(args: Any, key: str, now: datetime) -> list[Any]:
    return []


@dataclass(frozen=True)
class Setting:
    """One stack config key: everything about it in one place."""

    name: str
    """As written in `Pulumi.yaml` (`displayName`), or a full key of another namespace."""
    type: SettingType
    description: str
    """One paragraph for `Pulumi.yaml` and the README's settings table."""
    example: str
    """A value as a stack file writes it (YAML)."""
    default: JsonValue = None
    """What the Pulumi CLI applies when a stack leaves it unset; None: required."""
    shown_type: str = ""
    """The type as the README names it (`list of GUIDs`); empty: `type`."""
    shown_default: str = ""
    """The default as the README explains it; empty: the default itself."""
    convert: Convert = _as_is
    check: Check = _nothing
    warn: Warn = _nothing
    attribute: str = ""
    """The `AssociationArgs` field it fills (set from the field)."""

    @property
    def key(self) -> str:
        """`mimecast-association:owners`; another namespace's key stays as it is."""
        return setting_key(self.name)

    @property
    def in_project(self) -> bool:
        """Pulumi lets `Pulumi.yaml` type and default only the project's own keys."""
        return ":" not in self.name


def setting(
    name: str,
    type: SettingType,
    description: str,
    example: str,
    default: JsonValue = None,
    *,
    shown_type: str = "",
    shown_default: str = "",
    convert: Convert = _as_is,
    check: Check = _nothing,
    warn: Warn = _nothing,
) -> Mapping[str, Setting]:
    """A dataclass field's metadata declaring the stack setting that fills it."""
    declared = Setting(
        name,
        type,
        description,
        example,
        default,
        shown_type,
        shown_default,
        convert,
        check,
        warn,
    )
    return {METADATA: declared}
