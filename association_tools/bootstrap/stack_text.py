"""`Pulumi.<stack>.yaml` as the bootstrap writes it: new, or with only what is missing added.

A new file holds the tenant, the certificates, the owners and, where found, `adopt` and
`exchange`, in the shape `pulumi config set` writes (yaml.v3, two-space indent). An existing
file is never rewritten: keys it lacks are added as lines at the end of its `config:` block,
every line already there is kept as it was, and the result must read back as the old config
plus exactly the added keys, or nothing is written. A key it holds with another value is left
as it is and named, so the person who wrote it decides.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from association import files
from association.text import visible
from association_tools.project import ConfigValue, config_value
from association_tools.stack_files import StackFileError, parse_stack_file

PLAIN: Final = re.compile(r"[A-Za-z0-9_./-]+")
"""A scalar YAML reads back as the same string (GUIDs, hex thumbprints, relative paths)."""
CONFIG_LINE: Final = re.compile(r"config:\s*(#.*)?")
MAX_BYTES: Final = 1024 * 1024
"""A stack file of this project is a few hundred bytes."""

Config = Mapping[str, object]
"""A stack's config as the bootstrap would write it: key -> str, bool, list or map."""


@dataclass(frozen=True)
class Merge:
    """What becomes of one stack file."""

    text: str | None
    """The new text, or None when nothing changes."""
    added: tuple[str, ...] = ()
    differs: tuple[str, ...] = ()
    """Keys the file holds with another value than the tenant's: left as written."""


def render(config: Config) -> str:
    """A whole stack file."""
    return "config:\n" + "".join(_entry(key, value, "  ") for key, value in config.items())


def merge(text: str, config: Config, file: str) -> Merge:
    """`text` with the keys of `config` it lacks, in its own indent and line endings;
    StackFileError when that cannot be done safely (the file is then left to a person)."""
    bom, body = ("\ufeff", text[1:]) if text.startswith("\ufeff") else ("", text)
    newline = "\r\n" if "\r\n" in body else "\n"
    before = parse_stack_file(body, file).config
    missing = {key: value for key, value in config.items() if key not in before}
    differs = tuple(key for key in config if key in before and not _same(before[key], config[key]))
    if not missing:
        return Merge(None, differs=differs)
    lines = body.replace("\r\n", "\n").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((n for n, line in enumerate(lines) if CONFIG_LINE.fullmatch(line.rstrip())), None)
    if start is None:
        if "config" in _top_level(lines):
            raise StackFileError(f"{file}: its `config:` is not a block of lines; add by hand")
        start, lines = len(lines), [*lines, "config:\n"]
    end = next(
        (n for n in range(start + 1, len(lines)) if lines[n][:1] not in (" ", "\n", "#", "")),
        len(lines),
    )
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1][:1] == "#"):
        end -= 1  # blank lines and comments at the left edge follow the block, not in it
    keys = [line for line in lines[start + 1 : end] if line.strip() and line.lstrip()[:1] != "#"]
    indent = keys[0][: len(keys[0]) - len(keys[0].lstrip())] if keys else "  "
    added = "".join(_entry(key, value, indent) for key, value in missing.items())
    new = "".join([*lines[:end], added, *lines[end:]])
    after = parse_stack_file(new, file).config
    expected = {**before, **{key: config_value(value) for key, value in missing.items()}}
    if dict(after) != expected:
        raise StackFileError(
            f"{file}: adding {', '.join(missing)} as lines would change what the file says; "
            "add them by hand"
        )
    return Merge(bom + new.replace("\n", newline), tuple(missing), differs)


def read_stack_file(project_dir: Path, stack: str) -> str | None:
    """The stack file's text, None when there is none; StackFileError for one the bootstrap
    must not touch (a symlink, not a regular file, too large, not UTF-8)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if path.is_symlink():
        raise StackFileError(f"{path.name} is a symlink: the bootstrap edits only regular files")
    if not path.exists():
        return None
    try:
        data = files.read_bounded(path, MAX_BYTES)
        return data.decode("utf-8")
    except files.FileRefused as refused:
        raise StackFileError(f"{path.name} {refused}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError(f"{path.name} cannot be read: {visible(str(error))}") from None


def write_stack_file(project_dir: Path, stack: str, text: str) -> None:
    """Whole or not at all: a temporary file beside it, then renamed over it."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(text.encode("utf-8"))
    os.replace(partial, path)


def _same(before: ConfigValue, value: object) -> bool:
    """IDs compare whatever their letter case (Graph writes them in lower case)."""
    return before.text.lower() == config_value(value).text.lower()


def _entry(key: str, value: object, pad: str) -> str:
    inner = pad + "  "
    if isinstance(value, Mapping):
        return f"{pad}{key}:\n" + "".join(_entry(str(k), v, inner) for k, v in value.items())
    if isinstance(value, list):
        return f"{pad}{key}:\n" + "".join(f"{inner}- {_scalar(item)}\n" for item in value)
    return f"{pad}{key}: {_scalar(value)}\n"


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return (
        text
        if PLAIN.fullmatch(text) and text not in ("true", "false", "null")
        else json.dumps(text)
    )


def _top_level(lines: list[str]) -> set[str]:
    return {line.split(":", 1)[0] for line in lines if line[:1].isalpha() and ":" in line}
